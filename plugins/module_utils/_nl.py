# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Netlink access through pyroute2 (0.7.x and 0.9.x), namespaces entered in-process.

* One IPRoute socket per network namespace, opened by setns() of the calling thread around the socket's
  creation: no helper process per namespace (pyroute2 0.9 forks one for IPRoute(netns=...)).
* State is read with one dump of links, addresses and routes per namespace, into small records.
* Writes (link set/add, addresses, default routes, index lookups) go through a Writer: a plain NETLINK_ROUTE
  socket whose messages are packed here in the kernel's own layouts (what `ip` sends), one send and one ack per
  request, none of pyroute2's per-request machinery; the same bytes whatever pyroute2's version.
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
import struct
import sys
import traceback

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError


_STUB = None    # the pyroute2 package module made by _stub_package (its body not run yet)


def _stub_package():
    """The pyroute2 package in sys.modules without paying for pyroute2/__init__.py.

    The package body imports every API pyroute2 has (0.7 loads all of its entry points: NDB, IPDB, asyncio,
    unittest.mock, ...): about 0.1 s of each module process, plus the same again to tear it down at exit, for
    nothing we use. So the package module is created from its spec without running the body; submodules
    (pyroute2.iproute.linux, pyroute2.netlink.exceptions) import under it. The first lookup of a name the body
    would have defined (``pyroute2.NetlinkError``, ``from pyroute2 import NDB``) runs the body then, so the
    package still behaves as a plain ``import pyroute2`` for any other user of the process. Returns the stub,
    or None when pyroute2 was imported otherwise already.
    """
    global _STUB
    pkg = sys.modules.get("pyroute2")
    if pkg is not None:
        return pkg if pkg is _STUB else None
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
    _STUB = pkg
    return pkg


def _drop_stub():
    global _STUB
    if sys.modules.get("pyroute2") is _STUB:
        for name in [n for n in sys.modules if n == "pyroute2" or n.startswith("pyroute2.")]:
            del sys.modules[name]
    _STUB = None


def _import_iproute():
    """pyroute2's IPRoute class: pyroute2.iproute.linux (where it lives in 0.7 and 0.9) imported under the
    stub package (see _stub_package). Anything unexpected: undo and import the plain way."""
    if _stub_package() is not None:
        try:
            from pyroute2.iproute.linux import IPRoute as cls
            return cls
        except Exception:
            _drop_stub()
    from pyroute2 import IPRoute as cls
    return cls


def _detect_pyroute2():
    """Whether pyroute2 is there, cheaply: its package found, with the module IPRoute lives in (nothing of it
    imported: pyroute2.iproute and its asyncio cost ~0.2 s of CPU a process, and a run that reads only, through
    Writers, never needs it). Raises ImportError like the import would."""
    if "pyroute2.iproute.linux" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None:
        raise ImportError("No module named 'pyroute2'", name="pyroute2")
    for loc in spec.submodule_search_locations or ():
        if os.path.isfile(os.path.join(loc, "iproute", "linux.py")):
            return
    raise ImportError("pyroute2 at %s has no iproute/linux.py" % (spec.origin,), name="pyroute2.iproute.linux")


try:
    _detect_pyroute2()
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None
except ImportError:  # reported by the module through missing_required_lib
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()


def __getattr__(name):
    """``_nl.IPRoute``: pyroute2's class, imported on first use (module attribute lookups land here only while
    the name is not set: a test's monkeypatch.setattr(_nl, "IPRoute", Fake) wins)."""
    if name == "IPRoute":
        return iproute_class()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def iproute_class():
    """pyroute2's IPRoute (or what a test set as _nl.IPRoute), imported on first call; None without pyroute2.
    A pyroute2 that is there but does not import raises StateError naming the import's error."""
    cls = globals().get("IPRoute")
    if cls is not None or not HAS_PYROUTE2:
        return cls
    try:
        cls = _import_iproute()
    except Exception as exc:
        raise StateError("pyroute2 is installed but does not import: %s: %s" % (type(exc).__name__, exc))
    globals()["IPRoute"] = cls
    return cls


def require_pyroute2():
    """Import IPRoute now (before a run's first write: a broken pyroute2 fails the run before it writes, not
    half-way). Nothing without pyroute2 (a job that does not need netlink)."""
    if HAS_PYROUTE2:
        iproute_class()


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
MAX_NS_WRITERS = 64

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


# --- writes on a plain netlink socket ------------------------------------------------------------------------
# The kernel's message layouts (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h): what
# `ip link/addr/route` sends for the commands our actions print.
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
NLM_F_DUMP = 0x300
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_GETNSID = 90
RTM_GETNEXTHOP = 106
NHA_ID = 1
NHA_GROUP = 2
NHA_BLACKHOLE = 4
NHA_OIF = 5
NHA_GATEWAY = 6
NETNSA_NSID = 1
NETNSA_FD = 3
_RTGENMSG = b"\0\0\0\0"       # struct rtgenmsg (family AF_UNSPEC), padded to 4 bytes
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_LINK = 5
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
IFLA_BR_STP_STATE = 5
IFLA_BR_NF_CALL_IPTABLES = 36
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4
IFLA_BRPORT_ISOLATED = 33
IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_GATEWAY = 5
RTA_TABLE = 15
RTN_UNICAST = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3
_NLMSGHDR = struct.Struct("=IHHII")       # length, type, flags, sequence, port
_IFINFOMSG = struct.Struct("=BxHiII")     # family, (pad), type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")      # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")      # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NLATTR = struct.Struct("=HH")            # length, type
_NHMSG = struct.Struct("=BBBBI")          # family, scope, protocol, (reserved), flags
_NH_GRP = struct.Struct("=IBBH")          # struct nexthop_grp: id, weight, (reserved)


def nla(kind, data):
    """One netlink attribute: header, data, padding to 4 bytes."""
    size = _NLATTR.size + len(data)
    return _NLATTR.pack(size, kind) + data + b"\0" * (-size % 4)


def nla_u32(kind, value):
    return nla(kind, struct.pack("=I", value))


def nla_str(kind, text, nul=True):
    return nla(kind, text.encode("utf-8") + (b"\0" if nul else b""))


def ifinfomsg(index=0, flags=0, change=0, family=0):
    return _IFINFOMSG.pack(family, 0, index, flags, change)


def link_msg(index=0, up=None, mtu=None, alias=None, master=None, name=None, ns_fd=None, linkinfo=None):
    """An ifinfomsg with the attributes given: up True/False sets IFF_UP (change mask IFF_UP), None leaves it."""
    body = ifinfomsg(index, IFF_UP if up else 0, 0 if up is None else IFF_UP)
    if name is not None:
        body += nla_str(IFLA_IFNAME, name)
    if mtu is not None:
        body += nla_u32(IFLA_MTU, mtu)
    if master is not None:
        body += nla_u32(IFLA_MASTER, master)
    if ns_fd is not None:
        body += nla_u32(IFLA_NET_NS_FD, ns_fd)
    if alias is not None:
        body += nla_str(IFLA_IFALIAS, alias, nul=False)     # as `ip link set ... alias` sends it
    if linkinfo is not None:
        body += nla(IFLA_LINKINFO, linkinfo)
    return body


def veth_linkinfo(peer_body):
    return nla_str(IFLA_INFO_KIND, "veth", nul=False) + nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, peer_body))


def brport_linkinfo(mode):
    """`type bridge_slave hairpin on|off`: IFLA_INFO_SLAVE_DATA of a bridge port."""
    return nla_str(IFLA_INFO_SLAVE_KIND, "bridge", nul=False) + \
        nla(IFLA_INFO_SLAVE_DATA, nla(IFLA_BRPORT_MODE, struct.pack("=B", mode)))


def addr_msg(index, iface):
    """ifaddrmsg of `ip addr add|del ADDR/LEN dev DEV`: local and address both the address, scope global."""
    packed = iface.ip.packed
    fam = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    return _IFADDRMSG.pack(fam, iface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index) + \
        nla(IFA_LOCAL, packed) + nla(IFA_ADDRESS, packed)


def default_route_msg(gateway, proto):
    """rtmsg of `ip route replace default via GW proto P`: main table, unicast, scope universe."""
    fam = socket.AF_INET if gateway.version == 4 else socket.AF_INET6
    return _RTMSG.pack(fam, 0, 0, 0, RT_TABLE_MAIN, proto, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) + \
        nla(RTA_GATEWAY, gateway.packed)


def netlink_error(code):
    """The exception pyroute2 raises for a netlink error (its .code is the errno), so callers see one kind."""
    try:
        try:
            _stub_package()     # pyroute2.netlink.exceptions alone, not the package's body nor IPRoute
        except ImportError:
            pass
        from pyroute2.netlink.exceptions import NetlinkError
        return NetlinkError(code, os.strerror(code))
    except ImportError:     # pragma: no cover - pyroute2 is there whenever a Writer is
        return OSError(code, os.strerror(code))


def attrs(data, offset):
    """{type: payload} of the attributes from offset on (the first of each type; the nested flag dropped)."""
    out = {}
    end = len(data)
    while offset + 4 <= end:
        size, kind = _NLATTR.unpack_from(data, offset)
        if size < 4:
            break
        kind &= 0x3fff
        if kind not in out:
            out[kind] = data[offset + 4:offset + size]
        offset += (size + 3) & ~3
    return out


def _str(raw):
    return None if raw is None else raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _u32(raw):
    return None if raw is None or len(raw) < 4 else struct.unpack_from("=I", raw)[0]


def _s32(raw):
    return None if raw is None or len(raw) < 4 else struct.unpack_from("=i", raw)[0]


def _u8(raw):
    return None if not raw else struct.unpack_from("=B", raw)[0]


def parse_link(payload):
    """A Link from an RTM_NEWLINK payload: only the attributes the planners read are decoded (what
    Link.from_msg takes from pyroute2's message)."""
    dummy, dummy2, index, flags, dummy3 = _IFINFOMSG.unpack_from(payload)
    a = attrs(payload, _IFINFOMSG.size)
    name = _str(a.get(IFLA_IFNAME))
    kind = stp = hairpin = isolated = nf_call = None
    info = a.get(IFLA_LINKINFO)
    if info is not None:
        i = attrs(info, 0)
        kind = _str(i.get(IFLA_INFO_KIND))
        data = i.get(IFLA_INFO_DATA)
        if kind == "bridge" and data is not None:
            d = attrs(data, 0)
            stp = _u32(d.get(IFLA_BR_STP_STATE))
            nf_call = _u8(d.get(IFLA_BR_NF_CALL_IPTABLES))
        slave = i.get(IFLA_INFO_SLAVE_DATA)
        if _str(i.get(IFLA_INFO_SLAVE_KIND)) == "bridge" and slave is not None:
            d = attrs(slave, 0)
            hairpin = bool(_u8(d.get(IFLA_BRPORT_MODE)))
            isolated = bool(_u8(d.get(IFLA_BRPORT_ISOLATED)))
    if kind is None and name == "lo":
        kind = "loopback"
    return Link(index, name, kind, _u32(a.get(IFLA_MASTER)), _u32(a.get(IFLA_MTU)), bool(flags & IFF_UP),
                _str(a.get(IFLA_IFALIAS)), _u32(a.get(IFLA_LINK)), _s32(a.get(IFLA_LINK_NETNSID)), stp, hairpin,
                isolated, nf_call)


def parse_global_addr(payload):
    """(ifindex, ip_interface) of an RTM_NEWADDR payload of global scope, else None."""
    family, prefixlen, dummy, scope, index = _IFADDRMSG.unpack_from(payload)
    if scope != RT_SCOPE_UNIVERSE:
        return None
    a = attrs(payload, _IFADDRMSG.size)
    raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
    if raw is None or len(raw) not in (4, 16):
        return None
    return index, ipaddress.ip_interface(u"%s/%d" % (ipaddress.ip_address(bytes(raw)), prefixlen))


def parse_default_route(payload):
    """(family 4|6, gateway, protocol) of an RTM_NEWROUTE payload that is a default route via a gateway in
    the main table, else None."""
    family, dst_len, dummy, dummy2, table, proto, dummy3, dummy4, dummy5 = _RTMSG.unpack_from(payload)
    if dst_len != 0 or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    a = attrs(payload, _RTMSG.size)
    gw = a.get(RTA_GATEWAY)
    if gw is None or len(gw) not in (4, 16):
        return None
    if _u32(a.get(RTA_TABLE)) not in (None, RT_TABLE_MAIN) and table != RT_TABLE_MAIN:
        return None
    return (4 if family == socket.AF_INET else 6), ipaddress.ip_address(bytes(gw)), proto


_RTA_KINDS = dict(RTA_DST=(1, "ip"), RTA_OIF=(4, "u32"), RTA_GATEWAY=(5, "ip"), RTA_PRIORITY=(6, "u32"),
                  RTA_MULTIPATH=(9, "hops"),
                  RTA_TABLE=(15, "u32"), RTA_NH_ID=(30, "u32"))
_IFA_KINDS = dict(IFA_ADDRESS=(1, "ip"), IFA_LOCAL=(2, "ip"))
_RTNEXTHOP = struct.Struct("=HBBi")     # length, flags, hops, ifindex


def parse_nexthop(payload):
    """(id, oif, gateway, [member ids], blackhole) of an RTM_NEWNEXTHOP message (what `ip nexthop` shows and
    _hostmodel.Nexthop keeps; gateway: the raw 4 or 16 address bytes), or None without NHA_ID."""
    a = attrs(payload, _NHMSG.size)
    nhid = _u32(a.get(NHA_ID))
    if nhid is None:
        return None
    raw = a.get(NHA_GROUP) or b""
    group = [_NH_GRP.unpack_from(raw, i)[0] for i in range(0, len(raw) - len(raw) % _NH_GRP.size, _NH_GRP.size)]
    return nhid, _u32(a.get(NHA_OIF)), a.get(NHA_GATEWAY), group, NHA_BLACKHOLE in a


class MsgView(object):
    """A message (or a multipath hop) as pyroute2 would hand it to a reader: header fields by [name], the
    attributes the readers ask for by get_attr(name), each decoded only when asked for."""

    __slots__ = ("fields", "slots", "kinds")

    def __init__(self, fields, slots, kinds):
        self.fields, self.slots, self.kinds = fields, slots, kinds

    def __getitem__(self, name):
        return self.fields[name]

    def get(self, name, default=None):
        return self.fields.get(name, default)

    def get_attr(self, name, default=None):
        kind = self.kinds.get(name)
        raw = None if kind is None else self.slots.get(kind[0])
        if raw is None:
            return default
        if kind[1] == "u32":
            return _u32(raw)
        if kind[1] == "ip":
            return str(ipaddress.ip_address(bytes(raw))) if len(raw) in (4, 16) else default
        hops, offset = [], 0
        while offset + _RTNEXTHOP.size <= len(raw):
            size, flags, nhops, index = _RTNEXTHOP.unpack_from(raw, offset)
            if size < _RTNEXTHOP.size:
                break
            hops.append(MsgView(dict(flags=flags, hops=nhops, oif=index),
                                attrs(raw[offset:offset + size], _RTNEXTHOP.size), _RTA_KINDS))
            offset += (size + 3) & ~3
        return hops


def route_view(payload):
    return MsgView(dict(zip(("family", "dst_len", "src_len", "tos", "table", "proto", "scope", "type", "flags"),
                            _RTMSG.unpack_from(payload))), attrs(payload, _RTMSG.size), _RTA_KINDS)


def addr_view(payload):
    return MsgView(dict(zip(("family", "prefixlen", "flags", "scope", "index"), _IFADDRMSG.unpack_from(payload))),
                   attrs(payload, _IFADDRMSG.size), _IFA_KINDS)


def state_of(ns, links, addrs, routes):
    """NsState from the payloads of the three dumps."""
    lks = [parse_link(m) for m in links]
    by_index = {}
    for m in addrs:
        got = parse_global_addr(m)
        if got is not None:
            by_index.setdefault(got[0], []).append(got[1])
    gws, protos = {}, {}
    for m in routes:
        got = parse_default_route(m)
        if got is not None:
            gws[got[0]] = got[1]
            protos[got[0]] = got[2]
    return NsState(ns, lks, by_index, gws, protos)


def _answers(data, seq):
    """(type, flags, payload) of each message of a received buffer that answers request seq (a late answer to an
    earlier request that raised is skipped)."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, rtype, flags, rseq, dummy = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        if rseq == seq:
            yield rtype, flags, data[offset + _NLMSGHDR.size:offset + length]
        offset += (length + 3) & ~3


def _error_code(payload):
    """The errno of an NLMSG_ERROR (0: an ack)."""
    return -struct.unpack_from("=i", payload)[0]


class Writer:
    """A plain NETLINK_ROUTE socket of one namespace for writes and index lookups: each request one send and
    one ack (or the kernel's reply), matched by sequence number. One descriptor, nothing else."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            self.sock.bind((0, 0))
        except Exception:
            self.sock.close()
            raise
        self.seq = 0
        self.sent = 0
        self.strict()

    def close(self):
        self.sock.close()

    def _send(self, mtype, body, flags):
        """Send one request; return its sequence number."""
        self.seq += 1
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), mtype, flags | NLM_F_REQUEST, self.seq, 0) + body)
        self.sent += 1
        return self.seq

    def request(self, mtype, body, flags=NLM_F_ACK):
        """Send one request; return the payload of the kernel's reply (a GET), or None for an ack. A negative
        ack raises NetlinkError with the errno as its code."""
        seq = self._send(mtype, body, flags)
        while True:
            for rtype, dummy, payload in _answers(self.sock.recv(65536), seq):
                if rtype == NLMSG_ERROR:
                    code = _error_code(payload)
                    if code:
                        raise netlink_error(code)
                    return None
                return payload

    def dump(self, mtype, body):
        """The payloads of a dump's messages (bytes, netlink header stripped), taken again when the kernel flags
        it interrupted (see dump() below)."""
        for dummy in range(DUMP_TRIES):
            seq = self._send(mtype, body, NLM_F_DUMP)
            out, interrupted, done = [], False, False
            while not done:
                data, dummy2, mflags, dummy3 = self.sock.recvmsg(65536)
                if mflags & socket.MSG_TRUNC:
                    raise StateError("a netlink dump message did not fit in 64 KiB")
                for rtype, flags, payload in _answers(data, seq):
                    if flags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if rtype == NLMSG_DONE:
                        done = True
                        break
                    if rtype == NLMSG_ERROR:
                        code = _error_code(payload)
                        if code:
                            raise netlink_error(code)
                        done = True
                        break
                    out.append(payload)
            if not interrupted:
                return out
        raise StateError("a netlink dump was interrupted %d times in a row (the kernel's tables kept changing)"
                         % DUMP_TRIES)

    def dump_links(self):
        return self.dump(RTM_GETLINK, ifinfomsg() + nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS))

    def dump_addrs(self):
        return self.dump(RTM_GETADDR, _IFADDRMSG.pack(0, 0, 0, 0, 0))

    def addresses(self):
        """Every address, as MsgViews (what _preflight reads of them)."""
        return [addr_view(m) for m in self.dump_addrs()]

    def routes(self, family):
        """Every route of one family, of every table, as MsgViews."""
        return [route_view(m) for m in self.dump(RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0))]

    def dump_routes(self):
        """The main table's routes (filtered by the kernel where it checks dump requests strictly, and here)."""
        return self.dump(RTM_GETROUTE, _RTMSG.pack(0, 0, 0, 0, RT_TABLE_MAIN, 0, 0, 0, 0))

    def nexthops(self):
        """parse_nexthop() of every nexthop object (`ip nexthop`), [] on a kernel without them (before 5.3 the
        dump answers EINVAL or EOPNOTSUPP)."""
        try:
            msgs = self.dump(RTM_GETNEXTHOP, _NHMSG.pack(0, 0, 0, 0, 0))
        except Exception as exc:
            if getattr(exc, "code", None) in (errno.EINVAL, errno.EOPNOTSUPP):
                return []
            raise
        return [nh for nh in (parse_nexthop(m) for m in msgs) if nh is not None]

    def strict(self):
        """Ask the kernel to filter dumps by what their request names (Linux 4.20+; older ones dump all)."""
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        except OSError:
            pass

    def netnsid(self, fd):
        """The nsid this namespace gives the namespace of descriptor fd (`ip netns list-id`), or None."""
        reply = self.request(RTM_GETNSID, _RTGENMSG + nla_u32(NETNSA_FD, fd), 0)
        nsid = _s32(attrs(reply, len(_RTGENMSG)).get(NETNSA_NSID)) if reply is not None else None
        return None if nsid is None or nsid < 0 else nsid

    def link_set(self, index, **kwargs):
        self.request(RTM_NEWLINK, link_msg(index, **kwargs))

    def link_add(self, body):
        self.request(RTM_NEWLINK, body, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)

    def addr(self, verb, index, iface):
        if verb == "add":
            self.request(RTM_NEWADDR, addr_msg(index, iface), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        else:
            self.request(RTM_DELADDR, addr_msg(index, iface))

    def default_route(self, gateway, proto):
        self.request(RTM_NEWROUTE, default_route_msg(gateway, proto), NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE)

    def lookup(self, name):
        """ifindex of link NAME, or None (`ip link show NAME`: a GET by name, answered without statistics)."""
        try:
            reply = self.request(RTM_GETLINK, ifinfomsg() + nla_str(IFLA_IFNAME, name) +
                                 nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS), 0)
        except Exception as exc:
            if getattr(exc, "code", None) == errno.ENODEV:
                return None
            raise
        return _IFINFOMSG.unpack_from(reply)[2]


class Netlink:
    """Sockets per namespace plus namespace files. Use as a context manager; close() releases all."""

    def __init__(self, run_dir=NETNS_RUN_DIR):
        if not HAS_PYROUTE2:
            raise StateError("pyroute2 is required on the managed host")
        self.run_dir = run_dir
        self._socks = collections.OrderedDict()     # ns -> IPRoute, least recently used first
        self._writers = collections.OrderedDict()   # ns -> Writer, least recently used first
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
        for w in self._writers.values():
            w.close()
        self._writers = collections.OrderedDict()
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
        sock = self._made_in(ns, iproute_class())
        self._socks[ns] = sock
        return sock

    def writer(self, ns=None):
        """The Writer of namespace ns (None: ours): at most MAX_NS_WRITERS open (one descriptor each)."""
        w = self._writers.get(ns)
        if w is not None:
            self._writers.move_to_end(ns)
            return w
        while len(self._writers) - (None in self._writers) >= MAX_NS_WRITERS:
            old = next(k for k in self._writers if k is not None)
            self._writers.pop(old).close()
        w = self._made_in(ns, Writer)
        self._writers[ns] = w
        return w

    def _made_in(self, ns, make):
        """make(), called inside namespace ns (None: ours): a socket it opens belongs to that namespace for good."""
        if ns is None:
            return make()
        fd = self._open_ns(ns)
        try:
            setns(fd)
            try:
                return make()
            finally:
                setns(self._home)
        finally:
            os.close(fd)

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
                try:    # its lo is set up next: the socket opened here spares a setns() for that
                    w = Writer()
                except OSError:
                    w = None
            finally:
                setns(self._home)
            if w is not None:
                self._keep_writer(name, w)
        except Exception:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise

    def _keep_writer(self, ns, w):
        old = self._writers.pop(ns, None)
        if old is not None:
            old.close()
        self._writers[ns] = w
        while len(self._writers) - (None in self._writers) > MAX_NS_WRITERS:
            self._writers.pop(next(k for k in self._writers if k is not None)).close()

    def ns_delete(self, name):
        """Like `ip netns delete NAME`: the namespace lives on while processes are inside it."""
        sock = self._socks.pop(name, None)
        if sock is not None:
            sock.close()
        w = self._writers.pop(name, None)
        if w is not None:
            w.close()
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
        w = self.writer(ns)
        st = state_of(ns, w.dump_links(), w.dump_addrs(), w.dump_routes())
        for lk in st.links.values():    # what a read found, index() need not look up again (until forget())
            self._indexes[(ns, lk.name)] = lk.index
        return st

    def _read_pyroute2(self, ns):
        """The same read through pyroute2's IPRoute (what _read did before; kept to compare in tests)."""
        sock = self.sock(ns)
        links = [Link.from_msg(m) for m in dump(sock.get_links)]
        addrs = {}
        for msg in dump(sock.get_addr):
            if msg["scope"] != RT_SCOPE_UNIVERSE:
                continue
            am = attr_map(msg)
            ip = am.get("IFA_LOCAL") or am.get("IFA_ADDRESS")
            if ip is None:
                continue
            addrs.setdefault(msg["index"], []).append(
                ipaddress.ip_interface(u"%s/%d" % (ip, msg["prefixlen"])))
        routes = {}
        protos = {}
        for msg in dump(sock.get_routes, table=RT_TABLE_MAIN):
            if msg["dst_len"] != 0:
                continue
            am = attr_map(msg)
            if am.get("RTA_GATEWAY") is None:
                continue
            if am.get("RTA_TABLE") not in (None, RT_TABLE_MAIN) and msg["table"] != RT_TABLE_MAIN:
                continue
            fam = 4 if msg["family"] == socket.AF_INET else 6
            routes[fam] = ipaddress.ip_address(u"%s" % am.get("RTA_GATEWAY"))
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
        found = self.writer(ns).lookup(name)
        if found is None:
            raise StateError("link %s not found%s" % (name, "" if ns is None else " in namespace %s" % ns))
        self._indexes[key] = found
        return found

    def known(self, ns, name, index):
        """Remember the ifindex of a link this run created with an ifindex it chose (no lookup later)."""
        self._indexes[(ns, name)] = index

    def forget(self):
        """Drop the remembered indexes (a link was deleted or moved, a namespace deleted)."""
        self._indexes = {}


def netnsid_reader(nl):
    """fd -> the nsid our namespace gives the namespace of fd, or None: through nl's Writer, or (a Netlink
    without one: the render filter's empty host, unit tests' fakes) its socket's get_netnsid."""
    if hasattr(nl, "writer"):
        return nl.writer(None).netnsid
    sock = nl.sock(None)
    return lambda fd: sock.get_netnsid(fd=fd).get("nsid")


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
