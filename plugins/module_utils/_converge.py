# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One converge of a host: container_network's networks as the building blocks' typed steps (_steps.py), run by
the one run path (_engine.converge) under one host lock and one netlink session - what the module
container_network and the boot launcher do.

1. Every step is planned in check mode (the preflight): every refusal of every step is collected, and the run
   fails before its first write when there is any.
2. Check mode stops there: those plans are the prediction. So does a run where no step would change anything
   (a no-op re-run reads the host once and writes nothing).
3. Otherwise the plans checked are applied, in order, up to the first step that writes; each later step is
   planned again against the host as the earlier ones left it (see _engine) - exactly what the role's
   separate tasks did, without a module process per task.

This file shapes the converge's result in its user's terms: the steps' labels, warnings said once, the prune.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.netplumb.container.plugins.module_utils import _engine, _firewalld, _netspec, _persist, _prune
from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, shorten
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver, get_driver

RefusedError = _engine.RefusedError   # what container_network's callers catch (the render filter)

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


def _entry(label, module, plan):
    return dict(label=label, module=module, changed=plan.changed, commands=plan.commands)


def _diff(label, module, plan):
    d = dict(before=plan.before, after=plan.after, before_header="%s %s" % (label, module),
             after_header="%s %s" % (label, module))
    if plan.actions:
        d["prepared"] = "\n".join(plan.commands)
    return d


def converge(nl, calls, check_mode, diff=True, drivers=None, readers=None):
    """Returns dict(changed, commands, calls, diff, warnings, pruned). Raises RefusedError (nothing written),
    or KernelError whose ``done`` lists every command applied by this run before the failure. Without diff,
    the applied plans' before/after views are not kept. ``drivers``: the preflight's firewall drivers by
    backend (each a check-mode ChainedDriver), when the caller read the rules already; ``readers``: the
    host's file readers (_engine.HostReaders; the render filter's empty host)."""
    steps = _steps.from_calls(calls)
    ctx = _engine.RunContext(nl, check_mode, readers, drivers, diff)
    try:
        done = [(step.label, step.module, plan) for step, plan in _engine.converge(ctx, steps)]
    except RefusedError as exc:     # each refusal in its user's terms
        raise RefusedError([in_user_terms(e) for e in exc.errors], len(steps), exc.causes)
    warnings = step_warnings(done, created(steps))
    pruned = []
    for label, module, plan in done:
        pruned += plan.extra.get("pruned") or []
    commands = [c for dummy, dummy2, plan in done for c in plan.commands]
    return dict(changed=bool(commands), commands=commands,
                calls=[_entry(*s) for s in done],
                diff=[_diff(*s) for s in done if s[2].changed],
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


def created(steps):
    """(bridges, namespaces) that the run's steps create: what check mode may assume."""
    bridges, namespaces = set(), set()
    for step in steps:
        made = step.creates()
        bridges.update(made[0])
        namespaces.update(made[1])
    return bridges, namespaces


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


def run_networks(parsed, zone, firewall_backend, prune, check_mode, lock_timeout, diff=True, variable="networks"):
    """The whole run of container_network (and of the boot launcher): under one host lock and one netlink
    session (_engine.session), firewalld's zones read (refusals before the first write), converge_pruning,
    then the bridges' firewalld bindings. Raises RefusedError, KernelError (with ``done``) or NetplumbError."""
    with _engine.session(lock_timeout) as nl:
        firewalld = _firewalld.prepare(zone)     # refusals before the first write
        res = converge_pruning(nl, parsed, firewall_backend, prune, check_mode, diff=diff, variable=variable)
        _firewalld.converge(res, parsed, zone, prune, check_mode, firewalld)
    return res


class NetworksJob(_engine.Job):
    """The module container_network's run (_module.answer runs it): its ``networks`` parsed (the argument spec
    checked their kinds) and its firewalld zone checked before anything is read, then run_networks. A failure's
    result has ``errors`` (one line per input error or refusal) and says what was applied."""

    def __init__(self, params):
        self.params = params
        self.parsed = self.zone = None

    def check(self):
        prm = self.params
        variable = prm["variable"]
        self.parsed = _netspec.parse(prm["networks"], prm["firewall_backend"], root=variable, checked=True)
        if self.parsed["errors"]:
            raise _steps.InputErrors("%s is invalid (%d errors): %s" % (
                variable, len(self.parsed["errors"]), shorten(self.parsed["errors"])), self.parsed["errors"])
        self.zone = _firewalld.validate_zone("firewalld_zone", prm["firewalld_zone"])

    def run(self, check_mode, lock_timeout, diff):
        prm = self.params
        res = run_networks(self.parsed, self.zone, prm["firewall_backend"], prm["prune"], check_mode, lock_timeout,
                           diff=diff, variable=prm["variable"])
        # the role removes the boot files of container_network_persist only where they are (no extra call
        # elsewhere)
        res["persisted"] = os.path.exists(_persist.NETWORKS_FILE)
        return res, None

    def failed(self, exc):
        return dict(_engine.failure(exc), calls=[])
