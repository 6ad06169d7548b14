"""Kernel-side test tools: a throwaway network namespace per test, state dumps and a netlink write monitor."""
import ctypes
import errno
import json
import os
import socket
import struct
import subprocess

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
_libc = ctypes.CDLL("libc.so.6", use_errno=True)

# netlink multicast groups: link, ipv4/ipv6 addresses and routes, neighbour tables excluded
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 17, 20, 21, 24, 25
RT_SCOPE_LINK = 253
RTPROT_KERNEL = 2
SO_RCVBUFFORCE = 33
MONITOR_RCVBUF = 64 * 1024 * 1024
WRITE_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def assert_isolated():
    """tests/isolated.sh exports the namespace it was started from; we must be somewhere else."""
    outer = os.environ.get("NETPLUMB_OUTER_NETNS")
    if not outer or outer == os.readlink("/proc/self/ns/net") or not os.environ.get("NETPLUMB_ISOLATED"):
        raise RuntimeError("kernel tests must run through tests/isolated.sh inside `unshare --net --mount` "
                           "(see the Makefile): refusing to touch this namespace")


class Sandbox:
    """A fresh network namespace for the calling thread; on close, every named namespace and resolv.conf
    created during the test is removed and the thread returns to where it was."""

    def __init__(self):
        assert_isolated()
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self.names_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        _check(_libc.unshare(CLONE_NEWNET), "unshare")
        # a new namespace inherits the machine's ip_forward: start from a fresh host's 0, whatever the machine says
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("0\n")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    def close(self):
        for name in set(os.listdir("/run/netns")) - self.names_before if os.path.isdir("/run/netns") else ():
            path = os.path.join("/run/netns", name)
            _libc.umount2(path.encode(), MNT_DETACH)
            try:
                os.unlink(path)
            except OSError:
                pass
        if os.path.isdir("/etc/netns"):
            subprocess.run(["rm", "-rf", "/etc/netns"], check=True)
        _check(_libc.setns(self.home, CLONE_NEWNET), "setns")
        os.close(self.home)


def ip_json(*args, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-d", "-j"] + list(args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out or "[]")


# What changes by itself, with nobody writing: bridge timers, operstate settling, IPv6 link-local
# addresses finishing duplicate address detection and the fe80::/ff00:: routes that follow them, carrier
# (a bridge has carrier once a port forwards) and the linkdown route flag that follows it, and a bridge port's
# STP state (info_slave_data.state: disabled -> forwarding once its carrier settles, seen under load).
_VOLATILE = ("operstate", "tentative")
_VOLATILE_FLAGS = ("NO-CARRIER", "LOWER_UP", "linkdown", "M-DOWN")


def _stable(obj):
    if isinstance(obj, dict):
        port = "cost" in obj and "priority" in obj      # a bridge port's info_slave_data
        return dict((k, _stable(v)) for k, v in obj.items()
                    if k not in _VOLATILE and not k.endswith("_timer") and not (port and k == "state"))
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, dict) and item.get("family") == "inet6" and item.get("scope") == "link":
                continue
            if isinstance(item, dict) and str(item.get("dst", "")).startswith(("fe80", "ff00")):
                continue
            if item in _VOLATILE_FLAGS:
                continue
            out.append(_stable(item))
        return out
    return obj


def dump(namespaces=()):
    """`ip -d -j` dumps of links, addresses and all routing tables of this namespace and the named ones,
    less the fields the kernel changes on its own (see _VOLATILE)."""
    res = {}
    for ns in [None] + list(namespaces):
        res[ns or "host"] = _stable(dict(link=ip_json("link", "show", ns=ns), addr=ip_json("addr", "show", ns=ns),
                                         route=ip_json("route", "show", "table", "all", ns=ns)))
    return res


class Monitor:
    """Counts rtnetlink notifications (link/address/route changes) in this namespace and named ones."""

    def __init__(self, namespaces=()):
        self.socks = [self._open(None)] + [self._open(ns) for ns in namespaces]

    @staticmethod
    def _open(ns):
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = None
        try:
            if ns:
                fd = os.open("/run/netns/" + ns, os.O_RDONLY)
                _check(_libc.setns(fd, CLONE_NEWNET), "setns")
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            # room for every notification of a 1000-pair batch, drained only at the end (root may force it)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, MONITOR_RCVBUF)
            s.bind((0, WRITE_GROUPS))
            s.setblocking(False)
        finally:
            if fd is not None:
                _check(_libc.setns(home, CLONE_NEWNET), "setns")
                os.close(fd)
            os.close(home)
        return s

    def events(self):
        """Configuration changes seen: address and route changes (less IPv6 link-local ones, which follow
        DAD by themselves) and link deletions. Link updates are left to the dump comparison, since the kernel
        sends one for every operstate change."""
        n = 0
        for s in self.socks:
            while True:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:
                        raise AssertionError("the netlink monitor overflowed (ENOBUFS): notifications were lost, "
                                             "so this run cannot tell whether the module wrote; raise "
                                             "MONITOR_RCVBUF in tests/helpers/kernel.py")
                    raise
                off = 0
                while off + 16 <= len(data):
                    length, mtype = struct.unpack_from("=IH", data, off)
                    if length < 16:
                        break
                    body = data[off + 16:off + length]
                    if mtype in (RTM_NEWADDR, RTM_DELADDR):
                        family, _plen, _flags, scope = struct.unpack_from("=BBBB", body)
                        if not (family == socket.AF_INET6 and scope == RT_SCOPE_LINK):
                            n += 1
                    elif mtype in (RTM_NEWROUTE, RTM_DELROUTE):
                        family, _dst, _src, _tos, _table, proto = struct.unpack_from("=BBBBBB", body)
                        if not (family == socket.AF_INET6 and proto == RTPROT_KERNEL):
                            n += 1
                    elif mtype == RTM_DELLINK:
                        n += 1
                    off += (length + 3) & ~3
        return n

    def close(self):
        for s in self.socks:
            s.close()
