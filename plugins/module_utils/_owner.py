# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ownership: the marks netplumb puts on what it creates, and the refusal for what it did not.

* links (veth host ends, bridges): the link alias ``netplumb``, compared by equality only;
* network namespaces: the alias ``netplumb`` on the namespace's own ``lo`` (the mark travels with the
  namespace: a namespace deleted and re-made by someone else under the same name carries no mark);
* routes: the route protocol number RTPROT_NETPLUMB (``ip route ... proto 151``);
* firewall rules: the comment ``netplumb:<network>[:<port>]`` in chains ``NETPLUMB-*`` (see _firewall).

An object without our mark is never deleted, re-created, re-addressed or re-parented. Taking one over is
always explicit (``adopt: true``), never implied by a matching name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError

OWNER_ALIAS = "netplumb"
RTPROT_NETPLUMB = 151
SAFETY_DOC = "docs/safety.md"


def is_ours(link):
    """A link (from _nl.Link) carries our mark: its alias is exactly ``netplumb``."""
    return link is not None and link.alias == OWNER_ALIAS


class NotOursError(StateError):
    """A name is held by an object that does not carry our mark."""

    def __init__(self, field, name, kind, detail=None, adopt_hint=True):
        self.field = field
        self.name = name
        self.kind = kind
        msg = "%s=%s: %s %s exists and is not netplumb's (no netplumb mark)" % (field, name, kind, name)
        if detail:
            msg += "; %s" % detail
        msg += "; refusing to change it"
        if adopt_hint:
            msg += (". To take it over on purpose, run once with adopt=true (it then carries the mark; see %s)"
                    % SAFETY_DOC)
        super(NotOursError, self).__init__(msg)
