# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall interface: backend-neutral rule records, the ownership rules, and driver selection.

A caller (container_nat, port_publish) describes the rules it wants for the owners it manages (an owner is
the comment every rule carries, e.g. ``netplumb:br0`` or ``netplumb:br0:tcp/5000``). A driver:

* ``read()``  -> Ruleset: the rules of our own chains (``NETPLUMB-<BUILTIN>``), every jump of a built-in
  chain to them (counted, with its position), and the rules of others that refer to them; one read;
* ``plan(plan, ruleset, owned, wanted)`` -> appends Actions that turn our chains into "other owners' rules,
  untouched, plus ``wanted``"; one atomic write per table; returns the rules of ``owned`` before and after;
* the Actions themselves apply it (the plan runs them unless check mode).

A chain of ours holds only rules that carry a netplumb owner comment: a rule without one (written there by
someone else) is removed by any run, the chain rebuilt in order; duplicates (of any owner) are reduced to
one, and exactly one jump per hook remains ("first" hooks: at position 1). Rules of owners not managed by
the call keep their place. Built-in chains' other rules, their policies and other tools' chains are never
touched. The iptables driver lives in _iptables.py; an nftables driver implements the same three calls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError

PREFIX = "NETPLUMB-"
OWNER_PREFIX = "netplumb:"
BACKENDS = ("auto", "iptables", "nftables")

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
        from ansible_collections.netplumb.container.plugins.module_utils._iptables import quote_args
        return "-t %s -A %s %s" % (self.table, self.chain, quote_args(self.args))


def owner_of(args):
    """The owner comment of a rule's tokens, or None when the rule carries none of ours."""
    args = list(args)
    for i, tok in enumerate(args[:-1]):
        if tok == "--comment" and args[i + 1].startswith(OWNER_PREFIX):
            return args[i + 1]
    return None


def network_of(owner):
    """``netplumb:br0:tcp/5000`` -> ``br0``."""
    if not owner or not owner.startswith(OWNER_PREFIX):
        return None
    return owner[len(OWNER_PREFIX):].split(":", 1)[0]


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


def get_driver(backend, runner=None):
    """The driver for firewall_backend=auto|iptables|nftables."""
    if backend not in BACKENDS:
        raise StateError("firewall_backend=%r: must be one of %s" % (backend, ", ".join(BACKENDS)))
    if backend == "nftables":
        raise StateError("firewall_backend=nftables: the nftables driver is not implemented yet; "
                         "use firewall_backend=auto or iptables (iptables-nft is fine)")
    from ansible_collections.netplumb.container.plugins.module_utils._iptables import IptablesDriver
    return IptablesDriver.detect(runner=runner, explicit=(backend == "iptables"))


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


class ChainedDriver:
    """One firewall driver for a run of several calls (the module container_network): detected once; with
    ``check_mode`` each read() after the first returns the rules as the earlier calls' plans leave them, so a
    check-mode run predicts every call exactly, though none of them is applied."""

    def __init__(self, driver, check_mode):
        self.driver = driver
        self.check_mode = check_mode
        self.warnings = driver.warnings
        self.backend = driver.backend
        self.runner = driver.runner
        self._state = None

    def read(self):
        if self._state is None or not self.check_mode:
            self._state = self.driver.read()
        return self._state

    def plan(self, plan, ruleset, owned, wanted):
        out = self.driver.plan(plan, ruleset, owned, wanted)
        if self.check_mode:
            self._state = predicted(ruleset, owned, wanted)
        return out
