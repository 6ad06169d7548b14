# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_gw_routes: flannel's host-gw - a route to each other host's container subnet via that host's address.

Our routes carry the route protocol RTPROT_NETPLUMB (151, ``ip route ... proto 151``). A route to a wanted
subnet that exists without that mark is never replaced or deleted (a refusal naming it); with ``prune`` the
routes of ours that are no longer wanted (hosts that left the inventory) are removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils import _firewall
from ansible_collections.netplumb.container.plugins.module_utils._firewall import get_driver
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import FLEET, Exemption
from ansible_collections.netplumb.container.plugins.module_utils._hostmodel import main_routes
from ansible_collections.netplumb.container.plugins.module_utils._owner import RTPROT_NETPLUMB, NotOursError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

RT_TABLE_MAIN = 254
FLEET_OWNER = FLEET


def is_fleet_owner(owner):
    return owner is not None and owner.startswith(FLEET_OWNER)


def validate_exempt(spec):
    """cluster_cidr, underlay and networks: the local container networks whose traffic with the other
    hosts' container subnets is exempt from masquerade and from the drop of outside traffic to containers."""
    from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
    cidr = spec.get("cluster_cidr")
    nets = spec.get("networks") or []
    if cidr is None:
        if nets:
            raise ValidationError("cluster_cidr", None, "required with networks")
        return None, None, []
    try:
        cluster = ipaddress.ip_network(u"%s" % cidr, strict=True)
    except ValueError as exc:
        raise ValidationError("cluster_cidr", cidr, "not a subnet in CIDR form (%s)" % exc)
    if cluster.version != 4 or cluster.prefixlen == 0:
        raise ValidationError("cluster_cidr", cidr, "an IPv4 subnet, not everything")
    underlay = spec.get("underlay")
    if underlay is not None:
        v.ifname("underlay", underlay)
    out = []
    for i, n in enumerate(nets):
        if not isinstance(n, dict) or set(n) - set(["bridge", "subnet"]):
            raise ValidationError("networks[%d]" % i, n, "a mapping with bridge and subnet")
        v.ifname("networks[%d].bridge" % i, n.get("bridge"))
        sub = v.network("networks[%d].subnet" % i, n.get("subnet"))
        if not sub.subnet_of(cluster):
            raise ValidationError("networks[%d].subnet" % i, n.get("subnet"), "is not inside cluster_cidr %s"
                                  % cluster)
        out.append((n["bridge"], sub))
    return cluster, underlay, out


def exemptions(cluster, underlay, networks):
    """Per local network: the Exemption intent (no masquerade towards the other hosts' containers, their
    traffic to our containers passes the early drop and is forwarded)."""
    return [Exemption(bridge, sub, cluster, underlay) for bridge, sub in networks]


def exempt_rules(cluster, underlay, networks):
    """The iptables rendering of the exemptions (for the readers of iptables rules)."""
    return _firewall.render_iptables(exemptions(cluster, underlay, networks))


def validate(spec):
    if spec["state"] not in ("present", "absent"):
        raise ValidationError("state", spec["state"], "must be one of present, absent")
    out = []
    seen = {}
    for i, item in enumerate(spec.get("routes") or []):
        pre = "routes[%d]." % i
        if not isinstance(item, dict) or set(item) - set(["subnet", "via"]):
            raise ValidationError("routes[%d]" % i, item, "a mapping with subnet and via")
        try:
            net = ipaddress.ip_network(u"%s" % item.get("subnet"), strict=True)
        except ValueError as exc:
            raise ValidationError(pre + "subnet", item.get("subnet"), "not a subnet in CIDR form (%s)" % exc)
        if net.version != 4 or net.prefixlen == 0:
            raise ValidationError(pre + "subnet", item.get("subnet"), "an IPv4 subnet, not a default route")
        try:
            via = ipaddress.ip_address(u"%s" % item.get("via"))
        except ValueError as exc:
            raise ValidationError(pre + "via", item.get("via"), "not an IP address (%s)" % exc)
        if via.version != 4:
            raise ValidationError(pre + "via", item.get("via"), "an IPv4 address")
        for j, other in seen.items():
            if other.overlaps(net):
                raise ValidationError(pre + "subnet", str(net), "overlaps routes[%d].subnet %s" % (j, other))
        seen[i] = net
        out.append((net, via))
    return out


def read_routes(nl):
    """{dst network: (gateway or None, protocol)} of the IPv4 main table (non-default routes; the host model's
    _hostmodel.main_routes)."""
    return dict((dst, (r.gateway, r.proto)) for dst, r in main_routes(nl, socket.AF_INET).items())


def op_route(sock, verb, net, via):
    def fn():
        sock.route(verb, dst=str(net.network_address), dst_len=net.prefixlen, gateway=str(via),
                   proto=RTPROT_NETPLUMB, family=socket.AF_INET, table=RT_TABLE_MAIN)
    return Action("route_%s" % verb, str(net), "ip route %s %s via %s proto %d" % (verb, net, via, RTPROT_NETPLUMB),
                  fn)


def _net_key(net):
    return (int(net.network_address), net.prefixlen)


def _underlay_of(host, connected, wanted):
    """The one interface whose connected networks hold every via (else the one towards the default gateway)."""
    names = set()
    for net, via in wanted:
        for name in host.links:
            if any(i.version == 4 and via in i.network for i in host.addresses(name)):
                names.add(name)
    if not wanted:
        gws = [g for g in (host.routes or {}).values() if g is not None and g.version == 4]
        for name in host.links:
            if gws and any(i.version == 4 and gws[0] in i.network for i in host.addresses(name)):
                names.add(name)
    if len(names) != 1:
        raise ValidationError("underlay", None, "could not be told from the routes' via addresses (%s): set it"
                              % (", ".join(sorted(names)) or "no interface found"))
    return names.pop()


def plan(nl, spec, driver=None):
    wanted = validate(spec)
    cluster, underlay, networks = validate_exempt(spec)
    present = spec["state"] == "present"
    host = nl.read(None)
    sock = nl.sock(None)
    current = read_routes(nl)
    connected = [i for name in host.links for i in host.addresses(name) if i.version == 4]
    p = Plan()
    for i, (net, via) in enumerate(wanted):
        for iface in connected:
            if iface.network.overlaps(net):
                raise ValidationError("routes[%d].subnet" % i, str(net), "overlaps %s, an address of this host: "
                                      "the route would take this host's own subnet away" % iface)
        if present and not any(via in iface.network and via != iface.ip for iface in connected):
            raise ValidationError("routes[%d].via" % i, str(via), "is on no directly connected network of this "
                                  "host (host-gw needs the other host on the same link)")
        cur = current.get(net)
        if cur is not None and cur[1] != RTPROT_NETPLUMB:
            raise NotOursError("routes[%d].subnet" % i, str(net), "route",
                               detail="it exists via %s with protocol %d, not netplumb's %d"
                               % (cur[0] or "a device", cur[1], RTPROT_NETPLUMB), adopt_hint=False)
    want = dict((net, via) for net, via in wanted)
    ours = dict((net, gw) for net, (gw, proto) in current.items() if proto == RTPROT_NETPLUMB)
    if present:
        for net, via in wanted:
            if ours.get(net) != via:
                p.add(op_route(sock, "replace", net, via))
        if spec.get("prune"):
            for net, gw in sorted(ours.items()):
                if net not in want:
                    p.add(op_route(sock, "del", net, gw))
    else:
        for net, via in wanted:
            if net in ours:
                p.add(op_route(sock, "del", net, ours[net]))
    key = _net_key
    p.before = dict(routes=["%s via %s proto %d" % (n, ours[n], RTPROT_NETPLUMB) for n in sorted(ours, key=key)])
    after = dict(ours)
    if present:
        if spec.get("prune"):
            after = {}
        after.update(want)
    else:
        for n in want:
            after.pop(n, None)
    p.after = dict(routes=["%s via %s proto %d" % (n, after[n], RTPROT_NETPLUMB) for n in sorted(after, key=key)])
    if cluster is not None and underlay is None and networks:     # only exemptions name the underlay
        underlay = _underlay_of(host, connected, wanted)
    if cluster is not None or spec.get("prune"):
        # the exemptions of the networks named; with prune those of networks no longer named go too
        driver = driver or get_driver(spec.get("firewall_backend") or "auto")
        for w in driver.warnings:
            p.warn(w)
        current_fw = driver.read()
        named = set(FLEET_OWNER + b for b, s in networks)
        if spec.get("prune"):
            owned = is_fleet_owner
        else:
            owned = named.__contains__
        want = exemptions(cluster, underlay, networks) if present and cluster is not None else []
        before, after_fw = driver.plan(p, current_fw, owned, want)
        p.before["rules"] = before
        p.after["rules"] = after_fw
    return p
