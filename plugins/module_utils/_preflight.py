# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host model and the host-safety preflight: never cut the host off.

One read of the namespace the module runs in (once per nl.frozen() block, so once per run of the role's
converge): its links, every address of every link, every route of every type in every table but ``local``
(unicast, blackhole, unreachable, prohibit, throw; multipath hops and nexthop objects resolved), and the
nexthop objects and groups (RTM_GETNEXTHOP: a route that only names ``nhid N``, as FRR installs them with
net.ipv4.nexthop_compat_mode=0, carries no gateway nor device of its own). Every planner asks it, in check
mode and real mode alike, before it plans any write. Refuses, naming the field, the value and what it
collides with:

* a subnet (or a bridge address's network) that contains or overlaps an address of the host, a route of the
  host that is not ours (the uplink's subnet, a static route, a policy route, a blackhole, unreachable,
  prohibit or throw route), or a default gateway (through a nexthop object too);
* any destructive change of an uplink (delete, re-create, re-address, re-parent, move into a namespace,
  adopt): a link carrying a default route or the route to a default gateway, in any table, through multipath
  or nexthop objects; the bridge it is a port of; the link it is tied to (a veth twin in this namespace, a
  macvlan's lower link); the ports of an uplink bridge except veths leading to named namespaces; whatever
  mark it carries;
* a bridge that is the uplink, a "bridge" that is some other kind of link;
* a host_ip that is no address of the host.

"Ours" is decided by the marks of _owner: routes carrying protocol RTPROT_NETPLUMB, and the routes our BIRD
learned over BGP (protocol 12 with metric 151, see _bgp); addresses and connected
routes of the very bridge the call manages are that network's own (its gateway address) and never collide.
Special-purpose address ranges are checked apart, purely, by _ranges.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._hostmodel import host_nexthops, host_routes
from ansible_collections.netplumb.container.plugins.module_utils._nl import dump, netnsid_reader
from ansible_collections.netplumb.container.plugins.module_utils._owner import RTPROT_NETPLUMB

RTPROT_BIRD = 12            # the routes BIRD installs (bgp_speaker's: with the metric below, _bgp.LEARNED_METRIC)
LEARNED_METRIC = 151

LOOPBACK4 = ipaddress.ip_network(u"127.0.0.0/8")
NSID_NONE = 4294967295


class HostSafetyError(StateError):
    """Input that would touch the host's own addresses, routes or uplink."""

    def __init__(self, field, value, reason):
        self.field = field
        self.value = value
        super(HostSafetyError, self).__init__("%s=%s: %s; refusing before any change (host safety, see "
                                              "docs/safety.md)" % (field, value, reason))


class HostFacts:
    """The host namespace's links (an _nl.NsState), every address of every link, its routes of every type (all
    tables but local) and its nexthop objects."""

    def __init__(self, state, addrs, routes, nexthops=None, named_nsids=None):
        self.state = state
        self.addrs = addrs          # [(link name, ip_interface)], every scope (loopback included)
        self.routes = routes        # [Route], one per hop of a multipath or nexthop-group route
        self.nexthops = nexthops or {}
        self.named_nsids = named_nsids      # a callable -> {nsid: namespace name} (read when first needed)
        self._defaults = None
        self._uplinks = None

    def default_routes(self):
        """The unicast default routes of every table, one per hop."""
        if self._defaults is None:
            self._defaults = [r for r in self.routes if r.dst.prefixlen == 0 and r.type == "unicast"]
        return self._defaults

    def gateway_routes(self):
        """{gateway: [route to it]}: for each default gateway, the most specific route of the host that
        reaches it (not a default route), in the default route's table or the main table."""
        out = {}
        for d in self.default_routes():
            if d.gateway is None:
                continue
            best = None
            for r in self.routes:
                if r.type != "unicast" or r.dst.prefixlen == 0 or r.dst.version != d.gateway.version or not r.dev \
                        or r.table not in (d.table, 254) or d.gateway not in r.dst:
                    continue
                if best is None or r.dst.prefixlen > best.dst.prefixlen:
                    best = r
            if best is not None:
                out.setdefault(d.gateway, []).append(best)
        return out

    def uplinks(self):
        """{link name: why} for links the host reaches the world through: the devices of default routes (any
        table, multipath, nexthop objects) and of the routes to default gateways; then, to a fixed point, the
        bridges those are ports of, the links they are tied to in this namespace (a veth's twin, a macvlan's
        lower link), and the ports of an uplink bridge that do not lead to a named namespace."""
        if self._uplinks is not None:
            return self._uplinks
        out = {}
        for r in self.default_routes():
            if r.dev:
                out.setdefault(r.dev, "it carries the default route (%s)" % r.text())
        for gw, routes in sorted(self.gateway_routes().items(), key=lambda x: str(x[0])):
            for r in routes:
                out.setdefault(r.dev, "it carries the route to the default gateway %s (%s)" % (gw, r.text()))
        st = self.state
        todo = list(out)
        while todo:
            name = todo.pop(0)
            lk = st.link(name)
            if lk is None:
                continue
            found = []
            if lk.master and st.name_of(lk.master):
                found.append((st.name_of(lk.master), "its port %s %s" % (
                    name, out[name][3:] if out[name].startswith("it ") else "is the host's uplink")))
            if lk.peer_index and (lk.peer_netnsid is None or lk.peer_netnsid < 0 or lk.peer_netnsid == NSID_NONE) \
                    and st.name_of(lk.peer_index) and st.name_of(lk.peer_index) != name:
                found.append((st.name_of(lk.peer_index), "the host's uplink %s (a %s) is tied to it" % (
                    name, lk.kind or "link")))
            if lk.kind == "bridge":
                for port in sorted(st.by_index.values(), key=lambda x: x.name):
                    if port.master == lk.index and not self._leads_to_named_ns(port):
                        found.append((port.name, "it is a port of the host's uplink bridge %s" % name))
            for other, why in found:
                if other not in out:
                    out[other] = why
                    todo.append(other)
        self._uplinks = out
        return out

    def _leads_to_named_ns(self, port):
        if port.kind != "veth" or port.peer_netnsid is None or port.peer_netnsid < 0 \
                or port.peer_netnsid == NSID_NONE or self.named_nsids is None:
            return False
        return port.peer_netnsid in self.named_nsids()

    def uplink_namespaces(self):
        """{named namespace: uplink}: namespaces holding the twin of an uplink veth (deleting the namespace
        deletes the uplink)."""
        out = {}
        for name in self.uplinks():
            lk = self.state.link(name)
            if lk is not None and lk.kind == "veth" and self._leads_to_named_ns(lk):
                out.setdefault(self.named_nsids()[lk.peer_netnsid], name)
        return out

    def is_local(self, ip):
        if ip.version == 4 and ip in LOOPBACK4:
            return True
        return any(iface.ip == ip for _name, iface in self.addrs)


def read_host(nl, state=None, ignore=()):
    """HostFacts of the namespace the module runs in (one dump of addresses, of routes and of nexthops; once
    per nl.frozen() block). ``ignore``: links whose addresses and routes do not count (bridges of ours that an
    earlier call of the same run removes)."""
    if state is None or state is nl.peek(("read", None)):
        return nl.memo(("host_facts", tuple(sorted(ignore))), lambda: _read_host(nl, state, ignore))
    return _read_host(nl, state, ignore)


def named_nsids(nl):
    """A callable -> {nsid: namespace name} of every named namespace (read once per nl.frozen() block)."""
    def read():
        out = {}
        netnsid = netnsid_reader(nl)
        for name in nl.ns_list():
            try:
                nsid = nl.with_ns_fd(name, netnsid)
            except Exception:   # a namespace going away meanwhile
                continue
            if nsid is not None and nsid != NSID_NONE:
                out[nsid] = name
        return out
    return lambda: nl.memo(("nsid_map",), read)


def _read_host(nl, state, ignore):
    state = state or nl.read(None)
    addrs = []
    if hasattr(nl, "writer"):   # addresses parsed by _nl (only what is read here is decoded)
        addr_msgs = nl.writer(None).addresses()
    else:   # a Netlink without a Writer (the render filter's empty host, unit tests' fakes): pyroute2's dump
        addr_msgs = dump(nl.sock(None).get_addr)
    for msg in addr_msgs:
        ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if ip is None:
            continue
        try:
            iface = ipaddress.ip_interface(u"%s/%d" % (ip.split("%")[0], msg["prefixlen"]))
        except ValueError:
            continue
        addrs.append((state.name_of(msg["index"]) or "if%d" % msg["index"], iface))
    nexthops = host_nexthops(nl)
    routes = host_routes(nl, state.name_of, nexthops)
    if ignore:
        addrs = [(n, i) for n, i in addrs if n not in ignore]
        routes = [r for r in routes if r.dev not in ignore]
    return HostFacts(state, addrs, routes, nexthops, named_nsids(nl))


def is_ours(route):
    """A route of ours: protocol 151 (host-gw, vxlan), or one our BIRD learned over BGP (bgp_speaker: protocol 12
    with the metric 151 - an admin's own BIRD installs its routes with protocol 12 and another metric, 32 by
    default, and stays the admin's)."""
    return route.proto == RTPROT_NETPLUMB or (route.proto == RTPROT_BIRD and route.metric == LEARNED_METRIC)


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
        if r.dst.version != net.version or r.dst.prefixlen == 0 or is_ours(r):
            continue
        if bridge is not None and r.dev == bridge and r.gateway is None:
            continue        # the connected route of the network's own bridge
        if r.dst.overlaps(net):
            raise HostSafetyError(field, net, "overlaps the host's %s" % r.describe())


def check_uplink(field, name, facts, change):
    """Refuse ``change`` (a phrase: 'deleted', 're-created', ...) of link ``name`` when it is an uplink,
    whatever its kind and its mark; adopt=true does not override this."""
    up = facts.uplinks()
    if name in up:
        raise HostSafetyError(field, name, "%s is the host's uplink (%s): an uplink is never deleted, re-created, "
                              "re-addressed, re-parented, moved into a namespace or taken over, whatever its kind "
                              "and whatever mark it carries (adopt=true does not override this); this call would "
                              "have it %s" % (name, up[name], change))


def check_host_ip(field, ip, facts):
    if not facts.is_local(ip):
        raise HostSafetyError(field, ip, "is no address of this host (the rule would never match); addresses here: %s"
                              % ", ".join(sorted(set(str(i.ip) for _n, i in facts.addrs if i.version == ip.version))
                                          or "none"))
