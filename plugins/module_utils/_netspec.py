# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_networks (the schema of the role and of the container_network module) -> the modules' calls.

One parser, pure Python, O(K) in the number of containers and published ports, used on the controller by the
filter netplumb.container.container_network_plan (the role's plan, all errors at once, no module invocation)
and on the managed host by the module netplumb.container.container_network. Every rule it applies comes from
the module_utils the five modules validate with (_validate, _portmap.port_range / overlaps / PortIndex), so the
role and the modules cannot disagree. Every error names its field path, e.g.
``container_networks[0].containers[3].publish[1]='70000:80': ports are 1-65535``.

The result: {errors, networks, present, absent, calls}. Each network carries the batches of its calls
(bridge_addresses, namespaces, pairs, ports) and its containers (name, address, veth, publish) for
verification. A container's veth pair is named by its optional keys ``veth`` (the host end, default
host_veth(NAME)) and ``interface`` (the end inside its namespace, default eth0). ``calls`` are the module
calls that converge the host, in order: absent networks first (each in reverse: ports, NAT, pairs,
namespaces, bridge; the last declared first; by ownership: every published port and rule of the bridge's
owners, our veths on the bridge pruned, whatever the list holds), then for each present network its bridge,
namespaces, pairs, NAT and ports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _portmap
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import parse_fwmark
from ansible_collections.netplumb.container.plugins.module_utils import _ranges
from ansible_collections.netplumb.container.plugins.module_utils import _schema
from ansible_collections.netplumb.container.plugins.module_utils._options import FIREWALL_BACKEND, NETWORK
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

ROOT = "container_networks"
# The keys and defaults are the schema's (_options.NETWORK: the role's and the modules' argument specs).
CONTAINER = NETWORK["containers"]["suboptions"]
NETWORK_KEYS = _schema.keys(NETWORK)
CONTAINER_KEYS = _schema.keys(CONTAINER)
FLAGS = tuple((k, o["default"]) for k, o in NETWORK.items() if o["type"] == "bool")
PUBLISH_FORM = "[host_ip:]host_port:container_port[/proto], e.g. '5000:5000/tcp' or '127.0.0.1:8053:53/udp'"
PEER = "eth0"


def host_veth(name):
    """The host end of a container's veth: vn-NAME when it fits in 15 characters, else vn- + 6 characters +
    - + 5 hex digits of sha1(NAME) (stable; long names sharing a beginning still differ)."""
    if len(name) <= 12:
        return "vn-" + name
    return "vn-%s-%s" % (name[:6], hashlib.sha1(name.encode("utf-8")).hexdigest()[:5])


def _is_list(value):
    return isinstance(value, (list, tuple))


def parse_publish(field, text):
    """'[host_ip:]host_port:container_port[/proto]' -> (port_publish item without container_ip, Mapping)."""
    if not isinstance(text, str):
        raise ValidationError(field, text, "is not " + PUBLISH_FORM)
    spec, slash, proto = text.partition("/")
    proto = proto if slash else "tcp"
    parts = spec.split(":")
    if len(parts) not in (2, 3) or "/" in proto:
        raise ValidationError(field, text, "is not " + PUBLISH_FORM)
    if proto not in _portmap.PROTOCOLS:
        raise ValidationError(field, text, "protocol %s is not one of %s" % (proto, ", ".join(_portmap.PROTOCOLS)))
    try:
        host_ip = _portmap.ipv4("host_ip", parts[0]) if len(parts) == 3 else None
        host = _portmap.port_range("host_port", parts[-2])
        cont = _portmap.port_range("container_port", parts[-1])
    except ValidationError as exc:     # the same rules as port_publish, reported on the whole string
        raise ValidationError(field, text, "%s %s: %s" % (exc.field, exc.value, exc.reason))
    if host[1] - host[0] != cont[1] - cont[0]:
        raise ValidationError(field, text, "host and container ranges must be equally long")
    item = dict(protocol=proto, host_port=host[0] if host[0] == host[1] else parts[-2],
                container_port=cont[0] if cont[0] == cont[1] else parts[-1])
    if host_ip is not None:
        item["host_ip"] = str(host_ip)
    return item, _portmap.Mapping(proto, host_ip, host, None, cont, None)


class _Parser:
    def __init__(self, root=ROOT, checked=False):
        self.root = root
        self.checked = checked
        self.errors = []
        self.names = {}         # network name -> index
        self.bridges = {}       # bridge -> network name
        self.subnets = []       # (network, name)
        self.containers = {}    # container name -> network name
        self.veths = {}         # host veth -> container name
        self.veth_fields = {}   # host veth -> field path (present networks' containers)
        self.live_bridges = {}  # bridge -> network name (present networks)
        self.addresses = {}     # address -> container name
        self.ports = _portmap.PortIndex()

    def check(self, fn, *args):
        """fn(*args), its ValidationError collected; returns (ok, value)."""
        try:
            return True, fn(*args)
        except ValidationError as exc:
            self.errors.append(str(exc))
            return False, None

    def error(self, field, value, reason):
        self.errors.append(str(ValidationError(field, value, reason)))

    def shape(self, options, value, field, what):
        """The mapping with every key of ``options`` (defaults filled in). Unless an argument_spec of the same
        schema has checked the value already (``checked``), its kinds are checked here (_schema.check), each
        error collected; None when it is no mapping."""
        if self.checked and isinstance(value, dict):
            return _schema.coerce(options, value)
        return _schema.check(options, value, field, self.errors, what)

    def network(self, i, net):
        pre = "%s[%d]" % (self.root, i)
        net = self.shape(NETWORK, net, pre, "each network is a mapping with name, subnet and containers")
        if net is None:
            return None
        name = net.get("name")
        ok, dummy = self.check(v.netns_name, pre + ".name", name)     # letters, digits, '.', '_', '-'
        if not ok:
            name = "#%d" % i
        elif name in self.names:
            self.error(pre + ".name", name, "is declared twice (also %s[%d])" % (self.root, self.names[name]))
        self.names.setdefault(name, i)
        state = net["state"] or "present"
        bridge = net.get("bridge") or "br-%s" % name
        ok, dummy = self.check(v.ifname, pre + ".bridge", bridge)
        if not ok and not net.get("bridge"):
            self.errors[-1] += " (derived from the network's name: set bridge)"
        if ok and bridge in self.bridges:
            self.error(pre + ".bridge", bridge, "is used by network %s too" % self.bridges[bridge])
        self.bridges.setdefault(bridge, name)
        live = state == "present"     # only present networks can collide: absent ones go first
        if live and ok:
            self.live_bridges.setdefault(bridge, name)
        subnet = self.subnet(pre, name, net.get("subnet"), live)
        gateway = None
        if subnet is not None:
            gw = net.get("gateway")
            gateway = subnet.network_address + 1 if gw is None else None
            if gw is not None:
                ok, gateway = self.check(_portmap.ipv4, pre + ".gateway", gw)
            if gateway is not None and not self.usable(pre + ".gateway", gateway, subnet):
                gateway = None
        flags = dict((flag, net[flag]) for flag, dummy in FLAGS)
        flags["docker_accept_fwmark"] = net.get("docker_accept_fwmark")
        self.check(parse_fwmark, pre + ".docker_accept_fwmark", flags["docker_accept_fwmark"])
        ok, mtu = self.check(v.mtu, pre + ".mtu", net["mtu"])
        out = dict(field="%s (%s)" % (pre, name), name=name, state=state, bridge=bridge, mtu=mtu,
                   subnet=str(subnet) if subnet is not None else None,
                   gateway=str(gateway) if gateway is not None else None,
                   bridge_addresses=["%s/%d" % (gateway, subnet.prefixlen)] if gateway is not None else [],
                   containers=[], namespaces=[], pairs=[], ports=[])
        out.update(flags)
        for j, cont in enumerate(net["containers"] or []):
            self.container("%s.containers[%d]" % (pre, j), cont, out, subnet, gateway, live)
        return out

    def subnet(self, pre, name, value, live):
        ok, net = self.check(v.network, pre + ".subnet", value)
        if not ok:
            try:
                loose = ipaddress.ip_network(u"%s" % value, strict=False)
                if "/" in u"%s" % value:
                    self.errors[-1] += " (did you mean %s?)" % loose
            except ValueError:
                pass
            return None
        if net.version != 4:
            self.error(pre + ".subnet", value, "an IPv4 network in CIDR form like 172.18.0.0/16")
            return None
        if net.prefixlen > 30:
            self.error(pre + ".subnet", value, "leaves no room for a gateway and containers (/30 at most)")
            return None
        if net.overlaps(_portmap.LOOPBACK) or net.prefixlen == 0:
            self.error(pre + ".subnet", value, "cannot be a loopback or default network")
            return None
        if live:    # (a network made before the range was refused can still be removed)
            ok, dummy = self.check(_ranges.refuse, pre + ".subnet", net, value)
            if not ok:
                return None
        if live:
            self.subnets.append((net, name, pre))
        return net

    def usable(self, field, ip, subnet):
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
            self.error(field, str(ip), "is not a usable address of %s" % subnet)
            return False
        return True

    def container(self, cpre, cont, out, subnet, gateway, live):
        """One container into out's batches; names, host veths, addresses and host ports are unique among the
        present networks (a container may move from an absent network to a present one)."""
        cont = self.shape(CONTAINER, cont, cpre, "each container is a mapping with name and address")
        if cont is None:
            return
        ok, cname = self.check(v.netns_name, cpre + ".name", cont.get("name"))
        if not ok:
            return
        veth = self.link_name(cpre + ".veth", cont.get("veth"), host_veth(cname))
        interface = self.link_name(cpre + ".interface", cont.get("interface"), PEER)
        if interface == "lo":
            self.error(cpre + ".interface", interface, "is the namespace's loopback")
            interface = PEER
        if live:
            # a collision of host veths is the fault of the key that named it: veth, else the container's name
            vfield, vvalue = (cpre + ".veth", veth) if cont.get("veth") is not None else (cpre + ".name", cname)
            self.veth_fields.setdefault(veth, (vfield, vvalue))
            if cname in self.containers:
                self.error(cpre + ".name", cname, "is already a container of network %s" % self.containers[cname])
            self.containers.setdefault(cname, out["name"])
            if veth in self.veths and self.veths[veth] != cname:
                self.error(vfield, vvalue, "its host veth name %s collides with container %s's"
                           % (veth, self.veths[veth]))
            self.veths.setdefault(veth, cname)
        addr = cont.get("address")
        ok, ip = self.check(_portmap.ipv4, cpre + ".address", addr)
        if ok and subnet is not None:
            if not self.usable(cpre + ".address", ip, subnet):
                ok = False
            elif ip == gateway:
                self.error(cpre + ".address", addr, "is the network's gateway")
            elif live and ip in self.addresses:
                self.error(cpre + ".address", addr, "is also container %s's" % self.addresses[ip])
            if live:
                self.addresses.setdefault(ip, cname)
        published = []
        for k, text in enumerate(cont["publish"] or []):
            field = "%s.publish[%d]" % (cpre, k)
            good, parsed = self.check(parse_publish, field, text)
            if not good:
                continue
            item, mapping = parsed
            other = self.ports.conflict(mapping) if live else None
            if other is not None:
                self.error(field, text, "host port already published by %s" % other)
                continue
            if live:
                self.ports.add(mapping, field)
            published.append(dict(item, spec=text))
            if ok:
                out["ports"].append(dict(item, container_ip=str(ip), bridge=out["bridge"]))
        out["containers"].append(dict(name=cname, address=str(ip) if ok else None, veth=veth, publish=published))
        out["namespaces"].append(cname)
        pair = dict(name=veth, peer=interface, peer_netns=cname, bridge=out["bridge"])
        if ok and subnet is not None:
            pair["peer_addresses"] = ["%s/%d" % (ip, subnet.prefixlen)]
        if gateway is not None:
            pair["peer_gateway"] = str(gateway)
        if out["mtu"] is not None:
            pair["mtu"] = out["mtu"]
        out["pairs"].append(pair)

    def link_name(self, field, value, default):
        """An optional interface name: ``default`` when not given (or invalid: the error is collected)."""
        if value is None:
            return default
        ok, dummy = self.check(v.ifname, field, value)
        return value if ok else default

    def veths_named_like_bridges(self):
        """A host veth may not take the name of a present network's bridge."""
        for veth, (field, value) in sorted(self.veth_fields.items()):
            if veth in self.live_bridges:
                self.error(field, value, "its host veth name %s is the bridge of network %s"
                           % (veth, self.live_bridges[veth]))

    def overlapping_subnets(self):
        """Sorted by first address, each subnet is checked against the one reaching furthest before it."""
        reach = None
        for net, name, pre in sorted(self.subnets, key=lambda s: (s[0].network_address, -s[0].prefixlen)):
            if reach is not None and net.network_address <= reach[0].broadcast_address:
                self.error(pre + ".subnet", str(net), "overlaps %s of network %s" % (reach[0], reach[1]))
            if reach is None or net.broadcast_address > reach[0].broadcast_address:
                reach = (net, name)


def calls(networks, firewall_backend="auto"):
    """The module calls that converge the host to ``networks`` (parsed), in order; see the module docstring."""
    fw = dict(firewall_backend=firewall_backend)
    out = []
    live = [n for n in networks if n["state"] == "present"]
    kept_ns = set(c for n in live for c in n["namespaces"])
    kept_veths = set(pair["name"] for n in live for pair in n["pairs"])
    for n in reversed([n for n in networks if n["state"] == "absent"]):
        # removal by ownership: what belongs to the network is read from the host (the owner comments of the
        # rules, our veths on its bridge and the namespaces they lead to), its listed containers only add to it;
        # what a present network of the call declares stays (a container moving over is re-parented)
        label = n["field"]
        out.append(dict(module="port_publish", label=label, args=dict(fw, bridge=n["bridge"], state="absent")))
        nat = dict(fw, bridge=n["bridge"], subnet=n["subnet"], state="absent")
        # a pruned network whose subnet is unknown: its rules go by owner (a field of the step, not an option)
        out.append(dict(module="container_nat", label=label, args=nat, by_owner=n["subnet"] is None))
        if n.get("rules_only"):     # pruned: a bridge that is not ours, only our rules naming it go
            continue
        out.append(dict(module="veth_pair", label=label,
                        args=dict(pairs=[x for x in n["pairs"] if x["name"] not in kept_veths], state="absent",
                                  bridge=n["bridge"], prune=True, adopt=n["adopt"]), orphans=n["subnet"]))
        gone = [c for c in n["namespaces"] if c not in kept_ns]
        if gone:
            out.append(dict(module="netns", label=label, args=dict(name=gone, state="absent", adopt=n["adopt"])))
        out.append(dict(module="linux_bridge", label=label,
                        args=dict(name=n["bridge"], state="absent", adopt=n["adopt"]), keep_foreign=True))
    for n in networks:
        if n["state"] != "present":
            continue
        label = n["field"]
        out.append(dict(module="linux_bridge", label=label,
                        args=dict(name=n["bridge"], addresses=n["bridge_addresses"], mtu=n["mtu"],
                                  nf_call_iptables=n["icc"], adopt=n["adopt"])))
        if n["namespaces"]:
            out.append(dict(module="netns", label=label, args=dict(name=n["namespaces"], adopt=n["adopt"])))
        out.append(dict(module="veth_pair", label=label,
                        args=dict(pairs=n["pairs"], bridge=n["bridge"], prune=True, isolated=not n["icc"],
                                  adopt=n["adopt"])))
        out.append(dict(module="container_nat", label=label,
                        args=dict(fw, bridge=n["bridge"], subnet=n["subnet"], masquerade=n["masquerade"],
                                  icc=n["icc"], isolate=n["isolate"],
                                  docker_accept_fwmark=n.get("docker_accept_fwmark"))))
        out.append(dict(module="port_publish", label=label,
                        args=dict(fw, ports=n["ports"], bridge=n["bridge"], prune=True)))
    return out


def parse(networks, firewall_backend="auto", root=ROOT, checked=False):
    """container_networks -> {errors, networks, present, absent, calls}; every error at once, each named from
    ``root`` (the variable or option that holds the networks).

    ``checked``: an argument_spec made from the same schema (_options.NETWORK) has validated the value already
    (the module's, or on the controller the role's argument_specs), so the kinds, choices and keys are not
    checked again: each value is validated once per side. Without it (at boot, a gather's value, the filters
    called on their own) _schema.check does that part first."""
    p = _Parser(root, checked)
    parsed = []
    if networks is None:
        networks = []
    if not _is_list(networks):
        p.error(root, networks, "must be a list of networks")
        networks = []
    if not checked:
        p.check(v.choice, "firewall_backend", firewall_backend, FIREWALL_BACKEND["choices"])
    for i, net in enumerate(networks):
        out = p.network(i, net)
        if out is not None:
            parsed.append(out)
    p.overlapping_subnets()
    p.veths_named_like_bridges()
    present = [n for n in parsed if n["state"] == "present"]
    absent = list(reversed([n for n in parsed if n["state"] == "absent"]))
    return dict(errors=p.errors, networks=parsed, present=present, absent=absent,
                calls=[] if p.errors else calls(parsed, firewall_backend))


BATCHES = ("bridge_addresses", "namespaces", "pairs", "ports")


def compact(plan):
    """The plan without what only the module needs (the calls and each network's batches): errors, present and
    absent. What the role keeps as a fact on the controller, where every byte of a fact costs templating time."""
    def slim(n):
        return dict((k, v) for k, v in n.items() if k not in BATCHES)
    return dict(errors=plan["errors"], present=[slim(n) for n in plan["present"]],
                absent=[slim(n) for n in plan["absent"]])


def address_offsets(networks, subnet):
    """Networks with ``subnet: cluster`` get ``subnet`` (this host's fleet subnet); their containers' integer
    addresses are offsets inside it (address: 10 -> the subnet's address + 10). Others are left as they are."""
    net = ipaddress.ip_network(u"%s" % subnet)
    out = []
    for n in networks or []:
        if isinstance(n, dict) and n.get("subnet") == "cluster":
            n = dict(n, subnet=str(net))
            conts = []
            for c in n.get("containers") or []:
                if isinstance(c, dict) and isinstance(c.get("address"), int) and not isinstance(c["address"], bool):
                    c = dict(c, address=str(net.network_address + c["address"]))
                elif isinstance(c, dict) and isinstance(c.get("address"), str) and c["address"].isdigit():
                    c = dict(c, address=str(net.network_address + int(c["address"])))
                conts.append(c)
            n["containers"] = conts
        out.append(n)
    return out
