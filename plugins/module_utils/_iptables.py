# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables driver: the intents (_fwintent) rendered as rules in chains of ours (``NETPLUMB-<BUILTIN>``,
each jumped to from its built-in chain), state read with ``iptables-save``, each table written with one atomic
``iptables-restore --noflush --wait``; nf_tables- or legacy-backed, never both.

A chain of ours holds only rules that carry a netplumb owner comment: a rule without one (written there by
someone else) is removed by any run, the chain rebuilt in order; duplicates (of any owner) are reduced to
one, and exactly one jump per hook remains ("first" hooks: at position 1). Rules of owners not managed by
the call keep their place. Built-in chains' other rules, their policies and other tools' chains are never
touched. Planners never see these rules: they hand intents, and ask the queries of _fwintent.FirewallDriver."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import shlex

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    FirewallDriver, OWNER_PREFIX, SWARM_DROP, SWARM_LOCAL, SWARM_PEER, Exemption, NetworkIntent, PortForward,
    InputAllowance, SwarmAllowance, network_of, parse_forward_owner)
from ansible_collections.netplumb.container.plugins.module_utils._runner import Runner
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action

PREFIX = "NETPLUMB-"

# Where each of our chains is hooked in. "first": inserted at position 1 (security drops must come before
# anything else); "last": appended, so the host's own rules (and other tools') see the traffic first and a
# host firewall's DROP/REJECT keeps its word for published ports too.
HOOKS = {
    ("raw", "PREROUTING"): "first",
    ("nat", "PREROUTING"): "last",
    ("nat", "OUTPUT"): "last",
    ("nat", "POSTROUTING"): "last",
    ("filter", "FORWARD"): "last",
    ("filter", "INPUT"): "first",      # swarm_firewall: peers accepted, everyone else dropped (security)
}


def our_chain(builtin):
    return PREFIX + builtin


class Rule:
    """One rule of ours: table, built-in hook it belongs under, match/target tokens (iptables-save order,
    without ``-A CHAIN``), and the owner named in its comment."""

    __slots__ = ("table", "hook", "args", "owner")

    def __init__(self, table, hook, args, owner):
        self.table = table
        self.hook = hook
        self.args = tuple(args)
        self.owner = owner

    @property
    def chain(self):
        return our_chain(self.hook)

    @property
    def key(self):
        return (self.table, self.chain, self.args)

    def __eq__(self, other):
        return isinstance(other, Rule) and self.key == other.key

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return "Rule(%s %s %s)" % (self.table, self.chain, " ".join(self.args))

    def text(self):
        """Human form used in the diff: ``-t nat -A NETPLUMB-POSTROUTING ...``."""
        return "-t %s -A %s %s" % (self.table, self.chain, quote_args(self.args))


def owner_of(args):
    """The owner comment of a rule's tokens, or None when the rule carries none of ours."""
    args = list(args)
    for i, tok in enumerate(args[:-1]):
        if tok == "--comment" and args[i + 1].startswith(OWNER_PREFIX):
            return args[i + 1]
    return None


class Ruleset:
    """What a driver read: per (table, our chain) the list of rule token tuples in order (foreign and
    duplicated rules included: the reader counts, it never makes a set); per hook (table, builtin) the
    1-based positions of its plain jumps ``-j NETPLUMB-<builtin>``; per (table, our chain) the rules of
    other chains that refer to it otherwise ((chain, args) list); and which of our chains exist."""

    def __init__(self, chains=None, jumps=None, backend="", refs=None):
        self.chains = chains or {}   # (table, chain) -> [args tuple]
        if isinstance(jumps, dict):
            self.jump_positions = dict((k, list(v)) for k, v in jumps.items() if v)
        else:                        # a set of hooks: one jump each, position unknown (taken as 1)
            self.jump_positions = dict((k, [1]) for k in (jumps or ()))
        self.refs = refs or {}       # (table, our chain) -> [(chain, args)]
        self.backend = backend

    @property
    def jumps(self):
        """(table, builtin) hooks that jump to our chain at least once."""
        return set(self.jump_positions)

    def foreign(self):
        """[(table, chain, args)] of rules in our chains that carry no netplumb owner comment."""
        return [(t, c, a) for (t, c), lst in sorted(self.chains.items()) for a in lst if owner_of(a) is None]

    def rules(self):
        """Every rule of our chains as read (a foreign one has owner None; a duplicate shows twice)."""
        for (table, chain), rules in sorted(self.chains.items()):
            hook = chain[len(PREFIX):]
            for args in rules:
                yield Rule(table, hook, args, owner_of(args))

    def owned(self, match):
        return [r for r in self.rules() if r.owner is not None and match(r.owner)]


def rank(table, hook, args, open_networks):
    """Sort class of a rule inside its shared chain; rules of one class keep their insertion order.

    raw PREROUTING: loopback drops, then drops of isolated networks, then the RETURN of non-isolated
    networks (traffic from their bridge skips what follows), then the drops of non-isolated networks.
    filter FORWARD: invalid-state drops, then accepts of published (DNAT) traffic, then the rest.
    """
    a = list(args)
    target = a[a.index("-j") + 1] if "-j" in a else ""
    if target == "RETURN" and (owner_of(a) or "").startswith(OWNER_PREFIX + "fleet/"):
        return -1   # host-gw exemptions between the fleet's container subnets (host_gw_routes) come first
    if (table, hook) == ("raw", "PREROUTING"):
        if "127.0.0.0/8" in a:
            return 0
        if target == "RETURN":
            return 2
        return 3 if network_of(owner_of(a)) in open_networks else 1
    if (table, hook) == ("filter", "FORWARD"):
        if "INVALID" in a:
            return 0
        if "DNAT" in a:
            return 1
        return 2
    return 0


def open_networks(rules):
    """Networks (bridges) with isolate=false: they own a RETURN rule in raw PREROUTING."""
    out = set()
    for r in rules:
        if (r.table, r.hook) == ("raw", "PREROUTING") and r.args[-2:] == ("-j", "RETURN"):
            out.add(network_of(r.owner))
    return out


def desired_chains(ruleset, owned, wanted):
    """Our chains after the change: others' rules kept in place, ``wanted`` merged in, sorted by rank.

    owned(owner) -> True for the owners this call manages (their current rules are replaced by wanted).
    Returns {(table, chain): [args]} for every chain of ours that exists now or is wanted.
    """
    wanted = list(wanted)
    wanted_keys = set(r.key for r in wanted)
    keep = {}
    for key, rules in ruleset.chains.items():
        # others' rules and our still-wanted rules stay where they are, once; the rest of ours goes, and so
        # does every rule without a netplumb owner comment (nobody but netplumb writes to a chain of ours)
        keep[key] = [args for args in unique(rules) if owner_of(args) is not None
                     and (not owned(owner_of(args)) or (key[0], key[1], args) in wanted_keys)]
    by_chain = {}
    for r in wanted:
        by_chain.setdefault((r.table, r.chain), []).append(r.args)
    for key, want_args in by_chain.items():
        keep[key] = _merge_missing(keep.get(key, []), want_args)
    all_rules = [Rule(t, c[len(PREFIX):], a, owner_of(a)) for (t, c), lst in keep.items() for a in lst]
    opened = open_networks(all_rules)
    out = {}
    for (table, chain), lst in keep.items():
        hook = chain[len(PREFIX):]
        out[(table, chain)] = sorted(lst, key=lambda a, t=table, h=hook: rank(t, h, a, opened))
    return out


def _merge_missing(lst, want_args):
    """``lst`` with the wanted rules it lacks merged in, in linear time: a missing rule goes right before the
    next wanted rule already in ``lst`` (a rule deleted behind our back comes back where it was), else at the
    end; missing rules sharing a place keep their wanted order."""
    present = set(lst)
    anchor_of = {}
    anchor = None
    for args in reversed(want_args):
        if args in present:
            anchor = args
        else:
            anchor_of[args] = anchor    # overwritten going backwards: the first occurrence's place wins
    if not anchor_of:
        return lst
    before, tail, seen = {}, [], set()
    for args in want_args:
        if args in anchor_of and args not in seen:
            seen.add(args)
            at = anchor_of[args]
            (before.setdefault(at, []) if at is not None else tail).append(args)
    out = []
    for args in lst:
        out.extend(before.get(args, ()))
        out.append(args)
    return out + tail


def unique(rules):
    """The rules in order, each once (its first place)."""
    seen = set()
    out = []
    for args in rules:
        if args not in seen:
            seen.add(args)
            out.append(args)
    return out


def predicted(ruleset, owned, wanted):
    """The Ruleset a plan of driver.plan(ruleset, owned, wanted) leaves behind: our chains as desired_chains
    makes them (a chain others refer to is emptied, not deleted), one jump per hooked chain with rules (a
    "first" hook's at position 1), others' references as they were."""
    target = desired_chains(ruleset, owned, wanted)
    chains, jumps = {}, {}
    for (table, chain), rules in target.items():
        if rules or ruleset.refs.get((table, chain)):
            chains[(table, chain)] = list(rules)
        hook = (table, chain[len(PREFIX):])
        if rules and hook in HOOKS:
            jumps[hook] = [1] if HOOKS[hook] == "first" else (ruleset.jump_positions.get(hook) or [1])[-1:]
    return Ruleset(chains, jumps, backend=ruleset.backend, refs=dict(ruleset.refs))


TABLE_ORDER = ("raw", "nat", "filter")


# --- rendering: intents -> rules ------------------------------------------------------------------------
def _comment(owner):
    return ["-m", "comment", "--comment", owner]


def _ports(lo_hi, sep):
    lo, hi = lo_hi
    return "%d" % lo if lo == hi else "%d%s%d" % (lo, sep, hi)


def network_rules(n):
    """The rules of a NetworkIntent."""
    owner = n.owner
    bridge = n.bridge
    s = str(n.subnet)
    c = _comment(owner)
    rules = []
    if n.masquerade:
        rules.append(Rule("nat", "POSTROUTING", ["-s", s, "!", "-o", bridge] + c + ["-j", "MASQUERADE"], owner))
    # hairpin: a container reaching a published port (its own or a neighbour's) through the host
    rules.append(Rule("nat", "POSTROUTING", ["-s", s, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT"] + c
                      + ["-j", "MASQUERADE"], owner))
    rules += [
        Rule("filter", "FORWARD", ["-o", bridge, "-m", "conntrack", "--ctstate", "INVALID"] + c + ["-j", "DROP"],
             owner),
        Rule("filter", "FORWARD", ["-i", bridge, "-m", "conntrack", "--ctstate", "INVALID"] + c + ["-j", "DROP"],
             owner),
        Rule("filter", "FORWARD", ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"] + c
             + ["-j", "ACCEPT"], owner),
        Rule("filter", "FORWARD", ["-i", bridge, "!", "-o", bridge] + c + ["-j", "ACCEPT"], owner),
        Rule("filter", "FORWARD", ["-i", bridge, "-o", bridge] + c + ["-j", "ACCEPT" if n.icc else "DROP"], owner),
    ]
    if not n.isolate:
        rules.append(Rule("raw", "PREROUTING", ["-i", bridge] + c + ["-j", "RETURN"], owner))
    # container addresses are reached through the bridge (or published ports), never directly
    rules.append(Rule("raw", "PREROUTING", ["-d", s, "!", "-i", bridge] + c + ["-j", "DROP"], owner))
    return rules


def forward_rules(m):
    """The rules of a PortForward."""
    owner = m.owner
    bridge = m.bridge
    c = _comment(owner)
    p = m.protocol
    hport = ["-m", p, "--dport", _ports(m.host, ":")]
    to = "%s:%s" % (m.container_ip, _ports(m.container, "-"))
    if m.container != m.host and m.container[0] != m.container[1]:
        to += "/%d" % m.host[0]     # shifted range: host port N goes to container port N - base + first
    dnat = c + ["-j", "DNAT", "--to-destination", to]
    rules = []
    if m.host_ip is None:
        match = ["!", "-d", "127.0.0.0/8", "-p", p, "-m", "addrtype", "--dst-type", "LOCAL"] + hport
        rules.append(Rule("nat", "PREROUTING", match + dnat, owner))
        rules.append(Rule("nat", "OUTPUT", match + dnat, owner))
    elif m.loopback:
        # never in PREROUTING: a neighbour routing 127.0.0.0/8 to us must not reach the container
        rules.append(Rule("nat", "OUTPUT", ["-d", "%s/32" % m.host_ip, "-p", p] + hport + dnat, owner))
        # the host's 127.x source would be a martian on the wire: masquerade to the bridge address
        rules.append(Rule("nat", "POSTROUTING", ["-s", "127.0.0.0/8", "-d", "%s/32" % m.container_ip, "-o", bridge,
                                                 "-p", p, "-m", p, "--dport", _ports(m.container, ":")]
                          + c + ["-j", "MASQUERADE"], owner))
        # route_localnet is on for the bridge: nothing from the bridge may address the host's loopback
        rules.append(Rule("raw", "PREROUTING", ["-d", "127.0.0.0/8", "-i", bridge] + c + ["-j", "DROP"], owner))
    else:
        match = ["-d", "%s/32" % m.host_ip, "-p", p] + hport
        rules.append(Rule("nat", "PREROUTING", match + dnat, owner))
        rules.append(Rule("nat", "OUTPUT", match + dnat, owner))
    rules.append(Rule("filter", "FORWARD", ["-d", "%s/32" % m.container_ip, "-o", bridge, "-p", p, "-m", p,
                                            "--dport", _ports(m.container, ":"), "-m", "conntrack", "--ctstate",
                                            "DNAT"] + c + ["-j", "ACCEPT"], owner))
    # loopback-addressed packets for this port arriving from the wire are dropped before conntrack/NAT
    rules.append(Rule("raw", "PREROUTING", ["-d", "127.0.0.0/8", "!", "-i", "lo", "-p", p] + hport + c
                      + ["-j", "DROP"], owner))
    return rules


def _match(proto, ports):
    """-p PROTO plus the port match as iptables-save prints it."""
    ports = sorted(set(ports))
    if len(ports) == 1:
        return ["-p", proto, "-m", proto, "--dport", str(ports[0])]
    return ["-p", proto, "-m", "multiport", "--dports", ",".join(str(p) for p in ports)]


def swarm_rules(a):
    """The rules of a SwarmAllowance, in chain order: local traffic returns first, then the accepts of each
    peer, then the drops."""
    open_ = a.open_ports()
    drop = a.dropped_ports()
    hook = "INPUT"
    out = [Rule("filter", hook, ["-i", "lo"] + _comment(SWARM_LOCAL) + ["-j", "RETURN"], SWARM_LOCAL)]
    for net in a.peers:
        src = ["-s", str(net)]
        for proto in ("tcp", "udp"):
            out.append(Rule("filter", hook, src + _match(proto, open_[proto]) + _comment(SWARM_PEER)
                            + ["-j", "ACCEPT"], SWARM_PEER))
        if a.esp:
            out.append(Rule("filter", hook, src + ["-p", "esp"] + _comment(SWARM_PEER) + ["-j", "ACCEPT"],
                            SWARM_PEER))
    for proto in ("tcp", "udp"):
        out.append(Rule("filter", hook, _match(proto, drop[proto]) + _comment(SWARM_DROP) + ["-j", "DROP"],
                        SWARM_DROP))
    if a.esp:
        out.append(Rule("filter", hook, ["-p", "esp"] + _comment(SWARM_DROP) + ["-j", "DROP"], SWARM_DROP))
    return out


def input_allowance_rules(a):
    """The rules of an InputAllowance: the port accepted from each peer, then dropped from everyone else."""
    match = _match(a.protocol, [a.port])
    out = [Rule("filter", "INPUT", ["-s", "%s/32" % addr] + match + _comment(a.peer_owner) + ["-j", "ACCEPT"],
                a.peer_owner) for addr in a.peers]
    out.append(Rule("filter", "INPUT", match + _comment(a.drop_owner) + ["-j", "DROP"], a.drop_owner))
    return out


def exemption_rules(e):
    """The rules of an Exemption: no masquerade towards the other hosts' containers (they see the sender's
    own address), their traffic to our containers passes the raw drop and is forwarded."""
    owner = e.owner
    c = _comment(owner)
    sub, cluster, underlay = str(e.subnet), str(e.cluster), e.underlay
    return [
        Rule("nat", "POSTROUTING", ["-s", sub, "-d", cluster, "-o", underlay] + c + ["-j", "RETURN"], owner),
        Rule("raw", "PREROUTING", ["-s", cluster, "-d", sub, "-i", underlay] + c + ["-j", "RETURN"], owner),
        Rule("filter", "FORWARD", ["-s", cluster, "-d", sub, "-i", underlay, "-o", e.bridge] + c
             + ["-j", "ACCEPT"], owner),
    ]


_RENDER = {NetworkIntent: network_rules, PortForward: forward_rules, SwarmAllowance: swarm_rules,
           Exemption: exemption_rules, InputAllowance: input_allowance_rules}


def render(intents):
    """Intents (and rules of ours, passed through) -> [Rule], in the intents' order."""
    out = []
    for i in intents:
        if isinstance(i, Rule):
            out.append(i)
        else:
            out.extend(_RENDER[type(i)](i))
    return out


def quote_args(args):
    """Shell form of rule tokens (``!`` needs no quoting outside interactive shells)."""
    return " ".join(a if a == "!" else shlex.quote(a) for a in args)


def restore_quote(tok):
    """iptables-restore splits on whitespace and understands double quotes."""
    if tok == "" or any(c.isspace() for c in tok) or '"' in tok:
        return '"%s"' % tok.replace('"', '\\"')
    return tok


_TOKEN = re.compile(r'"([^"]*)"(?=\s|$)|(\S+)')


def split_line(line):
    """Shell-like split of one iptables-save line; the common forms (plain tokens, simple double quotes) without
    shlex's per-character loop, which dominated reading a table of thousands of rules."""
    if "'" in line or "\\" in line:
        return shlex.split(line)
    if '"' not in line:
        return line.split()
    toks = []
    for quoted, plain in _TOKEN.findall(line):
        if plain and '"' in plain:
            return shlex.split(line)
        toks.append(plain or quoted)
    return toks


def parse_save(text):
    """iptables-save output -> Ruleset of our chains (other chains and rules are only looked at).

    Counts, never sets: every rule of our chains in order (duplicates and rules of others included), every
    plain jump ``-A <HOOK> -j NETPLUMB-<HOOK>`` of a hook with its 1-based position in the built-in chain,
    and every other rule that jumps or goes to a chain of ours (a reference we did not write)."""
    chains = {}
    jumps = {}
    refs = {}
    seen = {}
    table = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            name = line[1:].split()[0]
            if name.startswith(PREFIX):
                chains.setdefault((table, name), [])
            continue
        if not line.startswith("-A "):
            continue
        if PREFIX not in line:      # someone else's rule that does not refer to us: only its position counts
            chain = line.split(None, 2)[1]
            seen[(table, chain)] = seen.get((table, chain), 0) + 1
            continue
        toks = split_line(line)
        chain, args = toks[1], tuple(toks[2:])
        position = seen[(table, chain)] = seen.get((table, chain), 0) + 1
        if chain.startswith(PREFIX):
            chains.setdefault((table, chain), []).append(args)
        elif args == ("-j", our_chain(chain)) and (table, chain) in HOOKS:
            jumps.setdefault((table, chain), []).append(position)
        else:
            target = jump_target(args)
            if target and target.startswith(PREFIX):
                refs.setdefault((table, target), []).append((chain, args))
    return Ruleset(chains, jumps, refs=refs)


def jump_target(args):
    """The chain a rule jumps (-j) or goes (-g) to, or None."""
    for i, tok in enumerate(args[:-1]):
        if tok in ("-j", "-g", "--jump", "--goto"):
            return args[i + 1]
    return None


def has_rules(text):
    return any(line.startswith("-A ") for line in text.splitlines())


class IptablesDriver(FirewallDriver):
    name = "iptables"

    def __init__(self, variant, runner=None, warnings=None):
        self.variant = variant          # "nft" or "legacy"
        self.runner = runner or Runner()
        self.warnings = list(warnings or [])
        self.backend = "iptables-%s" % variant
        self.saved = {}                 # variant -> the last iptables-save text read (_hostfw reads it too)

    # --- detection ------------------------------------------------------------------------------------
    @classmethod
    def detect(cls, runner=None, explicit=False):
        runner = runner or Runner()
        field = "firewall_backend=%s" % ("iptables" if explicit else "auto")
        rc, out, err = runner(["iptables", "-V"])
        if rc == 127:
            raise StateError("%s: %s (or use firewall_backend=nftables)"
                             % (field, _hosttools.missing_tool("iptables", "to tell the iptables backend")))
        if rc != 0:
            raise StateError("%s: `iptables -V` failed (%s); install the Debian package iptables "
                             "(or use firewall_backend=nftables)"
                             % (field, (err or out).strip() or "rc=%d" % rc))
        if "nf_tables" in out:
            default = "nft"
        elif "legacy" in out:
            default = "legacy"
        else:
            raise StateError("cannot tell whether iptables is nf_tables- or legacy-backed from %r" % out.strip())
        found, absent, saved = {}, {}, {}
        for variant in ("nft", "legacy"):
            rc, text, err = runner(["iptables-%s-save" % variant])
            found[variant] = rc == 0 and has_rules(text)
            absent[variant] = rc == 127     # not installed (the runner's "no such file", or a shell's)
            if rc == 0:
                saved[variant] = text
        warnings = []
        if found["nft"] and found["legacy"]:
            raise StateError("iptables rules exist in both the nf_tables backend (iptables-nft-save) and the "
                             "legacy backend (iptables-legacy-save); refusing to add a third opinion. Move "
                             "every tool to one backend (update-alternatives --config iptables) first")
        variant = default
        other = "legacy" if default == "nft" else "nft"
        if found[other] and not found[default]:
            variant = other
            warnings.append("iptables is %s-backed but every existing rule lives in iptables-%s; using "
                            "iptables-%s so the rules stay in one place" % (default, other, other))
        if absent[variant]:
            raise StateError("%s: %s" % (field, _hosttools.missing_tool(
                "iptables-%s-save" % variant, "to read the rules (iptables is %s-backed)" % variant)))
        driver = cls(variant, runner, warnings)
        driver.saved = saved
        return driver

    def tool(self, what):
        return "iptables-%s-%s" % (self.variant, what)

    # --- read -----------------------------------------------------------------------------------------
    def read(self):
        rc, out, err = self.runner([self.tool("save")])
        if rc != 0:
            raise StateError("%s failed: %s" % (self.tool("save"), (err or out).strip()))
        self.saved[self.variant] = out
        rs = parse_save(out)
        rs.backend = self.backend
        return rs

    # --- plan -----------------------------------------------------------------------------------------
    def predicted(self, state, owned, intents):
        return predicted(state, owned, render(intents))

    # --- queries (_fwintent.FirewallDriver) ------------------------------------------------------------
    def networks(self, state):
        """{bridge: subnet} claimed by our networks: the early drop of traffic to a subnet not from its bridge."""
        out = {}
        for r in state.rules():
            if r.owner and r.table == "raw" and r.args[:1] == ("-d",) and r.args[1] != "127.0.0.0/8" \
                    and "DROP" in r.args and r.owner.count(":") == 1 and "/" not in r.owner:
                out.setdefault(network_of(r.owner), []).append(ipaddress.ip_network(u"%s" % r.args[1]))
        return out

    def published(self, state):
        """{owner: PortForward (host side; container side None)} of our published ports."""
        out = {}
        for r in state.rules():
            if r.owner and r.table == "nat" and "DNAT" in r.args and r.owner.count(":") >= 2:
                out[r.owner] = parse_forward_owner(r.owner)
        return out

    def loopback_bridges(self, state):
        """{owner: bridge} of our loopback publishes (their masquerade of 127.0.0.0/8 into the bridge)."""
        out = {}
        for r in state.rules():
            if r.owner and r.table == "nat" and r.hook == "POSTROUTING" and r.args[:2] == ("-s", "127.0.0.0/8"):
                out[r.owner] = network_of(r.owner)
        return out

    def owners(self, state):
        return set(r.owner for r in state.rules() if r.owner)

    def changed_owners(self, state, owned, intents):
        cur, want = {}, {}
        for r in state.rules():
            if r.owner and owned(r.owner):
                cur.setdefault(r.owner, set()).add(r.key)
        for r in render(intents):
            want.setdefault(r.owner, set()).add(r.key)
        return set(o for o in set(cur) | set(want) if cur.get(o, set()) != want.get(o, set()))

    def foreign_icc(self, bridge):
        """Another tool's accept of the bridge's bridge-to-bridge traffic (``-i BR -o BR -j ACCEPT``), or None."""
        rc, out, dummy = self.runner([self.tool("save"), "-t", "filter"])
        return self.foreign_icc_in(out if rc == 0 else "", bridge)

    @staticmethod
    def foreign_icc_in(text, bridge):
        for line in (text or "").splitlines():
            toks = line.split()
            if toks[:1] != ["-A"] or OWNER_PREFIX in line or "ACCEPT" not in toks[-1:]:
                continue
            if _arg(toks, "-i") == bridge and _arg(toks, "-o") == bridge:
                return line.strip()
        return None

    def plan(self, plan, state, owned, intents):
        """Append one batch of Actions per table changed. Returns (before, after): the owned rules' text.
        ``intents``: intents (rendered here) or rules of ours.

        Each table is one ``iptables-restore --noflush``; every table's payload passes ``--test`` before the
        first commit, and when a later table's commit fails the tables already committed are restored to
        exactly what was read (see _Batch). One invocation with several tables is no transaction: both
        iptables-nft-restore and iptables-legacy-restore (1.8.9) commit each table at its COMMIT line."""
        wanted = render(intents)
        target = desired_chains(state, owned, wanted)

        def order(r):
            return (TABLE_ORDER.index(r.table) if r.table in TABLE_ORDER else len(TABLE_ORDER), r.chain)
        before = [r.text() for r in sorted(state.owned(owned), key=order)]
        after = [r.text() for r in sorted(wanted, key=order)]
        batches = []
        for table in TABLE_ORDER:
            ops, undo, notes = self._table_ops(table, state, target)
            for note in notes:
                plan.warn(note)
            if not ops:
                continue
            batch = _Batch(self, table, _payload(table, [op[0] for op in ops]), _payload(table, undo), plan,
                           batches)
            batches.append(batch)
            for i, (line, command) in enumerate(ops):
                batch.actions.append(plan.add(Action("iptables_restore", table, command,
                                                     batch.run if i == 0 else _noop)))
        if batches:
            _hosttools.need_tool(plan, self.tool("restore"), "to apply the rule changes of table%s %s (firewall "
                                 "backend %s)" % ("s" if len(batches) > 1 else "",
                                                  ", ".join(b.table for b in batches), self.backend))
        return before, after

    def _table_ops(self, table, ruleset, target):
        """Turn our chains of one table into target.

        Returns (ops, undo, notes): ops are [(restore line, equivalent command)]; undo are the restore lines
        that bring the table back from target to exactly what was read (rules of others in our chains,
        duplicates and jump positions included); notes are the repairs worth a warning."""
        pre = "iptables -t %s " % table
        chains = sorted(set(c for (t, c) in list(ruleset.chains) + list(target) if t == table))
        new_chains, edits, jump_ops, drops, notes = [], [], [], [], []
        undo_jumps, undo_new, undo_fill, undo_insert, undo_drop = [], [], [], [], []
        for chain in chains:
            hook = chain[len(PREFIX):]
            current = ruleset.chains.get((table, chain))
            exists = current is not None
            current = list(current or [])
            want = target.get((table, chain), [])
            hooked = (table, hook) in HOOKS
            positions = ruleset.jump_positions.get((table, hook), []) if hooked else []
            refs = ruleset.refs.get((table, chain), [])
            keep = bool(want) or (exists and bool(refs))    # a chain others refer to is emptied, not deleted
            if want and not exists:
                new_chains.append(chain)
            notes.extend(_content_notes(table, chain, current))
            edits.extend(self._chain_edit(pre, chain, current, want, exists))
            # the jumps of the hook: exactly one while the chain has rules ("first": at position 1), else none
            ops = _jump_edit(table, hook, chain, positions, bool(want))
            jump_ops.extend((line, pre + line) for line in ops)
            if ops and positions and want:
                notes.append(_jump_note(table, hook, chain, positions))
            if exists and not keep:
                drops.append(("-X %s" % chain, pre + "-X %s" % chain))
            if exists and not want and refs:
                who = "; ".join("-A %s %s" % (c, quote_args(a)) for c, a in refs)
                notes.append("%s (table %s) is referred to by a rule netplumb did not write (%s): it is emptied, "
                             "not deleted" % (chain, table, who))
            # undo: from target back to what was read
            if ops:
                undo_jumps.extend(["-D %s -j %s" % (hook, chain)] * (1 if want and hooked else 0))
                undo_insert.extend("-I %s %d -j %s" % (hook, pos, chain) for pos in positions)
            if exists:
                if not keep:
                    undo_new.append("-N %s" % chain)
                elif current != want:
                    undo_fill.append("-F %s" % chain)
                if not keep or current != want:
                    undo_fill.extend("-A %s %s" % (chain, _restore_args(args)) for args in current)
            elif want:
                undo_drop.extend(["-F %s" % chain, "-X %s" % chain])
        head = [("-N %s" % c, pre + "-N %s" % c) for c in new_chains]
        ops = head + edits + jump_ops + drops
        undo = undo_jumps + undo_new + undo_fill + undo_insert + undo_drop
        return ops, undo, notes

    @staticmethod
    def _chain_edit(pre, chain, current, want, exists=True):
        """A chain of ours that changes is rebuilt as a whole, in its canonical order: ``-F`` then one
        ``-A`` per wanted rule (a new chain needs no flush). The commands never name a position, so they
        depend only on the chain's desired content (and on whether it changes): check mode's prediction and
        the real run agree whatever other calls put in between, and a rule of others, a duplicate or a rule
        out of order is gone after any change. The restore of the table is atomic: no packet ever sees the
        chain half rebuilt."""
        if current == want:
            return []
        ops = [("-F %s" % chain, pre + "-F %s" % chain)] if exists else []
        return ops + [("-A %s %s" % (chain, _restore_args(args)), pre + "-A %s %s" % (chain, quote_args(args)))
                      for args in want]


def _arg(toks, opt):
    return toks[toks.index(opt) + 1] if opt in toks[:-1] else None


def _jump_edit(table, hook, chain, positions, wanted):
    """Restore lines leaving exactly one plain jump of the hook to our chain when wanted (a "first" hook's at
    position 1, a "last" hook keeps its latest), none otherwise. ``-D HOOK -j CHAIN`` deletes the first
    such jump; only a "first" hook whose jump at position 1 stays deletes the others by number, highest
    first."""
    if (table, hook) not in HOOKS:
        return []
    spec = "-D %s -j %s" % (hook, chain)
    if not wanted:
        return [spec] * len(positions)
    if HOOKS[(table, hook)] == "last":
        return [spec] * (len(positions) - 1) if positions else ["-A %s -j %s" % (hook, chain)]
    if positions[:1] == [1]:
        return ["-D %s %d" % (hook, pos) for pos in sorted(positions[1:], reverse=True)]
    return [spec] * len(positions) + ["-I %s 1 -j %s" % (hook, chain)]


def _jump_note(table, hook, chain, positions):
    where = "position%s %s" % ("s" if len(positions) > 1 else "", ", ".join(str(p) for p in positions))
    if len(positions) > 1:
        return "%s %s jumped %d times to %s (%s): duplicates removed, one jump remains%s" % (
            table, hook, len(positions), chain, where,
            " at position 1" if HOOKS[(table, hook)] == "first" else "")
    return "%s %s jumped to %s at %s, behind rules of others: moved back to position 1" % (table, hook, chain, where)


def _content_notes(table, chain, current):
    notes = []
    counted = {}
    for args in current:
        counted[args] = counted.get(args, 0) + 1
    for args in unique(current):
        if owner_of(args) is None:
            notes.append("%s (table %s) held a rule netplumb did not write (no netplumb owner comment): "
                         "-A %s %s; removed, the chain rebuilt in order" % (chain, table, chain, quote_args(args)))
        elif counted[args] > 1:
            notes.append("%s (table %s) held %d copies of -A %s %s; reduced to one"
                         % (chain, table, counted[args], chain, quote_args(args)))
    return notes


def _payload(table, lines):
    return "*%s\n%s\nCOMMIT\n" % (table, "\n".join(lines))


def _restore_args(args):
    return " ".join(restore_quote(a) for a in args)


def _noop():
    return None


class _Batch:
    """The restore of one table: run by the first Action of the table's batch, atomic for all of them.

    All or nothing across tables: the first batch of the plan parses every table's payload first (--test
    commits nothing); when a commit fails, the batches already committed are restored, newest first, with
    their undo payload (computed from the desired state back to what was read), and one KernelError names
    the table, the tool's message and whether the rollback succeeded. Its ``done`` lists what the plan
    applied and kept: after a complete rollback nothing of the firewall (so changed=false)."""

    def __init__(self, driver, table, payload, undo, plan, siblings):
        self.driver = driver
        self.table = table
        self.payload = payload
        self.undo = undo
        self.plan = plan
        self.siblings = siblings    # every table's batch of the plan; the first one checks them all
        self.actions = []
        self.committed = False

    def run(self):
        if self.siblings and self.siblings[0] is self:
            # parse every table's payload first (--test commits nothing): a bad rule for the nat table must
            # not leave the raw table half converged
            for batch in self.siblings:
                batch._restore(["--test"])
        try:
            self._restore([])
        except OSError as exc:
            self._fail(exc)
        self.committed = True

    def _fail(self, exc):
        argv = "%s --noflush --wait" % self.driver.tool("restore")
        committed = [b for b in self.siblings if b.committed]
        restored, failed = [], []
        for batch in reversed(committed):
            try:
                batch._restore([], batch.undo)
            except OSError as undo_exc:
                failed.append((batch, undo_exc))
            else:
                batch.committed = False
                restored.append(batch)
        msg = "the commit of table %s failed: %s" % (self.table, exc.tool_message)
        if failed:
            msg += "; ROLLBACK FAILED for table %s (%s): %s keep%s this run's changes%s; re-run to converge" % (
                ", ".join(b.table for b, e in failed), "; ".join(e.tool_message for b, e in failed),
                "it" if len(failed) == 1 else "they", "s" if len(failed) == 1 else "",
                " (table %s rolled back)" % ", ".join(b.table for b in restored) if restored else "")
        elif restored:
            msg += "; rolled back table %s to exactly what was read: the firewall is unchanged" % ", ".join(
                b.table for b in reversed(restored))
        else:
            msg += "; no table was committed: the firewall is unchanged"
        undone = set(id(a) for b in restored for a in b.actions)
        done = []
        for action in self.plan.actions:
            if action is self.actions[0]:
                break
            if id(action) not in undone:
                done.append(action.command)
        raise KernelError("%s (table %s)" % (argv, self.table), msg, done)

    def _restore(self, extra, payload=None):
        argv = [self.driver.tool("restore"), "--noflush", "--wait"] + extra
        rc, out, err = self.driver.runner(argv, self.payload if payload is None else payload)
        if rc != 0:
            detail = (err or out).strip() or "no message"
            exc = OSError("%s (table %s) exited %d: %s" % (" ".join(argv), self.table, rc, detail))
            exc.tool_message = "exited %d: %s" % (rc, detail)
            raise exc


__all__ = ["IptablesDriver", "Runner", "parse_save", "jump_target", "Rule", "owner_of"]
