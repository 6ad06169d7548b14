# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named network namespaces: read, compare, plan (`ip netns add/delete`, lo up, /etc/netns/NAME/resolv.conf).

A namespace is ours when its `lo` carries the alias `netplumb` (set right after creating it); one without the
mark is never changed or deleted unless adopt=true marks it first (see _owner)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils import _preflight
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._nl import NETNS_ETC_DIR
from ansible_collections.netplumb.container.plugins.module_utils._owner import (
    OWNER_ALIAS, NotOursError, creating, marking, ns_inode, pending, unpend)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

RESOLV_MARKER = "# Managed by netplumb.container"


def validate(names, state, loopback, nameservers, adopt=False):
    if not names:
        raise v.ValidationError("name", names, "give at least one namespace name")
    for i, name in enumerate(names):
        v.netns_name("name[%d]" % i, name)
    v.unique("name", names, lambda n: n)
    v.choice("state", state, ("present", "absent"))
    if not isinstance(adopt, bool):
        raise v.ValidationError("adopt", adopt, "must be true or false")
    if nameservers is not None:
        for i, ns in enumerate(nameservers):
            v.address("nameservers[%d]" % i, ns)


def resolv_path(name, etc_dir=NETNS_ETC_DIR):
    return os.path.join(etc_dir, name, "resolv.conf")


def resolv_content(nameservers):
    return RESOLV_MARKER + "\n" + "".join("nameserver %s\n" % ns for ns in nameservers)


def _read_file(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def read(nl, name, etc_dir=NETNS_ETC_DIR, read_file=None):
    """Current state of one namespace as a plain dict (the diff's 'before')."""
    if not nl.ns_exists(name):
        return dict(state="absent")
    lo = nl.read(name).link("lo")     # the same read as veth_pair's of this namespace (once per run)
    resolv = (read_file or _read_file)(resolv_path(name, etc_dir))
    servers = None
    if resolv is not None:
        servers = [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver ") and len(ln.split()) > 1]
    return dict(state="present", loopback=bool(lo and lo.up), nameservers=servers,
                owned=bool(lo) and lo.alias == OWNER_ALIAS,
                resolv_managed=bool(resolv and resolv.startswith(RESOLV_MARKER)))


def plan(nl, names, state="present", loopback=True, nameservers=None, etc_dir=NETNS_ETC_DIR, adopt=False,
         readers=None):
    """Every namespace is read and its ownership checked before the first action is planned: a refusal of
    any name leaves all of them untouched. readers: the host's file readers (_engine.HostReaders)."""
    read_file = readers.read_file if readers else _read_file
    p = Plan()
    current = []
    held = {}
    if state == "absent" and hasattr(nl, "sock") and any(nl.ns_exists(n) for n in names):   # (not on records)
        held = _preflight.read_host(nl).uplink_namespaces()
    for i, name in enumerate(names):
        cur = read(nl, name, etc_dir, read_file)
        if name in held:    # deleting it deletes the uplink's twin, and so the uplink
            _preflight.check_uplink("name[%d]" % i, held[name], _preflight.read_host(nl),
                                    "deleted along with network namespace %s, which holds its twin" % name)
        if cur["state"] == "present" and not cur["owned"] and not adopt and \
                not pending(nl, name, nl.read(name).link("lo")):
            raise NotOursError("name[%d]" % i, name, "network namespace",
                               detail="its lo does not carry the alias %s" % OWNER_ALIAS)
        if cur["state"] == "absent" and state == "present":
            (readers.check_free if readers else check_free)("name[%d]" % i, name, os.path.join(nl.run_dir, name))
        current.append(cur)
    for name, cur in zip(names, current):
        p.before[name] = dict((k, val) for k, val in cur.items() if k != "resolv_managed")
        if state == "present":
            after = dict(state="present", loopback=cur.get("loopback", False),
                         nameservers=cur.get("nameservers"), owned=True)
            if cur["state"] == "absent":
                p.add(Action("netns_add", name, "ip netns add %s" % name,
                             creating(name, "lo", _bind(nl.ns_create, name), kind="loopback",
                                      locate=lambda name=name: (1, ns_inode(nl, name)))))
            if not cur.get("owned"):    # a new namespace, or adopt=true
                p.add(Action("link_set", name, "ip -n %s link set lo alias %s" % (name, OWNER_ALIAS),
                             marking(name, "lo", _lo_mark(nl, name))))
            if loopback and not after["loopback"]:
                p.add(Action("link_up", name, "ip -n %s link set lo up" % name, _lo_up(nl, name)))
                after["loopback"] = True
            if nameservers is not None:
                _plan_resolv(p, name, cur, nameservers, etc_dir, read_file)
                after["nameservers"] = list(nameservers) or None
            p.after[name] = after
        else:
            if cur["state"] == "present":
                pids = nl.ns_pids(name)
                if pids:
                    p.warn("namespace %s still holds processes %s: it is removed from %s but lives on until "
                           "they exit" % (name, ", ".join(str(x) for x in pids[:10]), nl.run_dir))
                p.add(Action("netns_del", name, "ip netns delete %s" % name,
                             _bind(_delete, nl, name)))
            if cur.get("resolv_managed") or (cur["state"] == "absent"
                                             and _is_ours(resolv_path(name, etc_dir), read_file)):
                p.add(Action("file_del", name, "rm %s" % resolv_path(name, etc_dir),
                             _bind(_remove_resolv, name, etc_dir)))
                _hosttools.need_place(p, resolv_path(name, etc_dir), "to remove the resolv.conf of namespace %s"
                                      % name)
            p.after[name] = dict(state="absent")
    return p


def check_free(field, name, path):
    """Nothing but a namespace may sit where `ip netns add` mounts one: a leftover plain file, a directory or
    a symlink at /run/netns/NAME makes the creation fail with "File exists" after earlier writes."""
    if not os.path.lexists(path):
        return
    what = ("a symlink" if os.path.islink(path) else "a directory" if os.path.isdir(path)
            else "a plain file" if os.path.isfile(path) else "a special file")
    raise StateError("%s=%s: %s exists and is %s, not a network namespace (nothing is mounted on it); refusing "
                     "before any change: `ip netns add %s` would fail with \"File exists\". If it is a leftover, "
                     "remove it (rm %s) and run again" % (field, name, path, what, name, path))


def _delete(nl, name):
    nl.ns_delete(name)
    unpend(name, "lo")


def _is_ours(path, read_file=None):
    text = (read_file or _read_file)(path)
    return bool(text and text.startswith(RESOLV_MARKER))


def _plan_resolv(p, name, cur, nameservers, etc_dir, read_file=None):
    path = resolv_path(name, etc_dir)
    current = (read_file or _read_file)(path)
    if nameservers:
        want = resolv_content(nameservers)
        if current != want:
            p.add(Action("file_write", name, "printf %r > %s" % (want, path), _bind(_write, path, want)))
            _hosttools.need_place(p, path, "to write the nameservers of namespace %s" % name)
    elif current is not None:
        p.add(Action("file_del", name, "rm %s" % path, _bind(_remove_resolv, name, etc_dir)))
        _hosttools.need_place(p, path, "to remove the resolv.conf of namespace %s" % name)


def _bind(fn, *args):
    return lambda: fn(*args)


def _lo_up(nl, name):
    return lambda: nl.writer(name).link_set(1, up=True)


def _lo_mark(nl, name):
    return lambda: nl.writer(name).link_set(1, alias=OWNER_ALIAS)


def _write(path, content):
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d, 0o755)
    tmp = path + ".netplumb-tmp"
    with open(tmp, "w") as fh:
        fh.write(content)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def _remove_resolv(name, etc_dir):
    path = resolv_path(name, etc_dir)
    if os.path.exists(path):
        os.unlink(path)
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass
