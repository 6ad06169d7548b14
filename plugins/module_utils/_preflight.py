# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-safety preflight: never cut the host off.

Run by every planner before it plans anything, in check mode and real mode alike, on what the host holds
now (one read of its addresses and routes). Refuses, naming the field, the value and what it collides with:

* a subnet (or a bridge address's network) that contains or overlaps an address of the host, a route of the
  host that is not ours (the uplink's subnet, a static route, a policy route), or the default gateway;
* a bridge that is the uplink: it carries a default route, or a port of it does;
* a "bridge" that is some other kind of link;
* a host_ip that is no address of the host.

"Ours" is decided by the marks of _owner: routes carrying protocol RTPROT_NETPLUMB; addresses and connected
routes of the very bridge the call manages are that network's own (its gateway address) and never collide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._nl import dump
from ansible_collections.netplumb.container.plugins.module_utils._owner import RTPROT_NETPLUMB

RT_TABLE_LOCAL = 255
LOOPBACK4 = ipaddress.ip_network(u"127.0.0.0/8")


class HostSafetyError(StateError):
    """Input that would touch the host's own addresses, routes or uplink."""

    def __init__(self, field, value, reason):
        self.field = field
        self.value = value
        super(HostSafetyError, self).__init__("%s=%s: %s; refusing before any change (host safety, see "
                                              "docs/safety.md)" % (field, value, reason))


class Route:
    __slots__ = ("dst", "dev", "gateway", "proto", "table")

    def __init__(self, dst, dev, gateway, proto, table):
        self.dst = dst
        self.dev = dev
        self.gateway = gateway
        self.proto = proto
        self.table = table

    def text(self):
        out = "default" if self.dst.prefixlen == 0 else str(self.dst)
        if self.gateway is not None:
            out += " via %s" % self.gateway
        if self.dev:
            out += " dev %s" % self.dev
        if self.table not in (None, 254):
            out += " table %s" % self.table
        return out


class HostFacts:
    """The host namespace's links (an _nl.NsState), every address of every link, and its routes (all tables
    but local)."""

    def __init__(self, state, addrs, routes):
        self.state = state
        self.addrs = addrs          # [(link name, ip_interface)], every scope (loopback included)
        self.routes = routes        # [Route]
        self._defaults = None

    def default_routes(self):
        if self._defaults is None:
            self._defaults = [r for r in self.routes if r.dst.prefixlen == 0]
        return self._defaults

    def uplinks(self):
        """{link name: why} for links the host reaches the world through: the devices of default routes and
        of the routes to default gateways, and the bridges those devices are ports of."""
        out = {}
        for r in self.default_routes():
            if r.dev:
                out.setdefault(r.dev, "it carries the default route (%s)" % r.text())
        for name in list(out):
            lk = self.state.link(name)
            if lk is not None and lk.master:
                master = self.state.name_of(lk.master)
                if master:
                    out.setdefault(master, "its port %s carries the default route" % name)
        return out

    def is_local(self, ip):
        if ip.version == 4 and ip in LOOPBACK4:
            return True
        return any(iface.ip == ip for _name, iface in self.addrs)


def read_host(nl, state=None, ignore=()):
    """HostFacts of the namespace the module runs in (one dump of addresses and of routes; once per
    nl.frozen() block). ``ignore``: links whose addresses and routes do not count (bridges of ours that an
    earlier call of the same run removes)."""
    if state is None or state is nl.peek(("read", None)):
        return nl.memo(("host_facts", tuple(sorted(ignore))), lambda: _read_host(nl, state, ignore))
    return _read_host(nl, state, ignore)


def _read_host(nl, state, ignore):
    sock = nl.sock(None)
    state = state or nl.read(None)
    addrs = []
    for msg in dump(sock.get_addr):
        ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if ip is None:
            continue
        try:
            iface = ipaddress.ip_interface(u"%s/%d" % (ip.split("%")[0], msg["prefixlen"]))
        except ValueError:
            continue
        addrs.append((state.name_of(msg["index"]) or "if%d" % msg["index"], iface))
    routes = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in dump(sock.get_routes, family=family):     # every table (0.7 and 0.9 dump them all)
            table = msg.get_attr("RTA_TABLE") or msg["table"]
            if table == RT_TABLE_LOCAL or msg["type"] not in (1,):     # unicast routes only
                continue
            dst = msg.get_attr("RTA_DST")
            zero = "0.0.0.0" if family == socket.AF_INET else "::"
            try:
                net = ipaddress.ip_network(u"%s/%d" % (dst or zero, msg["dst_len"]), strict=False)
            except ValueError:
                continue
            hops = [(msg.get_attr("RTA_OIF"), msg.get_attr("RTA_GATEWAY"))]
            multipath = msg.get_attr("RTA_MULTIPATH")
            if multipath:
                hops = [(hop.get("oif"), hop.get_attr("RTA_GATEWAY")) for hop in multipath]
            for oif, gw in hops:
                routes.append(Route(net, state.name_of(oif) if oif else None,
                                    ipaddress.ip_address(u"%s" % gw) if gw else None, msg["proto"], table))
    if ignore:
        addrs = [(n, i) for n, i in addrs if n not in ignore]
        routes = [r for r in routes if r.dev not in ignore]
    return HostFacts(state, addrs, routes)


def check_bridge(field, name, facts, must_exist=False):
    """A bridge we are asked to manage or to write rules for: not the uplink, a bridge if it exists."""
    up = facts.uplinks()
    if name in up:
        raise HostSafetyError(field, name, "%s is the host's uplink: %s" % (name, up[name]))
    lk = facts.state.link(name)
    if lk is not None and lk.kind != "bridge":
        raise HostSafetyError(field, name, "%s is a link of kind %s, not a bridge" % (name, lk.kind or "unknown"))
    if lk is None and must_exist:
        raise StateError("%s=%s: no such bridge on this host; create it first with netplumb.container.linux_bridge"
                         % (field, name))


def check_subnet(field, net, facts, bridge=None):
    """net must not hold or overlap an address of the host, a route of the host that is not ours, or the
    default gateway. The addresses and connected routes of ``bridge`` (the network's own bridge) are exempt."""
    for name, iface in facts.addrs:
        if name == bridge or iface.version != net.version:
            continue
        if iface.ip in net or (iface.network.prefixlen > 0 and iface.network.overlaps(net)):
            raise HostSafetyError(field, net, "overlaps %s, an address of the host on %s"
                                  % (iface.with_prefixlen, name))
    for r in facts.default_routes():
        if r.gateway is not None and r.gateway.version == net.version and r.gateway in net:
            raise HostSafetyError(field, net, "holds the host's default gateway %s (route %s)" % (r.gateway, r.text()))
    for r in facts.routes:
        if r.dst.version != net.version or r.dst.prefixlen == 0 or r.proto == RTPROT_NETPLUMB:
            continue
        if bridge is not None and r.dev == bridge and r.gateway is None:
            continue        # the connected route of the network's own bridge
        if r.dst.overlaps(net):
            raise HostSafetyError(field, net, "overlaps the host's route %s" % r.text())


def check_host_ip(field, ip, facts):
    if not facts.is_local(ip):
        raise HostSafetyError(field, ip, "is no address of this host (the rule would never match); addresses here: %s"
                              % ", ".join(sorted(set(str(i.ip) for _n, i in facts.addrs if i.version == ip.version))
                                          or "none"))
