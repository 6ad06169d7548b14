# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole run's module calls, planned in check mode against the host as it is: the preflight.

Each call is ``{module, args, label}`` with the arguments the module itself would get. Every call is
validated and planned by the very planner its module uses (so every refusal - bad input, a name held by
something not ours, a subnet touching the host, a bound port - has one definition), nothing is written,
and every error of every call is collected. Calls that remove networks first are taken into account by the
later calls: the bridges, rule owners and published ports they remove do not collide with what follows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _hosttools, _links, _netns, _options
from ansible_collections.netplumb.container.plugins.module_utils import _schema
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver, get_driver

# The defaults of the building blocks a call may name (the preflight module's choices), from their schema.
DEFAULTS = dict((module, _schema.defaults(module))
                for module in _options.PREFLIGHT["calls"]["suboptions"]["module"]["choices"])


def params_of(module, args):
    if module not in DEFAULTS:
        raise ValidationError("module", module, "must be one of %s" % ", ".join(sorted(DEFAULTS)))
    if not isinstance(args, dict):
        raise ValidationError("args", args, "must be a mapping of the module's options")
    params = dict(DEFAULTS[module])
    params.update(args)
    return params


def plan_call(nl, module, params, removed, marked=(), check_mode=True, drivers=None, deleted=()):
    """_plan_call, then the tools and writable places its plan needs are checked (_hosttools): a missing one
    is this call's refusal, in the preflight before the run's first write."""
    return _hosttools.check(_plan_call(nl, module, params, removed, marked, check_mode, drivers, deleted))


def _plan_call(nl, module, params, removed, marked=(), check_mode=True, drivers=None, deleted=()):
    """Validate and plan one call (in check mode by default); ``removed`` = bridges whose networks earlier calls
    remove, ``marked`` = bridges earlier calls create or adopt (ours by the time this call runs), ``deleted`` =
    bridges earlier calls delete: all only matter in check mode, where those earlier calls have not really
    run. ``drivers``: firewall backend ->
    ChainedDriver shared by the calls of one run (None: each call detects and reads its own)."""
    if module == "linux_bridge":
        spec = _links.validate_bridge(dict(params, _removed=sorted(removed)))
        return _links.plan_bridge(nl, spec)
    if module == "netns":
        names = params.get("name")
        names = [names] if isinstance(names, str) else list(names or [])
        _netns.validate(names, params["state"], params["loopback"], params["nameservers"], params["adopt"])
        return _netns.plan(nl, names, params["state"], params["loopback"], params["nameservers"],
                           adopt=params["adopt"])
    if module == "veth_pair":
        pairs, field, prune_bridges = _links.veth_batch(params)
        if params.get("prune") and not field:
            raise ValidationError("prune", True, "needs the batch form (pairs): a single pair names no whole set")
        _links.validate_pairs(pairs, field)
        return _links.plan_pairs(nl, pairs, check_mode, params.get("prune"), prune_bridges, field,
                                 marked_bridges=marked, keep=params.get("_keep") or (), removed_bridges=deleted,
                                 orphans=_orphans(params.get("_orphans")))
    spec = dict(params, _removed=sorted(removed))
    if module == "container_nat":
        _fwnet.validate_nat(spec)
        return _fwnet.plan_nat(nl, spec, _driver(drivers, spec, check_mode), check_mode=check_mode)
    _fwnet.validate_mappings(spec)
    return _fwnet.plan_publish(nl, spec, check_mode, _driver(drivers, spec, check_mode))


def _orphans(subnet):
    """container_network's absent network: its subnet, in which our detached veths' peers are its containers."""
    if subnet is None:
        return None
    return ipaddress.ip_network(u"%s" % subnet)


def _driver(drivers, spec, check_mode):
    if drivers is None:
        return None
    backend = spec.get("firewall_backend") or "auto"
    if backend not in drivers:
        drivers[backend] = ChainedDriver(get_driver(backend), check_mode)
    return drivers[backend]


def removes(module, params, plan=None):
    """The bridges (networks) a call takes away, as later calls of the same run will find them (a bridge kept
    for its foreign ports is not)."""
    if params.get("state") != "absent":
        return set()
    if module in ("linux_bridge",):
        return set() if getattr(plan, "kept", False) else set([params.get("name")])
    if module == "container_nat":
        return set([params.get("bridge")])
    return set()


def pruned_namespaces(module, params, plan, declared):
    """After a veth_pair call with prune: its pruned peers' namespaces that no netns call of the run names
    (``declared``: present ones keep them, absent ones remove them themselves) and that are ours (the prune
    warned about the others, which are left)."""
    if module != "veth_pair" or not params.get("prune"):
        return []
    names = set(p.get("peer_netns") for p in plan.extra.get("pruned") or () if p.get("peer_netns"))
    return sorted(names - set(declared) - set(getattr(plan, "foreign_ns", ())))


def declared_pairs(calls):
    """Host veth names that the run's present veth_pair calls declare (never pruned by another call)."""
    out = set()
    for call in calls:
        if isinstance(call, dict) and call.get("module") == "veth_pair":
            args = call.get("args") or {}
            for pair in args.get("pairs") or ():
                if isinstance(pair, dict) and (pair.get("state") or args.get("state") or "present") == "present":
                    out.add(pair.get("name"))
    return out


def keeping(calls):
    """The calls, each prune of veth_pair told to keep the pairs another call of the run declares."""
    declared = declared_pairs(calls)
    out = []
    for call in calls:
        if isinstance(call, dict) and call.get("module") == "veth_pair" and (call.get("args") or {}).get("prune"):
            call = dict(call, args=dict(call["args"], _keep=sorted(declared)))
        out.append(call)
    return out


def declared_namespaces(calls, states=("present",)):
    """The namespaces the run's netns calls of these states name."""
    out = set()
    for call in calls:
        if isinstance(call, dict) and call.get("module") == "netns":
            args = call.get("args") or {}
            if args.get("state", "present") in states:
                names = args.get("name")
                out.update([names] if isinstance(names, str) else list(names or []))
    return out


def run_calls(nl, calls, prune_namespaces=False, drivers=None):
    """Plan every call in check mode. Returns (errors, warnings, plans): one error line per failing call,
    ``LABEL (MODULE): message``; nothing is written. With prune_namespaces, a veth_pair call that prunes pairs
    is followed by a netns call removing their namespaces (unless a netns call of the run declares them)."""
    errors, warnings, plans = [], [], []
    with nl.frozen():   # nothing is written: every state is read once for all the calls
        try:
            _plan_all(nl, calls, drivers, prune_namespaces, (errors, warnings, plans))
        finally:
            nl.predicted_sysctls = {}
    return errors, warnings, plans


def _predict_sysctls(nl, plan):
    """The sysctls a check-mode step writes, as the later steps of the run will read them."""
    for action in plan.actions:
        if action.kind == "sysctl" and action.command.startswith("sysctl -w "):
            name, dummy, value = action.command[len("sysctl -w "):].partition("=")
            predicted = getattr(nl, "predicted_sysctls", None)
            if predicted is not None:
                predicted[name] = value


def _plan_all(nl, calls, drivers, prune_namespaces, out):
    errors, warnings, plans = out
    removed, marked, deleted = set(), set(), set()
    declared = declared_namespaces(calls, ("present", "absent")) if prune_namespaces else set()
    queue = list(calls)
    i = -1
    while i + 1 < len(queue):
        i += 1
        call = queue[i]
        if not isinstance(call, dict):
            errors.append("calls[%d]: each call is a mapping with module, args and an optional label" % i)
            continue
        module = call.get("module")
        label = call.get("label") or "calls[%d]" % i
        try:
            params = params_of(module, call.get("args") or {})
            plan = plan_call(nl, module, params, removed, marked, drivers=drivers, deleted=deleted)
        except NetplumbError as exc:
            errors.append("%s (%s): %s" % (label, module, exc))
            continue
        removed |= removes(module, params, plan)
        if getattr(plan, "kept", False):    # a bridge kept for its foreign ports is there for the later calls
            removed.discard(params.get("name"))
        elif module == "linux_bridge" and params.get("state") == "absent":
            deleted.add(params.get("name"))
        if module == "linux_bridge" and params.get("state") == "present":
            marked.add(params.get("name"))
        warnings += ["%s (%s): %s" % (label, module, w) for w in plan.warnings]
        _predict_sysctls(nl, plan)
        plans.append(dict(label=label, module=module, changed=plan.changed, commands=plan.commands,
                          plan=plan, args=call.get("args") or {}))
        gone = pruned_namespaces(module, params, plan, declared) if prune_namespaces else []
        if gone:
            queue.insert(i + 1, dict(module="netns", label=label, args=dict(name=gone, state="absent")))
