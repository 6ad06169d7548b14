"""Rendering: the iptables driver renders every intent to exactly the rules the planners built before the
firewall interface (tests/unit/fixtures/iptables-rules-golden.txt, produced by the token-building planners
of the commit before it), in the same chain order."""
import ipaddress
import os

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _iptables
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    Exemption, NetworkIntent, PortForward, SwarmAllowance)
from ansible_collections.netplumb.container.plugins.module_utils._iptables import Ruleset, desired_chains, quote_args

GOLDEN = os.path.join(os.path.dirname(__file__), "fixtures", "iptables-rules-golden.txt")


def intents():
    return [
        NetworkIntent("br0", "172.18.0.0/16"),
        NetworkIntent("br1", "172.19.0.0/24", masquerade=False, isolate=False, icc=False),
        PortForward("br0", "tcp", None, (8080, 8080), "172.18.0.10", (80, 80)),
        PortForward("br0", "udp", "127.0.0.1", (5353, 5353), "172.18.0.11", (53, 53)),
        PortForward("br1", "tcp", "192.0.2.10", (8000, 8010), "172.19.0.5", (9000, 9010)),
        PortForward("br1", "sctp", None, (7000, 7002), "172.19.0.6", (7000, 7002)),
        SwarmAllowance(["192.0.2.0/24", "198.51.100.7/32"], manager=True, data_path_port=4790),
        Exemption("cbr0", "10.244.1.0/24", "10.244.0.0/16", "eth0"),
    ]


def test_iptables_rendering_is_byte_identical_to_the_token_planners():
    chains = desired_chains(Ruleset(), lambda o: False, _iptables.render(intents()))
    lines = ["-t %s -A %s %s" % (t, c, quote_args(a)) for (t, c), lst in sorted(chains.items()) for a in lst]
    with open(GOLDEN) as f:
        assert lines == f.read().splitlines()


def test_every_rendered_rule_carries_its_intents_owner():
    for i in intents():
        owners = set(r.owner for r in _iptables.render([i]))
        if isinstance(i, SwarmAllowance):
            assert owners == set(["netplumb:swarm/local", "netplumb:swarm/peer", "netplumb:swarm/drop"])
        else:
            assert owners == set([i.owner])
        for r in _iptables.render([i]):
            assert _iptables.owner_of(r.args) == r.owner


def test_queries_answer_from_the_rules_read():
    d = _iptables.IptablesDriver("nft", runner=lambda argv, data=None: (0, "", ""))
    rs = Ruleset()
    rules = _iptables.render(intents())
    for r in rules:
        rs.chains.setdefault((r.table, r.chain), []).append(r.args)
    assert d.networks(rs) == {"br0": [ipaddress.ip_network(u"172.18.0.0/16")],
                              "br1": [ipaddress.ip_network(u"172.19.0.0/24")]}
    assert sorted(d.published(rs)) == ["netplumb:br0:tcp/8080", "netplumb:br0:udp/127.0.0.1:5353",
                                       "netplumb:br1:sctp/7000-7002", "netplumb:br1:tcp/192.0.2.10:8000-8010"]
    assert d.loopback_bridges(rs) == {"netplumb:br0:udp/127.0.0.1:5353": "br0"}
    assert "netplumb:fleet/cbr0" in d.owners(rs)
    same = d.changed_owners(rs, lambda o: o == "netplumb:br0", [intents()[0]])
    assert same == set()
    changed = d.changed_owners(rs, lambda o: o == "netplumb:br0", [NetworkIntent("br0", "172.18.0.0/16", icc=False)])
    assert changed == set(["netplumb:br0"])


# --- the iptables rules of a published port, as the planner's module renders them ---------------------------
def test_publish_rules_loopback_never_in_prerouting():
    m = _fwnet.validate_mappings(dict(host_port=6000, container_ip="172.18.0.10", container_port=80,
                                      host_ip="127.0.0.1", state="present"))[0]
    rules = _fwnet.publish_rules(m, "br0")
    assert not any(r.table == "nat" and r.hook == "PREROUTING" for r in rules)
    assert any(r.table == "raw" and "127.0.0.0/8" in r.args and "lo" in r.args for r in rules)
    out = [r for r in rules if r.hook == "OUTPUT"][0]
    assert out.args[-1] == "172.18.0.10:80"


def test_publish_range_offset():
    m = _fwnet.validate_mappings(dict(host_port="8000-8010", container_ip="172.18.0.10",
                                      container_port="9000-9010", state="present"))[0]
    pre = [r for r in _fwnet.publish_rules(m, "br0") if r.hook == "PREROUTING" and r.table == "nat"][0]
    assert pre.args[-1] == "172.18.0.10:9000-9010/8000"
    assert "8000:8010" in pre.args and "!" in pre.args
