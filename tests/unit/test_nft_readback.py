"""The nftables state read back into intents (what container_network_info and container_network_diagnose read):
the intents rendered by the nft renderer, read back as nft -j prints them (the expressions the read back takes
values from), give the same intents; rules of ours that match no intent are kept and noted, never dropped; the
diagnose "jumps" check on nftables is about our base chains' hooks and priorities. The real nft runs in
tests/integration/test_container_network_info.py and test_diagnose.py."""
import ipaddress
import itertools
import json
import re

from ansible_collections.netplumb.container.plugins.module_utils import _diagnose, _iptables, _nftables
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    Exemption, NetworkIntent, PortForward, SwarmAllowance)

ADDR = re.compile(r"^\d+\.\d+\.\d+\.\d+(/\d+)?$")


def _value(tok):
    if ADDR.match(tok):
        if "/" in tok and not tok.endswith("/32"):
            net = ipaddress.ip_network(tok)
            return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
        return tok.split("/")[0]
    if re.match(r"^\d+-\d+$", tok):
        lo, hi = tok.split("-")
        return {"range": [int(lo), int(hi)]}
    if tok.isdigit():
        return int(tok)
    return tok.strip('"')


def expr_of(text):
    """The expressions nft -j prints for the statements the read back looks at (ip saddr/daddr, dport, the
    dnat target); others as a placeholder (the read back never looks at them)."""
    toks = text.split()
    out = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t == "ip" and i + 2 < len(toks) and toks[i + 1] in ("saddr", "daddr"):
            op, v = ("!=", toks[i + 3]) if toks[i + 2] == "!=" else ("==", toks[i + 2])
            out.append({"match": {"op": op, "left": {"payload": {"protocol": "ip", "field": toks[i + 1]}},
                                  "right": _value(v)}})
            i += 4 if op == "!=" else 3
        elif t in ("tcp", "udp") and i + 2 < len(toks) and toks[i + 1] == "dport" and toks[i + 2] != "map":
            out.append({"match": {"op": "==", "left": {"payload": {"protocol": t, "field": "dport"}},
                                  "right": _value(toks[i + 2])}})
            i += 3
        elif t == "dnat" and toks[i + 1:i + 3] == ["ip", "to"]:
            addr, port = toks[i + 3].split(":")
            out.append({"dnat": {"family": "ip", "addr": addr, "port": _value(port)}})
            i += 4
        else:
            out.append({"placeholder": t})
            i += 1
    return out


def doc(intents, extra=()):
    """``nft -j list table inet netplumb`` of the rules the intents render (and ``extra`` (chain, comment))."""
    objs = [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "netplumb", "handle": 1}}]
    rules = _nftables.render(intents)
    for name, (ctype, hook, prio) in _nftables.CHAINS:
        if any(r.chain == name for r in rules):
            objs.append({"chain": {"family": "inet", "table": "netplumb", "name": name, "type": ctype, "hook": hook,
                                   "prio": prio, "policy": "accept"}})
    for h, r in enumerate(rules, start=10):
        objs.append({"rule": {"family": "inet", "table": "netplumb", "chain": r.chain, "handle": h,
                              "comment": r.comment, "expr": expr_of(r.text_)}})
    for h, (chain, comment) in enumerate(extra, start=1000):
        o = {"family": "inet", "table": "netplumb", "chain": chain, "handle": h, "expr": [{"accept": None}]}
        if comment is not None:
            o["comment"] = comment
        objs.append({"rule": o})
    return {"nftables": objs}


def read(intents, extra=()):
    return _nftables.parse_json(json.loads(json.dumps(doc(intents, extra))))


NETS = [NetworkIntent("br%d" % i, "172.%d.0.0/24" % (20 + i), m, iso, icc)
        for i, (m, iso, icc) in enumerate(itertools.product((True, False), repeat=3))]
PORTS = [
    PortForward("br0", "tcp", None, (8080, 8080), "172.20.0.10", (80, 80)),
    PortForward("br0", "udp", None, (5353, 5353), "172.20.0.10", (53, 53)),
    PortForward("br1", "tcp", "192.0.2.10", (8000, 8001), "172.21.0.11", (9000, 9001)),     # shifted range
    PortForward("br1", "tcp", None, (7000, 7002), "172.21.0.12", (7000, 7002)),             # same range
    PortForward("br2", "tcp", None, (6000, 6001), "172.22.0.13", (80, 80)),                 # range to one port
    PortForward("br3", "udp", "127.0.0.1", (5300, 5300), "172.23.0.12", (53, 53)),          # loopback
]


def test_every_network_combination_and_port_shape_reads_back_to_the_same_intents():
    intents, unread = read(NETS + PORTS).intents()
    assert unread == []
    assert sorted(intents, key=repr) == sorted(NETS + PORTS, key=repr)


def test_rules_are_the_iptables_rendering_of_the_intents_read_back():
    st = read(NETS[:1] + PORTS[:2])
    assert list(st.rules()) == _iptables.render(NETS[:1] + PORTS[:2])


def test_owners_of_no_network_pass_through_with_their_owner():
    swarm = SwarmAllowance(["192.0.2.0/24"], manager=True)
    ex = Exemption("br0", "172.20.0.0/24", "10.99.0.0/16", "eth0")
    st = read([NETS[0], swarm, ex])
    rules = list(st.rules())
    assert [r for r in rules if r.owner == "netplumb:br0"] == _iptables.render([NETS[0]])
    others = [r for r in rules if r.owner != "netplumb:br0"]
    assert sorted(set(r.owner for r in others)) == ["netplumb:fleet/br0", "netplumb:swarm/drop",
                                                    "netplumb:swarm/local", "netplumb:swarm/peer"]
    assert len(others) == len(_nftables.render([swarm, ex]))


def test_a_tampered_rule_is_noted_never_dropped():
    n, p = NETS[0], PORTS[0]
    d = doc([n, p], extra=[("forward", None)])
    for o in d["nftables"]:     # a hand edit of the container port, comment kept
        r = o.get("rule")
        if r and r["chain"] == "forward" and r.get("comment", "").startswith(p.owner):
            r["comment"] = r["comment"][:-8] + "00000000"
    st = _nftables.parse_json(d)
    intents, unread = st.intents()
    assert intents == [n]
    assert set(u.owner_read for u in unread) == set([p.owner, None])
    assert len([u for u in unread if u.owner_read == p.owner]) == len(_nftables.render([p]))
    notes = [u.unread for u in st.rules() if getattr(u, "unread", None)]
    assert any("not what netplumb renders" in why and p.owner in why for dummy, why in notes)
    assert any("without our owner comment" in why for dummy, why in notes)
    assert all(name.startswith("nftables table inet netplumb chain ") for name, dummy in notes)


def test_a_network_whose_subnet_was_not_read_is_noted():
    d = doc([NETS[0]])
    d["nftables"] = [o for o in d["nftables"] if not (o.get("rule") or {}).get("chain") == "prerouting-raw"]
    intents, unread = _nftables.parse_json(d).intents()
    assert intents == [] and len(unread) == len(_nftables.render([NETS[0]])) - 1


def _net_info(bridge="br0", subnet="172.20.0.0/24"):
    return dict(name="n", bridge=bridge, subnet=subnet)


def test_diagnose_jumps_on_nftables_checks_our_base_chains():
    st = read([NETS[0], PORTS[0]])
    [f] = _diagnose._jumps(_net_info(), st)
    assert f["status"] == "ok" and "forward (type filter hook forward priority 0)" in f["finding"]
    st.chains["forward"] = ("filter", "forward", 10)
    [f] = _diagnose._jumps(_net_info(), st)
    assert f["status"] == "warn" and "priority 10, not 0" in f["finding"]
    st.chains["prerouting-raw"] = None
    found = _diagnose._jumps(_net_info(), st)
    assert [x["status"] for x in found] == ["error", "warn"]
    assert "prerouting-raw is a regular chain" in found[0]["finding"]
    assert found[0]["fix"][:2] == ["nft flush chain inet netplumb prerouting-raw",
                                   "nft delete chain inet netplumb prerouting-raw"]
    [f] = _diagnose._jumps(_net_info("br-none"), st)
    assert f["status"] == "ok" and "no rules of ours" in f["finding"]


def test_an_edit_that_kept_the_comment_is_seen_by_the_disagreeing_container_side():
    n, p = NETS[0], PORTS[0]
    d = doc([n, p])
    for o in d["nftables"]:     # the forward accept names container port 81, the DNAT still 80; comments kept
        r = o.get("rule")
        if r and r["chain"] == "forward" and r["comment"].startswith(p.owner):
            for e in r["expr"]:
                if "match" in e and e["match"]["left"].get("payload", {}).get("field") == "dport":
                    e["match"]["right"] = 81
    intents, unread = _nftables.parse_json(d).intents()
    assert intents == [n]
    assert len(unread) == len(_nftables.render([p]))
    assert all("disagree on the container's address or port" in u.unread[1] for u in unread)


def test_diagnose_jumps_while_rules_are_in_the_other_backend_reads_where_they_are():
    st = read([NETS[0]])
    moving = _nftables.MovingState((_iptables.Ruleset(backend="iptables-nft"), st))
    [f] = _diagnose._jumps(_net_info(), moving)
    assert f["status"] == "ok" and "table inet netplumb" in f["finding"]
    assert [r.owner for r in moving.rules()] == [r.owner for r in _iptables.render([NETS[0]])]
