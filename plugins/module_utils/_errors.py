# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions raised by the engine. Only a module's main() turns them into fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class NetplumbError(Exception):
    """Base class: its str() is the message shown to the user."""


class ValidationError(NetplumbError):
    """Bad input, detected before anything is touched. Names the field and the value."""

    def __init__(self, field, value, reason):
        self.field = field
        self.value = value
        self.reason = reason
        super(ValidationError, self).__init__("%s=%r: %s" % (field, value, reason))


class StateError(NetplumbError):
    """The host is in a state we refuse to change (a name held by a foreign link, a missing namespace...)."""


MAX_LISTED = 10


def shorten(items, most=MAX_LISTED):
    """'a; b; c' for at most ``most`` items, then '... and N more': messages stay short for any batch."""
    items = list(items)
    text = "; ".join(items[:most])
    if len(items) > most:
        text += "; ... and %d more" % (len(items) - most)
    return text


class KernelError(NetplumbError):
    """A netlink or tool call failed while applying the plan; names the object and the operation."""

    def __init__(self, command, error, done=None):
        self.command = command
        self.error = error
        self.done = list(done or [])
        msg = "%s failed: %s" % (command, error)
        if self.done:
            msg += " (already applied: %s)" % shorten(self.done)
        super(KernelError, self).__init__(msg)
