# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The native nftables driver: the intents (_fwintent) rendered into one table of ours, ``inet netplumb``.

* Base chains at the priorities the rules need (each created while it has rules, deleted when it has none;
  the table goes with its last chain): ``prerouting-raw`` (filter, prerouting, -300: the early drops, before
  conntrack and NAT), ``prerouting-nat`` (nat, prerouting, -100), ``output-nat`` (nat, output, -100),
  ``postrouting-nat`` (nat, postrouting, 100), ``forward`` (filter, forward, 0), ``input`` (filter, input, -10:
  the Swarm allowances).
* Every rule carries the comment ``<owner> #<rank>:<digest>``: the owner (as in the iptables driver), its sort
  class in the chain and a digest of the rule's own text, so the state read back (JSON) is compared with the
  wanted rules whatever nft version printed it. A rule of our table without such a comment was not written by
  netplumb and is removed; duplicates are reduced to one.
* One run is one ``nft -f -`` transaction (python3-nftables' libnftables where it imports, the ``nft`` binary
  otherwise): chains added, stale rules deleted by handle, missing ones inserted at their index in the final
  order (so check mode across the steps of a run names the same commands as the real run). The kernel
  applies a transaction whole or not at all, so no half-applied run exists across chains.
* The rules are IPv4 (``ip saddr``/``ip daddr``, ``meta nfproto ipv4`` where nothing else says it), like the
  iptables driver's.

An accept in our table is not final: another table's base chain at the same hook still sees the packet and
its drop still drops it (see docs/firewall-backends.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import hashlib
import ipaddress
import json

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    MARK_BITS, NFT_FAMILY, NFT_TABLE, OWNER_PREFIX, SWARM_DROP, SWARM_LOCAL, SWARM_PEER, Exemption, FirewallDriver,
    InputAllowance, NetworkIntent, PortForward, SwarmAllowance, network_of, parse_forward_owner)
from ansible_collections.netplumb.container.plugins.module_utils import _iptables
from ansible_collections.netplumb.container.plugins.module_utils._iptables import (
    PREFIX, IptablesDriver, _merge_missing, has_rules)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action
from ansible_collections.netplumb.container.plugins.module_utils._runner import Runner

# name: (type, hook, priority); the order is the order of creation and of the diff
CHAINS = (
    ("prerouting-raw", ("filter", "prerouting", -300)),
    ("prerouting-nat", ("nat", "prerouting", -100)),
    ("output-nat", ("nat", "output", -100)),
    ("postrouting-nat", ("nat", "postrouting", 100)),
    ("forward-mark", ("filter", "forward", -1)),
    ("forward", ("filter", "forward", 0)),
    ("input", ("filter", "input", -10)),
)
CHAIN_SPEC = dict(CHAINS)
CHAIN_ORDER = [c for c, dummy in CHAINS]
WHERE = "%s %s" % (NFT_FAMILY, NFT_TABLE)


class NftRule:
    """One rule of ours: chain, the rule's text without its comment, owner and sort class."""

    __slots__ = ("chain", "text_", "owner", "rank")

    def __init__(self, chain, text, owner, rank=0):
        self.chain = chain
        self.text_ = text
        self.owner = owner
        self.rank = rank

    @property
    def comment(self):
        digest = hashlib.sha1(("%s|%s" % (self.chain, self.text_)).encode("utf-8")).hexdigest()[:8]
        return "%s #%d:%s" % (self.owner, self.rank + 1, digest)

    @property
    def key(self):
        return (self.chain, self.comment)

    def statement(self):
        return '%s comment "%s"' % (self.text_, self.comment)

    def text(self):
        """Human form used in the diff: ``nft add rule inet netplumb CHAIN ...``."""
        return "add rule %s %s %s" % (WHERE, self.chain, self.statement())

    def __eq__(self, other):
        return isinstance(other, NftRule) and self.key == other.key

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return "NftRule(%s %s)" % (self.chain, self.statement())


def parse_comment(comment):
    """``netplumb:br0 #2:1a2b3c4d`` -> (owner, rank) or None when the comment is not one of ours."""
    if not comment or not comment.startswith(OWNER_PREFIX) or " #" not in comment:
        return None
    owner, dummy, tail = comment.rpartition(" #")
    rank, dummy, digest = tail.partition(":")
    if not rank.isdigit() or len(digest) != 8:
        return None
    return owner, int(rank) - 1


# --- rendering: intents -> rules ------------------------------------------------------------------------
def _q(name):
    return '"%s"' % name


def _ports(lo_hi):
    lo, hi = lo_hi
    return "%d" % lo if lo == hi else "%d-%d" % (lo, hi)


def network_rules(n):
    o, b, s = n.owner, _q(n.bridge), str(n.subnet)
    rules = []
    if n.masquerade:
        rules.append(NftRule("postrouting-nat", "ip saddr %s oifname != %s masquerade" % (s, b), o, 0))
    # hairpin: a container reaching a published port (its own or a neighbour's) through the host
    rules.append(NftRule("postrouting-nat", "ip saddr %s oifname %s ct status dnat masquerade" % (s, b), o, 0))
    rules += [
        NftRule("forward", "meta nfproto ipv4 oifname %s ct state invalid drop" % b, o, 0),
        NftRule("forward", "meta nfproto ipv4 iifname %s ct state invalid drop" % b, o, 0),
        NftRule("forward", "meta nfproto ipv4 oifname %s ct state established,related accept" % b, o, 2),
        NftRule("forward", "meta nfproto ipv4 iifname %s oifname != %s accept" % (b, b), o, 2),
        NftRule("forward", "meta nfproto ipv4 iifname %s oifname %s %s" % (b, b, "accept" if n.icc else "drop"),
                o, 2),
    ]
    if not n.isolate:
        rules.append(NftRule("prerouting-raw", "meta nfproto ipv4 iifname %s return" % b, o, 2))
    # container addresses are reached through the bridge (or published ports), never directly
    rules.append(NftRule("prerouting-raw", "ip daddr %s iifname != %s drop" % (s, b), o, 1 if n.isolate else 3))
    if n.accept_fwmark is not None:
        # Docker 29 in nftables mode (its bridge-accept-fwmark): the mark its forward chains accept, set before
        # them (priority filter - 1) on the traffic from our bridge; an accept in our table is not final
        rules.append(NftRule("forward-mark", "meta nfproto ipv4 iifname %s %s" % (b, mark_set(n.accept_fwmark)), o, 0))
    return rules


def mark_set(fwmark):
    """The statement that gives a packet the mark (mark, mask): the whole mark without a mask, else only the
    mask's bits (``meta mark & (~MASK | MARK) | MARK``: the form nft itself prints, so the text is stable)."""
    mark, mask = fwmark
    if mask is None:
        return "meta mark set 0x%08x" % mark
    return "meta mark set meta mark & 0x%08x | 0x%08x" % ((~mask | mark) & MARK_BITS, mark)


def mark_read(expr):
    """(mark, mask or None) of a read rule's ``meta mark set`` (the inverse of mark_set), or None."""
    for e in expr:
        m = e.get("mangle") if isinstance(e, dict) else None
        if not isinstance(m, dict) or (m.get("key") or {}).get("meta", {}).get("key") != "mark":
            continue
        v = m.get("value")
        if isinstance(v, int) and not isinstance(v, bool):
            return (v, None)
        try:
            (op, (left, mark)), = v.items()
            (op2, (dummy, keep)), = left.items()
        except (AttributeError, ValueError, TypeError):
            return None
        if op == "|" and op2 == "&" and isinstance(mark, int) and isinstance(keep, int):
            return (mark, ((~keep) & MARK_BITS) | mark)
    return None


def _dnat(m):
    if m.container == m.host or m.container[0] == m.container[1]:
        return "dnat ip to %s:%s" % (m.container_ip, _ports(m.container))
    # shifted range: host port N goes to container port N - first host port + first container port
    pairs = ", ".join("%d : %s . %d" % (h, m.container_ip, m.container[0] + h - m.host[0])
                      for h in range(m.host[0], m.host[1] + 1))
    return "dnat ip addr . port to %s dport map { %s }" % (m.protocol, pairs)


def forward_rules(m):
    o, b, p = m.owner, _q(m.bridge), m.protocol
    hport = "%s dport %s" % (p, _ports(m.host))
    dnat = _dnat(m)
    rules = []
    if m.host_ip is None:
        match = "ip daddr != 127.0.0.0/8 fib daddr type local %s" % hport
        rules.append(NftRule("prerouting-nat", "%s %s" % (match, dnat), o))
        rules.append(NftRule("output-nat", "%s %s" % (match, dnat), o))
    elif m.loopback:
        # never in prerouting: a neighbour routing 127.0.0.0/8 to us must not reach the container
        rules.append(NftRule("output-nat", "ip daddr %s %s %s" % (m.host_ip, hport, dnat), o))
        # the host's 127.x source would be a martian on the wire: masquerade to the bridge address
        rules.append(NftRule("postrouting-nat", "ip saddr 127.0.0.0/8 ip daddr %s oifname %s %s dport %s masquerade"
                             % (m.container_ip, b, p, _ports(m.container)), o))
        # route_localnet is on for the bridge: nothing from the bridge may address the host's loopback
        rules.append(NftRule("prerouting-raw", "ip daddr 127.0.0.0/8 iifname %s drop" % b, o, 0))
    else:
        match = "ip daddr %s %s" % (m.host_ip, hport)
        rules.append(NftRule("prerouting-nat", "%s %s" % (match, dnat), o))
        rules.append(NftRule("output-nat", "%s %s" % (match, dnat), o))
    rules.append(NftRule("forward", "ip daddr %s oifname %s %s dport %s ct status dnat accept"
                         % (m.container_ip, b, p, _ports(m.container)), o, 1))
    # loopback-addressed packets for this port arriving from the wire are dropped before conntrack/NAT
    rules.append(NftRule("prerouting-raw", "ip daddr 127.0.0.0/8 iifname != \"lo\" %s drop" % hport, o, 0))
    return rules


def _set(ports):
    ports = sorted(set(ports))
    return str(ports[0]) if len(ports) == 1 else "{ %s }" % ", ".join(str(p) for p in ports)


def swarm_rules(a):
    open_, drop = a.open_ports(), a.dropped_ports()
    out = [NftRule("input", "iifname \"lo\" return", SWARM_LOCAL)]
    for net in a.peers:
        for proto in ("tcp", "udp"):
            out.append(NftRule("input", "ip saddr %s %s dport %s accept" % (net, proto, _set(open_[proto])),
                               SWARM_PEER))
        if a.esp:
            out.append(NftRule("input", "ip saddr %s meta l4proto esp accept" % net, SWARM_PEER))
    for proto in ("tcp", "udp"):
        out.append(NftRule("input", "meta nfproto ipv4 %s dport %s drop" % (proto, _set(drop[proto])), SWARM_DROP))
    if a.esp:
        out.append(NftRule("input", "meta nfproto ipv4 meta l4proto esp drop", SWARM_DROP))
    return out


def input_allowance_rules(a):
    out = [NftRule("input", "ip saddr %s %s dport %d accept" % (addr, a.protocol, a.port), a.peer_owner)
           for addr in a.peers]
    out.append(NftRule("input", "meta nfproto ipv4 %s dport %d drop" % (a.protocol, a.port), a.drop_owner))
    return out


def exemption_rules(e):
    o, s, k, u = e.owner, str(e.subnet), str(e.cluster), _q(e.underlay)
    return [
        NftRule("postrouting-nat", "ip saddr %s ip daddr %s oifname %s return" % (s, k, u), o, -1),
        NftRule("prerouting-raw", "ip saddr %s ip daddr %s iifname %s return" % (k, s, u), o, -1),
        NftRule("forward", "ip saddr %s ip daddr %s iifname %s oifname %s accept" % (k, s, u, _q(e.bridge)), o, -1),
    ]


_RENDER = {NetworkIntent: network_rules, PortForward: forward_rules, SwarmAllowance: swarm_rules,
           Exemption: exemption_rules, InputAllowance: input_allowance_rules}


def render(intents):
    out = []
    for i in intents:
        out.extend([i] if isinstance(i, NftRule) else _RENDER[type(i)](i))
    return out


# --- state ----------------------------------------------------------------------------------------------
class ReadRule:
    """A rule of our table as read: chain, handle, comment, owner and rank (None: not ours)."""

    __slots__ = ("chain", "handle", "comment", "owner", "rank", "expr")

    def __init__(self, chain, handle, comment, expr=None):
        self.chain = chain
        self.handle = handle
        self.comment = comment
        self.expr = list(expr or [])    # the JSON expressions as read (what the read back takes values from)
        parsed = parse_comment(comment)
        self.owner, self.rank = parsed if parsed else (None, None)

    @property
    def key(self):
        return (self.chain, self.comment)

    def altered(self, text):
        """Is this rule's body, as read, other than ``text`` (the wanted rule's, whose comment it carries)? A
        rule edited by hand with its comment kept. False when the body cannot be printed back (an expression
        this version does not print): never a rewrite on doubt."""
        if not self.expr:
            return False
        body = print_expr(self.expr)
        return body is not None and body != text


# --- the read JSON printed back in the renderer's syntax (tamper detection) ----------------------------
def _pv(right):
    """A JSON value in the renderer's syntax, or None."""
    if isinstance(right, bool):
        return None
    if isinstance(right, (int, str)):
        return "%s" % right
    if isinstance(right, dict):
        if "prefix" in right:
            return "%s/%s" % (right["prefix"].get("addr"), right["prefix"].get("len"))
        if "range" in right and len(right["range"]) == 2:
            return "%s-%s" % tuple(right["range"])
        if "set" in right:
            return _pset(right["set"])
    if isinstance(right, list):
        return _pset(right)
    return None


def _pset(items):
    vals = [_pv(v) for v in items]
    if any(v is None for v in vals):
        return None
    if all(v.isdigit() for v in vals):
        return "{ %s }" % ", ".join(str(v) for v in sorted(int(v) for v in vals))
    return ",".join(vals)


def _pmatch(m):
    op, left, right = m.get("op", "=="), m.get("left"), m.get("right")
    if op not in ("==", "!=", "in") or not isinstance(left, dict):
        return None
    neg = "!= " if op == "!=" else ""
    val = _pv(right)
    if val is None:
        return None
    if "meta" in left:
        key = left["meta"].get("key")
        if key in ("iifname", "oifname"):
            return '%s %s"%s"' % (key, neg, val)
        if key in ("nfproto", "l4proto"):
            return "meta %s %s%s" % (key, neg, val)
        return None
    if "payload" in left:
        pl = left["payload"]
        if pl.get("protocol") == "ip" and pl.get("field") in ("saddr", "daddr"):
            return "ip %s %s%s" % (pl["field"], neg, val)
        if pl.get("protocol") in ("tcp", "udp") and pl.get("field") == "dport":
            return "%s dport %s%s" % (pl["protocol"], neg, val)
        return None
    if "ct" in left and left["ct"].get("key") in ("state", "status") and not neg:
        return "ct %s %s" % (left["ct"]["key"], val)
    if "fib" in left and left["fib"].get("result") == "type" and left["fib"].get("flags") == ["daddr"] and not neg:
        return "fib daddr type %s" % val
    return None


def _pdnat(d):
    if not isinstance(d, dict) or d.get("family") != "ip":
        return None
    addr = d.get("addr")
    if isinstance(addr, str):
        port = _pv(d.get("port"))
        return None if port is None else "dnat ip to %s:%s" % (addr, port)
    mp = addr.get("map") if isinstance(addr, dict) else None
    try:
        proto = mp["key"]["payload"]["protocol"]
        pairs = ", ".join("%d : %s . %d" % (k, v["concat"][0], v["concat"][1]) for k, v in mp["data"]["set"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return "dnat ip addr . port to %s dport map { %s }" % (proto, pairs)


def _pmangle(m):
    if (m.get("key") or {}).get("meta", {}).get("key") != "mark":
        return None
    v = m.get("value")
    if isinstance(v, int) and not isinstance(v, bool):
        return "meta mark set 0x%08x" % v
    return _mark_set_raw(m)


def _mark_set_raw(m):
    try:
        (dummy, (left, mark)), = m["value"].items()
        (dummy2, (dummy3, keep)), = left.items()
        return "meta mark set meta mark & 0x%08x | 0x%08x" % (keep, mark)
    except (AttributeError, ValueError, TypeError, KeyError):
        return None


def print_expr(expr):
    """The rule's JSON expressions printed in the renderer's syntax (``ip daddr 172.18.0.0/16 iifname != "br0"
    drop``), or None when one of them is not a form the renderer writes."""
    out = []
    for e in expr:
        if not isinstance(e, dict) or len(e) != 1:
            return None
        (key, val), = e.items()
        if key == "match":
            text = _pmatch(val) if isinstance(val, dict) else None
        elif key in ("accept", "drop", "return", "masquerade") and val is None:
            text = key
        elif key == "dnat":
            text = _pdnat(val)
        elif key == "mangle" and isinstance(val, dict):
            text = _pmangle(val)
        else:
            text = None
        if text is None:
            return None
        out.append(text)
    return " ".join(out)


class NftState:
    """Our table as read: does it exist, its chains (name -> (type, hook, prio) or None for a regular chain)
    and their rules in order, handles included."""

    def __init__(self, exists=False, chains=None, rules=None, backend="nftables"):
        self.exists = exists
        self.chains = chains or {}     # name -> spec tuple
        self.by_chain = rules or {}    # name -> [ReadRule]
        self.backend = backend
        self.subnets = {}              # bridge -> [subnet] of the networks' early drops

    def rules(self):
        """The iptables-shaped rules of ours that readers of iptables rules (the gather) map back: the intents
        read back from the table (``intents()``) rendered by the iptables driver, then the rules of ours that
        no intent renders (UnreadRule: owner None, with the note the gather gives them)."""
        intents, unread = self.intents()
        return _iptables.render(intents) + unread

    def owned(self, match):
        """The read rules of ours whose owner ``match`` accepts (ReadRule: chain, owner)."""
        return [r for r in self.all_rules() if r.owner is not None and match(r.owner)]

    def intents(self):
        """(intents, unread): our table read back into the intents whose rendering is exactly what was read.

        A network's owner ``netplumb:BRIDGE``: its subnet from the early drop's ``ip daddr``, masquerade, isolate
        and icc the combination whose rendered comments (owner, rank and digest of each rule's text) are those
        read. A published port's owner: protocol, host address and ports from the owner, the container's
        address and ports from the forward accept (``ip daddr X ... dport P``) or the DNAT target, checked
        the same way. Owners of no network (Swarm, fleet, vxlan) pass through as iptables-shaped records
        carrying only their owner (the gather counts them). Rules of ours that match no intent (edited by
        hand, or of a shape this version does not write) are UnreadRule records, never dropped silently."""
        order, by_owner = [], {}
        for r in _ordered(self.all_rules()):
            if r.owner is None:
                continue
            if r.owner not in by_owner:
                order.append(r.owner)
            by_owner.setdefault(r.owner, []).append(r)
        intents, unread = [], []
        for owner in order:
            rules = by_owner[owner]
            keys = set(r.key for r in rules)
            bridge = network_of(owner)
            why = None
            if _network_owner(owner):
                marks = [None] + [mark_read(r.expr) for r in rules if r.chain == "forward-mark"]
                found = _network_intent(bridge, keys, self.subnets.get(bridge, []), [m for m in marks if m or m is None])
            elif _forward_owner(owner):
                found, why = _forward_intent(parse_forward_owner(owner), rules, keys)
            else:
                intents.extend(_iptables.Rule(*(_IPT_HOOK.get(r.chain, ("filter", r.chain))
                                                + (["-m", "comment", "--comment", owner], owner))) for r in rules)
                continue
            if found is not None:
                texts = dict((w.key, w.text_) for w in render([found]))
                if any(r.altered(texts.get(r.key, "")) for r in rules):
                    found, why = None, "altered"
            if found is not None:
                intents.append(found)
            else:
                unread.extend(UnreadRule(r, why) for r in rules)
        for r in self.all_rules():
            if r.owner is None:
                unread.append(UnreadRule(r))
        return intents, unread

    def all_rules(self):
        for chain in sorted(self.by_chain):
            yield from self.by_chain[chain]


def parse_json(doc):
    """``nft -j list table inet netplumb`` -> NftState."""
    st = NftState()
    for obj in (doc or {}).get("nftables", []):
        if "table" in obj:
            st.exists = True
        elif "chain" in obj:
            c = obj["chain"]
            st.chains[c["name"]] = (c.get("type"), c.get("hook"), c.get("prio")) if c.get("hook") else None
            st.by_chain.setdefault(c["name"], [])
        elif "rule" in obj:
            r = obj["rule"]
            rr = ReadRule(r["chain"], r["handle"], r.get("comment"), r.get("expr"))
            st.by_chain.setdefault(r["chain"], []).append(rr)
            if rr.chain == "prerouting-raw" and rr.rank in (1, 3) and rr.owner and rr.owner.count(":") == 1 \
                    and "/" not in rr.owner:
                net = _daddr_prefix(r.get("expr") or [])
                if net is not None:
                    st.subnets.setdefault(network_of(rr.owner), []).append(net)
    return st


# --- read back: rules -> intents -----------------------------------------------------------------------
# the iptables (table, built-in chain) a chain of ours corresponds to, for the iptables-shaped records
_IPT_HOOK = {"prerouting-raw": ("raw", "PREROUTING"), "prerouting-nat": ("nat", "PREROUTING"),
             "output-nat": ("nat", "OUTPUT"), "postrouting-nat": ("nat", "POSTROUTING"),
             "forward": ("filter", "FORWARD"), "input": ("filter", "INPUT"), "forward-mark": ("filter", "FORWARD")}


class UnreadRule:
    """A rule of our table that no intent renders: owner None for the readers of iptables rules, ``unread``
    the (name, reason) the gather notes it with."""

    __slots__ = ("chain", "table", "hook", "args", "comment", "owner_read", "handle", "why")
    owner = None

    def __init__(self, r, why=None):
        self.why = why
        self.chain = r.chain
        self.table, self.hook = _IPT_HOOK.get(r.chain, ("filter", r.chain))
        self.args = ()
        self.comment = r.comment
        self.owner_read = r.owner
        self.handle = r.handle

    @property
    def key(self):
        return (self.chain, self.comment, self.handle)

    def text(self):
        return "nftables table %s chain %s handle %s comment %r" % (WHERE, self.chain, self.handle, self.comment)

    @property
    def unread(self):
        if self.owner_read is None:
            return (self.text(), "in our table without our owner comment: the next run of container_network "
                                 "removes it")
        if self.why in ("disagree", "altered"):
            return (self.text(), "a rule of ours (owner %s) edited by hand with its comment kept (%s): not read "
                                 "back; the next run that manages %s replaces it (its check mode reports it)"
                    % (self.owner_read, "its rules disagree on the container's address or port"
                       if self.why == "disagree" else "its body is not what its comment's digest names",
                       self.owner_read))
        return (self.text(), "a rule of ours (owner %s) that is not what netplumb renders for any network or "
                             "published port (changed by hand?): not read back; the next run that manages %s "
                             "rewrites it" % (self.owner_read, self.owner_read))


def _network_owner(owner):
    return owner.count(":") == 1 and "/" not in owner


def _forward_owner(owner):
    return (owner.count(":") >= 2 and not owner.startswith(OWNER_PREFIX + "swarm/")
            and not owner.startswith(OWNER_PREFIX + "fleet/") and parse_forward_owner(owner) is not None)


def _keys(rules):
    return set(r.key for r in rules)


def _network_intent(bridge, keys, subnets, marks=(None,)):
    """The NetworkIntent whose rules are exactly ``keys`` (its subnet one of ``subnets``, its accept_fwmark one
    of ``marks``), or None."""
    for subnet in sorted(set(subnets), key=str):
        for mark in marks:
            for masq in (True, False):
                for isolate in (True, False):
                    for icc in (True, False):
                        n = NetworkIntent(bridge, subnet, masq, isolate, icc, mark)
                        if _keys(network_rules(n)) == keys:
                            return n
    return None


def _port_value(right):
    """(lo, hi) of a JSON port value (number or range), or None."""
    if isinstance(right, int) and not isinstance(right, bool):
        return (right, right)
    if isinstance(right, dict) and isinstance(right.get("range"), list) and len(right["range"]) == 2:
        lo, hi = right["range"]
        if isinstance(lo, int) and isinstance(hi, int):
            return (lo, hi)
    return None


def _addr_value(right):
    if isinstance(right, str):
        try:
            return ipaddress.ip_address(u"%s" % right)
        except ValueError:
            return None
    return None


def _container_sides(rules, protocol):
    """Candidates (address, (lo, hi)) of a published port's container side, from the read expressions: the
    forward accept's ``ip daddr X`` and ``PROTO dport P``, the DNAT target's address and port."""
    out = []
    for r in rules:
        addr = ports = None
        for e in r.expr:
            if not isinstance(e, dict):
                continue
            m = e.get("match")
            if isinstance(m, dict) and m.get("op") in ("==", None) and isinstance(m.get("left"), dict):
                pl = m["left"].get("payload") or {}
                if pl.get("protocol") == "ip" and pl.get("field") == "daddr" and _addr_value(m.get("right")):
                    addr = _addr_value(m.get("right"))
                elif pl.get("protocol") == protocol and pl.get("field") == "dport":
                    ports = _port_value(m.get("right"))
            d = e.get("dnat")
            if isinstance(d, dict) and _addr_value(d.get("addr")) is not None:
                target = (_addr_value(d.get("addr")), _port_value(d.get("port")))
                if target[1] is not None and target not in out:
                    out.append(target)
        if r.chain == "forward" and addr is not None and ports is not None and (addr, ports) not in out:
            out.insert(0, (addr, ports))
    return out


def _forward_intent(f, rules, keys):
    """(PortForward, None) of owner ``f`` (container side None) whose rules are exactly ``keys``; else (None, why):
    "disagree" when the comments are those of a container side the rules name but the rules name more than one
    (the forward accept and the DNAT disagree: a rule edited by hand with its comment kept, which the
    comparison of comments cannot see), None when no container side renders those comments."""
    sides = _container_sides(rules, f.protocol)
    for addr, ports in sides:
        m = PortForward(f.bridge, f.protocol, f.host_ip, f.host, addr, ports)
        if _keys(forward_rules(m)) == keys:
            return (m, None) if len(sides) == 1 else (None, "disagree")
    return None, None


def _daddr_prefix(expr):
    """The network of the rule's ``ip daddr PREFIX`` match, or None."""
    for e in expr:
        m = e.get("match") if isinstance(e, dict) else None
        if not m or m.get("op") not in ("==", None):
            continue
        left, right = m.get("left") or {}, m.get("right")
        pl = left.get("payload") if isinstance(left, dict) else None
        if not pl or pl.get("protocol") != "ip" or pl.get("field") != "daddr":
            continue
        if isinstance(right, dict) and "prefix" in right:
            return ipaddress.ip_network(u"%s/%d" % (right["prefix"]["addr"], right["prefix"]["len"]))
        if isinstance(right, str):
            return ipaddress.ip_network(u"%s/32" % right)
    return None


# --- the nft tool ---------------------------------------------------------------------------------------
class NftTool:
    """``nft`` through python3-nftables' libnftables when it imports (``lib=True``), else the binary.

    With libnftables each command gets a context of its own, freed after it (as each ``nft`` process is), and
    the memory libnftables freed goes back to the system (glibc's ``malloc_trim``): a context keeps its cache of
    the whole ruleset, and one JSON listing of a table of 4000 rules takes about 50 MB of C memory while it runs
    (issue 18: the module's peak RSS). ``writes`` counts the commands that may write (every one but a listing),
    for the state read once by ``choose()`` (``NftablesDriver.read``)."""

    writes = 0

    def __init__(self, runner=None, lib=None):
        self.runner = runner or Runner()
        self.lib = None
        if lib is None or lib:
            self.lib = _libnftables() if runner is None else None
        self.how = "libnftables (python3-nftables)" if self.lib is not None else "nft"

    def cmd(self, text, json_out=False):
        """(rc, out, err) of one nft command or script."""
        if not text.startswith("list "):
            NftTool.writes += 1
        if self.lib is not None:
            ctx = self.lib()
            try:
                ctx.set_json_output(bool(json_out))
                ctx.set_handle_output(True)
                rc, out, err = ctx.cmd(text)
            finally:
                del ctx     # nft_ctx_free: its cache of the ruleset with it
                _release_freed()
            return rc, out, err
        if "\n" in text:
            return self.runner(["nft", "-f", "-"], text)
        return self.runner(["nft"] + (["-j"] if json_out else []) + text.split())


def _libnftables():
    """A factory of libnftables contexts (python3-nftables' ``Nftables``), None when it does not import or
    cannot make a context."""
    try:
        import nftables     # python3-nftables (Debian); not on PyPI
    except ImportError:
        return None
    try:
        nftables.Nftables()
    except (OSError, TypeError, AttributeError):
        return None
    return nftables.Nftables


_LIBC = []


def _release_freed():
    """Return the C heap's free memory to the system (glibc ``malloc_trim(0)``); nothing where it does not
    exist. Only the resident size changes: no behaviour."""
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is not None:
        _LIBC[0](0)


def nft_works(tool):
    rc, out, err = tool.cmd("list tables", json_out=True)
    return rc == 0, (err or out or "").strip()


def neighbour_warnings(tool):  # pylint: disable=unused-argument
    """What the nftables driver cannot do beside the tables it sees. Docker 29 in nftables mode is told about per
    network, from the model of the other firewalls (``_hostfw.docker_nft_warnings``, and its filter-FORWARD policy
    drop by ``_hostfw.network_warnings``): none here."""
    return []


# --- the driver -----------------------------------------------------------------------------------------
class NftablesDriver(FirewallDriver):
    name = "nftables"
    backend = "nftables"
    variant = None

    def __init__(self, tool=None, warnings=None, saved=None, listed=None):
        self.tool_ = tool or NftTool()
        self.runner = self.tool_.runner
        self.warnings = list(warnings or [])
        self.saved = dict(saved or {})      # iptables-save texts of every iptables backend (others' rules)
        # (NftState, NftTool.writes): the table as choose() read it, the first read() while nothing was written
        # since (one listing and one JSON parse of the table per run, not two: issue 18's peak RSS)
        self.listed = listed

    @classmethod
    def detect(cls, runner=None, explicit=True, tool=None):
        tool = tool or NftTool(runner)
        ok, why = nft_works(tool)
        field = "firewall_backend=%s" % ("nftables" if explicit else "auto")
        if not ok:
            if tool.lib is None and ("No such file" in why or "not found" in why):
                raise StateError("%s: %s" % (field, _hosttools.missing_tool(
                    "nft", "to read and write the nftables rules (or python3-nftables)")))
            raise StateError("%s: `nft list tables` failed (%s)" % (field, why or "no message"))
        return cls(tool, warnings=neighbour_warnings(tool), saved=_iptables_saves(tool.runner))

    # --- read -----------------------------------------------------------------------------------------
    def read(self):
        listed, self.listed = self.listed, None
        if listed is not None and listed[1] == NftTool.writes:
            return listed[0]
        rc, out, err = self.tool_.cmd("list table %s" % WHERE, json_out=True)
        if rc != 0:
            if "No such file" in (err or "") or "does not exist" in (err or ""):
                return NftState()
            raise StateError("nft list table %s failed (%s): %s" % (WHERE, self.tool_.how, (err or out).strip()))
        try:
            return parse_json(json.loads(out or "{}"))
        except ValueError as exc:
            raise StateError("nft -j list table %s: not JSON (%s)" % (WHERE, exc))

    # --- queries --------------------------------------------------------------------------------------
    def _rules_of(self, state):
        """{owner: [(chain, comment)]} of our rules as read."""
        out = {}
        for r in state.all_rules():
            if r.owner:
                out.setdefault(r.owner, []).append(r)
        return out

    def owners(self, state):
        return set(r.owner for r in state.all_rules() if r.owner)

    def networks(self, state):
        """{bridge: [subnet]}: the ``ip daddr`` of each network's early drop, as the JSON read it."""
        return dict((b, list(s)) for b, s in state.subnets.items())

    def published(self, state):
        return dict((o, parse_forward_owner(o)) for o in self.owners(state) if o.count(":") >= 2
                    and not o.startswith(OWNER_PREFIX + "swarm/") and not o.startswith(OWNER_PREFIX + "fleet/"))

    def loopback_bridges(self, state):
        out = {}
        for o, f in self.published(state).items():
            if f is not None and f.loopback:
                out[o] = network_of(o)
        return out

    def changed_owners(self, state, owned, intents):
        wanted = render(intents)
        texts = dict((r.key, r.text_) for r in wanted)
        cur, altered = {}, set()
        for r in state.all_rules():
            if r.owner and owned(r.owner):
                cur.setdefault(r.owner, set()).add(r.key)
                if r.key in texts and r.altered(texts[r.key]):
                    altered.add(r.owner)
        want = {}
        for r in wanted:
            want.setdefault(r.owner, set()).add(r.key)
        return altered | set(o for o in set(cur) | set(want) if cur.get(o, set()) != want.get(o, set()))

    def foreign_icc(self, bridge):
        return IptablesDriver.foreign_icc_in(self.saved.get("nft", "") + self.saved.get("legacy", ""), bridge)

    # --- plan -----------------------------------------------------------------------------------------
    def desired(self, state, owned, wanted):
        """{chain: [NftRule or ReadRule]} after the change: others' rules kept in place (once), ``wanted``
        merged in, sorted by rank (stable)."""
        wanted_text = dict((r.key, r.text_) for r in wanted)
        keep = {}
        for chain, rules in state.by_chain.items():
            seen, lst = set(), []
            for r in rules:
                if r.owner is None or r.key in seen:
                    continue
                seen.add(r.key)
                if not owned(r.owner) or (r.key in wanted_text and not r.altered(wanted_text[r.key])):
                    lst.append(r)
            keep[chain] = lst
        by_chain = {}
        for r in wanted:
            by_chain.setdefault(r.chain, []).append(r)
        out = {}
        for chain in set(keep) | set(by_chain):
            have = keep.get(chain, [])
            have_keys = [r.key for r in have]
            obj = dict((r.key, r) for r in have)
            for r in by_chain.get(chain, []):
                obj.setdefault(r.key, r)
            merged = _merge_missing(have_keys, [r.key for r in by_chain.get(chain, [])])
            lst = [obj[k] for k in merged]
            out[chain] = sorted(lst, key=lambda r: r.rank)
        return out

    def predicted(self, state, owned, intents):
        target = self.desired(state, owned, render(intents))
        st = NftState(backend=state.backend)
        handle = [0]

        def fake(r):
            handle[0] += 1
            return r if isinstance(r, ReadRule) else ReadRule(r.chain, -handle[0], r.comment)
        for chain, lst in target.items():
            if lst:
                st.chains[chain] = CHAIN_SPEC.get(chain)
                st.by_chain[chain] = [fake(r) for r in lst]
        st.exists = bool(st.chains)
        st.subnets = _subnets_after(state, owned, intents)
        return st

    def plan(self, plan, state, owned, intents):
        intents = list(intents)
        wanted = render(intents)
        target = self.desired(state, owned, wanted)
        before = [_read_text(r) for r in _ordered(state.all_rules()) if r.owner and owned(r.owner)]
        after = [r.text() for r in _ordered(wanted)]
        ops = []        # (script line, command)
        notes = []
        chains_after = [c for c in CHAIN_ORDER if target.get(c)]
        if chains_after and not state.exists:
            ops.append("add table %s" % WHERE)
        for chain in chains_after:
            if chain not in state.chains:
                t, h, prio = CHAIN_SPEC[chain]
                ops.append("add chain %s %s { type %s hook %s priority %d; policy accept; }"
                           % (WHERE, chain, t, h, prio))
        for chain in CHAIN_ORDER + sorted(c for c in state.by_chain if c not in CHAIN_SPEC):
            cur = state.by_chain.get(chain, [])
            want = target.get(chain, [])
            lines, chain_notes = _chain_edit(chain, cur, want)
            ops.extend(lines)
            notes.extend(chain_notes)
        for chain in sorted(state.chains):
            if not target.get(chain):
                ops.append("delete chain %s %s" % (WHERE, chain))
        if state.exists and not chains_after:
            ops = ["delete table %s" % WHERE]     # the table and all in it: nothing of ours is left
        for note in notes:
            plan.warn(note)
        if ops:
            batch = _NftBatch(self, ops, plan)
            for i, line in enumerate(ops):
                batch.actions.append(plan.add(Action("nft", WHERE, "nft " + line, batch.run if i == 0 else _noop)))
            if self.tool_.lib is None:
                _hosttools.need_tool(plan, "nft", "to apply the rule changes of table %s (firewall backend nftables)"
                                     % WHERE)
        return before, after


def _subnets_after(state, owned, intents):
    out = dict((b, list(s)) for b, s in state.subnets.items() if not owned(OWNER_PREFIX + b))
    for i in intents:
        if isinstance(i, NetworkIntent):
            out.setdefault(i.bridge, []).append(i.subnet)
    return out


def _ordered(rules):
    return sorted(rules, key=lambda r: CHAIN_ORDER.index(r.chain) if r.chain in CHAIN_ORDER else len(CHAIN_ORDER))


def _read_text(r):
    return "add rule %s %s ... comment \"%s\"" % (WHERE, r.chain, r.comment)


def _chain_edit(chain, cur, want):
    """Script lines turning the chain's rules ``cur`` (read, with handles) into ``want`` (in order): rules not
    wanted (and copies, and rules without our comment) deleted by handle; the kept ones stay (they are in
    the wanted order: a kept rule out of order is deleted and added again); missing ones inserted at their index
    in the final order (``insert ... index N``), or added at the end."""
    notes = []
    want_keys = [r.key for r in want]
    pos = dict((k, i) for i, k in enumerate(want_keys))
    mine = set(r.key for r in want if isinstance(r, NftRule))     # what this plan can write again
    texts = dict((r.key, r.text_) for r in want if isinstance(r, NftRule))
    kept, dels, seen, last = {}, [], set(), -1
    for r in cur:
        if r.owner is None:
            notes.append("%s chain %s held a rule netplumb did not write (comment %r); removed"
                         % (WHERE, chain, r.comment))
            dels.append(r)
        elif r.key in texts and r.altered(texts[r.key]):
            notes.append("%s chain %s held a rule with our comment %r whose body was changed (%s); replaced"
                         % (WHERE, chain, r.comment, print_expr(r.expr)))
            dels.append(r)
        elif r.key in seen:
            notes.append("%s chain %s held copies of the rule with comment %r; reduced to one"
                         % (WHERE, chain, r.comment))
            dels.append(r)
        elif r.key not in pos or (pos[r.key] < last and r.key in mine):
            dels.append(r)
        else:
            seen.add(r.key)
            kept[r.key] = r
            last = pos[r.key]
    lines = ["delete rule %s %s handle %d" % (WHERE, chain, r.handle) for r in dels]
    # missing rules by index in the final order (the kept ones are in that order already): the commands depend
    # on the chain's content only, never on handles, so a check-mode prediction names what the real run does
    length = len(kept)
    for i, r in enumerate(want):
        if r.key in kept or not isinstance(r, NftRule):
            continue    # in place; a rule of another owner that this plan cannot write again stays where it is
        if i < length:
            lines.append("insert rule %s %s index %d %s" % (WHERE, chain, i, r.statement()))
        else:
            lines.append("add rule %s %s %s" % (WHERE, chain, r.statement()))
        length += 1
    return lines, notes


def _noop():
    return None


class _NftBatch:
    """The whole change as one nft transaction, run by the plan's first nft Action."""

    def __init__(self, driver, ops, plan):
        self.driver = driver
        self.ops = ops
        self.plan = plan
        self.actions = []

    def run(self):
        script = "\n".join(self.ops) + "\n"
        rc, out, err = self.driver.tool_.cmd(script)
        if rc != 0:
            done = []
            for action in self.plan.actions:
                if action is self.actions[0]:
                    break
                done.append(action.command)
            raise KernelError("nft -f - (table %s, %s)" % (WHERE, self.driver.tool_.how),
                              "exited %d: %s; the transaction was not committed: the table is unchanged"
                              % (rc, (err or out).strip() or "no message"), done)


def _ours_in_iptables(saved):
    """{variant: True} for the iptables backends that hold a chain of ours."""
    return dict((v, any(line.startswith(":" + PREFIX) or line.startswith("-A " + PREFIX)
                        for line in (text or "").splitlines())) for v, text in saved.items())


def _iptables_saves(runner):
    saved = {}
    for variant in ("nft", "legacy"):
        rc, text, dummy = runner(["iptables-%s-save" % variant])
        if rc == 0:
            saved[variant] = text
    return saved


def _ours_in_nft(tool):
    """(any rule in our table, (NftState, NftTool.writes) as read or None): the read is handed to the driver
    (``NftablesDriver.listed``), whose first read() is then this one."""
    rc, out, dummy = tool.cmd("list table %s" % WHERE, json_out=True)
    if rc != 0:
        return False, None
    try:
        state = parse_json(json.loads(out or "{}"))
    except ValueError:
        return False, None
    return any(state.all_rules()), (state, NftTool.writes)


def both_error(field, variants):
    return StateError(
        "%s: netplumb's rules exist in both backends at once: the nftables table %s and the iptables chains "
        "%s* (%s). Refusing to guess which one is current. Move them in one run with an explicit "
        "firewall_backend (nftables or iptables: the run moves every rule of ours it manages to that backend), "
        "or remove one set (nft delete table %s; or the other backend's state=absent)"
        % (field, WHERE, PREFIX, ", ".join("iptables-%s" % v for v in variants), WHERE))


def choose(runner=None, tool=None):
    """firewall_backend=auto. Ours first: our rules in one backend keep that backend; in both, an error naming
    both. Else nftables when nft works (libnftables or the binary) and no iptables rule of anyone exists, or
    only rules that are nf_tables-backed (iptables-nft) and not ours; iptables otherwise (legacy rules exist,
    or nft does not work). See docs/firewall-backends.md."""
    tool = tool or NftTool(runner)
    saved = _iptables_saves(tool.runner)
    ours_ipt = [v for v, yes in sorted(_ours_in_iptables(saved).items()) if yes]
    works, dummy = nft_works(tool)
    ours_nft, listed = _ours_in_nft(tool) if works else (False, None)
    if ours_ipt and ours_nft:
        raise both_error("firewall_backend=auto", ours_ipt)
    if ours_nft:
        return NftablesDriver(tool, warnings=neighbour_warnings(tool), saved=saved, listed=listed)
    if ours_ipt or not works or has_rules(saved.get("legacy") or ""):
        return IptablesDriver.detect(runner=tool.runner, explicit=False)
    return NftablesDriver(tool, warnings=neighbour_warnings(tool), saved=saved, listed=listed)


class MovingState(tuple):
    """(new backend's state, old backend's state); ``rules()`` for the readers of iptables rules."""

    def rules(self):
        return list(self[1].rules()) + list(self[0].rules())


class MovingDriver(FirewallDriver):
    """Switching backends in one run: the chosen driver (``new``) gets the intents; the rules of the owners a
    call manages are removed from the other backend (``old``) in the same run, after the new ones are written.
    Queries answer from both, so a run that is half moved still sees every network and published port."""

    def __init__(self, new, old):
        self.new = new
        self.old = old
        self.backend = new.backend
        self.warnings = list(new.warnings) + ["firewall_backend: netplumb's rules are in %s: this run moves the "
                                              "rules of the networks it manages to %s" % (old.backend, new.backend)]
        for name in ("saved", "runner", "variant"):
            setattr(self, name, getattr(new, name, None))

    def tool(self, what):
        return self.old.tool(what) if hasattr(self.old, "tool") else None

    def read(self):
        return MovingState((self.new.read(), self.old.read()))

    def plan(self, plan, state, owned, intents):
        before_new, after = self.new.plan(plan, state[0], owned, intents)
        before_old, dummy = self.old.plan(plan, state[1], owned, [])
        return before_old + before_new, after

    def predicted(self, state, owned, intents):
        return MovingState((self.new.predicted(state[0], owned, intents), self.old.predicted(state[1], owned, [])))

    def networks(self, state):
        out = self.old.networks(state[1])
        for b, nets in self.new.networks(state[0]).items():
            out.setdefault(b, []).extend(n for n in nets if n not in out.get(b, []))
        return out

    def published(self, state):
        out = self.old.published(state[1])
        out.update(self.new.published(state[0]))
        return out

    def loopback_bridges(self, state):
        out = self.old.loopback_bridges(state[1])
        out.update(self.new.loopback_bridges(state[0]))
        return out

    def owners(self, state):
        return self.new.owners(state[0]) | self.old.owners(state[1])

    def changed_owners(self, state, owned, intents):
        moved = set(o for o in self.old.owners(state[1]) if owned(o))
        return self.new.changed_owners(state[0], owned, intents) | moved

    def foreign_icc(self, bridge):
        return self.new.foreign_icc(bridge)


def select(backend, runner=None):
    """The driver of firewall_backend=iptables|nftables|auto, moving our rules from the other backend when an
    explicit backend meets them there."""
    tool = NftTool(runner)
    if backend == "auto":
        return choose(tool=tool)
    if backend == "nftables":
        new = NftablesDriver.detect(tool=tool, explicit=True)
        ours = [v for v, yes in sorted(_ours_in_iptables(new.saved).items()) if yes]
        if ours:
            if len(ours) > 1:
                raise StateError("firewall_backend=nftables: chains of netplumb exist in both iptables backends "
                                 "(%s); remove one first" % ", ".join(ours))
            return MovingDriver(new, IptablesDriver(ours[0], tool.runner))
        return new
    new = IptablesDriver.detect(runner=tool.runner, explicit=True)
    works, dummy = nft_works(tool)
    ours_nft, listed = _ours_in_nft(tool) if works else (False, None)
    if ours_nft:
        return MovingDriver(new, NftablesDriver(tool, saved=new.saved, listed=listed))
    return new
