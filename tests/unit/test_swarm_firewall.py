"""Pure tests of swarm_firewall: validation, the rules of the intent, the plan against a fake iptables-save."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _swarm
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import network_of
from ansible_collections.netplumb.container.plugins.module_utils._iptables import IptablesDriver


class FakeRunner:
    def __init__(self, save):
        self.save = save
        self.calls = []

    def __call__(self, argv, data=None):
        self.calls.append((argv, data))
        if argv[0].endswith("-save"):
            return 0, self.save, ""
        return 0, "", ""


def spec(**kw):
    out = dict(peers=["192.0.2.11", "192.0.2.12"], manager=False, data_path_port=4789, esp=True,
               firewall_backend="auto", state="present")
    out.update(kw)
    return out


def texts(rules):
    return [r.text() for r in rules]


def test_worker_rules_in_order():
    rules = _swarm.rules(_swarm.validate(spec()))
    assert texts(rules) == [
        "-t filter -A NETPLUMB-INPUT -i lo -m comment --comment netplumb:swarm/local -j RETURN",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.11/32 -p tcp -m tcp --dport 7946 -m comment --comment "
        "netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.11/32 -p udp -m multiport --dports 4789,7946 -m comment --comment "
        "netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.11/32 -p esp -m comment --comment netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.12/32 -p tcp -m tcp --dport 7946 -m comment --comment "
        "netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.12/32 -p udp -m multiport --dports 4789,7946 -m comment --comment "
        "netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.12/32 -p esp -m comment --comment netplumb:swarm/peer -j ACCEPT",
        # a worker drops 2377 from everyone: only managers serve it
        "-t filter -A NETPLUMB-INPUT -p tcp -m multiport --dports 2377,7946 -m comment --comment "
        "netplumb:swarm/drop -j DROP",
        "-t filter -A NETPLUMB-INPUT -p udp -m multiport --dports 4789,7946 -m comment --comment "
        "netplumb:swarm/drop -j DROP",
        "-t filter -A NETPLUMB-INPUT -p esp -m comment --comment netplumb:swarm/drop -j DROP",
    ]


def test_manager_accepts_2377_from_peers_only():
    rules = _swarm.rules(_swarm.validate(spec(peers=["10.0.0.0/8"])), manager=True, esp=False)
    tcp = [r.text() for r in rules if "tcp" in r.args]
    assert tcp == [
        "-t filter -A NETPLUMB-INPUT -s 10.0.0.0/8 -p tcp -m multiport --dports 2377,7946 -m comment --comment "
        "netplumb:swarm/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -p tcp -m multiport --dports 2377,7946 -m comment --comment "
        "netplumb:swarm/drop -j DROP"]
    assert not [r for r in rules if "esp" in r.args]


def test_owners_never_collide_with_a_network():
    for r in _swarm.rules(_swarm.validate(spec())):
        assert _swarm.is_swarm_owner(r.owner)
        # a bridge name can hold no '/', and published-port owners have two ':'
        assert "/" in network_of(r.owner) and r.owner.count(":") == 1
    assert not _swarm.is_swarm_owner("netplumb:swarm")
    assert not _swarm.is_swarm_owner("netplumb:swarm:tcp/2377")


def test_peers_normalized_deduplicated_and_nested_dropped():
    peers = _swarm.validate(spec(peers=["192.0.2.11", "192.0.2.11/32", "10.1.0.0/16", "10.1.2.3", "10.0.0.0/8"]))
    assert [str(p) for p in peers] == ["192.0.2.11/32", "10.0.0.0/8"]


@pytest.mark.parametrize("kw,field", [
    (dict(peers=["nope"]), "peers[0]"),
    (dict(peers=[""]), "peers[0]"),
    (dict(peers=["192.0.2.1", "2001:db8::/64"]), "peers[1]"),
    (dict(peers=["0.0.0.0/0"]), "peers[0]"),
    (dict(peers=["224.0.0.1"]), "peers[0]"),
    (dict(peers=["127.0.0.1"]), "peers[0]"),
    (dict(peers=["10.0.0.1/8"]), "peers[0]"),
    (dict(data_path_port=7946), "data_path_port"),
    (dict(data_path_port=0), "data_path_port"),
    (dict(data_path_port=True), "data_path_port"),
    (dict(state="gone"), "state"),
])
def test_validation_names_the_field(kw, field):
    with pytest.raises(ValidationError) as exc:
        _swarm.validate(spec(**kw))
    assert exc.value.field == field


def _save(lines):
    return "*filter\n:INPUT ACCEPT [0:0]\n:NETPLUMB-INPUT - [0:0]\n:NETPLUMB-FORWARD - [0:0]\n%s\nCOMMIT\n" % "\n".join(
        lines)


def test_plan_from_nothing_creates_chain_and_first_jump():
    d = IptablesDriver("nft", FakeRunner("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"))
    p = _swarm.plan(spec(), driver=d)
    assert p.commands[0] == "iptables -t filter -N NETPLUMB-INPUT"
    assert p.commands[-1] == "iptables -t filter -I INPUT 1 -j NETPLUMB-INPUT"
    assert len(p.commands) == 2 + 10
    assert p.before["rules"] == [] and len(p.after["rules"]) == 10


def test_plan_converged_is_empty_and_absent_keeps_other_owners():
    want = _swarm.rules(_swarm.validate(spec()))
    from ansible_collections.netplumb.container.plugins.module_utils._iptables import quote_args
    lines = ["-A INPUT -j NETPLUMB-INPUT"] + ["-A NETPLUMB-INPUT %s" % quote_args(r.args) for r in want] + [
        "-A FORWARD -j NETPLUMB-FORWARD", "-A NETPLUMB-FORWARD -i br0 -m comment --comment netplumb:br0 -j ACCEPT"]
    d = IptablesDriver("nft", FakeRunner(_save(lines)))
    assert _swarm.plan(spec(), driver=d).commands == []
    gone = _swarm.plan(spec(state="absent"), driver=d)
    assert not [c for c in gone.commands if "FORWARD" in c]
    assert gone.commands[-2:] == ["iptables -t filter -D INPUT -j NETPLUMB-INPUT",
                                  "iptables -t filter -X NETPLUMB-INPUT"]
    assert gone.after["rules"] == [] and len(gone.before["rules"]) == 10


def test_plan_empty_peers_warns():
    d = IptablesDriver("nft", FakeRunner("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"))
    p = _swarm.plan(spec(peers=[]), driver=d)
    assert any("peers is empty" in w for w in p.warnings)
