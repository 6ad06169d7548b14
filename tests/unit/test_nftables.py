"""The nftables driver without a kernel: rendering, the comment that carries owner, rank and digest, the JSON
read back, plans (one transaction; stale rules deleted by handle, missing ones inserted in place; tampering
repaired and told), and a failed transaction. The nft binary is a fake here; the real one and libnftables run
in tests/integration (test_nat_packets.py, test_publish.py) and tests/hostile."""
import ipaddress
import json

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _nftables
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    Exemption, NetworkIntent, PortForward, SwarmAllowance)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan

NET = NetworkIntent("br0", "172.18.0.0/24", isolate=False, icc=False)
FWD = PortForward("br0", "tcp", None, (8080, 8080), "172.18.0.10", (80, 80))
SHIFT = PortForward("br0", "tcp", "192.0.2.10", (8000, 8001), "172.18.0.11", (9000, 9001))
LOOP = PortForward("br0", "udp", "127.0.0.1", (5353, 5353), "172.18.0.12", (53, 53))


def statements(intent):
    return [(r.chain, r.text_) for r in _nftables.render([intent])]


def test_rendering_of_every_intent():
    assert statements(NET) == [
        ("postrouting-nat", 'ip saddr 172.18.0.0/24 oifname != "br0" masquerade'),
        ("postrouting-nat", 'ip saddr 172.18.0.0/24 oifname "br0" ct status dnat masquerade'),
        ("forward", 'meta nfproto ipv4 oifname "br0" ct state invalid drop'),
        ("forward", 'meta nfproto ipv4 iifname "br0" ct state invalid drop'),
        ("forward", 'meta nfproto ipv4 oifname "br0" ct state established,related accept'),
        ("forward", 'meta nfproto ipv4 iifname "br0" oifname != "br0" accept'),
        ("forward", 'meta nfproto ipv4 iifname "br0" oifname "br0" drop'),
        ("prerouting-raw", 'meta nfproto ipv4 iifname "br0" return'),
        ("prerouting-raw", 'ip daddr 172.18.0.0/24 iifname != "br0" drop')]
    assert statements(FWD)[0] == ("prerouting-nat", "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 "
                                                    "dnat ip to 172.18.0.10:80")
    assert statements(SHIFT)[0] == ("prerouting-nat", "ip daddr 192.0.2.10 tcp dport 8000-8001 dnat ip addr . port "
                                                      "to tcp dport map { 8000 : 172.18.0.11 . 9000, 8001 : "
                                                      "172.18.0.11 . 9001 }")
    loop = statements(LOOP)
    assert not [c for c, t in loop if c == "prerouting-nat"]     # never from the wire
    assert ("prerouting-raw", 'ip daddr 127.0.0.0/8 iifname != "lo" udp dport 5353 drop') in loop
    swarm = statements(SwarmAllowance(["192.0.2.0/24"], manager=True))
    assert swarm[0] == ("input", 'iifname "lo" return')
    assert ("input", "ip saddr 192.0.2.0/24 tcp dport { 2377, 7946 } accept") in swarm
    assert swarm[-1] == ("input", "meta nfproto ipv4 meta l4proto esp drop")
    assert statements(Exemption("cbr0", "10.244.1.0/24", "10.244.0.0/16", "eth0"))[0] == (
        "postrouting-nat", 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 oifname "eth0" return')


def test_comment_carries_owner_rank_and_digest():
    for r in _nftables.render([NET, FWD, LOOP]):
        assert _nftables.parse_comment(r.comment) == (r.owner, r.rank)
    assert _nftables.parse_comment("docker") is None and _nftables.parse_comment("netplumb:br0") is None


class FakeNft:
    """The nft binary: ``-j list table inet netplumb`` answers the JSON of ``rules`` (chain, comment, expr),
    ``-f -`` records the script (or fails with ``fail``)."""

    def __init__(self, rules=(), fail=None):
        self.rules = list(rules)
        self.scripts = []
        self.fail = fail

    def __call__(self, argv, data=None):
        if argv[:2] == ["nft", "-f"]:
            self.scripts.append(data)
            return (1, "", self.fail) if self.fail else (0, "", "")
        if argv[:3] == ["nft", "-j", "list"] and argv[3] == "tables":
            return 0, json.dumps({"nftables": []}), ""
        if argv[:3] == ["nft", "-j", "list"]:
            if not self.rules:
                return 1, "", "Error: No such file or directory"
            objs = [{"table": {"family": "inet", "name": "netplumb", "handle": 1}}]
            for c in sorted(set(r[0] for r in self.rules)):
                objs.append({"chain": {"family": "inet", "table": "netplumb", "name": c, "hook": "x", "type": "filter",
                                       "prio": 0}})
            for h, (c, comment, expr) in enumerate(self.rules, start=10):
                objs.append({"rule": {"family": "inet", "table": "netplumb", "chain": c, "handle": h,
                                      "comment": comment, "expr": expr}})
            return 0, json.dumps({"nftables": objs}), ""
        return 127, "", "not here"


def driver(rules=(), fail=None):
    return _nftables.NftablesDriver(_nftables.NftTool(runner=FakeNft(rules, fail)))


def read_back(intents):
    out = []
    for r in _nftables.render(intents):
        expr = []
        if r.chain == "prerouting-raw" and r.text_.startswith("ip daddr 172."):
            net = ipaddress.ip_network(r.text_.split()[2])
            expr = [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                               "right": {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}}}]
        # the rest of the rule, which this fake does not print (the body is then not compared: test_nft_tamper.py)
        out.append((r.chain, r.comment, expr + [{"not printed by the fake": None}]))
    return out


def test_plan_from_nothing_is_one_transaction():
    d = driver()
    p = Plan()
    before, after = d.plan(p, d.read(), lambda o: True, [NET, FWD])
    assert p.commands[0] == "nft add table inet netplumb"
    assert "nft add chain inet netplumb prerouting-raw { type filter hook prerouting priority -300; policy accept; }" \
        in p.commands
    assert before == [] and len(after) == len(_nftables.render([NET, FWD]))
    p.apply(check_mode=False)
    [script] = d.runner.scripts
    assert script.splitlines() == [c[len("nft "):] for c in p.commands]


def test_converged_plans_nothing_and_queries_answer_from_the_json():
    d = driver(read_back([NET, FWD, LOOP]))
    st = d.read()
    p = Plan()
    d.plan(p, st, lambda o: True, [NET, FWD, LOOP])
    assert p.commands == []
    assert d.networks(st) == {"br0": [ipaddress.ip_network(u"172.18.0.0/24")]}
    assert sorted(d.published(st)) == ["netplumb:br0:tcp/8080", "netplumb:br0:udp/127.0.0.1:5353"]
    assert d.loopback_bridges(st) == {"netplumb:br0:udp/127.0.0.1:5353": "br0"}


def test_change_deletes_by_handle_and_inserts_in_place_others_untouched():
    rules = read_back([NET, FWD])
    d = driver(rules)
    p = Plan()
    d.plan(p, d.read(), lambda o: o == "netplumb:br0", [NetworkIntent("br0", "172.18.0.0/24", isolate=False)])
    assert all("8080" not in c for c in p.commands)      # the published port's rules stay as they are
    dels = [c for c in p.commands if c.startswith("nft delete rule")]
    assert dels == ["nft delete rule inet netplumb forward handle %d" % (10 + i) for i, r in enumerate(rules)
                    if r[0] == "forward" and "#3:" in r[1] and r[1].startswith("netplumb:br0 ")][-1:]
    assert [c for c in p.commands if "add rule" in c or "insert rule" in c] == [
        'nft add rule inet netplumb forward meta nfproto ipv4 iifname "br0" oifname "br0" accept comment "%s"'
        % _nftables.render([NetworkIntent("br0", "172.18.0.0/24", isolate=False)])[6].comment]


def test_tampering_is_repaired_and_told():
    rules = read_back([NET])
    rules.insert(0, ("forward", "someone", []))
    rules.append(rules[1])
    d = driver(rules)
    p = Plan()
    d.plan(p, d.read(), lambda o: o == "netplumb:br0", [NET])
    assert p.commands == ["nft delete rule inet netplumb postrouting-nat handle %d" % (10 + len(rules) - 1),
                          "nft delete rule inet netplumb forward handle 10"]
    assert any("did not write" in w for w in p.warnings) and any("copies" in w for w in p.warnings)


def test_teardown_deletes_the_table():
    d = driver(read_back([NET]))
    p = Plan()
    d.plan(p, d.read(), lambda o: True, [])
    assert p.commands == ["nft delete table inet netplumb"]


def test_failed_transaction_changes_nothing():
    d = driver(fail="Error: Could not process rule: No such file or directory")
    p = Plan()
    d.plan(p, d.read(), lambda o: True, [NET])
    with pytest.raises(KernelError) as err:
        p.apply(check_mode=False)
    assert "the transaction was not committed: the table is unchanged" in str(err.value)
    assert len(d.runner.scripts) == 1


def test_check_mode_prediction_is_what_a_read_after_the_plan_gives():
    d = driver()
    st = d.predicted(d.read(), lambda o: True, [NET, FWD])
    assert d.networks(st) == {"br0": [ipaddress.ip_network(u"172.18.0.0/24")]}
    assert sorted(d.owners(st)) == ["netplumb:br0", "netplumb:br0:tcp/8080"]
    p = Plan()
    d.plan(p, st, lambda o: True, [NET, FWD])
    assert p.commands == []


# --- auto, switching, both at once -----------------------------------------------------------------------
OURS_IPT = "*nat\n:NETPLUMB-POSTROUTING - [0:0]\n-A POSTROUTING -j NETPLUMB-POSTROUTING\n" \
           "-A NETPLUMB-POSTROUTING -s 10.1.0.0/24 ! -o br9 -m comment --comment netplumb:br9 -j MASQUERADE\nCOMMIT\n"
DOCKER_IPT = "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n"


class Host(FakeNft):
    """nft (our table: ``rules``) plus the iptables tools: ``saves`` {variant: text or None (not installed)}."""

    def __init__(self, rules=(), saves=None, nft=True):
        FakeNft.__init__(self, rules)
        self.saves = saves or {}
        self.nft = nft

    def __call__(self, argv, data=None):
        if argv[0] == "iptables":
            return 0, "iptables v1.8.9 (nf_tables)", ""
        if argv[0].startswith("iptables-") and argv[0].endswith("-save"):
            text = self.saves.get(argv[0][len("iptables-"):-len("-save")], "")
            return (127, "", "not found") if text is None else (0, text, "")
        if argv[0] == "nft" and not self.nft:
            return 127, "", "nft: No such file or directory"
        return FakeNft.__call__(self, argv, data)


def pick(host):
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import get_driver
    return get_driver("auto", host)


def test_auto_picks_nftables_on_a_clean_host_and_beside_iptables_nft_rules_of_others():
    assert pick(Host()).backend == "nftables"
    assert pick(Host(saves={"nft": DOCKER_IPT})).backend == "nftables"


def test_auto_picks_iptables_for_legacy_rules_ours_in_iptables_or_no_nft():
    assert pick(Host(saves={"legacy": DOCKER_IPT})).backend.startswith("iptables")
    assert pick(Host(saves={"nft": OURS_IPT})).backend == "iptables-nft"
    assert pick(Host(nft=False)).backend.startswith("iptables")


def test_auto_keeps_nftables_when_ours_are_there():
    assert pick(Host(rules=read_back([NET]), saves={"legacy": DOCKER_IPT})).backend == "nftables"


def test_ours_in_both_backends_is_an_error_naming_both():
    from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
    with pytest.raises(StateError) as err:
        pick(Host(rules=read_back([NET]), saves={"nft": OURS_IPT}))
    msg = str(err.value)
    assert "both backends" in msg and "inet netplumb" in msg and "NETPLUMB-" in msg and "iptables-nft" in msg


def test_explicit_backend_moves_our_rules_in_one_run():
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import get_driver
    d = get_driver("nftables", Host(saves={"nft": OURS_IPT}))
    assert d.backend == "nftables" and any("moves" in w for w in d.warnings)
    st = d.read()
    assert d.networks(st) == {} and d.owners(st) == set(["netplumb:br9"])
    p = Plan()
    d.plan(p, st, lambda o: o == "netplumb:br9", [NetworkIntent("br9", "10.1.0.0/24")])
    nft = [c for c in p.commands if c.startswith("nft ")]
    ipt = [c for c in p.commands if c.startswith("iptables ")]
    assert nft and ipt and p.commands.index(nft[-1]) < p.commands.index(ipt[0])     # new first, then the old goes
    assert "iptables -t nat -X NETPLUMB-POSTROUTING" in ipt
    back = get_driver("iptables", Host(rules=read_back([NET])))
    assert back.backend == "iptables-nft"
    p = Plan()
    back.plan(p, back.read(), lambda o: o == "netplumb:br0", [NET])
    assert p.commands[-1] == "nft delete table inet netplumb"


class CountingNft(FakeNft):
    """FakeNft counting its listings of our table."""

    listed = 0

    def __call__(self, argv, data=None):
        if argv[:3] == ["nft", "-j", "list"] and argv[3] != "tables":
            self.listed += 1
        return FakeNft.__call__(self, argv, data)


def test_choose_reads_our_table_once_for_the_first_read():
    """Issue 18 (peak RSS): choose()'s listing of our table is the driver's first read - one listing and one JSON
    parse of thousands of rules, not two. A later read, or a read after any nft write, lists again."""
    rules = [(r.chain, r.comment, []) for r in _nftables.render([NET])]
    fake = CountingNft(rules)
    drv = _nftables.choose(tool=_nftables.NftTool(runner=fake))
    assert isinstance(drv, _nftables.NftablesDriver) and fake.listed == 1
    first = drv.read()
    assert fake.listed == 1
    assert drv.owners(first) == {"netplumb:br0"} and len(list(first.all_rules())) == len(rules)
    again = drv.read()
    assert fake.listed == 2 and drv.owners(again) == drv.owners(first)
    # a write between choose() and the first read: that read lists the table again
    fake2 = CountingNft(rules)
    drv2 = _nftables.choose(tool=_nftables.NftTool(runner=fake2))
    _nftables.NftTool(runner=fake2).cmd("add table inet other")
    drv2.read()
    assert fake2.listed == 2


def test_libnftables_context_per_command():
    """With python3-nftables each command has a context of its own, freed once it has answered (its cache of
    the ruleset with it)."""
    live = []

    class Ctx:
        def __init__(self):
            live.append(1)
            self.json = None

        def __del__(self):
            live.pop()

        def set_json_output(self, value):
            self.json = value

        def set_handle_output(self, value):
            assert value is True

        def cmd(self, text):
            assert len(live) == 1
            return 0, "%s json=%s" % (text, self.json), ""

    tool = _nftables.NftTool(runner=FakeNft(), lib=False)
    tool.lib = Ctx
    assert tool.cmd("list tables", json_out=True) == (0, "list tables json=True", "")
    assert not live
    assert tool.cmd("list table inet netplumb") == (0, "list table inet netplumb json=False", "")
    assert not live
