"""_fleet.swarm_peers: the role swarm_prerequisites' controller-side peer check (issue 14 item 6)."""
from ansible_collections.netplumb.container.plugins.module_utils._fleet import swarm_peers


def node(host, value, source="ansible_host"):
    return dict(host=host, value=value, source=source)


def test_valid_nodes_and_extra_peers_keep_their_order():
    out = swarm_peers([node("m1", "192.0.2.11"), node("w1", " 192.0.2.21 ", "swarm_prerequisites_address"),
                       node("192.0.2.22", "192.0.2.22", "inventory name")], ["10.0.0.0/24"])
    assert out == dict(peers=["192.0.2.11", "192.0.2.21", "192.0.2.22", "10.0.0.0/24"], problems=[])


def test_every_problem_names_the_host_and_the_value_all_at_once():
    out = swarm_peers([node("m1", "192.0.2.11"), node("w2", "w2", "inventory name"), node("w3", "2001:db8::13"),
                       node("w4", "10.0.0.5/24", "swarm_prerequisites_address"), node("w5", "224.0.0.1")],
                      ["0.0.0.0/0", "", "127.0.0.0/8"])
    assert out["peers"] == ["192.0.2.11"]
    p = out["problems"]
    assert len(p) == 7, p
    assert p[0].startswith("w2: no Swarm address - neither swarm_prerequisites_address nor ansible_host is set, "
                           "and the inventory name 'w2' is no IPv4 address (")
    assert p[1] == "w3: ansible_host='2001:db8::13': only IPv4 is supported by the firewall drivers (iptables, nftables) for now"
    assert p[2].startswith("w4: swarm_prerequisites_address='10.0.0.5/24': not an address or a CIDR with host bits")
    assert p[3] == "w5: ansible_host='224.0.0.1': a multicast or loopback network is no Swarm peer"
    assert p[4] == ("swarm_prerequisites_extra_peers[0]='0.0.0.0/0': 0.0.0.0/0 would accept the Swarm ports from "
                    "everyone")
    assert p[5].startswith("swarm_prerequisites_extra_peers[1]='': expected an IPv4 address or CIDR")
    assert p[6].startswith("swarm_prerequisites_extra_peers[2]='127.0.0.0/8': a multicast or loopback")


def test_a_value_that_is_no_string_is_a_problem_not_a_crash():
    out = swarm_peers([node("w6", None), node("w7", 12)], [])
    assert out["peers"] == [] and [x.split(":")[0] for x in out["problems"]] == ["w6", "w7"]
