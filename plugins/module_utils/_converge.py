# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One converge of a host: the calls of the five building-block modules run in one process, under one host
lock and one netlink session - what the module container_network does.

1. Every call is planned in check mode by _dryrun (the preflight): every refusal of every call is collected,
   and the run fails before its first write when there is any.
2. Check mode stops there: those plans are the prediction. So does a run where no call would change anything
   (a no-op re-run reads the host once and writes nothing).
3. Otherwise the calls run in order, each planned again against the host as the earlier ones left it and
   applied - exactly what the role's separate tasks did, without a module process per task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.netplumb.container.plugins.module_utils import _dryrun, _netspec, _prune
from ansible_collections.netplumb.container.plugins.module_utils._errors import (
    KernelError, NetplumbError, shorten)
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver, get_driver

# --- messages in the terms of the converge's user (docs/modules/container_network.md#messages) ---------------
# Each network is one entry of the caller's list (the role's container_networks, the module's networks): a step's
# hint to take an object over names that entry's option, not the building-block module's.
_LABEL = re.compile(r"^(?P<path>[A-Za-z_][A-Za-z0-9_]*\[\d+\]) \([^()]*\) \([a-z_]+\): ")
_ADOPT_HINTS = (("take it over on purpose with netplumb.container.linux_bridge and adopt=true", "take it over on "
                 "purpose with %s.adopt: true"),
                ("run once with adopt=true", "run once with %s.adopt: true"),
                ("adopt=true", "%s.adopt: true"))

# Warnings given only by a step that changes something (else every converged re-run would repeat them): the
# hairpin note of icc=false where br_netfilter processes the bridge (_isolation) says what the network's
# settings mean, not what the host does wrong, so it is said when the network is (re)built, not on every run.
ON_CHANGE = (re.compile(r"^icc=false on bridge \S+: its ports are isolated, and br_netfilter processes it"),)

# Check mode on a host where an earlier step of the same run creates the object: said once, as a count.
_ASSUMED = ((re.compile(r"^network namespace (?P<name>\S+) does not exist; assuming an earlier task creates it"),
             "namespaces"),
            (re.compile(r"^bridge (?P<name>\S+) does not exist; assuming an earlier task creates it"), "bridges"),
            (re.compile(r"^bridge (?P<name>\S+) does not exist \(yet\): rules predicted for it"), "bridges"))


class RefusedError(NetplumbError):
    """The preflight refused calls: nothing was written. ``errors`` has one line per refused call."""

    def __init__(self, errors, total):
        self.errors = list(errors)
        super(RefusedError, self).__init__("preflight refused %d of %d steps before any change: %s"
                                           % (len(errors), total, shorten(errors)))


def _entry(label, module, plan):
    return dict(label=label, module=module, changed=plan.changed, commands=plan.commands)


def _diff(label, module, plan):
    d = dict(before=plan.before, after=plan.after, before_header="%s %s" % (label, module),
             after_header="%s %s" % (label, module))
    if plan.actions:
        d["prepared"] = "\n".join(plan.commands)
    return d


class _Done(object):
    """What the result needs of an applied plan: its actions, their closures and (without diff) its before/after
    views are let go as soon as it has run, so a run of thousands of containers does not hold them all."""

    __slots__ = ("changed", "commands", "actions", "before", "after", "warnings", "extra")

    def __init__(self, plan, keep_diff):
        self.commands = plan.commands
        self.actions = self.commands
        self.changed = bool(self.commands)
        self.before = plan.before if keep_diff else {}
        self.after = plan.after if keep_diff else {}
        self.warnings = plan.warnings
        self.extra = plan.extra


def converge(nl, calls, check_mode, diff=True, drivers=None):
    """Returns dict(changed, commands, calls, diff, warnings, pruned). Raises RefusedError (nothing written),
    or KernelError whose ``done`` lists every command applied by this run before the failure. Without diff,
    the applied plans' before/after views are not kept. ``drivers``: the preflight's firewall drivers by
    backend (each a check-mode ChainedDriver), when the caller read the rules already."""
    calls = _dryrun.keeping(calls)      # a container moving between networks is re-parented, not re-made
    errors, dummy, planned = _dryrun.run_calls(nl, calls, prune_namespaces=True,
                                               drivers={} if drivers is None else drivers)
    if errors:
        raise RefusedError([in_user_terms(e) for e in errors], len(calls))
    if check_mode or not any(p["changed"] for p in planned):
        steps = [(p["label"], p["module"], p["plan"]) for p in planned]
    else:
        del planned[:]      # the preflight's plans are not needed any more: their memory goes before the apply
        steps = _apply(nl, calls, diff)
    warnings = step_warnings(steps, created(calls))
    pruned = []
    for label, module, plan in steps:
        pruned += plan.extra.get("pruned") or []
    commands = [c for dummy, dummy2, plan in steps for c in plan.commands]
    return dict(changed=bool(commands), commands=commands,
                calls=[_entry(*s) for s in steps],
                diff=[_diff(*s) for s in steps if s[2].changed],
                warnings=warnings, pruned=pruned)


def in_user_terms(line):
    """A step's message, ``LABEL (MODULE): text``, with its hints to adopt an object naming the option of the
    entry it comes from (``container_networks[1].adopt: true``) instead of the building-block module's."""
    m = _LABEL.match(line)
    if not m or "adopt=true" not in line:
        return line
    head, text = line[:m.end()], line[m.end():]
    for old, new in _ADOPT_HINTS:
        text = text.replace(old, new % m.group("path"))
    return head + text


def created(calls):
    """(bridges, namespaces) that present calls of the run create: what check mode may assume."""
    bridges = set(c["args"].get("name") for c in calls
                  if c.get("module") == "linux_bridge" and (c.get("args") or {}).get("state", "present") == "present")
    return bridges, _dryrun.declared_namespaces(calls)


def step_warnings(steps, made):
    """The warnings of the steps, each once: those of ON_CHANGE only from a step that changes something; in
    check mode, the assumptions that an earlier step of the run creates a bridge or a namespace (``made``) as
    one line for the whole run. Every other warning (another firewall dropping our traffic, undeclared networks,
    foreign ports...) is given on every run, where it is true."""
    out, seen, assumed = [], set(), dict(bridges=set(), namespaces=set())
    for label, module, plan in steps:
        for w in plan.warnings:
            if not plan.changed and any(r.match(w) for r in ON_CHANGE):
                continue
            kind = _assumed(w, made)
            if kind:
                assumed[kind[0]].add(kind[1])
                continue
            line = in_user_terms("%s (%s): %s" % (label, module, w))
            if line not in seen:
                seen.add(line)
                out.append(line)
    counts = ["%d %s" % (len(names), kind if len(names) != 1 else kind[:-1])
              for kind, names in sorted(assumed.items()) if names]
    if counts:
        out.insert(0, "check mode: %s assumed created by earlier steps of this run" % ", ".join(counts))
    return out


def _assumed(warning, made):
    """('bridges'|'namespaces', name) when the warning assumes an object that a call of the run creates."""
    for regex, kind in _ASSUMED:
        m = regex.match(warning)
        if m and m.group("name") in made[0 if kind == "bridges" else 1]:
            return kind, m.group("name")
    return None


def converge_pruning(nl, parsed, firewall_backend, prune, check_mode, diff=True, variable="networks"):
    """converge() of a parsed list (_netspec.parse), with the networks of ours it does not declare (_prune):
    with ``prune`` each is added as a network with state absent (the same calls as a declared one), else one
    warning lists them. The result has ``undeclared`` too."""
    # the preflight's own driver: the rules are read once, for the search and for the plans of the preflight
    try:
        drivers = {firewall_backend: ChainedDriver(get_driver(firewall_backend), True)}
        rules = drivers[firewall_backend].read()
    except NetplumbError:   # no firewall to read (no iptables): the preflight refuses each step that needs one
        drivers, rules = None, None
    found = _prune.read(nl, parsed["networks"], rules, drivers[firewall_backend] if drivers else None)
    calls = parsed["calls"]
    if prune and found:
        calls = _netspec.calls(parsed["networks"] + [_prune.absent_network(f) for f in found], firewall_backend)
    res = converge(nl, calls, check_mode, diff=diff, drivers=drivers)
    if found and not prune:
        res["warnings"].append(_prune.warning(found, variable))
    elif prune:
        res["warnings"] += [_prune.rules_only_warning(f) for f in found if not f["ours"]]
    res["undeclared"] = found
    return res


def _apply(nl, calls, keep_diff=True):
    """Each call planned against the host as the calls before it left it, and applied."""
    steps, done, drivers = [], [], {}
    declared = _dryrun.declared_namespaces(calls, ("present", "absent"))
    queue = list(calls)
    i = -1
    while i + 1 < len(queue):
        i += 1
        call = queue[i]
        module, label = call["module"], call.get("label") or "calls[%d]" % i
        try:
            params = _dryrun.params_of(module, call.get("args") or {})
            with nl.frozen():
                plan = _dryrun.plan_call(nl, module, params, (), (), check_mode=False, drivers=drivers)
            plan.apply(False)
        except KernelError as exc:
            raise KernelError("%s (%s): %s" % (label, module, exc.command), exc.error, done + exc.done)
        except NetplumbError as exc:
            # the host changed between the preflight and this call (someone else's hand): say what is done
            raise KernelError("%s (%s)" % (label, module), str(exc), done)
        done += plan.commands
        gone = _dryrun.pruned_namespaces(module, params, plan, declared)
        steps.append((label, module, _Done(plan, keep_diff)))
        if gone:
            queue.insert(i + 1, dict(module="netns", label=label, args=dict(name=gone, state="absent")))
    return steps
