# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's routes, read and decoded in one place.

Every reader of the host namespace's routes asks this module: the host-safety preflight (_preflight.read_host:
every route of every table but ``local``, one ``Route`` per hop, multipath hops and nexthop objects resolved),
host_gw_routes and vxlan_overlay (``main_routes``: the main table's routes by destination, one ``Route`` per
message) and bgp_speaker (the routes its BIRD learned, from ``main_routes`` too). One dump per address family
(``route_messages``: _nl.Writer's own decoder, or pyroute2's dump where a Netlink has no Writer - the render
filter's empty host, unit tests' fakes), taken once per nl.frozen() block and shared by all of them. Each
``Route`` carries the same fields whoever reads it: destination, device (name and ifindex), gateway, protocol,
table, type, nexthop id and metric (RTA_PRIORITY).

The namespaces' summaries (_nl.NsState: links, global addresses, the main table's default gateway) are read
apart by _nl.Netlink.read, one strict dump of the main table per namespace (the fast path of a run with a
thousand namespaces; only the host namespace has a route model).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket
import struct

from ansible_collections.netplumb.container.plugins.module_utils._nl import dump

RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
# route types that say where a destination goes (RTN_*); local, broadcast, anycast and multicast live in the
# local table and are the host's own addresses, read as addresses
ROUTE_TYPES = {1: "unicast", 6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw"}
RTM_NEWNEXTHOP = 104
RTM_GETNEXTHOP = 106
RTA_NH_ID = 30


class Route:
    """One route (of a multipath or nexthop-group route: one hop of it). dev is the device's name, oif its
    ifindex (either may be None); metric is RTA_PRIORITY."""

    __slots__ = ("dst", "dev", "gateway", "proto", "table", "type", "nhid", "metric", "oif")

    def __init__(self, dst, dev, gateway, proto, table, rtype="unicast", nhid=None, metric=None, oif=None):
        self.metric = metric
        self.oif = oif
        self.dst = dst
        self.dev = dev
        self.gateway = gateway
        self.proto = proto
        self.table = table
        self.type = rtype
        self.nhid = nhid

    def text(self):
        out = "default" if self.dst.prefixlen == 0 else str(self.dst)
        if self.type != "unicast":
            out = "%s %s" % (self.type, out)
        if self.nhid is not None:
            out += " nhid %d" % self.nhid
        if self.gateway is not None:
            out += " via %s" % self.gateway
        if self.dev:
            out += " dev %s" % self.dev
        if self.table not in (None, 254):
            out += " table %s" % self.table
        return out

    def describe(self):
        """'route 10.0.0.0/8 via 192.0.2.1 dev eth0', 'blackhole route 10.99.0.0/16'."""
        if self.type == "unicast":
            return "route " + self.text()
        return "%s route %s" % (self.type, self.text()[len(self.type) + 1:])


class Nexthop:
    """A nexthop object (`ip nexthop`): a gateway and/or a device, a group of other nexthops, or blackhole."""

    __slots__ = ("id", "oif", "gateway", "group", "blackhole")

    def __init__(self, nhid, oif=None, gateway=None, group=(), blackhole=False):
        self.id = nhid
        self.oif = oif
        self.gateway = gateway
        self.group = list(group)
        self.blackhole = blackhole


def _nh_classes():
    """pyroute2 message classes for nexthop objects and for routes naming one (RTA_NH_ID): pyroute2 0.7 and
    0.9 know neither, so both are declared here on pyroute2's own message base (built on first use)."""
    global _NH_CLASSES
    if _NH_CLASSES is None:
        from pyroute2.netlink import nlmsg
        from pyroute2.netlink.rtnl.rtmsg import rtmsg

        class nhmsg(nlmsg):
            fields = (("family", "B"), ("scope", "B"), ("protocol", "B"), ("resvd", "B"), ("flags", "I"))
            nla_map = (("NHA_UNSPEC", "none"), ("NHA_ID", "uint32"), ("NHA_GROUP", "cdata"),
                       ("NHA_GROUP_TYPE", "uint16"), ("NHA_BLACKHOLE", "flag"), ("NHA_OIF", "uint32"),
                       ("NHA_GATEWAY", "cdata"))

        class rtmsg_nh(rtmsg):
            nla_map = rtmsg.nla_map + tuple(("RTA_UNKNOWN%d" % i, "hex")
                                            for i in range(len(rtmsg.nla_map), RTA_NH_ID)) + (("RTA_NH_ID", "uint32"),)
            # pyroute2 compiles an nla_map once per class and keeps it on the class: this one has its own
            _nlmsg_base__compiled_nla = False
            _nlmsg_base__t_nla_map = None
            _nlmsg_base__r_nla_map = None

        _NH_CLASSES = (nhmsg, rtmsg_nh)
    return _NH_CLASSES


_NH_CLASSES = None


def _request(sock, msg, msg_type, flags):
    core = getattr(sock, "asyncore", None)     # pyroute2 0.9: the sync API wraps an async core
    if core is not None and hasattr(sock, "_generate_with_cleanup"):
        return list(sock._generate_with_cleanup(core.nlm_request, msg, msg_type, flags, None, None, None))
    return list(sock.nlm_request(msg, msg_type=msg_type, msg_flags=flags))


def _addr_of(raw):
    if isinstance(raw, (bytes, bytearray)) and len(raw) in (4, 16):
        return ipaddress.ip_address(bytes(raw))
    if isinstance(raw, str):
        return ipaddress.ip_address(u"%s" % raw.split("%")[0])
    return None


def read_nexthops(sock):
    """{id: Nexthop} of the namespace of sock (RTM_GETNEXTHOP dump); {} when the kernel has none."""
    marshal = getattr(sock, "marshal", None)
    if marshal is None:     # a recorded host (unit tests)
        return {}
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
    nhmsg = _nh_classes()[0]
    old = marshal.msg_map.get(RTM_NEWNEXTHOP)
    marshal.msg_map[RTM_NEWNEXTHOP] = nhmsg
    try:
        msg = nhmsg()
        msg["family"] = 0
        try:
            msgs = dump(_request, sock, msg, RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP)
        except Exception as exc:  # a kernel without nexthop objects (before 5.3) answers EINVAL/EOPNOTSUPP
            if getattr(exc, "code", None) in (22, 95):
                return {}
            raise
    finally:
        if old is None:
            marshal.msg_map.pop(RTM_NEWNEXTHOP, None)
        else:
            marshal.msg_map[RTM_NEWNEXTHOP] = old
    out = {}
    for m in msgs:
        nhid = m.get_attr("NHA_ID")
        if nhid is None:
            continue
        group = []
        raw = m.get_attr("NHA_GROUP")
        if isinstance(raw, (bytes, bytearray)):
            group = [struct.unpack_from("=I", raw, i)[0] for i in range(0, len(raw) - len(raw) % 8, 8)]
        out[nhid] = Nexthop(nhid, m.get_attr("NHA_OIF"), _addr_of(m.get_attr("NHA_GATEWAY")), group,
                            bool(m.get_attr("NHA_BLACKHOLE")))
    return out


def host_nexthops(nl):
    """{id: Nexthop} of the host namespace: _nl.Writer's dump (no pyroute2 IPRoute: a run that only reads never
    imports it), or read_nexthops(nl.sock(None)) where nl's Writer has none (a recorded host, unit tests' fakes)."""
    w = nl.writer(None) if hasattr(nl, "writer") else None
    if w is None or not hasattr(w, "nexthops"):
        return read_nexthops(nl.sock(None))
    return dict((nhid, Nexthop(nhid, oif, _addr_of(gw), group, blackhole))
                for nhid, oif, gw, group, blackhole in w.nexthops())


def _nh_hops(nexthops, nhid, depth=0):
    """[(oif, gateway)] that nexthop nhid leads to (a group: its members'); [] for a blackhole or unknown."""
    nh = nexthops.get(nhid)
    if nh is None or depth > 4:
        return []
    if nh.group:
        return [hop for member in nh.group for hop in _nh_hops(nexthops, member, depth + 1)]
    if nh.blackhole or (nh.oif is None and nh.gateway is None):
        return []
    return [(nh.oif, nh.gateway)]


def route_records(msg, family, table, rtype, nexthops, name_of):
    """[Route] of one route message, one per hop: its own gateway/device, its multipath hops, or those of the
    nexthop object it names (RTA_NH_ID; with nexthop_compat_mode=0 the message has nothing else)."""
    dst = msg.get_attr("RTA_DST")
    zero = "0.0.0.0" if family == socket.AF_INET else "::"
    try:
        net = ipaddress.ip_network(u"%s/%d" % (dst or zero, msg["dst_len"]), strict=False)
    except ValueError:
        return []
    nhid = msg.get_attr("RTA_NH_ID")
    hops = []
    if msg.get_attr("RTA_OIF") or msg.get_attr("RTA_GATEWAY"):
        hops = [(msg.get_attr("RTA_OIF"), _addr_of(msg.get_attr("RTA_GATEWAY")))]
    multipath = msg.get_attr("RTA_MULTIPATH")
    if multipath:
        hops = [(hop.get("oif"), _addr_of(hop.get_attr("RTA_GATEWAY"))) for hop in multipath]
    if not hops and nhid is not None:
        hops = _nh_hops(nexthops, nhid)
    if not hops:
        hops = [(None, None)]
    metric = msg.get_attr("RTA_PRIORITY")
    return [Route(net, name_of(oif) if oif else None, gw, msg["proto"], table, rtype, nhid, metric, oif)
            for oif, gw in hops]


def route_messages(nl, family):
    """Every route message of one family, of every table (once per nl.frozen() block): _nl.Writer's views
    where nl has a Writer, else pyroute2's dump of nl.sock(None). Both answer msg[field] and msg.get_attr()."""
    def read():
        if hasattr(nl, "writer"):
            return nl.writer(None).routes(family)
        return dump(nl.sock(None).get_routes, family=family)
    return nl.memo(("route_msgs", family), read)


def table_of(msg):
    return msg.get_attr("RTA_TABLE") or msg["table"]


def host_routes(nl, name_of, nexthops):
    """[Route] of the host namespace, one per hop: every table but local, the types of ROUTE_TYPES (what the
    host-safety preflight weighs)."""
    routes = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in route_messages(nl, family):
            table = table_of(msg)
            rtype = ROUTE_TYPES.get(msg["type"])
            if table == RT_TABLE_LOCAL or rtype is None:
                continue
            routes.extend(route_records(msg, family, table, rtype, nexthops, name_of))
    return routes


def main_routes(nl, family=socket.AF_INET, name_of=None, defaults=False):
    """{destination: Route} of the main table's routes (the default ones too only with ``defaults``), one per
    message (its own gateway and device: a multipath or nexthop-object route has neither here), of every type
    (``Route.type``: a name of ROUTE_TYPES, else ``typeN``). The last message of a destination wins (as the
    kernel lists them: by metric)."""
    out = {}
    zero = "0.0.0.0" if family == socket.AF_INET else "::"
    for msg in route_messages(nl, family):
        if (msg["dst_len"] == 0 and not defaults) or table_of(msg) != RT_TABLE_MAIN:
            continue
        try:
            dst = ipaddress.ip_network(u"%s/%d" % (msg.get_attr("RTA_DST") or zero, msg["dst_len"]))
        except ValueError:
            continue
        oif = msg.get_attr("RTA_OIF")
        out[dst] = Route(dst, name_of(oif) if name_of and oif else None, _addr_of(msg.get_attr("RTA_GATEWAY")),
                         msg["proto"], RT_TABLE_MAIN, ROUTE_TYPES.get(msg["type"], "type%d" % msg["type"]),
                         msg.get_attr("RTA_NH_ID"), msg.get_attr("RTA_PRIORITY"), oif)
    return out
