"""The reader of the host's other firewalls (_hostfw): the static evaluator on canned `nft -j list ruleset` JSON
(the schema nft 1.0.6 prints) and iptables-save text, the fixes it names, and foreign DNATs as bound ports."""
import ipaddress
import json

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _hostfw as h

SUBNET = ipaddress.ip_network(u"172.18.0.0/24")
LOCAL = [ipaddress.ip_address(u"192.0.2.10")]


def m(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


def meta(key):
    return {"meta": {"key": key}}


def payload(proto, field):
    return {"payload": {"protocol": proto, "field": field}}


def ct(key):
    return {"ct": {"key": key}}


def ruleset(*tables):
    """nft -j JSON from (family, table, {chain: (hook or None, policy, [expr lists])})."""
    out = [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]
    for family, table, chains in tables:
        out.append({"table": {"family": family, "name": table, "handle": 1}})
        for name, (hook, policy, rules) in chains.items():
            chain = {"family": family, "table": table, "name": name, "handle": 2}
            if hook:
                chain.update(type="nat" if hook == "nat-prerouting" else "filter",
                             hook="prerouting" if hook == "nat-prerouting" else hook, prio=0, policy=policy)
            out.append({"chain": chain})
            for expr in rules:
                out.append({"rule": {"family": family, "table": table, "chain": name, "handle": 3, "expr": expr}})
    return {"nftables": out}


def fw_of(*tables):
    return h.HostFirewalls(h.parse_nft(ruleset(*tables)))


HARDENED = ("inet", "filter", {"input": ("input", "accept", []), "forward": ("forward", "drop", [])})


def net_warnings(fw):
    return h.network_warnings(fw, "br-x", SUBNET)


def pub_warnings(fw, host_ip=None):
    return h.publish_warnings(fw, "br-x", "tcp", 8080, "172.18.0.10", 80, host_ip)


# --- nftables ---------------------------------------------------------------------------------------------
def test_forward_policy_drop_blocks_egress_replies_and_published_ports_and_names_the_fix():
    fw = fw_of(HARDENED)
    [w] = net_warnings(fw)
    assert "nftables table inet filter, chain forward, hook forward (policy drop)" in w
    assert "the egress of network br-x (172.18.0.0/24)" in w and "the replies to its connections" in w
    assert 'run: nft insert rule inet filter forward iifname "br-x" accept; nft insert rule inet filter forward ' \
           'oifname "br-x" ct state established,related accept' in w
    [w] = pub_warnings(fw)
    assert "published port 8080/tcp (to 172.18.0.10:80 on br-x)" in w
    assert 'nft insert rule inet filter forward oifname "br-x" ip daddr 172.18.0.10 tcp dport 80 ct status dnat ' \
           'accept' in w


def test_input_policy_drop_is_not_our_traffic():
    fw = fw_of(("inet", "filter", {"input": ("input", "drop", []), "forward": ("forward", "accept", [])}))
    assert net_warnings(fw) == [] and pub_warnings(fw) == []


def test_a_chain_accepting_our_bridge_first_drops_nothing_of_ours():
    fw = fw_of(("inet", "filter", {"forward": ("forward", "drop", [
        [m(ct("state"), ["established", "related"], "in"), {"accept": None}],
        [m(meta("iifname"), "br-x"), {"accept": None}],
        [m(ct("status"), "dnat", "in"), {"accept": None}]])}))
    assert net_warnings(fw) == [] and pub_warnings(fw) == []


def test_an_accept_is_final_only_in_its_own_base_chain():
    accepting = ("inet", "mine", {"forward": ("forward", "accept", [[m(meta("iifname"), "br-x"), {"accept": None}]])})
    fw = fw_of(accepting, HARDENED)
    [w] = net_warnings(fw)
    assert "table inet filter" in w and "table inet mine" not in w


def test_only_the_replies_dropped_are_named():
    fw = fw_of(("inet", "filter", {"forward": ("forward", "drop", [
        [m(meta("iifname"), "br-x"), m(meta("oifname"), "br-x", "!="), {"accept": None}]])}))
    [w] = net_warnings(fw)
    assert "the replies to its connections" in w and "the egress of" not in w
    assert "ct state established,related accept" in w and 'iifname "br-x" accept' not in w


def test_unknown_matches_may_not_match():
    # an accept behind a set reference may not match: the policy still drops; a drop behind an unknown match
    # (a mark) may not match either: nothing certain, nothing said
    fw = fw_of(("inet", "filter", {"forward": ("forward", "drop", [
        [m(payload("ip", "saddr"), "@allowed"), {"accept": None}]])}))
    assert len(net_warnings(fw)) == 1
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(meta("mark"), 1), {"drop": None}],
        [{"limit": {"rate": 10, "per": "second"}}, {"drop": None}]])}))
    assert net_warnings(fw) == [] and pub_warnings(fw) == []


def test_other_interfaces_and_addresses_do_not_match_ours():
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(meta("iifname"), "docker0"), {"drop": None}],
        [m(payload("ip", "saddr"), {"prefix": {"addr": "10.0.0.0", "len": 8}}), {"drop": None}],
        [m(payload("ip", "daddr"), {"prefix": {"addr": "172.18.0.0", "len": 16}}), m(meta("oifname"), "br-x", "!="),
         {"drop": None}]])}))
    assert net_warnings(fw) == [] and pub_warnings(fw) == []


def test_certain_drops_of_our_bridge_and_subnet():
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(payload("ip", "saddr"), {"prefix": {"addr": "172.16.0.0", "len": 12}}), {"drop": None}]])}))
    [w] = net_warnings(fw)
    assert "rule `saddr 172.16.0.0/12 drop`" in w and "the egress of" in w
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(meta("oifname"), {"set": ["br-*", "virbr0"]}),
         {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]])}))
    assert "the replies to its connections" in net_warnings(fw)[0]
    assert "published port 8080/tcp" in pub_warnings(fw)[0]


def test_jumps_gotos_and_returns():
    # jump to a chain that returns for our bridge, then a drop: dropped; a goto that accepts: accepted
    fw = fw_of(("inet", "filter", {
        "forward": ("forward", "accept", [[{"jump": {"target": "zones"}}], [{"drop": None}]]),
        "zones": (None, None, [[m(meta("iifname"), "br-x"), {"return": None}], [{"accept": None}]])}))
    [w] = net_warnings(fw)
    assert "the egress of" in w and "rule `drop`" in w and "replies" not in w
    fw = fw_of(("inet", "filter", {
        "forward": ("forward", "drop", [[m(meta("iifname"), "br-x"), {"goto": {"target": "ok"}}], [{"drop": None}]]),
        "ok": (None, None, [[{"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]])}))
    [w] = net_warnings(fw)
    assert "egress" not in w and "replies" in w


def test_firewalld_chain_is_fixed_with_a_trusted_zone():
    fw = fw_of(("inet", "firewalld", {
        "filter_FORWARD": ("forward", "accept", [
            [m(ct("state"), {"set": ["established", "related"]}), {"accept": None}],
            [m(ct("status"), "dnat", "in"), {"accept": None}],
            [{"jump": {"target": "filter_FORWARD_POLICIES"}}],
            [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]]),
        "filter_FORWARD_POLICIES": (None, None, [
            [m(meta("iifname"), "eth0"), {"jump": {"target": "filter_FWD_public"}}]]),
        "filter_FWD_public": (None, None, [])}))
    [w] = net_warnings(fw)
    assert "nftables table inet firewalld, chain filter_FORWARD, hook forward (rule `reject`)" in w
    assert "firewall-cmd --zone=trusted --add-interface=br-x; firewall-cmd --permanent --zone=trusted " \
           "--add-interface=br-x" in w
    assert pub_warnings(fw) == []


def test_prerouting_drops_see_the_packet_before_the_dnat():
    fw = fw_of(("ip", "guard", {"pre": ("prerouting", "accept", [
        [m(payload("tcp", "dport"), {"range": [8000, 8100]}), {"drop": None}]])}))
    [w] = pub_warnings(fw)
    assert "hook prerouting" in w and "nft insert rule ip guard pre tcp dport 8080 accept" in w
    assert net_warnings(fw) == []       # egress carries no known port: may not match


def test_other_families_are_not_our_traffic():
    fw = fw_of(("ip6", "filter", {"forward": ("forward", "drop", [])}),
               ("bridge", "filter", {"forward": ("forward", "drop", [])}))
    assert net_warnings(fw) == []


# --- iptables-save --------------------------------------------------------------------------------------
class FakeDriver:
    """What read() uses of the iptables driver: its variant, the save texts it read, its runner (nft answers
    ``list tables`` and ``list table F T`` from ``ruleset``, a whole ``nft -j`` document, or fails with ``nft``)."""

    def __init__(self, saved, variant="nft", nft=(127, "", "nft: not found"), ruleset=None):
        self.variant = variant
        self.saved = saved
        self.calls = []
        self.nft = nft
        self.ruleset = ruleset

    def runner(self, argv, data=None):
        self.calls.append(argv)
        if self.ruleset is None:
            return self.nft
        objs = self.ruleset["nftables"]
        if argv[2:] == ["list", "tables"]:
            return 0, json.dumps({"nftables": [o for o in objs if "table" in o]}), ""
        family, name = argv[4:6]
        return 0, json.dumps({"nftables": [o for o in objs for v in o.values() if isinstance(v, dict) and
                                           v.get("family") == family and name in (v.get("table"), v.get("name"))]}), ""


UFW = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-before-forward - [0:0]
:ufw-reject-forward - [0:0]
-A FORWARD -j ufw-before-forward
-A FORWARD -j ufw-reject-forward
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-forward -p icmp -m icmp --icmp-type 3 -j ACCEPT
-A ufw-before-forward -m limit --limit 3/min -j LOG --log-prefix "[UFW BLOCK] "
-A ufw-reject-forward -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""

DOCKER = """*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SVC-X - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.244.0.5:6443
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -d 192.0.2.99/32 ! -i docker0 -p tcp -m tcp --dport 9000 -j DNAT --to-destination 172.17.0.3:80
-A DOCKER ! -i docker0 -p udp -m udp --dport 5000:5010 -j DNAT --to-destination 172.17.0.4:5000-5010
-A KUBE-NODEPORTS -p tcp -m comment --comment "ns/svc" -m tcp --dport 30080 -j KUBE-SVC-X
-A KUBE-SVC-X -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A NETPLUMB-PREROUTING -p tcp -m tcp --dport 7000 -j DNAT --to-destination 172.18.0.10:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""


def test_ufw_reject_is_found_through_its_chains_and_fixed_with_ufw_route():
    fw = h.read(FakeDriver({"nft": UFW}))
    [w] = net_warnings(fw)
    assert "iptables-nft table filter, chain FORWARD, hook forward (rule `-j REJECT --reject-with " \
           "icmp-port-unreachable` (in chain ufw-reject-forward))" in w
    assert "run: ufw route allow in on br-x (" in w and "replies" not in w
    assert "ufw route allow out on br-x to 172.18.0.10 port 80 proto tcp" in pub_warnings(fw)[0]


def test_forward_policy_drop_comes_after_our_appended_chain_in_our_backend_only():
    assert net_warnings(h.read(FakeDriver({"nft": DOCKER}))) == []
    assert pub_warnings(h.read(FakeDriver({"nft": DOCKER}))) == []
    # the same rules in the backend we do not write to: nothing of ours is in that FORWARD
    fw = h.read(FakeDriver({"legacy": DOCKER, "nft": ""}))
    [w] = net_warnings(fw)
    assert "iptables-legacy table filter, chain FORWARD, hook forward (policy drop)" in w
    assert "iptables-legacy -I DOCKER-USER -i br-x -j ACCEPT" in w


def test_an_explicit_jump_to_our_forward_chain_counts_where_it_is():
    text = UFW.replace("-A FORWARD -j ufw-reject-forward\n",
                       "-A FORWARD -j NETPLUMB-FORWARD\n-A FORWARD -j ufw-reject-forward\n")
    assert net_warnings(h.read(FakeDriver({"nft": text}))) == []


def test_iptables_nft_tables_are_read_once_through_iptables_nft_save():
    listed = ruleset(("ip", "filter", {"FORWARD": ("forward", "drop", [])}), HARDENED)
    d = FakeDriver({"nft": "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"}, ruleset=listed)
    fw = h.read(d)
    assert [(t.source, t.name) for t in fw.tables] == [("iptables-nft", "filter"), ("nftables", "filter")]
    assert d.calls == [["nft", "-j", "list", "tables"], ["nft", "-j", "list", "table", "inet", "filter"]]
    [w] = net_warnings(fw)
    assert "nftables table inet filter" in w


def test_read_is_cached_and_survives_missing_or_odd_sources():
    d = FakeDriver({"nft": UFW})
    assert h.read(d) is h.read(d) and d.calls == [["nft", "-j", "list", "tables"]]
    d = FakeDriver({}, nft=(1, "", "Operation not permitted"))
    assert h.read(d).tables == []

    def boom(argv, data=None):
        raise AttributeError("a test double that only knows iptables")
    d = FakeDriver({"nft": UFW})
    d.runner = boom
    assert len(h.read(d).tables) == 1


def test_rule_parsing():
    r = h.parse_rule(["!", "-i", "docker0", "-p", "tcp", "-m", "multiport", "--dports", "80,8000:8010", "-m",
                      "set", "--match-set", "x", "src", "-j", "DNAT", "--to-destination", "1.2.3.4"], ())
    assert r.verdict == "dnat" and r.target == "1.2.3.4"
    assert [(c.key, c.neg) for c in r.conds] == [("iif", True), ("proto", False), ("dport", False),
                                                 ("unknown", False), ("unknown", False)]
    assert r.conds[2].values == [(80, 80), (8000, 8010)] and r.conds[2].proto == "tcp"
    assert h.parse_rule(["-j", "LOG"], ()).verdict is None
    assert h.parse_rule(["-g", "X"], ("X",)).verdict == "goto"
    assert h.parse_rule(["-j", "NETPLUMB-FORWARD"], ()).verdict == "ours"


# --- foreign DNATs ----------------------------------------------------------------------------------------
def claim(fw, proto, first, last=None, host_ip=None):
    hip = ipaddress.ip_address(u"%s" % host_ip) if host_ip else None
    found = fw.dnat_claim(proto, first, last or first, hip, LOCAL)
    return found and (found[0].name, found[2], found[1].target)


def test_docker_dnat_of_a_host_port_is_a_bound_port():
    fw = h.read(FakeDriver({"nft": DOCKER}))
    assert claim(fw, "tcp", 8080) == ("DOCKER", 8080, "172.17.0.2:80")
    assert claim(fw, "tcp", 8070, 8090) == ("DOCKER", 8080, "172.17.0.2:80")
    assert claim(fw, "udp", 5005, 6000) == ("DOCKER", 5005, "172.17.0.4:5000-5010")
    assert claim(fw, "udp", 8080) is None and claim(fw, "tcp", 8081) is None
    # on another address than the host's: not this host's port
    assert claim(fw, "tcp", 9000) is None
    assert claim(fw, "tcp", 9000, host_ip="192.0.2.99") == ("DOCKER", 9000, "172.17.0.3:80")
    # a Kubernetes service address is not a host port; a node port is (its port is on the path)
    assert claim(fw, "tcp", 443) is None
    assert claim(fw, "tcp", 30080) == ("KUBE-SVC-X", 30080, "10.244.1.5:8080")
    # our own chains are ours
    assert claim(fw, "tcp", 7000) is None
    [chain, rule, port] = fw.dnat_claim("tcp", 8080, 8080, None, LOCAL)
    msg = h.dnat_refusal("tcp/8080", (chain, rule, port))
    assert msg.startswith("tcp/8080: port 8080 is bound by someone else's DNAT (iptables-nft table nat, chain "
                          "DOCKER: `! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80`, "
                          "to 172.17.0.2:80)")


def test_nft_dnat_of_a_host_port_is_a_bound_port():
    fw = fw_of(("ip", "portfw", {
        "prerouting": ("nat-prerouting", "accept", [
            [m({"fib": {"result": "type", "flags": ["daddr"]}}, "local"), {"jump": {"target": "local"}}],
            [m(payload("ip", "daddr"), "203.0.113.5"), m(payload("tcp", "dport"), 25),
             {"dnat": {"addr": "10.0.0.9"}}]]),
        "local": (None, None, [
            [m(payload("tcp", "dport"), {"set": [8080, 8443]}), {"dnat": {"addr": "198.51.100.7", "port": 80}}]])}))
    assert claim(fw, "tcp", 8443) == ("local", 8443, "198.51.100.7:80")
    assert claim(fw, "tcp", 25) is None
    assert claim(fw, "tcp", 8444) is None


@pytest.mark.parametrize("what", ["egress", "replies", "published", "published-replies"])
def test_every_kind_of_fix_names_the_bridge(what):
    fw = h.read(FakeDriver({"nft": "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DROP\nCOMMIT\n"}))
    blocks = fw.blocks(h.network_packets("br-x", SUBNET) + h.publish_packets("br-x", "tcp", 8080, "172.18.0.10", 80))
    [block] = [b for b in blocks if b.pkt.what == what][:1]
    cmds = h.fixes(block, fw, "br-x", ("tcp", 8080, "172.18.0.10", 80))
    assert cmds and all(c.startswith("iptables -I FORWARD ") and "br-x" in c for c in cmds), cmds


def test_ipv6_only_matches_never_match_our_ipv4_traffic():
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(meta("nfproto"), "ipv6"), {"drop": None}],
        [m(payload("ip6", "daddr"), "::1", "!="), {"drop": None}]])}))
    assert net_warnings(fw) == [] and pub_warnings(fw) == []
    fw = fw_of(("inet", "filter", {"forward": ("forward", "accept", [
        [m(meta("nfproto"), "ipv4"), m(meta("iifname"), "br-x"), {"drop": None}]])}))
    assert "the egress of" in net_warnings(fw)[0]


def test_the_real_firewalld_ruleset():
    """`nft -j list ruleset` of firewalld 1.3.3 (Debian 12) as it starts, stock config (default zone public),
    with a bridge br-x in no zone: its egress is rejected at the end of filter_FWD_public (the default zone
    the bridge falls into); replies and DNATed traffic are accepted first (ct state, ct status dnat)."""
    import os
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "firewalld-1.3.3-ruleset.json")) as f:
        fw = h.HostFirewalls(h.parse_nft(json.load(f)))
    [w] = net_warnings(fw)
    assert "nftables table inet firewalld, chain filter_FORWARD, hook forward (rule `reject` (in chain " \
           "filter_FWD_public)) drops the egress of network br-x" in w and "replies" not in w
    assert "firewall-cmd --zone=trusted --add-interface=br-x" in w
    assert pub_warnings(fw) == []
    assert fw.dnat_claim("tcp", 1, 65535, None, LOCAL) is None


def test_python3_nftables_stands_in_for_a_missing_nft_binary(monkeypatch):
    import sys
    import types
    doc = ruleset(HARDENED)
    commands = []

    class Nftables:
        def set_json_output(self, on):
            assert on is True

        def cmd(self, command):
            commands.append(command)
            if command == "list tables":
                return 0, json.dumps({"nftables": [o for o in doc["nftables"] if "table" in o]}), ""
            return 0, json.dumps(doc), ""
    monkeypatch.setitem(sys.modules, "nftables", types.SimpleNamespace(Nftables=Nftables))
    fw = h.read(FakeDriver({}))         # nft answers 127: not installed
    assert commands == ["list tables", "list table inet filter"]
    assert "nftables table inet filter" in net_warnings(fw)[0]
