# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: an ordered list of typed actions, shared by check mode and real mode.

A planner reads current state, compares it with the wanted state and appends actions. Each action carries
the equivalent command line (what a human would type) and a callable that performs it. Check mode reports
the plan; real mode runs the same plan, so the prediction is exact. An empty plan writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError


class Action:
    """One write: kind (e.g. 'link_add'), target (object name), the equivalent command, and how to do it."""

    __slots__ = ("kind", "target", "command", "fn")

    def __init__(self, kind, target, command, fn):
        self.kind = kind
        self.target = target
        self.command = command
        self.fn = fn

    def __repr__(self):
        return "Action(%s, %s, %r)" % (self.kind, self.target, self.command)


class Plan:
    def __init__(self):
        self.actions = []
        self.warnings = []
        self.before = {}
        self.after = {}
        self.extra = {}     # further result keys (e.g. veth_pair's pruned)

    def add(self, action):
        self.actions.append(action)
        return action

    def extend(self, actions):
        for action in actions:
            self.add(action)

    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def changed(self):
        return bool(self.actions)

    @property
    def commands(self):
        return [a.command for a in self.actions]

    def apply(self, check_mode):
        """Run every action unless check_mode. Any failure is a KernelError naming the command and listing the
        commands already applied (``done``), so a result built from it tells what was really written."""
        if check_mode:
            return
        done = []
        for action in self.actions:
            try:
                action.fn()
            except KernelError:
                raise   # raised by a firewall batch, which counts this plan's applied actions itself
            except NetplumbError as exc:
                # a refusal met half-way (the host changed under us): what ran before it did land
                raise KernelError(action.command, str(exc), done)
            except Exception as exc:  # netlink, OS and tool errors all become one clear message
                raise KernelError(action.command, _describe(exc), done)
            done.append(action.command)

    def result(self, **extra):
        """The module result. Its diff also carries the equivalent commands, one per line, as ``prepared``
        (Ansible prints it with ``--diff``, so ``--check --diff`` reads like the tutorial)."""
        diff = dict(before=self.before, after=self.after)
        if self.actions:
            diff["prepared"] = "\n".join(self.commands)
        res = dict(changed=self.changed, commands=self.commands, diff=diff)
        res.update(self.extra)
        res.update(extra)
        return res


def _describe(exc):
    code = getattr(exc, "code", None)
    if code is None and getattr(exc, "args", None) and isinstance(exc.args[0], int):
        code = exc.args[0]
    text = str(exc)
    if code is not None:
        try:
            import os
            text = "%s (errno %d)" % (os.strerror(code), code)
        except (ValueError, OverflowError):
            pass
    return text
