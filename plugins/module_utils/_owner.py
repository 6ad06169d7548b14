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

import os

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError

OWNER_ALIAS = "netplumb"
PENDING_PATH = "/run/netplumb/pending"
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


# --- creations not marked yet ------------------------------------------------------------------------------
# Creating a link or a namespace and marking it are two kernel calls (the kernel ignores an alias given at
# creation). A run killed between them (SIGKILL, OOM, a lost ssh session) would leave an object of ours without
# our mark, which the next run would then refuse. So, under the host lock, a creation is first written to a
# small journal on the host's /run, completed with the object's identity once it exists (its kind, its ifindex
# and the inode of the namespace it lives in), and removed once the mark is set. An unmarked object counts as
# ours only when an entry matches it exactly: same namespace the module runs in, same namespace name, link
# name, kind, ifindex and namespace inode. A stale entry (the object was deleted and something else took the
# name), a forged one, one still incomplete (the run died inside the creating call itself) and an entry of the
# former format (namespace and name only) mark nothing: such an object stays foreign, to adopt on purpose.
JOURNAL_VERSION = "v2"
UNKNOWN = "-"


def _home():
    return str(os.stat("/proc/thread-self/ns/net").st_ino)      # the host namespace the module runs in


def ns_inode(nl, ns):
    """Inode of namespace ns (None: the one the module runs in), or None when it cannot be read."""
    try:
        if ns is None:
            return os.stat("/proc/thread-self/ns/net").st_ino
        return os.stat(os.path.join(nl.run_dir, ns)).st_ino
    except (OSError, AttributeError):
        return None


def _prefix(ns, name):
    return "\t".join([JOURNAL_VERSION, _home(), ns or "", name]) + "\t"


def _entry(ns, name, kind, ifindex, ino):
    return _prefix(ns, name) + "\t".join([kind or UNKNOWN, UNKNOWN if ifindex is None else str(ifindex),
                                          UNKNOWN if ino is None else str(ino)])


def _entries(path=None):
    try:
        with open(path or PENDING_PATH) as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except (IOError, OSError):
        return []


def pending(nl, ns, link, path=None):
    """Whether ``link`` (an _nl.Link as read now) in namespace ns was created by a netplumb run that died before
    it set the mark: a journal entry matches it exactly (see above)."""
    if link is None:
        return False
    ino = ns_inode(nl, ns)
    if ino is None:
        return False
    return _entry(ns, link.name, link.kind, link.index, ino) in _entries(path)


def _write(entries, path=None):
    path = path or PENDING_PATH
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d, 0o755)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(e + "\n" for e in entries))
    os.rename(tmp, path)


def _replace(ns, name, entry, path=None):
    """The journal with every entry of (ns, name) - of any format - replaced by entry (None: removed)."""
    prefix = _prefix(ns, name)
    old = "%s\t%s\t%s" % (_home(), ns or "", name)       # the former format
    entries = _entries(path)
    keep = [e for e in entries if not e.startswith(prefix) and e != old]
    if entry is not None:
        keep.append(entry)
    if keep != entries:
        _write(keep, path)


def creating(ns, name, fn, path=None, kind=None, ident=None, locate=None):
    """fn creates (ns, name) of ``kind``: journal it first. ident: (ifindex, namespace inode) known before the
    creation (a link created with the ifindex we chose): the entry is complete before the object exists.
    Otherwise locate() -> (ifindex, namespace inode) completes the entry once fn returned (a namespace: its
    inode exists only then; a run killed in between leaves an incomplete entry, which marks nothing). A failed
    creation takes its entry back."""
    def run():
        ifindex, ino = ident or (None, None)
        _replace(ns, name, _entry(ns, name, kind, ifindex, ino), path)
        try:
            out = fn()
        except BaseException:
            unpend(ns, name, path)
            raise
        if locate is not None:
            ifindex, ino = locate()
            _replace(ns, name, _entry(ns, name, kind, ifindex, ino), path)
        return out
    return run


def marking(ns, name, fn, path=None):
    """fn sets our mark on (ns, name): once it has, the journal entry goes."""
    def run():
        out = fn()
        unpend(ns, name, path)
        return out
    return run


def unpend(ns, name, path=None):
    _replace(ns, name, None, path)
