"""_prune: which networks of ours no entry declares, their subnets, the one warning, and the calls that remove
them (those of a declared state: absent)."""
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _netspec, _prune
from ansible_collections.netplumb.container.plugins.module_utils._firewall import Rule
from ansible_collections.netplumb.container.plugins.module_utils._fwnet import nat_rules, publish_rules
from ansible_collections.netplumb.container.plugins.module_utils._netspec import parse_publish

from fakes import link, state


def host():
    """br-web and br-api ours, br-x someone's, vn-a0 a veth of ours (a veth is never a network)."""
    return state(None, [
        link(1, "lo", kind="loopback"),
        link(2, "br-web", kind="bridge", alias="netplumb"),
        link(3, "br-api", kind="bridge", alias="netplumb"),
        link(4, "br-x", kind="bridge"),
        link(5, "vn-a0", master=3, alias="netplumb"),
        link(6, "br-bare", kind="bridge", alias="netplumb"),
    ], addrs={2: ["172.18.0.1/24"], 3: ["172.19.0.1/24", "10.9.0.1/16"], 4: ["10.99.0.1/24"]})


def ported(bridge, ip, spec):
    dummy, mapping = parse_publish("p", spec)
    mapping.container_ip = ipaddress.ip_address(ip)
    return publish_rules(mapping, bridge)


def test_bridges_of_ours_and_rule_owners_no_entry_declares():
    rules = nat_rules("br-web", "172.18.0.0/24") + nat_rules("br-gone", "172.30.0.0/24") \
        + [Rule("filter", "FORWARD", ["-d", "10.0.0.0/8", "-m", "comment", "--comment", "netplumb:fleet/br-web",
                                      "-j", "ACCEPT"], "netplumb:fleet/br-web"),
           Rule("filter", "INPUT", ["-m", "comment", "--comment", "netplumb:swarm/peer", "-j", "ACCEPT"],
                "netplumb:swarm/peer")]
    found = _prune.find(host(), rules, ["br-web"])
    assert found == [dict(bridge="br-api", subnet="172.19.0.0/24", ours=True),        # its first address
                     dict(bridge="br-bare", subnet=None, ours=True),                  # no address, no rule
                     dict(bridge="br-gone", subnet="172.30.0.0/24", ours=True)]       # rules only, link gone
    assert _prune.find(host(), rules, ["br-web", "br-api", "br-bare", "br-gone"]) == []


def test_the_subnet_of_the_rules_comes_before_the_bridge_address():
    rules = nat_rules("br-api", "172.19.0.0/16", masquerade=False)
    assert _prune.find(host(), rules, ["br-web", "br-bare"]) == [dict(bridge="br-api", subnet="172.19.0.0/16",
                                                                      ours=True)]
    only_nat = [r for r in nat_rules("br-q", "10.5.0.0/24") if r.table == "nat"]
    assert _prune.rule_subnet(only_nat, "br-q") == "10.5.0.0/24"
    assert _prune.rule_subnet(nat_rules("br-q", "10.5.0.0/24"), "br-other") is None


def test_rules_naming_a_bridge_that_is_not_ours_keep_the_link_and_its_address_out():
    rules = [r for r in ported("br-x", "10.99.0.2", "8080:80") if r.owner]
    found = _prune.find(host(), rules, ["br-web", "br-api", "br-bare"])
    assert found == [dict(bridge="br-x", subnet=None, ours=False)]     # br-x's own address is not read
    calls = _netspec.calls([_prune.absent_network(f) for f in found])
    assert [c["module"] for c in calls] == ["port_publish", "container_nat"]
    assert calls[1]["by_owner"] is True and calls[1]["args"]["subnet"] is None


def test_a_pruned_network_gets_the_calls_of_a_declared_absent_one():
    declared = _netspec.parse([dict(name="api", bridge="br-api", subnet="172.19.0.0/24", state="absent")])
    pruned = _prune.absent_network(dict(bridge="br-api", subnet="172.19.0.0/24", ours=True))
    assert pruned["name"] == "api" and pruned["field"] == "prune (br-api)"
    ours = _netspec.calls([pruned])
    strip = [(c["module"], c["args"]) for c in declared["calls"]]
    assert [(c["module"], c["args"]) for c in ours] == strip
    assert set(c["label"] for c in ours) == set(["prune (br-api)"])


def test_pruned_networks_go_first_and_keep_what_a_present_network_declares():
    parsed = _netspec.parse([dict(name="web", subnet="172.18.0.0/24",
                                  containers=[dict(name="a0", address="172.18.0.5")])])
    pruned = _prune.absent_network(dict(bridge="br-api", subnet="172.19.0.0/24", ours=True))
    calls = _netspec.calls(parsed["networks"] + [pruned])
    assert [c["label"] for c in calls[:4]] == ["prune (br-api)"] * 4
    assert [c["module"] for c in calls[:4]] == ["port_publish", "container_nat", "veth_pair", "linux_bridge"]
    assert calls[2]["args"]["pairs"] == [] and calls[2]["args"]["prune"] is True
    assert calls[2]["orphans"] == "172.19.0.0/24"


def test_one_warning_names_every_network_and_both_ways_out():
    found = [dict(bridge="br-api", subnet="172.19.0.0/24", ours=True), dict(bridge="br-bare", subnet=None, ours=True),
             dict(bridge="br-x", subnet=None, ours=False)]
    text = _prune.warning(found, "container_networks")
    assert text.startswith("3 networks of netplumb on this host are declared by no entry of container_networks")
    assert "br-api (subnet 172.19.0.0/24); br-bare (subnet unknown); br-x (subnet unknown), rules only" in text
    assert "prune=true (role: container_network_prune: true)" in text
    assert "{name: api, bridge: br-api, subnet: 172.19.0.0/24, state: absent}" in text
    assert "\n" not in text
    one = _prune.warning(found[:1])
    assert one.startswith("1 network of netplumb on this host is declared by no entry of networks")


def test_suggested_names():
    assert _prune.suggested_name("br-api") == "api"
    assert _prune.suggested_name("br0") == "br0"
    assert _prune.suggested_name("br-") == "br-"
    assert _prune.bridge_name("netplumb:br0:tcp/8080") == "br0"
    assert _prune.bridge_name("netplumb:fleet/br0") is None
    assert _prune.bridge_name("netplumb:swarm/peer") is None
    assert _prune.bridge_name("netplumb:swarm") == "swarm"      # a bridge may be called swarm: only '/' is none
