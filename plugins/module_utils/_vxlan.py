# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vxlan_overlay: flannel's vxlan backend without a daemon or a store - everything comes from the inventory.

One vxlan device per host (learning off, no multicast group, no remote), marked with the alias ``netplumb``.
Each host's VTEP is derived from its fleet subnet, so every host can compute every other host's VTEP on its
own: the VTEP address is the subnet's first address (10.244.3.0 for 10.244.3.0/24, flannel's subnet.0) and the
VTEP MAC is the locally administered ``0a:6e:`` + the four bytes of that address. Unlike flannel, the VTEP
address is not put on the device: it is only the next hop the routes and neighbour entries name (onlink), and
an address of the fleet subnet on a second link would make the host-safety preflight refuse the host's own
network on that subnet; the host's own traffic to other hosts' containers takes its bridge address as source.
For every other host: a route to its fleet subnet via its VTEP address on our device (onlink, protocol 151), a
permanent neighbour entry VTEP address -> VTEP MAC and a permanent FDB entry VTEP MAC -> the host's underlay
address. The device is ours, so every permanent neighbour and FDB entry on it is ours too: the run converges
them to exactly the peers given (hosts that left the inventory lose theirs). Nothing on any other link is
read for writing; the underlay is only read (its MTU, its index).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket

from ansible_collections.netplumb.container.plugins.module_utils import _hostgw
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import OWNER_PREFIX, get_driver
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import InputAllowance
from ansible_collections.netplumb.container.plugins.module_utils._links import (
    _creating, op_alias, op_link_del, op_link_set, op_mtu, op_up)
from ansible_collections.netplumb.container.plugins.module_utils._hostmodel import main_routes
from ansible_collections.netplumb.container.plugins.module_utils._nl import attr_map, dump
from ansible_collections.netplumb.container.plugins.module_utils._owner import (
    RTPROT_NETPLUMB, NotOursError, is_ours, pending)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

DEFAULT_DEVICE = "np-vxlan"
DEFAULT_VNI = 151           # netplumb's number (route protocol 151); flannel's default is 1
DEFAULT_PORT = 8472         # the Linux kernel's and flannel's VXLAN port: never Swarm's 4789
SWARM_PORT = 4789           # Docker Swarm's default data-path port (IANA's VXLAN port)
OVERHEAD_V4 = 50            # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
MAC_PREFIX = (0x0a, 0x6e)   # locally administered (bit 1 set), unicast (bit 0 clear)
RT_TABLE_MAIN = 254
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
RTNH_F_ONLINK = 0x04

OWNER = OWNER_PREFIX + "vxlan"
OWNER_PEER = OWNER + "/peer"
OWNER_DROP = OWNER + "/drop"


def is_vxlan_owner(owner):
    return owner is not None and owner.startswith(OWNER + "/")


def vtep_address(subnet):
    """The VTEP address of a host: the first address of its fleet subnet."""
    return subnet.network_address


def vtep_mac(subnet):
    """The VTEP MAC of a host: 0a:6e + the 4 bytes of its VTEP address (stable, unique in the fleet)."""
    return ":".join("%02x" % b for b in MAC_PREFIX + tuple(vtep_address(subnet).packed))


# --- validation: all input, before anything is read -------------------------------------------------------
def _int(field, value, low, high, what):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, value, "%s %d-%d" % (what, low, high))
    return value


class Spec(object):
    __slots__ = ("state", "device", "vni", "port", "subnet", "local", "underlay", "peers", "cluster", "networks",
                 "mtus", "firewall")


def validate(spec):
    """-> Spec. Every error names its field and value; nothing has been read or written yet."""
    s = Spec()
    s.state = spec.get("state") or "present"
    v.choice("state", s.state, ["present", "absent"])
    v.choice("firewall_backend", spec.get("firewall_backend") or "auto", ["auto", "iptables", "nftables"])
    s.device = spec.get("device") or DEFAULT_DEVICE
    v.ifname("device", s.device)
    s.vni = _int("vni", spec.get("vni", DEFAULT_VNI), 1, 16777215, "a VXLAN network identifier")
    s.port = _int("port", spec.get("port", DEFAULT_PORT), 1, 65535, "a UDP port")
    if s.port == SWARM_PORT:
        raise ValidationError("port", s.port, "is Docker Swarm's data-path port (VXLAN 4789): a Swarm overlay on "
                              "the same hosts would receive our packets; keep the default %d" % DEFAULT_PORT)
    s.firewall = bool(spec.get("firewall", True))
    s.underlay = spec.get("underlay")
    if s.underlay is not None:
        v.ifname("underlay", s.underlay)
    s.peers, s.networks, s.mtus = [], [], []
    s.subnet = s.local = s.cluster = None
    if s.state == "absent":
        return s
    if spec.get("subnet") is None:
        raise ValidationError("subnet", None, "required with state=present (this host's fleet subnet)")
    s.subnet = v.ipv4_subnet("subnet", spec.get("subnet"), 31)
    if spec.get("local") is None:
        raise ValidationError("local", None, "required with state=present (this host's underlay address)")
    s.local = v.ipv4_unicast("local", spec.get("local"), "no multicast: every peer is listed")
    if spec.get("cluster_cidr") is not None:
        s.cluster = v.ipv4_subnet("cluster_cidr", spec.get("cluster_cidr"), 31)
        if not s.subnet.subnet_of(s.cluster):
            raise ValidationError("subnet", str(s.subnet), "is not inside cluster_cidr %s" % s.cluster)
    seen_sub, seen_addr = {}, {}
    for i, item in enumerate(spec.get("peers") or []):
        pre = "peers[%d]" % i
        if not isinstance(item, dict) or set(item) - set(["subnet", "address", "name"]):
            raise ValidationError(pre, item, "a mapping with subnet, address (and optionally name)")
        sub = v.ipv4_subnet(pre + ".subnet", item.get("subnet"), 31)
        addr = v.ipv4_unicast(pre + ".address", item.get("address"), "no multicast: every peer is listed")
        if sub.overlaps(s.subnet):
            raise ValidationError(pre + ".subnet", str(sub), "overlaps this host's subnet %s" % s.subnet)
        if s.cluster is not None and not sub.subnet_of(s.cluster):
            raise ValidationError(pre + ".subnet", str(sub), "is not inside cluster_cidr %s" % s.cluster)
        if addr == s.local:
            raise ValidationError(pre + ".address", str(addr), "is this host's own underlay address (local)")
        for j, other in seen_sub.items():
            if other.overlaps(sub):
                raise ValidationError(pre + ".subnet", str(sub), "overlaps peers[%d].subnet %s" % (j, other))
        if addr in seen_addr:
            raise ValidationError(pre + ".address", str(addr), "is also peers[%d].address: one VTEP per host"
                                  % seen_addr[addr])
        seen_sub[i], seen_addr[addr] = sub, i
        s.peers.append((sub, addr))
    if spec.get("networks") and s.cluster is None:
        raise ValidationError("cluster_cidr", None, "required with networks")
    for i, n in enumerate(spec.get("networks") or []):
        pre = "networks[%d]" % i
        if not isinstance(n, dict) or set(n) - set(["bridge", "subnet", "mtu", "name"]):
            raise ValidationError(pre, n, "a mapping with bridge, subnet (and optionally mtu, name)")
        v.ifname(pre + ".bridge", n.get("bridge"))
        sub = v.network(pre + ".subnet", n.get("subnet"))
        if not sub.subnet_of(s.cluster):
            raise ValidationError(pre + ".subnet", n.get("subnet"), "is not inside cluster_cidr %s" % s.cluster)
        if n.get("mtu") is not None:
            s.mtus.append((pre + ".mtu", n.get("name") or n["bridge"],
                           _int(pre + ".mtu", n.get("mtu"), 68, 65535, "an MTU")))
        s.networks.append((n["bridge"], sub))
    return s


# --- reading: our device, its neighbours and FDB entries, every vxlan link of the host --------------------
class Vxlan(object):
    """A vxlan link as read from the kernel."""

    __slots__ = ("index", "name", "alias", "mac", "mtu", "up", "vni", "port", "local", "link", "learning",
                 "group")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def read_vxlans(sock):
    """{name: Vxlan} of every vxlan link of the namespace."""
    out = {}
    for msg in dump(sock.get_links):
        attrs = attr_map(msg)
        info = attrs.get("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
            continue
        data = info.get_attr("IFLA_INFO_DATA")
        get = data.get_attr if data is not None and hasattr(data, "get_attr") else (lambda name: None)
        local = get("IFLA_VXLAN_LOCAL")
        out[attrs.get("IFLA_IFNAME")] = Vxlan(
            index=msg["index"], name=attrs.get("IFLA_IFNAME"), alias=attrs.get("IFLA_IFALIAS"),
            mac=(attrs.get("IFLA_ADDRESS") or "").lower() or None, mtu=attrs.get("IFLA_MTU"),
            up=bool(msg["flags"] & 1), vni=get("IFLA_VXLAN_ID"), port=get("IFLA_VXLAN_PORT"),
            local=ipaddress.ip_address(u"%s" % local) if local else None, link=get("IFLA_VXLAN_LINK"),
            learning=bool(get("IFLA_VXLAN_LEARNING")), group=get("IFLA_VXLAN_GROUP"))
    return out


def read_entries(sock, index):
    """(neighbours {ip: mac}, fdb {mac: underlay ip}, addresses [ip_interface], routes {net: (gw, oif, proto)})
    of our device: permanent neighbour and FDB entries only (the kernel's own stay out of it)."""
    neigh = {}
    for msg in dump(sock.get_neighbours, family=socket.AF_INET):
        if msg["ifindex"] != index or not msg["state"] & NUD_PERMANENT:
            continue
        attrs = attr_map(msg)
        if attrs.get("NDA_DST") and attrs.get("NDA_LLADDR"):
            neigh[ipaddress.ip_address(u"%s" % attrs.get("NDA_DST"))] = attrs.get("NDA_LLADDR").lower()
    fdb = {}
    for msg in dump(sock.fdb, "dump", ifindex=index):
        if msg["ifindex"] != index or not msg["state"] & NUD_PERMANENT:
            continue
        attrs = attr_map(msg)
        dst, mac = attrs.get("NDA_DST"), attrs.get("NDA_LLADDR")
        if dst and mac and mac != "00:00:00:00:00:00":
            fdb.setdefault(mac.lower(), []).append(ipaddress.ip_address(u"%s" % dst))
    addrs = []
    for msg in dump(sock.get_addr, family=socket.AF_INET):
        if msg["index"] != index:
            continue
        attrs = attr_map(msg)
        ip = attrs.get("IFA_LOCAL") or attrs.get("IFA_ADDRESS")
        if ip:
            addrs.append(ipaddress.ip_interface(u"%s/%d" % (ip, msg["prefixlen"])))
    return neigh, fdb, addrs


def read_routes(nl):
    """{dst network: (gateway or None, oif, protocol)} of the IPv4 main table's unicast routes (non-default; the
    host model's _hostmodel.main_routes; local, broadcast routes live in table local anyway)."""
    return dict((dst, (r.gateway, r.oif, r.proto)) for dst, r in main_routes(nl, socket.AF_INET).items()
                if r.type == "unicast")


def underlay_of(host, local, underlay):
    """(name, Link) of the interface holding the address local; a named underlay must be that one."""
    holders = sorted(name for name in host.links if any(i.ip == local for i in host.addresses(name)))
    if not holders:
        raise ValidationError("local", str(local), "is an address of no interface of this host (the underlay "
                              "address the other hosts send VXLAN packets to)")
    if underlay is not None and underlay not in holders:
        raise ValidationError("underlay", underlay, "does not hold local=%s (%s does)" % (local, holders[0]))
    name = underlay or holders[0]
    return name, host.links[name]


# --- ops -----------------------------------------------------------------------------------------------
def op_vxlan_add(nl, s, underlay, mac, mtu):
    def fn(index):
        nl.sock(None).link("add", ifname=s.device, kind="vxlan", index=index, vxlan_id=s.vni, vxlan_port=s.port,
                           vxlan_learning=0, vxlan_local=str(s.local), vxlan_link=nl.index(None, underlay),
                           address=mac, mtu=mtu)
    cmd = ("ip link add %s address %s mtu %d type vxlan id %d dstport %d local %s dev %s nolearning"
           % (s.device, mac, mtu, s.vni, s.port, s.local, underlay))
    return Action("link_add", s.device, cmd, _creating(nl, s.device, "vxlan", fn))


def op_addr(nl, verb, device, iface):
    def fn():
        nl.sock(None).addr(verb, index=nl.index(None, device), address=str(iface.ip), prefixlen=iface.network.prefixlen)
    return Action("addr_%s" % verb, device, "ip addr %s %s dev %s" % (verb, iface, device), fn)


def op_route(nl, verb, device, net, gw):
    def fn():
        kw = dict(dst=str(net.network_address), dst_len=net.prefixlen, family=socket.AF_INET, table=RT_TABLE_MAIN,
                  proto=RTPROT_NETPLUMB)
        if verb != "del":
            kw.update(gateway=str(gw), oif=nl.index(None, device), flags=RTNH_F_ONLINK)
        nl.sock(None).route(verb, **kw)
    if verb == "del":
        cmd = "ip route del %s proto %d" % (net, RTPROT_NETPLUMB)
    else:
        cmd = "ip route %s %s via %s dev %s onlink proto %d" % (verb, net, gw, device, RTPROT_NETPLUMB)
    return Action("route_%s" % verb, str(net), cmd, fn)


def op_neigh(nl, verb, device, ip, mac):
    def fn():
        kw = dict(ifindex=nl.index(None, device), dst=str(ip), family=socket.AF_INET)
        if verb != "del":
            kw.update(lladdr=mac, state=NUD_PERMANENT)
        nl.sock(None).neigh(verb, **kw)
    cmd = "ip neigh %s %s dev %s" % (verb, ip, device) + ("" if verb == "del" else " lladdr %s nud permanent" % mac)
    return Action("neigh_%s" % verb, str(ip), cmd, fn)


def op_fdb(nl, verb, device, mac, dst):
    def fn():
        nl.sock(None).fdb(verb, ifindex=nl.index(None, device), lladdr=mac, dst=str(dst))
    return Action("fdb_%s" % verb, mac, "bridge fdb %s %s dev %s dst %s self permanent" % (verb, mac, device, dst), fn)


# --- the firewall: VXLAN packets accepted from the fleet peers only, and the fleet exemptions ------------------
def input_intent(s):
    """UDP to the port accepted from each peer's underlay address (in address order), dropped from everyone else
    (filter INPUT, hooked first; owners netplumb:vxlan/peer and netplumb:vxlan/drop)."""
    return InputAllowance(OWNER, "udp", s.port, [addr for sub, addr in sorted(s.peers, key=lambda p: int(p[1]))])


def input_rules(s):
    """The iptables rendering of input_intent (for the readers of iptables rules)."""
    from ansible_collections.netplumb.container.plugins.module_utils import _firewall
    return _firewall.render_iptables([input_intent(s)])


# --- the plan ------------------------------------------------------------------------------------------
def _check_foreign(vxlans, s):
    """Refuse our name on a link that is not ours, and another vxlan link on our VNI or our port."""
    for name, x in sorted(vxlans.items()):
        if name == s.device:
            continue
        if x.vni == s.vni:
            raise StateError("vni=%d: vxlan link %s (%s) already uses VNI %d; refusing to share it (pick another "
                             "vni)" % (s.vni, name, "netplumb's" if x.alias == "netplumb" else "not netplumb's",
                                       s.vni))
        if x.port == s.port:
            raise StateError("port=%d: vxlan link %s (VNI %s, %s) already receives on UDP port %d; refusing to "
                             "share it (pick another port)" % (s.port, name, x.vni, "netplumb's" if x.alias ==
                                                               "netplumb" else "not netplumb's", s.port))


def plan(nl, spec, driver=None):
    s = validate(spec)
    host = nl.read(None)
    sock = nl.sock(None)
    vxlans = nl.memo(("vxlans",), lambda: read_vxlans(sock))
    p = Plan()
    cur = vxlans.get(s.device)
    lk = host.link(s.device)
    foreign = lk is not None and not is_ours(lk) and not pending(nl, None, lk)
    if s.state == "absent":
        return _plan_absent(nl, p, s, spec, driver, cur, lk, foreign)
    if lk is not None and lk.kind != "vxlan":
        raise StateError("device=%s: a link of kind %s holds the name, not a vxlan device; refusing to change it"
                         % (s.device, lk.kind))
    if foreign:
        raise NotOursError("device", s.device, lk.kind or "link", adopt_hint=False)
    _check_foreign(vxlans, s)
    underlay, ulink, mtu = _overlay_mtu(host, s)
    mac = vtep_mac(s.subnet)
    vtep = vtep_address(s.subnet)
    routes = read_routes(nl)
    wanted = dict((sub, (vtep_address(sub), vtep_mac(sub), addr)) for sub, addr in s.peers)
    _check_peer_routes(host, s, routes)
    recreate = cur is not None and (cur.vni != s.vni or cur.port != s.port or cur.local != s.local
                                    or cur.link != ulink.index or cur.learning or cur.group)
    if cur is not None and not recreate:
        neigh, fdb, addrs = read_entries(sock, cur.index)
    else:
        neigh, fdb, addrs = {}, {}, []
    before_routes = dict((n, r) for n, r in routes.items() if r[2] == RTPROT_NETPLUMB
                         and ((cur is not None and r[1] == cur.index)
                              or (s.cluster is not None and n.subnet_of(s.cluster))))
    p.before = dict(device=_describe(cur) if cur else None,
                    peers=_peers_view(neigh, fdb, dict((n, r[0]) for n, r in before_routes.items())))
    _plan_device(nl, p, s, cur, recreate, underlay, mac, mtu, addrs)
    want_neigh, want_fdb = _plan_peers(nl, p, s, cur, recreate, wanted, routes, before_routes, neigh, fdb)
    p.after = dict(device=dict(name=s.device, vni=s.vni, port=s.port, local=str(s.local), underlay=underlay,
                               mac=mac, mtu=mtu, learning=False),
                   peers=_peers_view(want_neigh, dict((m, [a]) for m, a in want_fdb.items()),
                                     dict((n, w[0]) for n, w in wanted.items())))
    p.extra.update(mtu=mtu, underlay=underlay, underlay_mtu=ulink.mtu, vtep=dict(address=str(vtep), mac=mac))
    if s.firewall or s.cluster is not None:
        _plan_firewall(p, s, spec, driver, s.networks)
    return p


def _plan_absent(nl, p, s, spec, driver, cur, lk, foreign):
    """state=absent: our device goes (its address, routes, neighbours and FDB entries with it). The role runs
    this on every fleet host in the other modes: a link of that name that is not ours is simply not our
    overlay - left alone, said once."""
    p.before = dict(device=_describe(cur) if cur and not foreign else None)
    if foreign:
        p.warn("device=%s: a %s of that name exists and is not netplumb's (no netplumb mark): left alone"
               % (s.device, lk.kind or "link"))
    elif lk is not None:
        p.add(op_link_del(nl, None, s.device))
    p.after = dict(device=None)
    if s.firewall:
        _plan_firewall(p, s, spec, driver, [])
    return p


def _overlay_mtu(host, s):
    """(underlay name, its Link, the overlay's MTU): the underlay's less VXLAN's overhead, which every network
    declared must fit in."""
    underlay, ulink = underlay_of(host, s.local, s.underlay)
    if ulink.mtu is None or ulink.mtu - OVERHEAD_V4 < 68:
        raise StateError("underlay=%s: MTU %s is too small for VXLAN (%d bytes of overhead)"
                         % (underlay, ulink.mtu, OVERHEAD_V4))
    mtu = ulink.mtu - OVERHEAD_V4
    for field, name, declared in s.mtus:
        if declared > mtu:
            raise ValidationError(field, declared, "network %s does not fit in the overlay: the underlay %s has MTU "
                                  "%d, minus %d for VXLAN over IPv4 leaves %d"
                                  % (name, underlay, ulink.mtu, OVERHEAD_V4, mtu))
    return underlay, ulink, mtu


def _check_peer_routes(host, s, routes):
    """A peer's subnet: no route to it that is not ours, no address of this host in it."""
    for i, (sub, addr) in enumerate(s.peers):
        r = routes.get(sub)
        if r is not None and r[2] != RTPROT_NETPLUMB:
            raise NotOursError("peers[%d].subnet" % i, str(sub), "route", detail="it exists via %s with protocol "
                               "%d, not netplumb's %d" % (r[0] or "a device", r[2], RTPROT_NETPLUMB),
                               adopt_hint=False)
        for name in host.links:
            for iface in host.addresses(name):
                if iface.version == 4 and iface.network.overlaps(sub) and name != s.device:
                    raise ValidationError("peers[%d].subnet" % i, str(sub), "overlaps %s on %s, an address of this "
                                          "host: the route would take it away" % (iface, name))


def _plan_device(nl, p, s, cur, recreate, underlay, mac, mtu, addrs):
    """The vxlan device: created (re-created when its VNI, port, local address, underlay, learning or group
    differ), else its mark, MAC and MTU set; up; any address on it removed."""
    if cur is None or recreate:
        if recreate:
            p.add(op_link_del(nl, None, s.device))
        p.add(op_vxlan_add(nl, s, underlay, mac, mtu))
        p.add(op_alias(nl, None, s.device))
    else:
        if cur.alias != "netplumb":
            p.add(op_alias(nl, None, s.device))     # a creation of ours that died before its mark
        if cur.mac != mac:
            p.add(op_link_set(nl, None, s.device, "address %s" % mac, address=mac))
        if cur.mtu != mtu:
            p.add(op_mtu(nl, None, s.device, mtu))
    if cur is None or recreate or not cur.up:
        p.add(op_up(nl, None, s.device))
    for iface in addrs:     # the device holds no address (see above): one found there is ours to remove
        p.add(op_addr(nl, "del", s.device, iface))


def _plan_peers(nl, p, s, cur, recreate, wanted, routes, before_routes, neigh, fdb):
    """Each peer's FDB entry, neighbour and route through the device: the entries of hosts that left first (a
    new host may reuse a VTEP address or MAC), then the wanted ones. Returns (wanted neighbours, wanted FDB)."""
    want_neigh = dict((ip, m) for ip, m, a in wanted.values())
    want_fdb = dict((m, a) for ip, m, a in wanted.values())
    for net, (gw, oif, proto) in sorted(before_routes.items(), key=lambda x: _key(x[0])):
        if net in wanted or recreate and oif == cur.index:
            continue    # wanted: replaced below if it differs; on a device re-created: gone with it
        p.add(op_route(nl, "del", s.device, net, gw))
    for ip, m in sorted(neigh.items()):
        if want_neigh.get(ip) != m:
            p.add(op_neigh(nl, "del", s.device, ip, m))
    for m, dsts in sorted(fdb.items()):
        for dst in dsts:
            if want_fdb.get(m) != dst:
                p.add(op_fdb(nl, "del", s.device, m, dst))
    for sub in sorted(wanted, key=_key):
        ip, m, addr = wanted[sub]
        if addr not in fdb.get(m, []):
            p.add(op_fdb(nl, "append", s.device, m, addr))
        if neigh.get(ip) != m:
            p.add(op_neigh(nl, "replace", s.device, ip, m))
        r = routes.get(sub)
        ok = (r is not None and not recreate and cur is not None and r[1] == cur.index and r[0] == ip)
        if not ok:
            p.add(op_route(nl, "replace", s.device, sub, ip))
    return want_neigh, want_fdb


def _plan_firewall(p, s, spec, driver, networks):
    """Our INPUT rules for the port (owners netplumb:vxlan/...) and, with cluster_cidr, the fleet exemptions
    (owners netplumb:fleet/BRIDGE, the ones host_gw_routes writes, here with the vxlan device as the
    interface towards the other hosts' containers)."""
    driver = driver or get_driver(spec.get("firewall_backend") or "auto")
    for w in driver.warnings:
        p.warn(w)
    current = driver.read()
    wanted = []
    present = s.state == "present"
    if present and s.firewall:
        wanted.append(input_intent(s))
    fleet = present and s.cluster is not None
    if fleet:
        wanted += _hostgw.exemptions(s.cluster, s.device, networks)

    def owned(owner):
        """The port rules (unless firewall=false) and, with a cluster CIDR, the fleet exemptions."""
        return (s.firewall and is_vxlan_owner(owner)) or (fleet and _hostgw.is_fleet_owner(owner))
    before, after = driver.plan(p, current, owned, wanted)
    p.before["rules"] = before
    p.after["rules"] = after


def gather(nl, host):
    """Our overlay devices (alias netplumb) as container_network_info reports them, in the arguments of this
    module that make them again: device, vni, port, local, underlay, mtu, subnet (this host's, when a bridge
    holds its VTEP network) and peers [{subnet, address}] (our routes through the device, each with the
    underlay address its VTEP MAC's FDB entry names). [] without a vxlan link of ours: no dump then."""
    if not any(lk.kind == "vxlan" and is_ours(lk) for lk in host.links.values()):
        return []
    sock = nl.sock(None)
    vxlans = nl.memo(("vxlans",), lambda: read_vxlans(sock))
    routes = read_routes(nl)
    by_index = dict((lk.index, name) for name, lk in host.links.items())
    out = []
    for name in sorted(vxlans):
        x = vxlans[name]
        if x.alias != "netplumb":
            continue
        neigh, fdb, dummy = read_entries(sock, x.index)
        peers = []
        for net, (gw, oif, proto) in sorted(routes.items(), key=lambda r: _key(r[0])):
            if oif != x.index or proto != RTPROT_NETPLUMB:
                continue
            mac = neigh.get(gw)
            dsts = fdb.get(mac) or []
            peers.append(dict(subnet=str(net), address=str(dsts[0]) if len(dsts) == 1 else None))
        vtep = None
        if x.mac and x.mac.startswith("0a:6e:"):
            vtep = ipaddress.ip_address(u".".join(str(int(b, 16)) for b in x.mac.split(":")[2:]))
        subnet = None
        for lname in sorted(host.links):
            if host.links[lname].kind != "bridge":
                continue
            for iface in host.addresses(lname):
                if vtep is not None and iface.version == 4 and iface.network.network_address == vtep:
                    subnet = str(iface.network)
        out.append(dict(device=name, vni=x.vni, port=x.port, local=str(x.local) if x.local else None,
                        underlay=by_index.get(x.link), mtu=x.mtu, up=x.up, subnet=subnet, peers=peers))
    return out


def _key(net):
    return (int(net.network_address), net.prefixlen)


def _describe(x):
    return dict(name=x.name, vni=x.vni, port=x.port, local=str(x.local) if x.local else None, mac=x.mac, mtu=x.mtu,
                learning=x.learning, alias=x.alias)


def _peers_view(neigh, fdb, routes):
    out = []
    mac_of = dict(neigh)
    for net in sorted(routes, key=_key):
        gw = routes[net]
        mac = mac_of.get(gw)
        out.append("%s via %s lladdr %s dst %s" % (net, gw, mac, ",".join(str(d) for d in fdb.get(mac, [])) or None))
    return out
