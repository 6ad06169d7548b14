# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole run's module calls, planned in check mode against the host as it is: the preflight module.

Each call is ``{module, args, label}`` with the arguments the module itself would get; _steps.from_call makes
it the very step its module runs, and the run path's preflight (_engine.preflight) plans them all in check mode
with one run context (so every refusal - bad input, a name held by something not ours, a subnet touching the
host, a bound port - has one definition): nothing is written, and every error of every call is collected.
Calls that remove networks first are taken into account by the later calls: the bridges, rule owners and
published ports they remove do not collide with what follows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils import _engine, _steps

DEFAULTS = _steps.DEFAULTS
MAX_SHOWN = 10


def run_calls(nl, calls, prune_namespaces=False, drivers=None, readers=None):
    """Plan every call in check mode. Returns (errors, warnings, plans): one error line per failing call,
    ``LABEL (MODULE): message``; nothing is written. With prune_namespaces, a veth_pair call that prunes pairs
    is followed by a netns call removing their namespaces (unless a netns call of the run declares them), and
    keeps the pairs the other calls declare."""
    steps = _steps.from_calls(calls)
    ctx = _engine.RunContext(nl, True, readers, drivers)
    if prune_namespaces:
        ctx.declare(steps)
    errors, planned = _engine.preflight(ctx, steps, follow=prune_namespaces)
    return ([step.name(exc) for step, exc in errors],
            [step.name(w) for step, plan in planned for w in plan.warnings],
            [dict(label=step.label, module=step.module, changed=plan.changed, commands=plan.commands, plan=plan)
             for step, plan in planned])


class CallsJob(_engine.Job):
    """The preflight module's run (_module.answer runs it): run_calls under the host lock and one netlink
    session (_engine.session). Nothing is written, so a failure's result has no commands: the calls planned,
    and one error line per refused call."""

    def __init__(self, params):
        self.calls = params["calls"]

    def run(self, check_mode, lock_timeout, diff):
        with _engine.session(lock_timeout) as nl:
            errors, warnings, planned = run_calls(nl, self.calls)
        plans = [dict((k, p[k]) for k in ("label", "module", "changed", "commands")) for p in planned]
        res = dict(changed=False, calls=plans, errors=errors, warnings=warnings)
        if not errors:
            return res, None
        more = "" if len(errors) <= MAX_SHOWN else " ... and %d more" % (len(errors) - MAX_SHOWN)
        return res, "preflight refused %d of %d calls before any change: %s%s" % (
            len(errors), len(self.calls), " | ".join(errors[:MAX_SHOWN]), more)

    def failed(self, exc):
        return dict(changed=False, calls=[], errors=[str(exc)])
