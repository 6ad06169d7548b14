# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's container networks read back into the schema of ``container_networks`` (container_network_info).

Reads only, with the readers the planners use, and no dump of its own: _nl (one dump of links, addresses and
default routes per namespace: the host's and every named one), the host model (_preflight.read_host: its
uplinks, and which named namespace the peer of a veth lives in), the firewall driver's read of our chains (the
rules with our owner comments) and _hostfw's model of every other firewall (the same iptables-save texts, and
the native nftables tables).

A network of the schema is found for every bridge of the host with an IPv4 address (its primary one gives the
subnet and the gateway; a bridge of ours without one, the subnet its rules name) that is neither the host's
uplink nor another tool's (a rule in Docker's, podman's, libvirt's... chains names it): ours (alias
``netplumb``) and hand-made ones alike. Its containers are its veth ports whose peer lives in a named namespace
with an IPv4 address in the subnet: the namespace is the container's name, the address its address, and the
two link names its ``veth`` and ``interface`` keys when they are not the defaults. Its flags and published
ports come from the rules:

* ours, by their owner comments: ``netplumb:BRIDGE`` are container_nat's (masquerade, icc and isolate are the
  combination whose rules _fwnet.nat_rules makes), ``netplumb:BRIDGE:PROTO/[IP:]PORTS`` a published port (its
  DNAT's destination names the container);
* others', as the tutorials write them: ``-t nat -A POSTROUTING -s SUBNET [! -o BRIDGE] -j MASQUERADE`` is
  masquerade; ``-t nat -A PREROUTING|OUTPUT [-d HOST_IP] -p PROTO --dport PORT -j DNAT --to-destination
  IP[:PORT]`` a published port of the container with that address; an accept in FORWARD that only names the
  network (its bridge, its subnet, ports, conntrack states) is what the schema's network accepts anyway, and
  ``-A FORWARD -i BRIDGE -o BRIDGE -j DROP`` is icc false. A hand-made network without isolation rules is
  ``isolate: false``; ports that are all isolated are ``icc: false``.

Everything of that kind the schema cannot express goes to ``unmanaged`` as {kind, name, reason}, never dropped
silently: another tool's bridges and chains, a bridge without an address, a port that is no veth to a named
namespace, a veth on no bridge, a named namespace that is no container, a second address, a missing or other
default route, a link of a container that is not its veth, a rule that does not map (each named by its
command), rules of ours whose bridge is not gathered. Out of scope: the host's own links (its uplink is in
``host.uplinks``), and filter rules that name neither a gathered bridge nor a gathered subnet (the host's own
firewall). Routes other than the default route inside a namespace are not read.

The value is validated with the role's own parser (_netspec.parse) before it is returned: an element the
parser refuses (a subnet of a range the role refuses, two networks overlapping, a port published twice...)
moves to ``unmanaged`` with the parser's words, so what is returned always parses with no error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.netplumb.container.plugins.module_utils import _hostfw, _netspec, _preflight, _vxlan
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import OWNER_PREFIX
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import format_fwmark
from ansible_collections.netplumb.container.plugins.module_utils._fwnet import nat_rules, sysctl_read
from ansible_collections.netplumb.container.plugins.module_utils._portmap import PROTOCOLS
from ansible_collections.netplumb.container.plugins.module_utils._owner import is_ours, pending
from ansible_collections.netplumb.container.plugins.module_utils._prune import (
    bridge_name, rule_subnet, suggested_name)

NSID_NONE = 4294967295
DEFAULT_MTU = 1500
LOOPBACK = ipaddress.ip_network(u"127.0.0.0/8")
# Other tools' container networks, by the names of their iptables chains (and of their nftables tables)
TOOLS = (("DOCKER", "Docker"), ("NETAVARK", "podman (netavark)"), ("CNI-", "CNI"), ("LIBVIRT_", "libvirt"),
         ("LXD", "LXD"), ("KUBE-", "Kubernetes"), ("CILIUM", "Cilium"), ("FLANNEL", "flannel"),
         ("CALI-", "Calico"))
_PATH = re.compile(r"^%s\[(\d+)\](?:\.containers\[(\d+)\](?:\.publish\[(\d+)\])?)?" % re.escape(_netspec.ROOT))


def _tool(table, chain):
    """The tool whose chain (iptables) or table (nftables) this is, or None."""
    if chain is None:
        return None
    for prefix, tool in TOOLS:
        if table.iptables and chain.upper().startswith(prefix):
            return tool
        if not table.iptables and table.name.lower().startswith(prefix.lower().rstrip("-_")):
            return tool
    return None


def _named(rule):
    """Interface names a rule's conditions give (wildcards and all)."""
    return [v for c in rule.conds if c.key in ("iif", "oif") for v in c.values]


def _ports(lo_hi):
    lo, hi = lo_hi
    return "%d" % lo if lo == hi else "%d-%d" % (lo, hi)


def _destination(text):
    """A DNAT destination ``IP[:PORT[-PORT][/BASE]]`` -> (address, (lo, hi) or None, shifted), or None."""
    if not text:
        return None
    addr, colon, ports = text.partition(":")
    try:
        ip = ipaddress.ip_address(u"%s" % addr)
    except ValueError:
        return None
    if not colon:
        return ip, None, False
    ports, slash, dummy = ports.partition("/")
    lo, dash, hi = ports.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        return None
    return ip, (int(lo), int(hi or lo)), bool(slash)


class Container:
    """A veth port of a gathered bridge whose peer is in a named namespace, addressed in the subnet."""

    def __init__(self, name, address, veth, interface, owned, gateway):
        self.name = name
        self.address = address
        self.veth = veth
        self.interface = interface
        self.owned = owned
        self.gateway = gateway      # the default route the namespace has (None: none)
        self.publish = {}           # publish text -> [names of the rules it stands for]

    def value(self):
        out = dict(name=self.name, address=str(self.address))
        if self.veth != _netspec.host_veth(self.name):
            out["veth"] = self.veth
        if self.interface != _netspec.PEER:
            out["interface"] = self.interface
        if self.publish:
            out["publish"] = sorted(self.publish, key=_publish_order)
        return out


def _depth(drop):
    """A drop ((network, container or None, publish text or None), error) by what it removes: a whole network
    first, then a container, then a published port."""
    return (drop[0][1] is not None, drop[0][2] is not None)


def _publish_order(text):
    """By first host port, then protocol and host address."""
    spec, dummy, proto = text.partition("/")
    parts = spec.split(":")
    return (int(parts[-2].split("-")[0]), proto, parts[0] if len(parts) == 3 else "", text)


class Network:
    """A gathered bridge: its subnet, gateway, flags, containers and the rules of others it stands for."""

    def __init__(self, link, owned, subnet, gateway):
        self.bridge = link.name
        self.link = link
        self.owned = owned
        self.subnet = subnet
        self.gateway = gateway
        self.name = None
        self.containers = []
        self.masquerade = False
        self.icc = True
        self.isolate = False
        self.mtu = None
        self.fwmark = None          # docker_accept_fwmark (nftables driver)
        self.rules = []             # names of rules of others this network stands for
        self.our_nat = []           # our rules of owner netplumb:BRIDGE
        self.owners = []            # the owner comments of our rules it stands for

    def adopting(self):
        """Whether anything of it is not ours (the bridge, a veth or a namespace): it takes adopt to take over."""
        return not self.owned or not all(c.owned for c in self.containers)

    def value(self, adopt):
        out = dict(name=self.name, bridge=self.bridge, subnet=str(self.subnet), gateway=str(self.gateway),
                   masquerade=self.masquerade, icc=self.icc, isolate=self.isolate)
        if self.mtu is not None:
            out["mtu"] = self.mtu
        if self.fwmark is not None:
            out["docker_accept_fwmark"] = self.fwmark
        if adopt and self.adopting():
            out["adopt"] = True
        out["containers"] = [c.value() for c in self.containers]
        return out

    def meta(self):
        return dict(name=self.name, bridge=self.bridge, owned=self.owned, rules=list(self.rules),
                    containers=[dict(name=c.name, owned=c.owned, veth=c.veth, interface=c.interface,
                                     default_route=None if c.gateway is None else str(c.gateway))
                                for c in self.containers])


class Gather:
    """One gather from what the readers read: ``host`` (_nl.NsState of the host), ``facts`` (_preflight's host
    model), ``namespaces`` ({name: NsState}), ``ruleset`` (our chains as the driver read them, or None),
    ``firewalls`` (_hostfw.HostFirewalls, or None), ``ours(ns, link)`` (the link carries our mark)."""

    def __init__(self, host, facts, namespaces, ruleset=None, firewalls=None, ours=None):
        self.host = host
        self.facts = facts
        self.nsids = facts.named_nsids() if facts.named_nsids is not None else {}
        self.uplinks = facts.uplinks()
        self.namespaces = namespaces
        self.ours_rules = list(ruleset.rules()) if ruleset is not None else []
        # the nftables driver's marks for Docker (docker_accept_fwmark), read back with its network intents
        self.fwmarks = dict((i.bridge, format_fwmark(i.accept_fwmark)) for i in
                            (ruleset.intents()[0] if hasattr(ruleset, "intents") else [])
                            if getattr(i, "accept_fwmark", None) is not None)
        self.fw = firewalls
        self.ours = ours or (lambda ns, lk: is_ours(lk))
        self.unmanaged = []
        self.networks = []          # gathered, in bridge order
        self.by_bridge = {}
        self.by_subnet = {}
        self.by_ip = {}             # container address -> (network, container)
        self.ns_why = {}            # namespace -> why it is no container (a veth on no bridge...)
        self.taken = {}             # namespace -> the Container it is
        self.tool_bridges = {}      # bridge -> [tool, number of rules concerning it]
        self.tool_subnets = {}      # subnet of another tool's bridge -> the bridge
        self.tool_chains = {}       # (tool, where, chain) -> number of rules

    def note(self, kind, name, reason):
        self.unmanaged.append(dict(kind=kind, name=name, reason=reason))

    # --- links ------------------------------------------------------------------------------------------
    def run(self, adopt=False):
        self.find_tools()
        for lk in sorted((x for x in self.host.links.values() if x.kind == "bridge"), key=lambda x: x.name):
            self.bridge(lk)
        self.loose_veths()
        self.rules_of_others()
        self.rules_of_ours()
        for net in self.networks:
            self.flags(net)
            net.fwmark = self.fwmarks.get(net.bridge)
        for (tool, where, chain), count in sorted(self.tool_chains.items()):
            self.note("chain", "%s chain %s" % (where, chain),
                      "%s's chain (%d rule%s): another tool's, not gathered" % (tool, count, "" if count == 1 else "s"))
        value = self.validate(adopt)
        self.lone_namespaces()
        return dict(container_networks=value, networks_meta=[n.meta() for n in self.networks],
                    unmanaged=self.unmanaged)

    def peer_of(self, lk):
        """(namespace name, None for the host's own or False for one with no name; the peer Link or None)."""
        nsid = lk.peer_netnsid
        if nsid is None or nsid < 0 or nsid == NSID_NONE:
            return None, self.host.by_index.get(lk.peer_index)
        ns = self.nsids.get(nsid)
        if ns is None or ns not in self.namespaces:
            return False, None
        return ns, self.namespaces[ns].by_index.get(lk.peer_index)

    def ports(self, lk):
        return sorted((x for x in self.host.links.values() if x.master == lk.index), key=lambda x: x.name)

    def bridge(self, lk):
        name = lk.name
        if name in self.uplinks:
            self.note("bridge", name, "the host's uplink (%s): never a container network" % self.uplinks[name])
            return
        if name in self.tool_bridges:
            tool, count = self.tool_bridges[name]
            self.note("bridge", name, "%s's network (%d of its rules name it): %s manages it, not gathered"
                      % (tool, count, tool))
            for port in self.ports(lk):
                self.skip_port(port, "a port of %s's bridge %s" % (tool, name))
            return
        owned = self.ours(None, lk)
        addrs = self.host.addresses(name)
        v4 = [a for a in addrs if a.version == 4]
        for a in addrs:
            if a.version != 4:
                self.note("address", "%s %s" % (name, a.with_prefixlen), "an IPv6 address of bridge %s: the "
                          "schema's networks are IPv4 (the bridges it makes carry no IPv6)" % name)
        if v4:
            subnet, gateway = v4[0].network, v4[0].ip
            for a in v4[1:]:
                self.note("address", "%s %s" % (name, a.with_prefixlen), "a second IPv4 address of bridge %s: a "
                          "network of the schema puts one address on its bridge, its gateway (%s)"
                          % (name, v4[0].with_prefixlen))
        else:
            ruled = rule_subnet([r for r in self.ours_rules if r.owner], name) if owned else None
            if ruled is None:
                self.note("bridge", name, "has no IPv4 address: a network of the schema is a subnet whose gateway "
                          "address is on its bridge")
                for port in self.ports(lk):
                    self.skip_port(port, "a port of bridge %s, which has no address (not gathered)" % name)
                return
            subnet = ipaddress.ip_network(u"%s" % ruled)
            gateway = subnet.network_address + 1
            self.note("address", name, "bridge %s of ours has no IPv4 address; its rules name subnet %s: the "
                      "schema puts the gateway %s/%d on the bridge, and this value fed back adds it"
                      % (name, subnet, gateway, subnet.prefixlen))
        net = Network(lk, owned, subnet, gateway)
        if lk.stp:
            self.note("setting", name, "STP is on: the bridges of the schema have STP off")
        mtus = set([lk.mtu])
        isolated = []
        for port in self.ports(lk):
            c = self.port(net, port)
            if c is not None:
                peer = self.namespaces[c.name].link(c.interface)
                mtus.update([port.mtu, peer.mtu if peer is not None else port.mtu])
                isolated.append(bool(port.isolated))
        net.containers.sort(key=lambda c: c.name)
        if len(mtus) == 1:
            net.mtu = None if mtus == set([DEFAULT_MTU]) else lk.mtu
        else:
            self.note("setting", name, "MTUs differ between bridge %s and its containers' veths (%s): the schema "
                      "gives them one MTU, left unmanaged here" % (name, ", ".join(str(m) for m in sorted(mtus))))
        if isolated and all(isolated):
            net.icc = False
        elif any(isolated):
            self.note("setting", name, "some ports of bridge %s are isolated, others not: the schema isolates all "
                      "of a network's ports (icc: false) or none" % name)
        self.networks.append(net)
        self.by_bridge[name] = net
        self.by_subnet.setdefault(subnet, net)

    def skip_port(self, port, why):
        ns, peer = self.peer_of(port) if port.kind == "veth" else (None, None)
        if ns:
            self.ns_why.setdefault(ns, "its veth %s leads to %s (see it)" % (
                peer.name if peer is not None else "?", port.name))
        self.note("veth" if port.kind == "veth" else "link", port.name, why)

    def port(self, net, p):
        """The container behind port p of net's bridge, or None (noted)."""
        where = "a port of bridge %s" % net.bridge
        if p.kind != "veth":
            self.note("link", p.name, "%s of kind %s: the bridges of the schema hold containers' veths only"
                      % (where, p.kind or "unknown"))
            return None
        ns, peer = self.peer_of(p)
        if ns is None:
            self.note("veth", p.name, "%s whose peer %s is in the host's own namespace: a container is a named "
                      "namespace" % (where, peer.name if peer is not None else "?"))
            return None
        if ns is False:
            self.note("veth", p.name, "%s whose peer is in a namespace with no name under /run/netns (another "
                      "tool's container?): a container of the schema is a named namespace" % where)
            return None
        if peer is None:
            self.note("veth", p.name, "%s whose peer was not found in namespace %s" % (where, ns))
            return None
        if ns in self.taken:
            self.note("veth", p.name, "%s leading to namespace %s, which is already the container behind %s: "
                      "the schema has one veth per container" % (where, ns, self.taken[ns].veth))
            return None
        st = self.namespaces[ns]
        addrs = st.addrs.get(peer.index, [])
        inside = [a for a in addrs if a.version == 4 and a.ip in net.subnet]
        if not inside:
            self.ns_why[ns] = "its veth %s leads to %s on bridge %s, without an address in %s" % (
                peer.name, p.name, net.bridge, net.subnet)
            self.note("veth", p.name, "%s leading to %s in namespace %s, which has no IPv4 address in %s%s: a "
                      "container has one" % (where, peer.name, ns, net.subnet, " (it has %s)" % ", ".join(
                          a.with_prefixlen for a in addrs) if addrs else ""))
            return None
        addr = inside[0]
        label = "%s %s" % (ns, peer.name)
        for a in addrs:
            if a != addr:
                self.note("address", "%s %s" % (label, a.with_prefixlen), "another address of container %s: the "
                          "schema gives a container one (%s)" % (ns, addr.ip))
        if addr.network.prefixlen != net.subnet.prefixlen:
            self.note("address", "%s %s" % (label, addr.with_prefixlen), "its prefix is not the network's (%s): "
                      "the schema gives container %s %s/%d" % (net.subnet, ns, addr.ip, net.subnet.prefixlen))
        gw = st.routes.get(4)
        if gw != net.gateway:
            self.note("route", ns, "%s in namespace %s: the schema's containers have their default route via the "
                      "gateway %s, and this value fed back sets it"
                      % ("no default route" if gw is None else "the default route via %s" % gw, ns, net.gateway))
        if st.routes.get(6) is not None:
            self.note("route", ns, "an IPv6 default route via %s in namespace %s: the schema's networks are IPv4"
                      % (st.routes[6], ns))
        for other in sorted(st.links.values(), key=lambda x: x.name):
            if other.index != peer.index and other.kind != "loopback" and other.name != "lo":
                self.note("link", "%s %s" % (ns, other.name), "a link of container %s that is not its veth (%s): "
                          "the schema gives a container one interface" % (ns, peer.name))
        owned = self.ours(None, p) and self.ours(ns, st.link("lo"))
        c = Container(ns, addr.ip, p.name, peer.name, owned, gw)
        net.containers.append(c)
        self.taken[ns] = c
        self.by_ip.setdefault(addr.ip, (net, c))
        return c

    def loose_veths(self):
        """Veths of the host on no bridge (the tutorials' first step), but the uplink's."""
        seen = set()
        for lk in sorted(self.host.links.values(), key=lambda x: x.name):
            if lk.kind != "veth" or lk.name in self.uplinks or lk.name in seen:
                continue
            master = self.host.by_index.get(lk.master) if lk.master else None
            if master is not None and master.kind == "bridge":
                continue
            ns, peer = self.peer_of(lk)
            if ns is None and peer is not None and peer.master and peer.name not in self.uplinks and \
                    getattr(self.host.by_index.get(peer.master), "kind", None) == "bridge":
                continue    # the twin of a bridge port, listed with the port
            if ns is None:
                other = peer.name if peer is not None else "?"
                seen.add(other)
                self.note("veth", lk.name, "a veth pair with both ends (%s, %s) in the host's namespace and on no "
                          "bridge: no container network" % (lk.name, other))
            elif ns is False:
                self.note("veth", lk.name, "a veth on no bridge whose peer is in a namespace with no name under "
                          "/run/netns: no container of the schema")
            else:
                self.ns_why.setdefault(ns, "its veth %s leads to %s, on no bridge (see it)" % (
                    peer.name if peer is not None else "?", lk.name))
                self.note("veth", lk.name, "a veth on no bridge, its peer %s in namespace %s: the containers of the "
                          "schema hang on a bridge (ip link set %s master BRIDGE, and the bridge's address as "
                          "their gateway)" % (peer.name if peer is not None else "?", ns, lk.name))

    def lone_namespaces(self):
        """Named namespaces that are no gathered container."""
        used = set(c.name for n in self.networks for c in n.containers)
        twins = {}
        for name in self.uplinks:
            lk = self.host.link(name)
            if lk is not None and lk.kind == "veth":
                ns, dummy = self.peer_of(lk)
                if ns:
                    twins.setdefault(ns, name)
        for ns in sorted(self.namespaces):
            if ns in used:
                continue
            if ns in twins:
                why = "holds the twin of the host's uplink %s" % twins[ns]
            elif ns in self.ns_why:
                why = self.ns_why[ns]
            else:
                links = sorted(lk.name for lk in self.namespaces[ns].links.values() if lk.name != "lo")
                why = "no veth from it reaches a bridge of this host%s" % (
                    " (its links: %s)" % ", ".join(links) if links else "")
            self.note("namespace", ns, "%s: no container of the schema" % why)

    # --- rules ------------------------------------------------------------------------------------------
    def find_tools(self):
        """Bridges that rules in other tools' chains (or jumping into them) name, with the number of rules that
        concern each (naming it, or an address of its subnet): those rules are the tool's, not listed apart."""
        if self.fw is None:
            return
        found = {}
        for t, c, r in self.all_rules():
            tool = _tool(t, c.name) or (_tool(t, r.target) if r.verdict in ("jump", "goto") else None)
            for name in _named(r) if tool is not None else ():
                lk = self.host.links.get(name)
                if lk is not None and lk.kind == "bridge":
                    found.setdefault(name, tool)
        self.tool_subnets = dict((a.network, name) for name in found for a in self.host.addresses(name)
                                 if a.version == 4)
        counts = {}
        for t, c, r in self.all_rules():
            for name in self.tool_bridges_of(r, found):
                counts[name] = counts.get(name, 0) + 1
        self.tool_bridges = dict((name, [tool, counts.get(name, 0)]) for name, tool in found.items())

    def all_rules(self):
        for t in self.fw.tables:
            if t.family in _hostfw.FAMILIES:
                for c in t.chains.values():
                    for r in c.rules:
                        if r.verdict != "ours":
                            yield t, c, r

    def tool_bridges_of(self, r, bridges=None):
        """The other tools' bridges a rule concerns: named, or by an address inside their subnet."""
        bridges = self.tool_bridges if bridges is None else bridges
        out = set(n for n in _named(r) if n in bridges)
        for cond in r.conds:
            if cond.key in ("saddr", "daddr") and not cond.neg:
                out.update(name for v in cond.values if v is not None for net, name in self.tool_subnets.items()
                           if v.version == 4 and v.subnet_of(net))
        return sorted(out)

    def rule_name(self, table, chain, rule):
        if table.iptables:
            tool = "iptables" if table.source == self.fw.ours else table.source
            return "%s -t %s -A %s %s" % (tool, table.name, chain.name, rule.text)
        return "nftables table %s %s chain %s: %s" % (table.family, table.name, chain.name, rule.text)

    def rules_of_others(self):
        if self.fw is None:
            return
        for t, c, r in self.all_rules():
            tool = _tool(t, c.name)
            if tool is not None:
                key = (tool, t.where(), c.name)
                self.tool_chains[key] = self.tool_chains.get(key, 0) + 1
            elif (r.verdict in ("jump", "goto") and _tool(t, r.target)) or self.tool_bridges_of(r):
                continue    # counted with the other tool's bridge
            else:
                self.rule_of_others(t, c, r)

    def rule_of_others(self, t, c, r):
        name = self.rule_name(t, c, r)
        if r.verdict == "masquerade":
            self.masquerade(name, c, r)
        elif r.verdict == "dnat":
            self.dnat(name, c, r)
        elif r.verdict == "snat":
            self.note("rule", name, "an SNAT: the schema's egress is MASQUERADE of a network's subnet")
        else:
            nets = self.named_networks(r)
            if nets:
                self.filter_rule(name, c, r, nets)

    def named_networks(self, r):
        """The gathered networks a rule names: by bridge, or by an address inside a subnet."""
        out = []
        for cond in r.conds:
            found = []
            if cond.key in ("iif", "oif"):
                found = [self.by_bridge[v] for v in cond.values if v in self.by_bridge]
            elif cond.key in ("saddr", "daddr") and not cond.neg:
                found = [n for v in cond.values if v is not None for n in self.networks
                         if v.version == 4 and v.subnet_of(n.subnet)]
            out.extend(n for n in found if n not in out)
        return out

    def masquerade(self, name, chain, r):
        if chain.hook != "postrouting":
            self.note("rule", name, "a MASQUERADE in chain %s: the schema's is in POSTROUTING" % chain.name)
            return
        src = [c for c in r.conds if c.key == "saddr"]
        if len(src) != 1 or src[0].neg or len(src[0].values) != 1 or src[0].values[0] is None:
            self.note("rule", name, "a MASQUERADE that is not of one source subnet: the schema's masquerades a "
                      "network's subnet")
            return
        subnet = src[0].values[0]
        net = self.by_subnet.get(subnet)
        if net is None:
            self.note("rule", name, "masquerades %s, the subnet of no gathered network" % subnet)
            return
        for cond in r.conds:
            if cond is src[0] or (cond.key == "oif" and cond.neg and cond.values == [net.bridge]) or \
                    (cond.key == "daddr" and cond.neg and cond.values == [subnet]):
                continue
            self.note("rule", name, "masquerades %s only with %s: the schema's masquerade is -s %s ! -o %s (any "
                      "interface but the bridge)" % (subnet, cond.text(), subnet, net.bridge))
            return
        net.masquerade = True
        net.rules.append(name)

    def dnat(self, name, chain, r):
        if chain.type != "nat" or chain.hook not in ("prerouting", "output"):
            self.note("rule", name, "a DNAT in chain %s: the schema's published ports are DNATs appended to "
                      "PREROUTING and OUTPUT" % chain.name)
            return
        dest = _destination(r.target)
        if dest is None:
            self.note("rule", name, "a DNAT or REDIRECT without an IPv4 destination the schema can name")
            return
        ip, cports, shifted = dest
        if ip not in self.by_ip:
            self.note("rule", name, "DNATs to %s, the address of no gathered container" % ip)
            return
        net, cont = self.by_ip[ip]
        proto, hports, host_ip, odd = None, None, None, []
        for cond in r.conds:
            one = not cond.neg and len(cond.values) == 1
            if cond.key == "proto" and one and cond.values[0] in PROTOCOLS:
                proto = cond.values[0]
            elif cond.key == "dport" and one:
                hports = cond.values[0]
                proto = proto or cond.proto
            elif cond.key == "daddr" and one and cond.values[0] is not None and cond.values[0].prefixlen == 32:
                host_ip = cond.values[0].network_address
            elif cond.key == "daddr" and cond.neg and cond.values == [LOOPBACK]:
                continue    # every address but loopback: what the schema's every-address rules say
            elif cond.key == "local" and not cond.neg:
                continue    # addressed to the host: every address of it
            elif cond.key == "iif" and cond.neg and cond.values == [net.bridge]:
                continue    # not from the network itself (Docker's form)
            else:
                odd.append(cond.text())
        why = None
        if odd:
            why = "its condition%s %s: the schema publishes on every address or on one address of the host" % (
                "s" if len(odd) > 1 else "", ", ".join(odd))
        elif proto is None or hports is None:
            why = "no single protocol and destination port: the schema publishes ports of tcp, udp or sctp"
        elif host_ip is not None and host_ip in LOOPBACK and chain.hook == "prerouting":
            why = "a loopback destination in PREROUTING: the schema's loopback ports are the host's own (OUTPUT)"
        elif host_ip is not None and not self.facts.is_local(host_ip):
            why = "%s is no address of this host: the role would refuse it" % host_ip
        cports = cports or hports
        if why is None and cports[1] - cports[0] != hports[1] - hports[0]:
            why = "host ports %s and container ports %s differ in length" % (_ports(hports), _ports(cports))
        if why is None and cports != hports and cports[0] != cports[1] and not shifted:
            why = "a range DNATed to another range without a base port: the schema maps port by port"
        if why is not None:
            self.note("rule", name, why)
            return
        text = "%s%s:%s/%s" % ("%s:" % host_ip if host_ip is not None else "", _ports(hports), _ports(cports), proto)
        cont.publish.setdefault(text, []).append(name)
        net.rules.append(name)

    def filter_rule(self, name, chain, r, nets):
        net = nets[0]
        if len(nets) > 1:
            self.note("rule", name, "names networks %s: the schema's rules name one network"
                      % ", ".join(n.bridge for n in nets))
            return
        if chain.hook == "forward" and r.verdict == "drop" and len(r.conds) == 2 and \
                all(c.key in ("iif", "oif") and not c.neg and c.values == [net.bridge] for c in r.conds) and \
                set(c.key for c in r.conds) == set(["iif", "oif"]):
            net.icc = False         # -A FORWARD -i BRIDGE -o BRIDGE -j DROP: its containers may not talk
            net.rules.append(name)
            return
        plain = all(c.key in ("proto", "dport", "ctstate", "ctstatus")
                    or (c.key in ("iif", "oif") and c.values == [net.bridge])
                    or (c.key in ("saddr", "daddr") and not c.neg and all(
                        v is not None and v.version == 4 and v.subnet_of(net.subnet) for v in c.values))
                    for c in r.conds)
        if chain.hook == "forward" and r.verdict == "accept" and plain:
            net.rules.append(name)      # what the schema's network accepts anyway
            return
        self.note("rule", name, "a rule naming network %s (%s) that the schema does not make" % (
            net.bridge, net.subnet))

    def rules_of_ours(self):
        by_owner = {}
        order = []
        for r in self.ours_rules:
            if r.owner not in by_owner:
                order.append(r.owner)
            by_owner.setdefault(r.owner, []).append(r)
        for owner in order:
            rules = by_owner[owner]
            if owner is None:
                for r in rules:
                    unread = getattr(r, "unread", None)     # the nftables read back's rules it could not map
                    if unread is not None:
                        self.note("rule", unread[0], unread[1])
                        continue
                    self.note("rule", "iptables " + r.text(), "in our chain %s without our owner comment: the next "
                              "run of container_network removes it" % r.chain)
                continue
            bridge = bridge_name(owner)
            if bridge is None:
                self.note("rule", owner, "%d rule%s of ours that belong to no network (host_gw_routes' and "
                          "swarm_firewall's owners name no bridge)" % (len(rules), "" if len(rules) == 1 else "s"))
                continue
            net = self.by_bridge.get(bridge)
            if net is None:
                self.note("rule", owner, "%d rule%s of ours naming bridge %s, which %s: container_network with "
                          "prune=true removes them" % (len(rules), "" if len(rules) == 1 else "s", bridge,
                                                       "does not exist" if self.host.link(bridge) is None
                                                       else "is not gathered (see it)"))
            elif owner == OWNER_PREFIX + bridge:
                net.our_nat = rules
                net.owners.append(owner)
            else:
                self.our_port(net, owner, rules)

    def our_port(self, net, owner, rules):
        """A published port of ours: its owner says protocol, host address and host ports, its DNAT where."""
        key = owner[len(OWNER_PREFIX) + len(net.bridge) + 1:]
        proto, dummy, rest = key.partition("/")
        host_ip, dummy, hports = rest.rpartition(":")
        dest = None
        for r in rules:
            args = list(r.args)
            if "--to-destination" in args[:-1]:
                dest = _destination(args[args.index("--to-destination") + 1])
                break
        found = self.by_ip.get(dest[0]) if dest is not None else None
        if found is None or found[0] is not net:
            self.note("rule", owner, "a published port of ours%s, and no gathered container of network %s has "
                      "that address" % (" to %s" % dest[0] if dest is not None else " without a DNAT", net.bridge))
            return
        cports = _ports(dest[1]) if dest[1] is not None else hports
        text = "%s%s:%s/%s" % ("%s:" % host_ip if host_ip else "", hports, cports, proto)
        found[1].publish.setdefault(text, [])
        net.owners.append(owner)

    def flags(self, net):
        """masquerade, icc and isolate of a network with container_nat's rules: the combination whose rules
        _fwnet.nat_rules makes; else read rule by rule (and noted: the next run rewrites them)."""
        if not net.our_nat:
            return
        bridge = net.bridge
        ruled = rule_subnet(net.our_nat, bridge)
        if ruled is not None and ipaddress.ip_network(u"%s" % ruled) != net.subnet:
            self.note("rule", OWNER_PREFIX + bridge, "our NAT rules of bridge %s name subnet %s, its address %s: "
                      "this value gives the network the bridge's" % (bridge, ruled, net.subnet))
        have = set(r.key for r in net.our_nat)
        subnet = ruled or str(net.subnet)
        for masq in (True, False):
            for icc in (True, False):
                for isolate in (True, False):
                    if have == set(r.key for r in nat_rules(bridge, subnet, masq, isolate, icc)):
                        net.masquerade = net.masquerade or masq
                        net.icc, net.isolate = icc, isolate
                        return
        args = [r.args for r in net.our_nat]
        net.masquerade = net.masquerade or any(a[-1] == "MASQUERADE" and "!" in a and "-o" in a for a in args)
        net.icc = not any(a[:4] == ("-i", bridge, "-o", bridge) and a[-1] == "DROP" for a in args)
        net.isolate = not any(a[-2:] == ("-j", "RETURN") for a in args)
        self.note("rule", OWNER_PREFIX + bridge, "our NAT rules of bridge %s are not those container_nat makes for "
                  "any masquerade, icc and isolate (read one by one; the next run rewrites them)" % bridge)

    # --- the value --------------------------------------------------------------------------------------
    def name_networks(self):
        taken = set()
        for net in self.networks:
            base = re.sub(r"[^A-Za-z0-9._-]", "_", suggested_name(net.bridge)).lstrip("-") or "net"
            name, i = base, 1
            while name in taken:
                i += 1
                name = "%s-%d" % (base, i)
            taken.add(name)
            net.name = name

    def validate(self, adopt):
        """The value, each element the role's parser refuses moved to unmanaged with the parser's words."""
        self.name_networks()
        while True:
            value = [n.value(adopt) for n in self.networks]
            errors = _netspec.parse(value)["errors"]
            if not errors:
                return value
            drops = {}
            for err in errors:
                m = _PATH.match(err)
                if m is None:
                    raise StateError("container_network_info: the gathered value does not parse: %s" % err)
                i, j, k = [int(x) if x is not None else None for x in m.groups()]
                net = self.networks[i]
                if j is None:
                    drops.setdefault((net, None, None), err)
                else:
                    cont = net.containers[j]
                    key = None if k is None else value[i]["containers"][j]["publish"][k]
                    drops.setdefault((net, cont, key), err)
            for (net, cont, key), err in sorted(drops.items(), key=_depth):    # networks, containers, ports
                self.drop(net, cont, key, err)

    def drop(self, net, cont, key, err):
        if cont is None:
            if net not in self.networks:
                return
            self.networks.remove(net)
            self.note("network", net.bridge, "refused by the schema: %s%s" % (err, "; with its containers %s" % (
                ", ".join(c.name for c in net.containers)) if net.containers else ""))
            for name in net.rules:
                self.note("rule", name, "of network %s, which is not gathered (see it)" % net.bridge)
            for owner in net.owners:
                self.note("rule", owner, "rules of ours of network %s, which is not gathered (see it)" % net.bridge)
            return
        if net not in self.networks or cont not in net.containers:
            return      # gone with its network (or already dropped)
        if key is None:
            net.containers.remove(cont)
            self.ns_why[cont.name] = "the container on bridge %s was refused by the schema: %s" % (net.bridge, err)
            gone = sorted(cont.publish.items())
            why = "a published port of container %s, which is not gathered (see it)" % cont.name
        else:
            gone = [(key, cont.publish.pop(key, []))]
            why = "refused by the schema: %s" % err
        for text, rules in gone:
            for name in rules:
                if name in net.rules:
                    net.rules.remove(name)
            made = "; made by %s" % "; ".join(rules) if rules else ""
            self.note("publish", "%s %s" % (cont.name, text), why + made)


def read(nl, driver=None, firewall_error=None, adopt=False, keep=None):
    """Gather this host (reads only, in one nl.frozen() block). ``driver``: the firewall driver, or None when
    none could be made (``firewall_error`` says why: noted, and the networks are read without rules).
    ``keep``: a dict that receives what was read (``host``, ``namespaces``, ``ruleset``, ``firewalls``), for a
    caller that asks more of the same read (_diagnose)."""
    with nl.frozen():
        host = nl.read(None)
        facts = _preflight.read_host(nl, host)
        namespaces = {}
        for name in nl.ns_list():
            try:
                namespaces[name] = nl.read(name)
            except (NetplumbError, OSError):
                continue    # deleted while we read: nothing to gather
        ruleset = firewalls = None
        if driver is not None:
            try:
                ruleset = driver.read()
                firewalls = _hostfw.read(driver)
            except NetplumbError as exc:
                firewall_error = str(exc)
        g = Gather(host, facts, namespaces, ruleset, firewalls,
                   ours=lambda ns, lk: is_ours(lk) or pending(nl, ns, lk))
        if firewall_error:
            g.note("firewall", "iptables", "the rules could not be read (%s): networks are gathered without "
                   "masquerade, isolation and published ports" % firewall_error)
        out = g.run(adopt)
        out["overlay"] = _vxlan.gather(nl, host)
        if keep is not None:
            keep.update(host=host, namespaces=namespaces, ruleset=ruleset, firewalls=firewalls)
    out["host"] = dict(uplinks=sorted(g.uplinks), ip_forward=sysctl_read("net.ipv4.ip_forward") == "1",
                       firewall=getattr(driver, "backend", None) if ruleset is not None else None)
    return out
