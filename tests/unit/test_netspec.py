"""The container_networks parser (_netspec): the role's filter and the container_network module both run it.

Pure: no kernel, no ansible-playbook. Errors name their field path; all come at once; the calls a host gets
do not grow with the number of containers; publish collisions follow port_publish's own rule.
"""
import hashlib
import random

import pytest

from ansible_collections.netplumb.container.plugins.filter.container_network_plan import container_network_plan
from ansible_collections.netplumb.container.plugins.filter.cluster_subnet import cluster_subnet
from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _netspec
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

TUTORIAL = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
    dict(name="netns0", address="172.18.0.10", publish=["5000:5000/tcp", "127.0.0.1:8053:53/udp"]),
    dict(name="netns1", address="172.18.0.20")])]
BAD = [
    dict(name="x", subnet="172.18.0.5/16", containers=[]),
    dict(name="y", bridge="a-very-long-bridge", subnet="10.0.0.0/24", colour="red", containers=[
        dict(name="one", address="10.0.1.5"),
        dict(name="one", address="10.0.0.1", publish=["80", "70000:80", "1:2/icmp", "5000:5000"]),
        dict(name="two", address="10.0.0.9", publish=["5000:5001"])]),
    dict(name="z", subnet="10.0.0.128/25"),
    dict(name="a-rather-long-network-name", subnet="10.5.0.0/24"),
]


def big(k, publish=True):
    return [dict(name="s", bridge="br0", subnet="172.16.0.0/12", containers=[
        dict(name="c%d" % i, address="172.16.%d.%d" % (i // 250, i % 250 + 2),
             publish=["%d:80" % (10000 + i)] if publish else []) for i in range(k)])]


def test_tutorial_batches():
    plan = _netspec.parse(TUTORIAL)
    assert plan["errors"] == [] and plan["absent"] == []
    net = plan["present"][0]
    assert net["gateway"] == "172.18.0.1" and net["bridge_addresses"] == ["172.18.0.1/16"]
    assert net["namespaces"] == ["netns0", "netns1"]
    assert net["pairs"][0] == dict(name="vn-netns0", peer="eth0", peer_netns="netns0", bridge="br0",
                                   peer_addresses=["172.18.0.10/16"], peer_gateway="172.18.0.1")
    assert net["ports"] == [
        dict(protocol="tcp", host_port=5000, container_port=5000, container_ip="172.18.0.10", bridge="br0"),
        dict(protocol="udp", host_port=8053, container_port=53, host_ip="127.0.0.1", container_ip="172.18.0.10",
             bridge="br0")]
    assert net["containers"][0]["publish"][1]["spec"] == "127.0.0.1:8053:53/udp"
    assert net["masquerade"] is True and net["adopt"] is False


def test_long_names_hash_stably_and_ranges():
    nets = [dict(name="edge", subnet="10.9.0.0/24", gateway="10.9.0.254", containers=[
        dict(name="reverse-proxy-frontend", address="10.9.0.2", publish=["8000-8002:9000-9002"]),
        dict(name="reverse-proxy-backend", address="10.9.0.3")])]
    net = _netspec.parse(nets)["present"][0]
    assert net["bridge"] == "br-edge" and net["gateway"] == "10.9.0.254"
    names = [p["name"] for p in net["pairs"]]
    assert names == ["vn-revers-" + hashlib.sha1(b"reverse-proxy-frontend").hexdigest()[:5],
                     "vn-revers-" + hashlib.sha1(b"reverse-proxy-backend").hexdigest()[:5]]
    assert net["ports"][0]["host_port"] == "8000-8002" and net["ports"][0]["container_port"] == "9000-9002"


def test_every_error_named_by_its_path_all_at_once():
    errors = _netspec.parse(BAD)["errors"]
    text = "\n".join(errors)
    for expected in [
        "container_networks[0].subnet='172.18.0.5/16': not a valid subnet",
        "(did you mean 172.18.0.0/16?)",
        "container_networks[1].colour='red': unknown key",
        "container_networks[1].bridge='a-very-long-bridge': an interface name is at most 15 characters",
        "container_networks[1].containers[0].address='10.0.1.5': is not a usable address of 10.0.0.0/24",
        "container_networks[1].containers[1].name='one': is already a container of network y",
        "container_networks[1].containers[1].address='10.0.0.1': is the network's gateway",
        "container_networks[1].containers[1].publish[0]='80': is not [host_ip:]host_port:container_port",
        "container_networks[1].containers[1].publish[1]='70000:80': host_port 70000: ports are 1-65535",
        "container_networks[1].containers[1].publish[2]='1:2/icmp': protocol icmp is not one of tcp, udp, sctp",
        "container_networks[1].containers[2].publish[0]='5000:5001': host port already published by "
        "container_networks[1].containers[1].publish[3]",
        "container_networks[2].subnet='10.0.0.128/25': overlaps 10.0.0.0/24 of network y",
        "container_networks[3].bridge='br-a-rather-long-network-name': an interface name is at most 15 "
        "characters (derived from the network's name: set bridge)",
    ]:
        assert expected in text
    assert len(errors) == 12
    assert _netspec.parse(BAD)["calls"] == []   # nothing to run while anything is wrong


def test_the_module_names_its_own_option():
    errors = _netspec.parse([dict(name="n", subnet="10.0.0.0/24", containers=[dict(name="c", address="x")])],
                            root="networks")["errors"]
    assert errors == ["networks[0].containers[0].address='x': not a valid IP address "
                      "('x' does not appear to be an IPv4 or IPv6 address)"]


@pytest.mark.parametrize("value, error", [
    (None, None), ([], None), ("nope", "container_networks='nope': must be a list of networks"),
    ({"name": "x"}, "container_networks={'name': 'x'}: must be a list of networks"),
    (["x"], "container_networks[0]='x': each network is a mapping with name, subnet and containers"),
])
def test_empty_and_wrong_types(value, error):
    plan = _netspec.parse(value)
    assert plan["errors"] == ([error] if error else [])
    if error is None:
        assert plan == dict(errors=[], networks=[], present=[], absent=[], calls=[])


def test_wrong_types_inside_are_named():
    nets = [dict(name="n", subnet="10.0.0.0/24", masquerade="yes", mtu="big", containers="c1"),
            dict(name="m", subnet="10.1.0.0/24", containers=[dict(name="c", address="10.1.0.2", publish="80:80")])]
    errors = _netspec.parse(nets)["errors"]
    assert "container_networks[0].masquerade='yes': must be true or false" in errors
    assert "container_networks[0].mtu='big': an MTU is an integer between 68 and 65535" in errors
    assert "container_networks[0].containers='c1': must be a list" in errors
    assert any(e.startswith("container_networks[1].containers[0].publish='80:80': must be a list") for e in errors)


def test_calls_order_absent_first_in_reverse_then_present():
    nets = [dict(name="a", subnet="10.1.0.0/24", state="absent"), dict(name="b", subnet="10.2.0.0/24"),
            dict(name="c", subnet="10.3.0.0/24", state="absent")]
    plan = _netspec.parse(nets)
    assert [n["name"] for n in plan["absent"]] == ["c", "a"] and [n["name"] for n in plan["present"]] == ["b"]
    assert [(c["module"], c["args"].get("state", "present"), c["label"]) for c in plan["calls"]] == [
        ("port_publish", "absent", "container_networks[2] (c)"),
        ("container_nat", "absent", "container_networks[2] (c)"),
        ("veth_pair", "absent", "container_networks[2] (c)"),
        ("linux_bridge", "absent", "container_networks[2] (c)"),
        ("port_publish", "absent", "container_networks[0] (a)"),
        ("container_nat", "absent", "container_networks[0] (a)"),
        ("veth_pair", "absent", "container_networks[0] (a)"),
        ("linux_bridge", "absent", "container_networks[0] (a)"),
        ("linux_bridge", "present", "container_networks[1] (b)"),
        ("veth_pair", "present", "container_networks[1] (b)"),
        ("container_nat", "present", "container_networks[1] (b)"),
        ("port_publish", "present", "container_networks[1] (b)"),
    ]


def test_a_container_may_move_from_an_absent_network_to_a_present_one():
    moving = dict(name="c1", address="10.1.0.2", publish=["8080:80"])
    nets = [dict(name="old", subnet="10.1.0.0/24", state="absent", containers=[moving]),
            dict(name="new", subnet="10.1.0.0/24", bridge="br-new2", containers=[moving])]
    plan = _netspec.parse(nets)
    assert plan["errors"] == []
    # the present network declares c1: its namespace and veth are not removed but re-parented
    assert [c["module"] for c in plan["calls"]][:4] == ["port_publish", "container_nat", "veth_pair", "linux_bridge"]
    assert plan["calls"][2]["args"]["pairs"] == [] and plan["calls"][2]["args"]["prune"] is True


def test_an_absent_network_is_removed_by_ownership_whether_or_not_its_containers_are_listed():
    """Its published ports by the owner comment (port_publish absent with only bridge), our veths on its bridge
    (prune), their namespaces (queued by the run), then the bridge - kept, with a warning, for a foreign port."""
    for conts in ([], [dict(name="c1", address="10.1.0.2", publish=["8080:80"])]):
        calls = _netspec.parse([dict(name="web", subnet="10.1.0.0/24", state="absent", containers=conts)])["calls"]
        pub, nat, pairs = calls[0]["args"], calls[1]["args"], calls[2]["args"]
        assert pub == dict(firewall_backend="auto", bridge="br-web", state="absent")
        assert _fwnet.by_bridge(dict(pub, ports=None)) and _fwnet.validate_mappings(dict(pub, ports=None)) == []
        assert nat["bridge"] == "br-web" and nat["state"] == "absent"
        assert pairs["bridge"] == "br-web" and pairs["prune"] is True and pairs["state"] == "absent"
        assert [x["name"] for x in pairs["pairs"]] == [c["name"] and "vn-" + c["name"] for c in conts]
        assert calls[-1]["module"] == "linux_bridge" and calls[-1]["keep_foreign"] is True
        assert [c["module"] for c in calls].count("netns") == len(conts)


@pytest.mark.parametrize("k", [1, 10, 1000, 5000])
def test_calls_per_host_do_not_grow_with_containers(k):
    plan = _netspec.parse(big(k))
    assert plan["errors"] == []
    assert len(plan["calls"]) == 5
    net = plan["present"][0]
    assert len(net["pairs"]) == len(net["namespaces"]) == len(net["ports"]) == k


def test_publish_collisions_follow_port_publish_s_rule():
    """Every host address and 127.0.0.1 on the same port may go to different containers (the every-address
    rules skip 127.0.0.0/8) - port_publish accepts it, and so does the role now; a specific address does
    collide with every address."""
    ok = [dict(name="n", subnet="10.0.0.0/24", containers=[
        dict(name="a", address="10.0.0.2", publish=["80:80"]),
        dict(name="b", address="10.0.0.3", publish=["127.0.0.1:80:80"])])]
    assert _netspec.parse(ok)["errors"] == []
    bad = [dict(name="n", subnet="10.0.0.0/24", containers=[
        dict(name="a", address="10.0.0.2", publish=["80:80"]),
        dict(name="b", address="10.0.0.3", publish=["192.0.2.7:80:80"])])]
    assert _netspec.parse(bad)["errors"] == [
        "container_networks[0].containers[1].publish[0]='192.0.2.7:80:80': host port already published by "
        "container_networks[0].containers[0].publish[0]"]


SPECS = ["80:80", "81:80", "80-82:90-92", "127.0.0.1:80:80", "192.0.2.7:81:81", "192.0.2.8:81:81",
         "80:80/udp", "127.0.0.1:82:82", "83-90:83-90", "192.0.2.7:85:85/udp"]


@pytest.mark.parametrize("seed", range(30))
def test_role_and_port_publish_refuse_the_same_batches(seed):
    rng = random.Random(seed)
    specs = rng.sample(SPECS, rng.randint(2, 5))
    nets = [dict(name="n", subnet="10.0.0.0/24", containers=[
        dict(name="c%d" % i, address="10.0.0.%d" % (i + 2), publish=[s]) for i, s in enumerate(specs)])]
    role_refuses = bool(_netspec.parse(nets)["errors"])
    ports = _netspec.parse(nets)["present"][0]["ports"] if not role_refuses else [
        dict(_netspec.parse_publish("x", s)[0], container_ip="10.0.0.%d" % (i + 2)) for i, s in enumerate(specs)]
    try:
        _fwnet.validate_mappings(dict(ports=ports, state="present"))
        module_refuses = False
    except ValidationError:
        module_refuses = True
    assert role_refuses == module_refuses, specs


def test_filters_wrap_the_parser():
    assert container_network_plan(TUTORIAL) == _netspec.parse(TUTORIAL)
    small = container_network_plan(TUTORIAL, "auto", batches=False)
    assert sorted(small) == ["absent", "errors", "present"]
    assert "pairs" not in small["present"][0] and small["present"][0]["containers"][0]["veth"] == "vn-netns0"
    nets = [dict(name="f", subnet="cluster", containers=[dict(name="c", address=10), dict(name="d", address="11"),
                                                         dict(name="e", address="10.244.3.12")]),
            dict(name="g", subnet="10.9.0.0/24")]
    out = cluster_subnet(nets, "10.244.3.0/24")
    assert out[0]["subnet"] == "10.244.3.0/24" and out[1] == nets[1]
    assert [c["address"] for c in out[0]["containers"]] == ["10.244.3.10", "10.244.3.11", "10.244.3.12"]
    assert nets[0]["subnet"] == "cluster"      # the input is not changed


def test_interface_names_default_to_today_s_and_may_be_given():
    """veth (the host end) and interface (the end inside) are optional: absent, the pair is vn-NAME/eth0 as
    before; given, the pair takes them (what a gathered hand-made network needs to come back the same)."""
    nets = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
        dict(name="netns0", address="172.18.0.10", veth="veth0", interface="ceth0"),
        dict(name="netns1", address="172.18.0.20", interface="ceth1"),
        dict(name="netns2", address="172.18.0.30")])]
    plan = _netspec.parse(nets)
    assert plan["errors"] == []
    pairs = plan["present"][0]["pairs"]
    assert [(p["name"], p["peer"]) for p in pairs] == [("veth0", "ceth0"), ("vn-netns1", "ceth1"),
                                                       ("vn-netns2", "eth0")]
    assert [c["veth"] for c in plan["present"][0]["containers"]] == ["veth0", "vn-netns1", "vn-netns2"]
    assert _netspec.parse(TUTORIAL)["present"][0]["pairs"][0]["peer"] == "eth0"


def test_interface_names_are_validated_and_collide_by_the_key_that_names_them():
    nets = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
        dict(name="a", address="172.18.0.10", veth="a-very-long-veth-name"),
        dict(name="b", address="172.18.0.11", interface="lo"),
        dict(name="c", address="172.18.0.12", interface="bad/name"),
        dict(name="d", address="172.18.0.13", veth="vn-e"),
        dict(name="e", address="172.18.0.14"),
        dict(name="f", address="172.18.0.15", veth="br1"),
        dict(name="g", address="172.18.0.16", veth=""),
    ]), dict(name="other", bridge="br1", subnet="172.19.0.0/16")]
    errors = _netspec.parse(nets)["errors"]
    assert errors == [
        "container_networks[0].containers[0].veth='a-very-long-veth-name': an interface name is at most 15 "
        "characters",
        "container_networks[0].containers[1].interface='lo': is the namespace's loopback",
        "container_networks[0].containers[2].interface='bad/name': an interface name may not contain '/', ':' or "
        "whitespace",
        "container_networks[0].containers[4].name='e': its host veth name vn-e collides with container d's",
        "container_networks[0].containers[6].veth='': an interface name must be a non-empty string",
        "container_networks[0].containers[5].veth='br1': its host veth name br1 is the bridge of network other",
    ]
    assert "known: name, address, publish, veth, interface" in _netspec.parse(
        [dict(name="n", subnet="10.0.0.0/24", containers=[dict(name="c", address="10.0.0.2", colour=1)])])["errors"][0]
