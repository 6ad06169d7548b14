# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Netlink access through pyroute2 (0.7.x and 0.9.x), namespaces entered in-process.

* One IPRoute socket per network namespace, opened by setns() of the calling thread around the socket's
  creation: no helper process per namespace (pyroute2 0.9 forks one for IPRoute(netns=...)).
* State is read with one dump of links, addresses and routes per namespace, into small records.
* Namespaces are created and deleted the way `ip netns add/delete` does it (a bind mount of the namespace
  file under /run/netns, /run/netns itself a shared mount), so `ip netns` sees ours and we see its.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import ctypes
import ctypes.util
import errno
import importlib.util
import ipaddress
import os
import socket
import sys
import traceback

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError


def _import_iproute():
    """pyroute2's IPRoute class, without paying for pyroute2/__init__.py when nothing has imported pyroute2 yet.

    The package body imports every API pyroute2 has (0.7 loads all of its entry points: NDB, IPDB, asyncio,
    unittest.mock, ...): about 0.1 s of each module process, plus the same again to tear it down at exit, for
    nothing we use. So the package module is created from its spec without running the body, and only
    pyroute2.iproute.linux (where IPRoute lives in 0.7 and 0.9) is imported under it. The first lookup of a
    name the body would have defined (``pyroute2.NetlinkError``, ``from pyroute2 import NDB``) runs the body
    then, so the package still behaves as a plain ``import pyroute2`` for any other user of the process.
    Anything unexpected: undo and import the plain way.
    """
    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise ImportError("No module named 'pyroute2'", name="pyroute2")
        pkg = importlib.util.module_from_spec(spec)

        def complete(name):
            # submodules are imported by the import system when this raises (from pyroute2 import config)
            if name.startswith("__") and name.endswith("__") and name != "__version__" and name != "__all__" \
                    or importlib.util.find_spec("pyroute2." + name) is not None:
                raise AttributeError(name)
            pkg.__dict__.pop("__getattr__", None)
            spec.loader.exec_module(pkg)
            return getattr(pkg, name)

        pkg.__getattr__ = complete
        sys.modules["pyroute2"] = pkg
        try:
            from pyroute2.iproute.linux import IPRoute as cls
            return cls
        except Exception:
            for name in [n for n in sys.modules if n == "pyroute2" or n.startswith("pyroute2.")]:
                del sys.modules[name]
    from pyroute2 import IPRoute as cls
    return cls


try:
    IPRoute = _import_iproute()
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None
except ImportError:  # reported by the module through missing_required_lib
    IPRoute = None
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

NETNS_RUN_DIR = "/run/netns"
MAX_NS_SOCKETS = 16
NETNS_ETC_DIR = "/etc/netns"
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_BIND = 4096
MS_SHARED = 1 << 20
MNT_DETACH = 2
IFF_UP = 1
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def setns(fd):
    _check(_c().setns(fd, CLONE_NEWNET), "setns")


class Link:
    """A link as read from the kernel."""

    __slots__ = ("index", "name", "kind", "master", "mtu", "up", "alias", "peer_index", "peer_netnsid", "stp",
                 "hairpin", "isolated", "nf_call_iptables")

    def __init__(self, index, name, kind, master, mtu, up, alias, peer_index, peer_netnsid, stp, hairpin=None,
                 isolated=None, nf_call_iptables=None):
        self.index = index
        self.name = name
        self.kind = kind
        self.master = master
        self.mtu = mtu
        self.up = up
        self.alias = alias
        self.peer_index = peer_index
        self.peer_netnsid = peer_netnsid
        self.stp = stp
        self.hairpin = hairpin
        self.isolated = isolated                    # bridge port isolation (bridge ports only)
        self.nf_call_iptables = nf_call_iptables    # the bridge's own br_netfilter switch (bridges only)

    @classmethod
    def from_msg(cls, msg):
        kind, stp, hairpin = None, None, None
        isolated, nf_call = None, None
        attrs = attr_map(msg)
        info = attrs.get("IFLA_LINKINFO")
        if info is not None:
            kind = info.get_attr("IFLA_INFO_KIND")
            data = info.get_attr("IFLA_INFO_DATA")
            if kind == "bridge" and data is not None and hasattr(data, "get_attr"):
                stp = data.get_attr("IFLA_BR_STP_STATE")
                nf_call = data.get_attr("IFLA_BR_NF_CALL_IPTABLES")
            slave = info.get_attr("IFLA_INFO_SLAVE_DATA")
            if info.get_attr("IFLA_INFO_SLAVE_KIND") == "bridge" and slave is not None and hasattr(slave, "get_attr"):
                hairpin = bool(slave.get_attr("IFLA_BRPORT_MODE"))
                isolated = bool(slave.get_attr("IFLA_BRPORT_ISOLATED"))
        if kind is None and attrs.get("IFLA_IFNAME") == "lo":
            kind = "loopback"
        return cls(msg["index"], attrs.get("IFLA_IFNAME"), kind, attrs.get("IFLA_MASTER"),
                   attrs.get("IFLA_MTU"), bool(msg["flags"] & IFF_UP), attrs.get("IFLA_IFALIAS"),
                   attrs.get("IFLA_LINK"), attrs.get("IFLA_LINK_NETNSID"), stp, hairpin, isolated, nf_call)


DUMP_TRIES = 10
NLM_F_DUMP_INTR = 0x10


def dump(fn, *args, **kwargs):
    """A netlink dump as a list, taken again when the kernel marks it interrupted (NLM_F_DUMP_INTR: the table
    changed while it was read - an IPv6 link-local address the kernel adds on its own after a link comes up, a
    namespace being torn down): a consistent snapshot, or the error after DUMP_TRIES tries."""
    for attempt in range(DUMP_TRIES):
        try:
            out = list(fn(*args, **kwargs))
        except Exception as exc:  # pyroute2's NetlinkDumpInterrupted, by name (its module moved between versions)
            if type(exc).__name__ != "NetlinkDumpInterrupted" or attempt == DUMP_TRIES - 1:
                raise
            continue
        if not _interrupted(out):
            return out
    raise StateError("a netlink dump was interrupted %d times in a row (the kernel's tables kept changing)"
                     % DUMP_TRIES)


def _interrupted(msgs):
    """True when the kernel flagged a message of the dump NLM_F_DUMP_INTR: pyroute2 0.7 raises then, 0.9 hands
    the messages over (tests/unit/test_nl_recorded.py)."""
    for msg in msgs:
        try:
            if msg["header"]["flags"] & NLM_F_DUMP_INTR:
                return True
        except (KeyError, TypeError):
            return False
    return False


class attr_map(object):
    """A message's attributes by name, the first of each (what msg.get_attr gives), indexed in one pass instead
    of one scan of the list per attribute. Values are decoded only when asked for (pyroute2 0.7 decodes an
    attribute lazily: decoding all of a link's would cost more than the scans saved)."""

    __slots__ = ("slots",)

    def __init__(self, msg):
        self.slots = {}
        for slot in msg["attrs"]:
            if slot[0] not in self.slots:
                self.slots[slot[0]] = slot

    def get(self, name):
        slot = self.slots.get(name)
        return None if slot is None else slot[1]


class NsState:
    """Everything we compare in one network namespace: links, global addresses, default routes."""

    def __init__(self, ns, links, addrs, routes, route_protos=None):
        self.ns = ns
        self.links = dict((lk.name, lk) for lk in links)
        self.by_index = dict((lk.index, lk) for lk in links)
        self.addrs = addrs          # ifindex -> [ip_interface] (global scope only)
        self.routes = routes        # family -> default route gateway (main table) or None
        self.route_protos = route_protos or {}  # family -> protocol of that default route (151: ours)

    @classmethod
    def empty(cls, ns):
        return cls(ns, [], {}, {})

    def link(self, name):
        return self.links.get(name)

    def addresses(self, name):
        lk = self.links.get(name)
        return list(self.addrs.get(lk.index, [])) if lk else []

    def name_of(self, index):
        lk = self.by_index.get(index)
        return lk.name if lk else None


class Netlink:
    """Sockets per namespace plus namespace files. Use as a context manager; close() releases all."""

    def __init__(self, run_dir=NETNS_RUN_DIR):
        if not HAS_PYROUTE2:
            raise StateError("pyroute2 is required on the managed host")
        self.run_dir = run_dir
        self._socks = collections.OrderedDict()     # ns -> IPRoute, least recently used first
        self._indexes = {}          # (ns, name) -> ifindex found by index(), until forget()
        self._memo = None           # while frozen(): what was read, by key (nothing is written meanwhile)
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for sock in self._socks.values():
            try:
                sock.close()
            except Exception:
                pass
        self._socks = collections.OrderedDict()
        if self._home is not None:
            os.close(self._home)
            self._home = None

    # --- namespaces -----------------------------------------------------------------------------------
    def ns_path(self, name):
        return os.path.join(self.run_dir, name)

    def ns_exists(self, name):
        return os.path.isfile(self.ns_path(name)) and _is_nsfs(self.ns_path(name))

    def ns_list(self):
        try:
            names = os.listdir(self.run_dir)
        except OSError:
            return []
        return sorted(n for n in names if _is_nsfs(os.path.join(self.run_dir, n)))

    def sock(self, ns=None):
        """IPRoute socket living in namespace ns (None: the namespace we run in)."""
        if ns in self._socks:
            self._socks.move_to_end(ns)
            return self._socks[ns]
        # bounded descriptors: a batch over thousands of namespaces keeps at most MAX_NS_SOCKETS sockets open
        # (about 4 descriptors each), closing the least recently used; the host's own socket is kept
        while sum(1 for k in self._socks if k is not None) >= MAX_NS_SOCKETS:
            old = next(k for k in self._socks if k is not None)
            try:
                self._socks.pop(old).close()
            except Exception:
                pass
        if ns is None:
            sock = IPRoute()
        else:
            fd = self._open_ns(ns)
            try:
                setns(fd)
                try:
                    sock = IPRoute()
                finally:
                    setns(self._home)
            finally:
                os.close(fd)
        self._socks[ns] = sock
        return sock

    def _open_ns(self, ns):
        path = self.ns_path(ns)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise StateError("network namespace %r does not exist (%s)" % (ns, path))
            raise
        if not _is_nsfs(path):
            os.close(fd)
            raise StateError("%s is not a network namespace (no namespace mounted there)" % path)
        return fd

    def with_ns_fd(self, ns, fn):
        fd = self._open_ns(ns)
        try:
            return fn(fd)
        finally:
            os.close(fd)

    def ns_create(self, name):
        """Like `ip netns add NAME`."""
        _ensure_shared_run_dir(self.run_dir)
        path = self.ns_path(name)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
        os.close(fd)
        try:
            _check(_c().unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                _check(_c().mount(b"/proc/thread-self/ns/net", path.encode(), None, MS_BIND, None),
                       "bind mount of the new namespace on %s" % path)
            finally:
                setns(self._home)
        except Exception:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise

    def ns_delete(self, name):
        """Like `ip netns delete NAME`: the namespace lives on while processes are inside it."""
        sock = self._socks.pop(name, None)
        if sock is not None:
            sock.close()
        self.forget()
        path = self.ns_path(name)
        _c().umount2(path.encode(), MNT_DETACH)
        os.unlink(path)

    def ns_pids(self, name):
        """PIDs of processes whose network namespace is NAME."""
        try:
            st = os.stat(self.ns_path(name))
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                ns = os.stat("/proc/%s/ns/net" % entry)
            except OSError:
                continue
            if ns.st_ino == st.st_ino and ns.st_dev == st.st_dev:
                pids.append(int(entry))
        return pids

    # --- state ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def frozen(self):
        """While no write can happen (planning, a check-mode run of many calls), each state is read once:
        read() and memo() remember what they read until the block ends. Nothing in the block may write."""
        outer = self._memo
        if outer is None:
            self._memo = {}
        try:
            yield self
        finally:
            if outer is None:
                self._memo = None

    def memo(self, key, fn):
        """fn(), remembered under key while frozen (each call otherwise)."""
        if self._memo is None:
            return fn()
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def peek(self, key):
        """What memo() remembers under key, or None (nothing is read)."""
        return None if self._memo is None else self._memo.get(key)

    def read(self, ns=None):
        """One dump each of links, addresses and routes of namespace ns (once per frozen() block)."""
        return self.memo(("read", ns), lambda: self._read(ns))

    def _read(self, ns):
        sock = self.sock(ns)
        links = [Link.from_msg(m) for m in dump(sock.get_links)]
        for lk in links:    # what a read found, index() need not look up again (until forget())
            self._indexes[(ns, lk.name)] = lk.index
        addrs = {}
        for msg in dump(sock.get_addr):
            if msg["scope"] != RT_SCOPE_UNIVERSE:
                continue
            attrs = attr_map(msg)
            ip = attrs.get("IFA_LOCAL") or attrs.get("IFA_ADDRESS")
            if ip is None:
                continue
            addrs.setdefault(msg["index"], []).append(
                ipaddress.ip_interface(u"%s/%d" % (ip, msg["prefixlen"])))
        routes = {}
        protos = {}
        for msg in dump(sock.get_routes, table=RT_TABLE_MAIN):
            if msg["dst_len"] != 0:
                continue
            attrs = attr_map(msg)
            if attrs.get("RTA_GATEWAY") is None:
                continue
            if attrs.get("RTA_TABLE") not in (None, RT_TABLE_MAIN) and msg["table"] != RT_TABLE_MAIN:
                continue
            fam = 4 if msg["family"] == socket.AF_INET else 6
            routes[fam] = ipaddress.ip_address(u"%s" % attrs.get("RTA_GATEWAY"))
            protos[fam] = msg["proto"]
        return NsState(ns, links, addrs, routes, protos)

    def index(self, ns, name):
        """ifindex of link NAME in namespace ns, looked up when an action runs. A plan's actions name the same
        links again and again (master, hairpin, alias, up of one veth), so a found index is remembered until
        forget(): indexes stay valid while no link is deleted or moved, and the actions that delete or move
        links call forget()."""
        key = (ns, name)
        if key in self._indexes:
            return self._indexes[key]
        found = self.sock(ns).link_lookup(ifname=name)
        if not found:
            raise StateError("link %s not found%s" % (name, "" if ns is None else " in namespace %s" % ns))
        self._indexes[key] = found[0]
        return found[0]

    def forget(self):
        """Drop the remembered indexes (a link was deleted or moved, a namespace deleted)."""
        self._indexes = {}


def _is_nsfs(path):
    """True when a namespace is bind-mounted at path (its inode lives on nsfs, not on the directory's fs)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path))
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def _ensure_shared_run_dir(run_dir):
    """What `ip netns add` does once: /run/netns exists and is a shared mount of itself."""
    if not os.path.isdir(run_dir):
        os.makedirs(run_dir, 0o755)
    libc = _c()
    if libc.mount(b"none", run_dir.encode(), None, MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        _check(-1, "mount --make-shared %s" % run_dir)
    _check(libc.mount(run_dir.encode(), run_dir.encode(), b"none", MS_BIND | MS_REC, None),
           "mount --bind %s %s" % (run_dir, run_dir))
    _check(libc.mount(b"none", run_dir.encode(), None, MS_SHARED | MS_REC, None),
           "mount --make-shared %s" % run_dir)
