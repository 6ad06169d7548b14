# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's other firewalls: read, evaluated, told about - never changed.

One read per run (cached on the firewall driver) of every packet filter that can see our traffic:

* the native nftables ruleset (``nft -j list tables``, then ``nft -j list table`` of each; python3-nftables
  when the binary is absent; no source when neither is there), families ``ip`` and ``inet`` (our traffic is
  IPv4); the tables that iptables-nft manages are read through iptables-nft-save instead, never listed;
* every iptables backend (``iptables-nft-save``, ``iptables-legacy-save``): the texts the driver already read
  (_iptables keeps what its detection and its last read saw): no second dump.

Both become one model: base chains (hook, type, policy) holding rules of simple conditions (interfaces,
addresses, protocol and destination port, conntrack state and status, local destination) and a verdict.
The planners then ask two questions:

* ``blocks(...)``: which base chains drop a network's forwarded traffic (egress, replies) or a published
  port's DNATed traffic, at the prerouting and forward hooks. Each base chain decides alone: an accept is
  final only for its own chain (another table's chain at the same hook still drops). A rule whose condition
  is unknown or only partly met "may not match": the packet goes on. A drop is reported only when a rule
  that certainly matches, or the chain's policy, drops it. Our own chains (NETPLUMB-*) accept our traffic in
  the FORWARD chain of the backend we write to, at the place of their jump (appended when not there yet).
* ``dnat_claim(mapping)``: someone else's DNAT of a host port (Docker with userland-proxy off, an nft dnat),
  reachable from a nat hook, whose destination port (and address) covers the mapping: a bound port.

Warnings name the source, table, chain and hook, what is blocked, and the fix for that firewall.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import ipaddress
import json

from ansible_collections.netplumb.container.plugins.module_utils._fwintent import NFT_FAMILY, NFT_TABLE
from ansible_collections.netplumb.container.plugins.module_utils._iptables import PREFIX

FAMILIES = ("ip", "inet")
IPT_HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
             "POSTROUTING": "postrouting"}
NAT_VERDICTS = ("dnat", "snat", "masquerade", "redirect")


def _net(text):
    try:
        return ipaddress.ip_network(u"%s" % text, strict=False)
    except ValueError:
        return None


# --- the model ------------------------------------------------------------------------------------------
class Cond:
    """One condition of a rule: key, negated, values. Keys: iif, oif (name patterns), saddr, daddr (networks),
    proto, dport ((lo, hi) ranges; ``proto`` the protocol it implies), ctstate, ctstatus, local (the
    destination is an address of the host), never/always (an IPv6-only or IPv4-only match: our traffic is
    IPv4), unknown (anything else: may or may not match)."""

    __slots__ = ("key", "neg", "values", "proto")

    def __init__(self, key, values, neg=False, proto=None):
        self.key = key
        self.values = values
        self.neg = neg
        self.proto = proto

    def text(self):
        vals = ",".join("%s-%s" % v if isinstance(v, tuple) and v[0] != v[1] else
                        str(v[0]) if isinstance(v, tuple) else str(v) for v in self.values)
        name = "%s dport" % self.proto if self.key == "dport" and self.proto else self.key
        return "%s %s%s" % (name, "!= " if self.neg else "", vals)


class Rule:
    __slots__ = ("conds", "verdict", "target", "text", "expr")

    def __init__(self, conds, verdict, target=None, text="", expr=None):
        self.conds = conds
        self.verdict = verdict      # accept drop reject jump goto return dnat ours, or None (goes on)
        self.target = target        # the chain of jump/goto, the destination of a dnat
        self.text = text
        self.expr = expr            # nftables: the JSON expressions as read (Docker's fwmark accept is read there)


class Chain:
    __slots__ = ("table", "name", "hook", "type", "policy", "prio", "rules")

    def __init__(self, table, name, hook=None, ctype="filter", policy="accept", prio=0):
        self.table = table
        self.name = name
        self.hook = hook
        self.type = ctype
        self.policy = policy
        self.prio = prio
        self.rules = []


class Table:
    __slots__ = ("source", "family", "name", "chains")

    def __init__(self, source, family, name):
        self.source = source        # "nftables", "iptables-nft", "iptables-legacy"
        self.family = family
        self.name = name
        self.chains = {}

    @property
    def iptables(self):
        return self.source.startswith("iptables")

    def kind(self):
        """Whose firewall this is, for the fix: firewalld, ufw, docker, nftables or iptables."""
        names = set(self.chains)
        if self.name == "firewalld" or any(n.startswith(("FWD_", "FORWARD_", "filter_FWD")) for n in names):
            return "firewalld"
        if any(n.startswith("ufw-") for n in names):
            return "ufw"
        if "DOCKER-USER" in names or self.name.startswith("docker"):
            return "docker"
        return "iptables" if self.iptables else "nftables"

    def where(self):
        if self.iptables:
            return "%s table %s" % (self.source, self.name)
        return "nftables table %s %s" % (self.family, self.name)


# --- packets --------------------------------------------------------------------------------------------
class Packet:
    """What we know of one packet of our traffic; None fields are unknown. iif/oif: an exact name, or
    ("foreign", names it is not)."""

    def __init__(self, what, iif, oif, saddr=None, daddr=None, not_daddr=None, proto=None, dport=None,
                 ct="new", dnat=False, local=None):
        self.what = what
        self.iif = iif
        self.oif = oif
        self.saddr = saddr
        self.daddr = daddr
        self.not_daddr = not_daddr
        self.proto = proto
        self.dport = dport
        self.ct = ct
        self.dnat = dnat
        self.local = local


def _iface(patterns, value):
    if value is None:
        return None
    if isinstance(value, tuple):    # some interface other than value[1]
        out = False
        for pat in patterns:
            if any(c in pat for c in "*+?[") or pat not in value[1]:
                out = None
        return out
    return any(fnmatch.fnmatchcase(value, pat.replace("+", "*")) for pat in patterns)


def _addr(nets, value, excluded=None):
    nets = [n for n in nets if n is not None]
    if not nets:
        return None
    if value is None:
        if excluded is not None and all(n.version == excluded.version and n.subnet_of(excluded) for n in nets):
            return False
        return None
    if any(n.version == value.version and value.subnet_of(n) for n in nets):
        return True
    if all(n.version != value.version or not n.overlaps(value) for n in nets):
        return False
    return None


def _match(cond, pkt):
    k = cond.key
    if k == "iif":
        res = _iface(cond.values, pkt.iif)
    elif k == "oif":
        res = _iface(cond.values, pkt.oif)
    elif k == "saddr":
        res = _addr(cond.values, pkt.saddr)
    elif k == "daddr":
        res = _addr(cond.values, pkt.daddr, pkt.not_daddr)
    elif k == "proto":
        res = None if pkt.proto is None else pkt.proto in cond.values
    elif k == "dport":
        if pkt.proto is None:
            res = None
        elif cond.proto and cond.proto != pkt.proto:
            res = False
        elif pkt.dport is None:
            res = None
        else:
            res = any(lo <= pkt.dport <= hi for lo, hi in cond.values)
    elif k in ("ctstate", "ctstatus"):
        vals = set(v.lower() for v in cond.values)
        if pkt.ct in vals or ("dnat" in vals and pkt.dnat):
            res = True
        elif vals - set(["new", "established", "related", "invalid", "untracked", "dnat"]):
            res = None
        else:
            res = False
    elif k == "local":
        res = pkt.local
    elif k in ("never", "always"):
        return k == "always"    # our traffic is IPv4
    else:
        res = None
    if res is None or not cond.neg:
        return res
    return not res


def matches(rule, pkt):
    """True (certainly), False (certainly not) or None (unknown: may not match)."""
    out = True
    for cond in rule.conds:
        res = _match(cond, pkt)
        if res is False:
            return False
        if res is None:
            out = None
    return out


# --- the ruleset ----------------------------------------------------------------------------------------
class HostFirewalls:
    """Every other firewall of the host, read once; ``ours``: (source) whose FORWARD holds our chains."""

    def __init__(self, tables=(), ours=None, notes=()):
        self.tables = list(tables)
        self.ours = ours
        self.notes = list(notes)
        self._claims = None

    def base_chains(self, hook):
        out = []
        for t in self.tables:
            if t.family not in FAMILIES:
                continue
            out.extend(c for c in t.chains.values() if c.hook == hook)
        return sorted(out, key=lambda c: (c.prio, c.table.source, c.table.name, c.name))

    # -- drops ----------------------------------------------------------------------------------------
    def _run(self, chain, pkt, depth, path):
        """(verdict, rule, path) of a chain: accept, drop (rule None: a policy), return, or None (fell off)."""
        if depth > 16:
            return None, None, path
        for rule in chain.rules:
            if matches(rule, pkt) is not True:
                continue
            v = rule.verdict
            if v == "ours" and not (chain.name == "FORWARD" and chain.table.name == "filter"
                                    and chain.table.source == self.ours):
                continue    # our chains elsewhere only drop what is not our networks' traffic
            if v in ("accept", "ours") or v in NAT_VERDICTS:
                return "accept", rule, path + [chain]
            if v in ("drop", "reject"):
                return "drop", rule, path + [chain]
            if v == "return":
                return "return", rule, path + [chain]
            if v in ("jump", "goto"):
                sub = chain.table.chains.get(rule.target)
                if sub is None or sub.hook:
                    continue
                res = self._run(sub, pkt, depth + 1, path + [chain])
                if res[0] in ("accept", "drop"):
                    return res
                if v == "goto":
                    return "return", rule, path + [chain]
        return None, None, path + [chain]

    def verdict(self, chain, pkt):
        """(True, rule or None, path) when the base chain certainly drops pkt, else (False, ...)."""
        if chain.type == "nat" and pkt.ct != "new":
            return False, None, []
        res, rule, path = self._run(chain, pkt, 0, [])
        if res == "drop":
            return True, rule, path
        if res == "accept":
            return False, rule, path
        return chain.policy == "drop", None, [chain]

    def blocks(self, packets):
        """[Block] for each base chain at the packets' hooks that drops one of them (hook, packet)."""
        out = []
        for hook, pkt in packets:
            for chain in self.base_chains(hook):
                dropped, rule, path = self.verdict(chain, pkt)
                if dropped:
                    out.append(Block(chain, rule, path, pkt))
        return out

    # -- foreign DNATs --------------------------------------------------------------------------------
    def claims(self):
        """[(chain, rule, conditions on the path)] of every DNAT of others reachable from a nat hook."""
        if self._claims is None:
            self._claims = []
            for hook in ("prerouting", "output"):
                for chain in self.base_chains(hook):
                    if chain.type == "nat":
                        self._collect(chain, [], 0, set())
        return self._claims

    def _collect(self, chain, conds, depth, seen):
        if depth > 16 or chain.name in seen or chain.name.startswith(PREFIX):
            return
        seen = seen | set([chain.name])
        for rule in chain.rules:
            path = conds + rule.conds
            if rule.verdict == "dnat":
                self._claims.append((chain, rule, path))
            elif rule.verdict in ("jump", "goto") and rule.target in chain.table.chains:
                self._collect(chain.table.chains[rule.target], path, depth + 1, seen)

    def dnat_claim(self, protocol, first, last, host_ip, local_addrs):
        """(chain, rule, port) of a DNAT of others that takes a port of protocol/first-last on host_ip (None:
        every non-loopback address, given as local_addrs), or None."""
        for chain, rule, conds in self.claims():
            port = _claims_port(conds, protocol, first, last, host_ip, local_addrs)
            if port is not None:
                return chain, rule, port
        return None


def _claims_port(conds, protocol, first, last, host_ip, local_addrs):
    """The first port of first-last the path's conditions DNAT, or None (a path must name the port)."""
    port = None
    for c in conds:
        if c.key == "proto" and not c.neg and protocol not in c.values:
            return None
        if c.key == "dport":
            if c.proto and c.proto != protocol:
                return None
            hits = [max(lo, first) for lo, hi in c.values if lo <= last and first <= hi]
            if c.neg:
                continue
            if not hits:
                return None
            port = min(hits) if port is None else max(port, min(hits))
        if c.key == "daddr" and not c.neg:
            cands = [host_ip] if host_ip is not None else local_addrs
            if not any(any(n is not None and a.version == n.version and a in n for n in c.values) for a in cands):
                return None
        if c.key == "local" and c.neg:
            return None
    return port


class Block:
    """A base chain that drops a packet of ours: the chain, the rule (None: the policy), the chain path."""

    def __init__(self, chain, rule, path, pkt):
        self.chain = chain
        self.rule = rule
        self.path = path
        self.pkt = pkt

    def how(self):
        if self.rule is None:
            return "policy drop"
        where = "" if len(self.path) <= 1 else " (in chain %s)" % self.path[-1].name
        return "rule `%s`%s" % (self.rule.text, where)


# --- reading --------------------------------------------------------------------------------------------
def read(driver):
    """The host's other firewalls, read once per driver (a run's ChainedDriver is shared by its calls).

    The iptables text is the one the driver read (every backend's save at detection, its own backend's
    at each read: no second dump); nftables is listed once. A source that cannot be read is skipped."""
    cached = getattr(driver, "hostfw", None)
    if cached is not None:
        return cached
    inner = getattr(driver, "driver", driver)
    saved = getattr(inner, "saved", None) or {}
    tables, ipt_nft = [], set()
    for variant in ("nft", "legacy"):
        if saved.get(variant) is None:
            continue
        parsed = parse_save(saved[variant], "iptables-%s" % variant)
        tables.extend(parsed)
        if variant == "nft":
            ipt_nft = set(t.name for t in parsed)
    ours = "iptables-%s" % getattr(inner, "variant", "nft")
    data = _list_nft(getattr(driver, "runner", None), ipt_nft)
    if data is not None:
        tables.extend(parse_nft(data))
    for t in tables:
        fwd = t.chains.get("FORWARD") if t.source == ours and t.name == "filter" else None
        if fwd is not None and not any(r.verdict == "ours" for r in fwd.rules):
            # where our plan appends it: our FORWARD chain accepts the traffic its rules describe
            fwd.rules.append(Rule([], "ours", PREFIX + "FORWARD", "-j %sFORWARD" % PREFIX))
    fw = HostFirewalls(tables, ours)
    try:
        driver.hostfw = fw
    except AttributeError:
        pass
    return fw


def _list_nft(runner, skip=()):
    """The native tables (families ip and inet) as one ``nft -j`` JSON document: ``nft -j list tables``, then
    each table but those in ``skip`` (the iptables-nft ones, read through iptables-nft-save: with thousands of
    rules of ours in them, listing the whole ruleset would cost more than the rest of the run). python3-nftables
    when the nft binary is absent; None without either."""
    if runner is None:
        return None
    tables = _nft(runner, ["list", "tables"])
    if tables is None:
        return None
    out = []
    for obj in tables.get("nftables", []):
        t = obj.get("table")
        if not t or t.get("family") not in FAMILIES or (t["family"] == "ip" and t.get("name") in skip):
            continue
        if (t.get("family"), t.get("name")) == (NFT_FAMILY, NFT_TABLE):
            continue    # our own table (the nftables driver's): not another firewall
        listed = _nft(runner, ["list", "table", t["family"], t["name"]])
        out.extend((listed or {}).get("nftables", []))
    return {"nftables": out}


def _nft(runner, args):
    try:
        rc, out, dummy = runner(["nft", "-j"] + args)
    except Exception:  # pylint: disable=broad-except
        return None     # a test double that only knows iptables
    if rc == 127:
        return _python_nftables(" ".join(args))
    if rc != 0:
        return None
    try:
        return json.loads(out)
    except ValueError:
        return None


def _python_nftables(command):
    try:
        import nftables     # python3-nftables (Debian), not on PyPI
    except ImportError:
        return None
    try:
        nft = nftables.Nftables()
        nft.set_json_output(True)
        rc, out, dummy = nft.cmd(command)
        return json.loads(out) if rc == 0 else None
    except Exception:  # pylint: disable=broad-except
        return None


# --- iptables-save --------------------------------------------------------------------------------------
def _ipt_ports(text, proto):
    out = []
    for part in text.split(","):
        lo, dummy, hi = part.partition(":")
        try:
            out.append((int(lo or 0), int(hi or lo or 65535)))
        except ValueError:
            return None
    return Cond("dport", out, proto=proto)


KNOWN_MODULES = ("tcp", "udp", "sctp", "comment", "conntrack", "state", "addrtype", "multiport")
# target options that take a value and change nothing about the match
TARGET_OPTS = ("--reject-with", "--log-prefix", "--log-level", "--to-destination", "--to-source", "--to-ports",
               "--set-mark", "--set-xmark", "--comment", "--log-uid", "--queue-num", "--mode", "--save-mark",
               "--restore-mark", "--nfmask", "--ctmask", "--mask")


def parse_rule(args, chains=()):
    """iptables-save tokens of a rule (after ``-A CHAIN``) -> Rule; ``chains``: the table's chain names (a
    target that is none of them nor a verdict, like LOG or MARK, lets the packet go on)."""
    from ansible_collections.netplumb.container.plugins.module_utils._iptables import quote_args
    conds, verdict, target, proto = [], None, None, None
    neg = False
    i = 0
    n = len(args)
    while i < n:
        tok = args[i]
        val = args[i + 1] if i + 1 < n else ""
        step = 2
        if tok == "!":
            neg = True
            i += 1
            continue
        if tok in ("-i", "--in-interface"):
            conds.append(Cond("iif", [val], neg))
        elif tok in ("-o", "--out-interface"):
            conds.append(Cond("oif", [val], neg))
        elif tok in ("-s", "--source", "-d", "--destination"):
            conds.append(Cond("saddr" if tok in ("-s", "--source") else "daddr",
                              [_net(x) for x in val.split(",")], neg))
        elif tok in ("-p", "--protocol"):
            proto = val.lower() if not neg else None
            conds.append(Cond("proto", [val.lower()], neg))
        elif tok == "-m":
            if val not in KNOWN_MODULES:
                conds.append(Cond("unknown", ["-m " + val], neg))
        elif tok in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            c = _ipt_ports(val, proto)
            if c is None:
                c = Cond("unknown", [tok + " " + val])
            c.neg = neg
            conds.append(c)
        elif tok in ("--ctstate", "--state"):
            conds.append(Cond("ctstate", val.split(","), neg))
        elif tok == "--ctstatus":
            conds.append(Cond("ctstatus", val.split(","), neg))
        elif tok == "--dst-type":
            conds.append(Cond("local", [val], neg) if val == "LOCAL" else Cond("unknown", [tok + " " + val], neg))
        elif tok in ("-j", "--jump", "-g", "--goto"):
            goto = tok in ("-g", "--goto")
            if val.startswith(PREFIX):
                verdict, target = "ours", val
            elif val in chains:
                verdict, target = "goto" if goto else "jump", val
            elif val in ("ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
                verdict = "dnat" if val == "REDIRECT" else val.lower()
            else:
                verdict = None      # LOG, MARK, CONNMARK, TRACE, CT...: the packet goes on
        elif tok in TARGET_OPTS:
            if tok == "--to-destination":
                target = val
        elif tok.startswith("-"):
            # an option of a module or target we do not model: one value unless the next is an option
            has_val = i + 1 < n and not args[i + 1].startswith("-") and args[i + 1] != "!"
            if tok not in ("--comment",):
                conds.append(Cond("unknown", [tok], neg))
            step = 2 if has_val else 1
        else:
            step = 1
        neg = False
        i += step
    return Rule(conds, verdict, target, quote_args(args))


def parse_save(text, source):
    """iptables-save text -> [Table]; built-in chains are base chains at their hook."""
    from ansible_collections.netplumb.container.plugins.module_utils._iptables import split_line
    tables = []
    table = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = Table(source, "ip", line[1:])
            tables.append(table)
            continue
        if table is None or line == "COMMIT":
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            name, policy = parts[0], parts[1] if len(parts) > 1 else "-"
            hook = IPT_HOOKS.get(name) if policy != "-" else None
            ctype = "nat" if table.name == "nat" else "filter"
            table.chains[name] = Chain(table, name, hook, ctype, "drop" if policy == "DROP" else "accept",
                                       _IPT_PRIO.get(table.name, 0))
            continue
        if not line.startswith("-A ") or line.split(None, 2)[1].startswith(PREFIX):
            continue    # our own chains are never walked (a jump to one is our verdict): not parsed
        toks = split_line(line)
        chain = table.chains.get(toks[1])
        if chain is None:
            chain = table.chains[toks[1]] = Chain(table, toks[1])
        chain.rules.append(parse_rule(toks[2:], table.chains))
    return tables


_IPT_PRIO = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}


# --- nft -j list ruleset --------------------------------------------------------------------------------
def _nft_values(right):
    """A JSON right-hand side -> list of plain values / (lo, hi) ranges / networks as text."""
    if isinstance(right, dict):
        if "set" in right:
            out = []
            for v in right["set"]:
                out.extend(_nft_values(v))
            return out
        if "range" in right:
            return [tuple(right["range"])]
        if "prefix" in right:
            return ["%s/%s" % (right["prefix"]["addr"], right["prefix"]["len"])]
        return None     # a set reference, a concatenation, an expression
    if isinstance(right, list):
        out = []
        for v in right:
            out.extend(_nft_values(v) or [])
        return out
    if isinstance(right, str) and right.startswith("@"):
        return None
    return [right]


def _nft_cond(match):
    op = match.get("op", "==")
    left, right = match.get("left"), match.get("right")
    neg = op == "!="
    if op not in ("==", "!=", "in"):
        return Cond("unknown", [op])
    vals = _nft_values(right)
    if not isinstance(left, dict) or vals is None:
        return Cond("unknown", [json.dumps(left)[:60]], neg)
    if "meta" in left and left["meta"].get("key") == "nfproto":
        return Cond("never", vals) if "ipv4" not in vals or neg else Cond("always", vals)
    if "payload" in left and left["payload"].get("protocol") in ("ip6", "icmpv6"):
        return Cond("never", [left["payload"]["protocol"]])     # implies nfproto ipv6, negated or not
    if "meta" in left:
        key = left["meta"].get("key")
        if key in ("iifname", "oifname", "iif", "oif"):
            return Cond("iif" if key.startswith("i") else "oif", [str(v) for v in vals], neg)
        if key == "l4proto":
            return Cond("proto", [str(v) for v in vals], neg)
    if "payload" in left:
        pl = left["payload"]
        proto, field = pl.get("protocol"), pl.get("field")
        if proto == "ip" and field in ("saddr", "daddr"):
            return Cond(field, [_net(v) for v in vals], neg)
        if proto == "ip" and field == "protocol":
            return Cond("proto", [str(v) for v in vals], neg)
        if proto in ("tcp", "udp", "sctp", "th") and field == "dport":
            rng = [v if isinstance(v, tuple) else (int(v), int(v)) for v in vals]
            return Cond("dport", rng, neg, proto=None if proto == "th" else proto)
    if "ct" in left and left["ct"].get("key") in ("state", "status") and "dir" not in left["ct"]:
        return Cond("ct" + left["ct"]["key"], [str(v) for v in vals], neg)
    if "fib" in left and left["fib"].get("result") == "type" and left["fib"].get("flags") == ["daddr"]:
        if vals == ["local"]:
            return Cond("local", ["local"], neg)
    return Cond("unknown", [json.dumps(left)[:60]], neg)


def _nft_rule(exprs):
    conds, verdict, target, text = [], None, None, []
    for e in exprs:
        (key, val), = e.items() if isinstance(e, dict) and len(e) == 1 else ((None, None),)
        if key == "match":
            c = _nft_cond(val)
            conds.append(c)
            text.append(c.text())
        elif key in ("accept", "drop", "return"):
            verdict = key
            text.append(key)
        elif key == "reject":
            verdict = "reject"
            text.append("reject")
        elif key in ("jump", "goto"):
            verdict, target = key, val.get("target")
            text.append("%s %s" % (key, target))
        elif key in NAT_VERDICTS:
            verdict = "dnat" if key in ("dnat", "redirect") else key
            dest = val.get("addr") if isinstance(val, dict) else None
            port = val.get("port") if isinstance(val, dict) else None
            target = "%s%s" % (dest if isinstance(dest, str) else "", ":%s" % port if port else "")
            text.append("%s to %s" % (key, target))
        elif key in ("counter", "log", "comment", "mangle", "notrack", "set", "continue"):
            continue
        elif key == "queue":
            verdict = "accept"
        elif key is not None:
            # limit, quota, vmap, xt, ...: the rule may or may not apply
            conds.append(Cond("unknown", [key]))
            text.append(key)
    return Rule(conds, verdict, target, " ".join(text))


def parse_nft(data):
    """``nft -j list ruleset`` JSON -> [Table] (families ip and inet only: our traffic is IPv4)."""
    tables = {}
    for obj in (data or {}).get("nftables", []):
        if "table" in obj:
            t = obj["table"]
            if t.get("family") in FAMILIES:
                tables[(t["family"], t["name"])] = Table("nftables", t["family"], t["name"])
        elif "chain" in obj:
            c = obj["chain"]
            table = tables.get((c.get("family"), c.get("table")))
            if table is None:
                continue
            table.chains[c["name"]] = Chain(table, c["name"], c.get("hook"), c.get("type", "filter"),
                                            c.get("policy", "accept"), _prio(c.get("prio", 0)))
        elif "rule" in obj:
            r = obj["rule"]
            table = tables.get((r.get("family"), r.get("table")))
            if table is None or r.get("chain") not in table.chains:
                continue
            rule = _nft_rule(r.get("expr") or [])
            rule.expr = r.get("expr") or []
            table.chains[r["chain"]].rules.append(rule)
    return list(tables.values())


def _prio(p):
    return p if isinstance(p, int) else 0


# --- what the planners ask ------------------------------------------------------------------------------
def network_packets(bridge, subnet):
    """The packets of a network's forwarded traffic: a new connection out, and the replies back in."""
    other = ("foreign", (bridge, "lo"))
    new = Packet("egress", bridge, other, saddr=subnet, not_daddr=subnet, local=False)
    reply = Packet("replies", other, bridge, daddr=subnet, ct="established")
    return [("prerouting", new), ("forward", new), ("prerouting", reply), ("forward", reply)]


def publish_packets(bridge, protocol, host_port, container_ip, container_port, host_ip=None):
    """A new connection to a published port: before the DNAT (prerouting) and after it (forward)."""
    other = ("foreign", (bridge, "lo"))
    cip = ipaddress.ip_network(u"%s/32" % container_ip)
    hip = ipaddress.ip_network(u"%s/32" % host_ip) if host_ip is not None else None
    pre = Packet("published", other, None, daddr=hip, proto=protocol, dport=_first(host_port), local=True)
    fwd = Packet("published", other, bridge, daddr=cip, proto=protocol, dport=_first(container_port), dnat=True)
    reply = Packet("published-replies", bridge, other, saddr=cip, ct="established")
    return [("prerouting", pre), ("forward", fwd), ("forward", reply)]


def _first(port):
    """8080, "8080" or "8000-8010" -> the first port (the packet we evaluate)."""
    return int(str(port).split("-", maxsplit=1)[0])


def _ipt_cmd(table, fw):
    tool = "iptables" if table.source == fw.ours else table.source
    return tool if table.name == "filter" else "%s -t %s" % (tool, table.name)


def fixes(block, fw, bridge, mapping=None):
    """The exact commands that let the blocked traffic through that firewall (never run by netplumb)."""
    chain, table = block.chain, block.chain.table
    kind = table.kind()
    hook = chain.hook
    if kind == "firewalld":
        return ["firewall-cmd --zone=trusted --add-interface=%s" % bridge,
                "firewall-cmd --permanent --zone=trusted --add-interface=%s" % bridge]
    what = block.pkt.what
    if kind == "ufw" and hook == "forward":
        if what == "egress":
            return ["ufw route allow in on %s" % bridge]
        if what == "published" and mapping:
            return ["ufw route allow out on %s to %s port %s proto %s" % (bridge, mapping[2], mapping[3], mapping[0])]
        return ["ufw route allow out on %s" % bridge] if what == "replies" else ["ufw route allow in on %s" % bridge]
    if table.iptables:
        cname = "DOCKER-USER" if kind == "docker" and "DOCKER-USER" in table.chains and hook == "forward" \
            else chain.name
        pre = "%s -I %s" % (_ipt_cmd(table, fw), cname)
        if what == "egress":
            return ["%s -i %s -j ACCEPT" % (pre, bridge)]
        if what == "replies":
            return ["%s -o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % (pre, bridge)]
        if what == "published-replies":
            return ["%s -i %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % (pre, bridge)]
        proto, port, cip, cport = mapping
        port, cport = str(port).replace("-", ":"), str(cport).replace("-", ":")     # iptables ranges: LO:HI
        if hook == "prerouting":
            return ["%s -p %s -m %s --dport %s -j ACCEPT" % (pre, proto, proto, port)]
        return ["%s -o %s -d %s -p %s -m %s --dport %s -m conntrack --ctstate DNAT -j ACCEPT"
                % (pre, bridge, cip, proto, proto, cport)]
    if kind == "docker" and hook == "forward" and block.rule is None:
        # Docker 29 in nftables mode, its filter-FORWARD policy drop (set when Docker enabled IP forwarding
        # itself): no rule of that base chain checks bridge-accept-fwmark, so a mark does not help
        return ["set \"ip-forward-no-drop\": true in /etc/docker/daemon.json and restart dockerd (Docker then leaves "
                "the policy of %s %s %s at accept; its bridge-accept-fwmark does not help against this policy)"
                % (table.family, table.name, chain.name),
                "until then: nft add chain %s %s %s '{ policy accept; }' (Docker sets it again when it restarts)"
                % (table.family, table.name, chain.name)]
    pre = "nft insert rule %s %s %s" % (table.family, table.name, chain.name)
    if what == "egress":
        return ['%s iifname "%s" accept' % (pre, bridge)]
    if what == "replies":
        return ['%s oifname "%s" ct state established,related accept' % (pre, bridge)]
    if what == "published-replies":
        return ['%s iifname "%s" ct state established,related accept' % (pre, bridge)]
    proto, port, cip, cport = mapping
    if hook == "prerouting":
        return ["%s %s dport %s accept" % (pre, proto, port)]
    return ['%s oifname "%s" ip daddr %s %s dport %s ct status dnat accept' % (pre, bridge, cip, proto, cport)]


WHAT = {
    "egress": "the egress of network %(net)s (new connections from %(bridge)s to other interfaces)",
    "replies": "the replies to its connections (back into %(bridge)s)",
    "published": "published port %(port)s (to %(dest)s on %(bridge)s)",
    "published-replies": "the replies of published port %(port)s (from %(dest)s on %(bridge)s)",
}


def warnings(blocks, fw, bridge, net=None, mapping=None):
    """One warning per dropping base chain: source, table, chain, hook, how, what it blocks, and the fix."""
    out = []
    by_chain = {}
    for b in blocks:
        by_chain.setdefault(id(b.chain), []).append(b)
    for group in by_chain.values():
        chain = group[0].chain
        seen, whats, cmds, hows = set(), [], [], []
        for b in group:
            info = dict(net=net or bridge, bridge=bridge)
            if mapping:
                info.update(port="%s/%s" % (mapping[1], mapping[0]), dest="%s:%s" % (mapping[2], mapping[3]))
            if b.pkt.what in seen:
                continue
            seen.add(b.pkt.what)
            whats.append(WHAT[b.pkt.what] % info)
            how = b.how()
            if how not in hows:
                hows.append(how)
            for cmd in fixes(b, fw, bridge, mapping and (mapping[0], mapping[1], mapping[2], mapping[3])):
                if cmd not in cmds:
                    cmds.append(cmd)
        out.append("another firewall drops our traffic: %s, chain %s, hook %s (%s%s) drops %s. netplumb never "
                   "changes another firewall; to let it through, run: %s (see docs/safety.md, Other firewalls)"
                   % (chain.table.where(), chain.name, chain.hook, chain.type + " chain, " if chain.type != "filter"
                      else "", "; ".join(hows), " and ".join(whats), "; ".join(cmds)))
    return out


def network_warnings(fw, bridge, subnet, accept_fwmark=None, backend=None):
    out = warnings(fw.blocks(network_packets(bridge, subnet)), fw, bridge, "%s (%s)" % (bridge, subnet))
    return out + docker_nft_warnings(fw, bridge, accept_fwmark, backend)


DOCKER_NFT = ("ip", "docker-bridges")
DOCKER_FWD_IN = "filter-forward-in__"


def docker_fwmark(expr):
    """(mark, mask or None) that a rule of Docker's accepts (``meta mark M accept``, ``meta mark and K == M
    accept``: what its bridge-accept-fwmark renders, comment "ALLOW FW MARK"), or None."""
    if not any(isinstance(e, dict) and "accept" in e for e in expr or []):
        return None
    for e in expr or []:
        m = e.get("match") if isinstance(e, dict) else None
        if not isinstance(m, dict) or m.get("op", "==") != "==":
            continue
        left, right = m.get("left"), m.get("right")
        if not isinstance(right, int) or isinstance(right, bool) or not isinstance(left, dict):
            continue
        if (left.get("meta") or {}).get("key") == "mark":
            return (right, None)
        try:
            (op, (inner, mask)), = left.items()
        except (ValueError, TypeError, AttributeError):
            continue
        if op == "&" and isinstance(inner, dict) and (inner.get("meta") or {}).get("key") == "mark" \
                and isinstance(mask, int):
            return (right, mask)
    return None


def _fmt_mark(fwmark):
    mark, mask = fwmark
    return "0x%x" % mark if mask is None else "0x%x/0x%x" % (mark, mask)


def docker_nft_warnings(fw, bridge, accept_fwmark=None, backend=None):
    """Docker 29 in nftables mode (table ip docker-bridges): each of its networks' chain filter-forward-in__BRIDGE
    drops new connections into that network (but for published ports) whatever our table accepts, except packets
    carrying the mark of its daemon option bridge-accept-fwmark ("ALLOW FW MARK"). The warnings: our network's
    traffic into Docker's networks is dropped (docker_accept_fwmark unset), or the mark we set is not the one
    Docker accepts, or the backend does not set it (iptables)."""
    table = next((t for t in fw.tables if (t.family, t.name) == DOCKER_NFT and not t.iptables), None)
    if table is None:
        return []
    nets = sorted(c[len(DOCKER_FWD_IN):] for c in table.chains if c.startswith(DOCKER_FWD_IN))
    accepted = []
    for name in nets:
        for rule in table.chains[DOCKER_FWD_IN + name].rules:
            found = docker_fwmark(rule.expr)
            if found is not None and found not in accepted:
                accepted.append(found)
    where = "Docker runs with its nftables firewall backend (table ip docker-bridges)"
    if accept_fwmark is None:
        if not nets:
            return []
        theirs = (" (Docker's is set: %s)" % ", ".join(_fmt_mark(a) for a in accepted) if accepted else
                  "; Docker's is not set (e.g. \"bridge-accept-fwmark\": \"0x100/0x100\" in /etc/docker/daemon.json)")
        return ["%s: its networks' chains (%s) drop the new connections of network %s into Docker's networks, "
                "whatever table inet netplumb accepts (an accept in nftables is not final). Docker's documented hook is "
                "its daemon option bridge-accept-fwmark: packets carrying that mark are accepted%s. To let our "
                "containers reach Docker's, set the same value as this network's docker_accept_fwmark (netplumb then "
                "marks the traffic from %s at priority filter - 1, firewall_backend nftables); see "
                "docs/firewall-backends.md" % (where, ", ".join(DOCKER_FWD_IN + n for n in nets), bridge, theirs, bridge)]
    out = []
    if backend is not None and backend != "nftables":
        out.append("docker_accept_fwmark=%s: only the nftables driver sets the mark; this run's firewall backend is "
                   "%s, so the traffic of %s is not marked and Docker's nftables chains still drop it where they "
                   "would. Use firewall_backend=nftables (see docs/firewall-backends.md)"
                   % (_fmt_mark(accept_fwmark), backend, bridge))
    if nets and not any(_mark_accepted(accept_fwmark, a) for a in accepted):
        out.append("docker_accept_fwmark=%s: %s, but its chains accept %s: Docker drops the traffic of %s into its "
                   "networks. Give Docker's daemon option bridge-accept-fwmark the same value (\"bridge-accept-fwmark\": "
                   "\"%s\" in /etc/docker/daemon.json) and restart dockerd"
                   % (_fmt_mark(accept_fwmark), where, "the marks " + ", ".join(_fmt_mark(a) for a in accepted)
                      if accepted else "no mark (its bridge-accept-fwmark is not set)", bridge,
                      _fmt_mark(accept_fwmark)))
    return out


def _mark_accepted(ours, theirs):
    """Does a packet marked by ours (mark, mask: only the mask's bits set) pass Docker's match theirs?"""
    mark, mask = ours
    tmark, tmask = theirs
    if mask is None:        # the whole mark is ours
        return (mark if tmask is None else mark & tmask) == tmark
    # only our mask's bits are known: Docker's match must look at no other bit
    if tmask is None or tmask & ~mask:
        return False
    return mark & tmask == tmark


def publish_warnings(fw, bridge, protocol, host_port, container_ip, container_port, host_ip=None):
    mapping = (protocol, host_port, container_ip, container_port)
    pkts = publish_packets(bridge, protocol, host_port, container_ip, container_port, host_ip)
    return warnings(fw.blocks(pkts), fw, bridge, mapping=mapping)


def dnat_refusal(key, claim):
    """The refusal of a published port someone else DNATs (the wording of a port bound by a listener)."""
    chain, rule, port = claim
    return ("%s: port %d is bound by someone else's DNAT (%s, chain %s: `%s`, to %s); it counts as a bound port: "
            "traffic to it keeps going to that destination. Publish another port, or remove that DNAT first"
            % (key, port, chain.table.where(), chain.name, rule.text, rule.target or "?"))
