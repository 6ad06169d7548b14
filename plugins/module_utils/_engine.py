# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one run path: every module, the boot converge and the render filter run their steps (_steps.py) here.

``session()`` owns the host lock and the netlink session; ``RunContext`` is what the steps of one run share
(the netlink session, the host's file readers, the firewall drivers, and in check mode what the earlier steps
predict: sysctls, the bridges they create, remove or delete); ``converge()`` plans every step (each refusal
collected before the first write), then applies the plans it checked:

* A step planned while no earlier step of the run changes anything was planned against the host as it is, in
  the run's own mode: that very plan is applied (a single-step module, a re-run that changes one step).
* Once a step has written, each later step is planned again against a fresh read of what it reads and
  applied. Its checked plan rests on predictions that only the write makes real: the ifindex and peer of a
  link that did not exist, an nftables rule's handle, a namespace's inode. The re-plan never parses the
  checked plan: both are made by the same step from the same inputs.

Nothing here exits: failures are exceptions (_errors); a KernelError's ``done`` lists every command applied by
the run before it, at every level (action, step, converge).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _hosttools, _isolation, _netns
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError, shorten
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver
from ansible_collections.netplumb.container.plugins.module_utils._lock import (
    DEFAULT_TIMEOUT, HostLock, validate_timeout)
from ansible_collections.netplumb.container.plugins.module_utils._nl import Netlink, require_pyroute2


class HostReaders(object):
    """The planners' readers of host facts that are files, not netlink (sysctls, /proc/net sockets, /run/netns,
    /etc/netns), and the check of the host's tools. A run hands its readers to every step; the render filter
    hands the empty host's (_render.EmptyReaders). Looked up when called, so tests may patch the planners'."""

    def sysctl(self, name):
        return _fwnet.sysctl_read(name)

    def proc_sys(self, path):
        return _isolation.read_file(path)

    def listeners(self, protocol, proc_net=_fwnet.PROC_NET):
        return _fwnet.listeners(protocol, proc_net)

    def check_free(self, field, name, path):
        return _netns.check_free(field, name, path)

    def read_file(self, path):
        return _netns._read_file(path)

    def check_tools(self, plan):
        return _hosttools.check(plan)


HOST = HostReaders()


class RunContext(object):
    """What the steps of one run share. ``check_mode``: the run's mode; ``predicting``: the plans being made
    are predictions (check mode, or the preflight of a real run after a step that changes something), so the
    firewall drivers carry the predicted state from step to step and ``sysctls``/``removed``/``marked``/
    ``deleted``/``created_ns`` say what the earlier steps' plans do."""

    def __init__(self, nl, check_mode, readers=None, drivers=None, diff=True, chain=True):
        self.nl = nl
        self.check_mode = check_mode
        self.readers = readers or HOST
        self.drivers = {} if drivers is None else drivers
        self.diff = diff
        self.predicting = check_mode
        self.chain = chain          # the drivers carry each plan's predicted rules to the next step
        self.sysctls = {}           # name -> value an earlier step's plan writes
        self.removed = set()        # bridges (networks) earlier steps take away
        self.marked = set()         # bridges earlier steps create or adopt (ours by the time a step runs)
        self.deleted = set()        # bridges earlier steps delete
        self.keep = set()           # host veths the run's present steps declare (no prune takes them)
        self.declared_ns = set()    # namespaces the run's netns steps name (present or absent)

    def sysctl(self, name):
        """The sysctl's value as this step will find it: an earlier step's predicted write, else the host's."""
        if name in self.sysctls:
            return self.sysctls[name]
        return self.readers.sysctl(name)

    def driver(self, backend):
        """The run's firewall driver of ``backend`` (detected once per run)."""
        backend = backend or "auto"
        if backend not in self.drivers:
            self.drivers[backend] = ChainedDriver(_fwnet.get_driver(backend), self.chain)
        return self.drivers[backend]

    def record(self, plan):
        """What a planned step does, as the later steps of a predicted run read it: its sysctl writes (typed
        actions, _fwnet.SysctlWrite)."""
        for action in plan.actions:
            if isinstance(action, _fwnet.SysctlWrite):
                self.sysctls[action.name] = "%s" % action.value

    def real(self):
        """The context in which a step is planned again after a write: fresh drivers that read the host."""
        ctx = RunContext(self.nl, False, self.readers, {}, self.diff, chain=False)
        ctx.keep, ctx.declared_ns = self.keep, self.declared_ns
        return ctx

    def declare(self, steps):
        """What the run's steps declare, for the prunes among them: the host veths of present pairs, and the
        namespaces named by netns steps."""
        for step in steps:
            self.keep |= set(step.declared_pairs())
            self.declared_ns |= set(step.declared_namespaces())


class RefusedError(NetplumbError):
    """Steps were refused before any change: nothing was written. ``errors`` has one line per refused step."""

    def __init__(self, errors, total, causes=()):
        self.errors = list(errors)
        self.causes = list(causes)      # [(step, exception)]
        super(RefusedError, self).__init__("preflight refused %d of %d steps before any change: %s"
                                           % (len(errors), total, shorten(errors)))


class Done(object):
    """What a result needs of an applied plan: its actions, their closures and (without diff) its before/after
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

    def result(self):
        """As Plan.result: the module result of the applied plan."""
        diff = dict(before=self.before, after=self.after)
        if self.commands:
            diff["prepared"] = "\n".join(self.commands)
        res = dict(changed=self.changed, commands=self.commands, diff=diff)
        res.update(self.extra)
        return res


@contextlib.contextmanager
def session(lock_timeout=DEFAULT_TIMEOUT, netlink=True):
    """The host lock (check mode too, so a prediction is not raced), then one netlink session (None when no
    step needs one); both released when the block ends."""
    with HostLock(validate_timeout(lock_timeout)):
        if not netlink:
            yield None
            return
        with Netlink() as nl:
            yield nl


def validate(steps):
    """Every step's input checked before anything is read: [(step, error)]."""
    errors = []
    for step in steps:
        try:
            step.validate()
        except NetplumbError as exc:
            errors.append((step, exc))
    return errors


def plan_step(ctx, step):
    """One step's plan in ``ctx``, with the tools and writable places it needs checked (a missing one is this
    step's refusal, before the run's first write)."""
    return ctx.readers.check_tools(step.plan(ctx))


def preflight(ctx, steps, follow=True, validated=False):
    """Plan every step against the host (read once: nothing is written) and what the earlier steps' plans
    do; each step is validated first unless ``validated``. Returns (errors, planned): errors [(step, exception)],
    every refusal of every step; planned [(step, plan)] in order, with the steps that follow from a plan (a
    prune's namespaces, with ``follow``) after it. A step planned while no earlier step changes anything is
    planned in the run's own mode."""
    errors, planned = [], []
    queue, given = list(steps), set(id(step) for step in steps)
    with ctx.nl.frozen() if ctx.nl is not None else _nothing():
        i = -1
        while i + 1 < len(queue):
            i += 1
            step = queue[i]
            ctx.predicting = ctx.check_mode or any(p.changed for dummy, p in planned)
            try:
                if not validated or id(step) not in given:    # a step that follows a plan is new
                    step.validate()
                plan = plan_step(ctx, step)
            except NetplumbError as exc:
                errors.append((step, exc))
                continue
            step.record(ctx, plan)
            ctx.record(plan)
            planned.append((step, plan))
            if follow:
                queue[i + 1:i + 1] = step.follow(ctx, plan)
    ctx.predicting = ctx.check_mode
    return errors, planned


@contextlib.contextmanager
def _nothing():
    yield None


def apply(ctx, steps, planned):
    """Apply the run: the checked plans until a step writes, then each later step planned again against the
    host as the earlier ones left it. Returns [(step, Done)]; a failure is a KernelError naming the step, whose
    ``done`` lists every command this run applied."""
    checked = dict((id(step), plan) for step, plan in planned)
    del planned[:]      # the caller's list: the plans not applied go as soon as a step writes
    out, done, real = [], [], None
    queue = list(steps)
    i = -1
    while i + 1 < len(queue):
        i += 1
        step = queue[i]
        try:
            plan = checked.get(id(step)) if real is None else None
            if plan is None:
                real = real or ctx.real()
                with ctx.nl.frozen() if ctx.nl is not None else _nothing():
                    plan = plan_step(real, step)
            plan.apply(False)
        except KernelError as exc:
            raise KernelError(step.name(exc.command), exc.error, done + exc.done)
        except NetplumbError as exc:
            # the host changed between the preflight and this step (someone else's hand): say what is done
            raise KernelError(step.name(), str(exc), done)
        done += plan.commands
        if plan.changed and real is None:
            real = ctx.real()
            checked.clear()
        out.append((step, Done(plan, ctx.diff)))
        queue[i + 1:i + 1] = step.follow(real or ctx, plan)
    return out


def converge(ctx, steps, validated=False):
    """Validate, check and (unless check mode, or nothing changes) apply ``steps``. Returns [(step, plan)].
    Raises RefusedError (nothing written) with every step's refusal, or KernelError (see apply)."""
    ctx.declare(steps)
    errors, planned = preflight(ctx, steps, validated=validated)
    if errors:
        raise RefusedError([step.name(exc) for step, exc in errors], len(steps), errors)
    return finish(ctx, steps, planned)


def finish(ctx, steps, planned):
    """The checked plans as the result (check mode, or nothing changes), else the run applied."""
    changed = any(plan.changed for dummy, plan in planned)
    if changed and isinstance(ctx.nl, Netlink):     # not the render filter's empty host
        # pyroute2 is imported lazily (_nl.iproute_class): a broken one fails a run that would write here, before
        # its first write, and its check mode the same way (check == real)
        require_pyroute2()
    if ctx.check_mode or not changed:
        return planned
    return apply(ctx, steps, planned)


def run(steps, check_mode, lock_timeout=DEFAULT_TIMEOUT, diff=True, readers=None):
    """A run of its own (a module's): validated before the lock, then converge() under session(). A run of
    one step is refused with that step's own error. Returns [(step, plan)]."""
    errors = validate(steps)
    if errors:
        raise _refusal(errors, len(steps))
    with session(lock_timeout, any(s.netlink for s in steps)) as nl:
        ctx = RunContext(nl, check_mode, readers, diff=diff)
        ctx.declare(steps)
        errors, planned = preflight(ctx, steps, validated=True)
        if errors:
            raise _refusal(errors, len(steps))
        return finish(ctx, steps, planned)


class Job(object):
    """A module's whole run, as its main() hands it to the module helper (_module.answer), which opens nothing
    itself and shapes every answer alike: ``check()`` (input that needs no host, refused before pyroute2 is
    asked for), then ``run(check_mode, lock_timeout, diff)`` -> (result, error message or None) under session()
    (the host lock and the netlink session, when ``netlink``); a NetplumbError raised by either is answered by
    ``failed(exc)``. A result's ``warnings`` are the module's warnings (said, not returned)."""

    netlink = True

    def check(self):
        """Input checked before anything else (nothing read)."""

    def run(self, check_mode, lock_timeout, diff):
        raise NotImplementedError

    def failed(self, exc):
        """The result of a failed run: what was applied (``changed``, ``commands``), ``errors`` when the
        failure has several lines."""
        res = failure(exc)
        if not getattr(exc, "errors", None):
            res.pop("errors")
        return res


class StepJob(Job):
    """A module's one typed step (_steps.py) as its run: run() of a run of its own; the result is the step's
    (Step.result), its plan's warnings said."""

    def __init__(self, step):
        self.step = step
        self.netlink = step.netlink

    def run(self, check_mode, lock_timeout, diff):
        ((dummy, plan),) = run([self.step], check_mode, lock_timeout, diff=diff)
        res = self.step.result(plan)
        res["warnings"] = list(plan.warnings)
        return res, None


def _refusal(errors, total):
    if total == 1 and len(errors) == 1:
        return errors[0][1]
    return RefusedError([step.name(exc) for step, exc in errors], total, errors)


def failure(exc):
    """The result keys of a failed run, as far as it got: what was applied (a KernelError's ``done``)."""
    done = list(getattr(exc, "done", None) or [])
    errors = list(getattr(exc, "errors", None) or [str(exc)])
    return dict(changed=bool(done), commands=done, errors=errors)
