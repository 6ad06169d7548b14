# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why a container network does not work: findings with their fix (container_network_diagnose).

Two halves, so the analysis is testable without a kernel:

* ``read(nl, driver, firewall_error)`` reads, and writes nothing: the gather (_gather.read: the networks in the
  role's schema, from the readers the planners use) and, from the same read, what the checks ask more: each
  network's bridge (up, addresses, its own ``nf_call_iptables``, its ports: up, isolated), each container's
  interface, the global ``net.bridge.bridge-nf-call-iptables``, and for a container with published ports its
  listening sockets (``/proc/thread-self/net/tcp|udp`` read with the thread moved into the container's
  namespace by setns, then back). Our chains and their jumps come from the firewall driver's read, every other
  firewall from _hostfw's model of the same texts.
* ``analyse(info, state, ruleset, firewalls)`` is pure: it returns findings ``{network, check, status,
  finding, fix}``, status ``ok``, ``warn`` or ``error``; an ok finding says what was checked, the others what
  is wrong and the exact commands that fix it (never run: diagnose changes nothing).

The checks (CHECKS, in this order per network):

* ``ip_forward``: ``net.ipv4.ip_forward`` is 1 (a host finding, network None);
* ``gateway``: the bridge is up and holds the gateway address;
* ``links``: each container's veth (host end) and its interface inside are up;
* ``route``: each container's default route goes via the gateway;
* ``jumps``: every built-in chain that our rules of the network live under jumps to our chain (nftables backend:
  every base chain of table inet netplumb holding them has the type, hook and priority the driver makes);
* ``firewall``: no base chain of any firewall (an earlier DROP in FORWARD, a policy drop, another table at
  the same hook) drops the network's egress, its replies, or a published port's traffic (_hostfw's model, the
  same evaluation the planners warn with);
* ``isolation``: icc true: no port of the bridge isolated, and where br_netfilter hands bridged frames to
  iptables (global sysctl or the bridge's own attribute), no FORWARD chain drops container-to-container
  traffic; icc false: every port isolated (or, without that, br_netfilter on for the FORWARD drop to hold);
* ``listener``: each published port has a socket listening (tcp) or bound (udp) in its container on the
  container port, on the container's address or the wildcard (a warning: the network is right, the service
  is not running; one bound to loopback only never sees the DNATed traffic).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

from ansible_collections.netplumb.container.plugins.module_utils import _gather, _hostfw, _isolation, _netspec
from ansible_collections.netplumb.container.plugins.module_utils._firewall import HOOKS, PREFIX, network_of
from ansible_collections.netplumb.container.plugins.module_utils._fwnet import listeners
from ansible_collections.netplumb.container.plugins.module_utils._nl import setns
from ansible_collections.netplumb.container.plugins.module_utils._nftables import CHAIN_ORDER, CHAIN_SPEC, WHERE

CHECKS = ("ip_forward", "gateway", "links", "route", "jumps", "firewall", "isolation", "listener")
STATUSES = ("ok", "warn", "error")
ROLE_FIX = "or run the role netplumb.container.container_network again"


def finding(network, check, status, text, fix=None):
    return dict(network=network, check=check, status=status, finding=text, fix=list(fix or []))


# --- reading --------------------------------------------------------------------------------------------
class _ReadOnce(object):
    """The firewall driver, its read() done once: the gather and the jump check see the same ruleset."""

    def __init__(self, driver):
        self.driver = driver
        self._ruleset = None

    def read(self):
        if self._ruleset is None:
            self._ruleset = self.driver.read()
        return self._ruleset

    def __getattr__(self, name):
        return getattr(self.driver, name)


def _sockets(nl, ns, protocols):
    """{protocol: [(address, port)]} of namespace ns, read with this thread inside it."""
    def fn(fd):
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            setns(fd)
            try:
                return dict((p, [(str(a), port) for a, port in listeners(p, "/proc/thread-self/net")])
                            for p in protocols)
            finally:
                setns(home)
        finally:
            os.close(home)
    return nl.with_ns_fd(ns, fn)


def read(nl, driver=None, firewall_error=None):
    """(info, state, ruleset, firewalls): the gather and what the checks ask more of the same read."""
    keep = {}
    once = _ReadOnce(driver) if driver is not None else None
    info = _gather.read(nl, once, firewall_error, keep=keep)
    host, namespaces = keep["host"], keep["namespaces"]
    state = dict(ip_forward=info["host"]["ip_forward"], brnf=_isolation.global_brnf(), bridges={},
                 containers={})
    for net, meta in zip(info["container_networks"], info["networks_meta"]):
        lk = host.link(net["bridge"])
        if lk is None:
            continue
        ports = sorted((x for x in host.links.values() if x.master == lk.index), key=lambda x: x.name)
        state["bridges"][lk.name] = dict(
            up=lk.up, nf_call_iptables=bool(lk.nf_call_iptables),
            addresses=[str(a) for a in host.addresses(lk.name)],
            ports=dict((p.name, dict(up=p.up, isolated=bool(p.isolated))) for p in ports))
        for c, m in zip(net["containers"], meta["containers"]):
            ns = namespaces.get(c["name"])
            inner = ns.link(m["interface"]) if ns is not None else None
            entry = dict(up=bool(inner is not None and inner.up), sockets={})
            protos = sorted(set(_netspec.parse_publish("publish", p)[0]["protocol"] for p in c.get("publish", [])))
            if protos:
                entry["sockets"] = _sockets(nl, c["name"], protos)
            state["containers"][c["name"]] = entry
    return info, state, keep.get("ruleset"), keep.get("firewalls")


# --- the analysis ---------------------------------------------------------------------------------------
def _tool(ruleset):
    backend = getattr(ruleset, "backend", "") or "iptables-nft"
    return "iptables" if backend == "iptables-nft" else backend


def _jump_cmd(tool, table, hook):
    pre = tool if table == "filter" else "%s -t %s" % (tool, table)
    if HOOKS.get((table, hook)) == "first":
        return "%s -I %s 1 -j %s%s" % (pre, hook, PREFIX, hook)
    return "%s -A %s -j %s%s" % (pre, hook, PREFIX, hook)


def _ip_forward(state):
    if state.get("ip_forward"):
        return [finding(None, "ip_forward", "ok", "net.ipv4.ip_forward is 1: the host routes between its "
                        "bridges and its uplink")]
    return [finding(None, "ip_forward", "error", "net.ipv4.ip_forward is 0: the host forwards nothing, so no "
                    "container reaches outside and no published port answers from another host (the host itself "
                    "still reaches them)",
                    ["sysctl -w net.ipv4.ip_forward=1",
                     "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-netplumb-container-network.conf",
                     ROLE_FIX + " (container_nat sets it)"])]


def _gateway(net, br):
    name, bridge = net["name"], net["bridge"]
    cidr = "%s/%d" % (net["gateway"], ipaddress.ip_network(u"%s" % net["subnet"]).prefixlen)
    out = []
    if br is None:
        return [finding(name, "gateway", "error", "bridge %s is gone" % bridge, [ROLE_FIX])]
    if not br["up"]:
        out.append(finding(name, "gateway", "error", "bridge %s is down: nothing crosses it" % bridge,
                           ["ip link set %s up" % bridge, ROLE_FIX]))
    if cidr not in br["addresses"]:
        have = ", ".join(br["addresses"]) or "no address"
        out.append(finding(name, "gateway", "error", "bridge %s does not hold the gateway %s (it has: %s): the "
                           "containers' default route leads nowhere" % (bridge, cidr, have),
                           ["ip addr add %s dev %s" % (cidr, bridge), ROLE_FIX]))
    return out or [finding(name, "gateway", "ok", "bridge %s is up with the gateway %s" % (bridge, cidr))]


def _links(net, meta, br, state):
    out = []
    for c, m in zip(net["containers"], meta["containers"]):
        port = (br or {}).get("ports", {}).get(m["veth"])
        if port is not None and not port["up"]:
            out.append(finding(net["name"], "links", "error", "veth %s of container %s is down: %s is cut off its "
                               "bridge" % (m["veth"], c["name"], c["name"]), ["ip link set %s up" % m["veth"]]))
        if not state["containers"].get(c["name"], {}).get("up", True):
            out.append(finding(net["name"], "links", "error", "interface %s inside %s is down"
                               % (m["interface"], c["name"]),
                               ["ip -n %s link set %s up" % (c["name"], m["interface"])]))
    n = len(net["containers"])
    return out or [finding(net["name"], "links", "ok", "the veth pair%s of its %d container%s: up, both ends"
                           % ("" if n == 1 else "s", n, "" if n == 1 else "s"))]


def _routes(net, meta):
    out = []
    gw = net["gateway"]
    for c, m in zip(net["containers"], meta["containers"]):
        have = m.get("default_route")
        if have == gw:
            continue
        what = "has no default route" if have is None else "has its default route via %s" % have
        out.append(finding(net["name"], "route", "error", "container %s %s; it must go via the gateway %s, "
                           "else the container reaches its own subnet only (no egress, no replies to published "
                           "ports from other networks)" % (c["name"], what, gw),
                           ["ip -n %s route replace default via %s" % (c["name"], gw), ROLE_FIX]))
    return out or [finding(net["name"], "route", "ok", "every container's default route goes via %s" % gw)]


def _nft_spec(spec):
    return "type %s hook %s priority %s" % spec


def _nft_chains(net, ruleset):
    """The nftables backend's "jumps": each base chain of table inet netplumb that holds rules of the network
    exists with the type, hook and priority the driver creates it with (a regular chain is never reached; a
    later priority lets the traffic through NAT and conntrack first). Another table's drops at the same hook
    are the firewall check's (an accept in our table is not final)."""
    bridge = net["bridge"]
    chains = sorted(set(r.chain for r in ruleset.owned(lambda o: network_of(o) == bridge)),
                    key=lambda c: (CHAIN_ORDER.index(c) if c in CHAIN_ORDER else len(CHAIN_ORDER), c))
    if not chains:
        return [finding(net["name"], "jumps", "ok", "no rules of ours for bridge %s (a network made by hand)"
                        % bridge)]
    out = []
    for chain in chains:
        want = CHAIN_SPEC.get(chain)
        have = ruleset.chains.get(chain)
        if have is not None:
            have = (have[0], have[1], _prio_of(have[2]))
        if want is None or have == want:
            continue
        redo = ["nft flush chain %s %s" % (WHERE, chain), "nft delete chain %s %s" % (WHERE, chain), ROLE_FIX]
        if have is None:
            out.append(finding(net["name"], "jumps", "error", "table %s chain %s is a regular chain (no hook): our "
                               "rules of %s there are never reached; it must be a base chain (%s)"
                               % (WHERE, chain, bridge, _nft_spec(want)), redo))
        elif have[:2] != want[:2]:
            out.append(finding(net["name"], "jumps", "error", "table %s chain %s is a base chain of %s, not %s: our "
                               "rules of %s there see the wrong traffic" % (WHERE, chain, _nft_spec(have),
                                                                            _nft_spec(want), bridge), redo))
        else:
            out.append(finding(net["name"], "jumps", "warn", "table %s chain %s hooks at priority %s, not %s: our "
                               "rules of %s there see the traffic %s" % (
                                   WHERE, chain, have[2], want[2], bridge,
                                   "later than intended (after conntrack or NAT)" if have[2] > want[2]
                                   else "earlier than intended"), redo))
    return out or [finding(net["name"], "jumps", "ok", "table %s: base chain%s %s at the hooks and priorities "
                           "the driver makes" % (WHERE, "" if len(chains) == 1 else "s", ", ".join(
                               "%s (%s)" % (c, _nft_spec(CHAIN_SPEC[c])) for c in chains)))]


def _prio_of(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _jumps(net, ruleset):
    if ruleset is None:
        return [finding(net["name"], "jumps", "warn", "the firewall rules could not be read (see unmanaged)")]
    if isinstance(ruleset, tuple):      # _nftables.MovingState (an explicit backend, ours in the other one)
        new, old = ruleset
        ruleset = new if new.owned(lambda o: network_of(o) == net["bridge"]) else old
    if getattr(ruleset, "by_chain", None) is not None:     # the nftables driver's state: no jumps, base chains
        return _nft_chains(net, ruleset)
    bridge = net["bridge"]
    hooks = sorted(set((r.table, r.hook) for r in ruleset.owned(lambda o: network_of(o) == bridge)))
    if not hooks:
        return [finding(net["name"], "jumps", "ok", "no rules of ours for bridge %s (a network made by hand)"
                        % bridge)]
    tool = _tool(ruleset)
    out = []
    for table, hook in hooks:
        positions = ruleset.jump_positions.get((table, hook), [])
        if not positions:
            where = ruleset.backend or tool
            out.append(finding(net["name"], "jumps", "error", "%s table %s chain %s has no jump to %s%s: our "
                               "rules of %s there are never reached" % (where, table, hook, PREFIX, hook, bridge),
                               [_jump_cmd(tool, table, hook), ROLE_FIX]))
        elif HOOKS.get((table, hook)) == "first" and positions[0] != 1:
            out.append(finding(net["name"], "jumps", "warn", "%s table %s chain %s jumps to %s%s at position %d, "
                               "behind rules of others that see the traffic first"
                               % (ruleset.backend or tool, table, hook, PREFIX, hook, positions[0]),
                               [ROLE_FIX + " (moves it first)"]))
    return out or [finding(net["name"], "jumps", "ok", "%s jump to our chains"
                           % ", ".join("%s %s" % h for h in hooks))]


def _blocked(net, fw, packets, label, mapping=None):
    out = []
    bridge = net["bridge"]
    seen = set()
    for b in fw.blocks(packets):
        key = (id(b.chain), b.pkt.what)
        if key in seen:
            continue
        seen.add(key)
        info = dict(net=net["name"], bridge=bridge)
        if mapping:
            info.update(port="%s/%s" % (mapping[1], mapping[0]), dest="%s:%s" % (mapping[2], mapping[3]))
        out.append(finding(net["name"], "firewall", "error", "%s, chain %s (hook %s): %s drops %s%s"
                           % (b.chain.table.where(), b.chain.name, b.chain.hook, b.how(),
                              _hostfw.WHAT[b.pkt.what] % info, label),
                           _fixes(b, fw, bridge, mapping)))
    return out


def _fixes(block, fw, bridge, mapping):
    """_hostfw's fixes; for a DROP in a nat chain, deleting it: an ACCEPT put ahead of it in a nat chain would
    end that table's walk there, before the jump to our DNAT."""
    table = block.chain.table
    if block.chain.type == "nat" and block.rule is not None and table.iptables:
        return ["%s -D %s %s" % (_hostfw._ipt_cmd(table, fw), block.chain.name, block.rule.text)]
    return _hostfw.fixes(block, fw, bridge, mapping)


def _firewall(net, parsed, fw):
    if fw is None:
        return [finding(net["name"], "firewall", "warn", "the firewall rules could not be read (see unmanaged)")]
    bridge, subnet = net["bridge"], ipaddress.ip_network(u"%s" % net["subnet"])
    out = _blocked(net, fw, _hostfw.network_packets(bridge, subnet), "")
    for c in (parsed or {}).get("containers", []):
        for p in c["publish"]:
            mapping = (p["protocol"], p["host_port"], c["address"], p["container_port"])
            pkts = _hostfw.publish_packets(bridge, p["protocol"], p["host_port"], c["address"], p["container_port"],
                                           p.get("host_ip"))
            out += _blocked(net, fw, pkts, " (container %s)" % c["name"], mapping)
    return out or [finding(net["name"], "firewall", "ok", "no firewall drops its egress, replies or published "
                           "ports")]


def _icc_packet(bridge, subnet):
    return _hostfw.Packet("icc", bridge, bridge, saddr=subnet, daddr=subnet)


def _icc(net, meta, br, state, fw):
    name, bridge = net["name"], net["bridge"]
    subnet = ipaddress.ip_network(u"%s" % net["subnet"])
    ports = (br or {}).get("ports", {})
    veths = [m["veth"] for m in meta["containers"]]
    brnf = state.get("brnf") == "1" or bool((br or {}).get("nf_call_iptables"))
    how = ("net.bridge.bridge-nf-call-iptables=%s, bridge attribute nf_call_iptables=%d"
           % (state.get("brnf") or "absent", int(bool((br or {}).get("nf_call_iptables")))))
    out = []
    if net["icc"]:
        for v in veths:
            if ports.get(v, {}).get("isolated"):
                out.append(finding(name, "isolation", "error", "icc is true but port %s of bridge %s is isolated: "
                                   "its container cannot reach the others of %s" % (v, bridge, name),
                                   ["ip link set %s type bridge_slave isolated off" % v, ROLE_FIX]))
        if brnf and fw is not None and len(veths) > 1:
            for b in fw.blocks([("forward", _icc_packet(bridge, subnet))]):
                table = b.chain.table
                # Docker puts its own rules back in front of FORWARD's: an accept of ours goes in DOCKER-USER
                cname = "DOCKER-USER" if table.kind() == "docker" and "DOCKER-USER" in table.chains else b.chain.name
                fix = ["%s -I %s -i %s -o %s -j ACCEPT" % (_hostfw._ipt_cmd(table, fw), cname, bridge, bridge)
                       if table.iptables else 'nft insert rule %s %s %s iifname "%s" oifname "%s" accept'
                       % (table.family, table.name, b.chain.name, bridge, bridge)]
                if state.get("brnf") != "1":
                    fix.append("ip link set %s type bridge nf_call_iptables 0" % bridge)
                out.append(finding(name, "isolation", "error", "icc is true, but br_netfilter hands the frames "
                                   "between the containers of %s to iptables (%s) and %s, chain %s (hook forward): "
                                   "%s drops them: its containers cannot talk to each other"
                                   % (bridge, how, b.chain.table.where(), b.chain.name, b.how()), fix))
        if not out:
            out.append(finding(name, "isolation", "ok", "icc true: no port isolated%s" % (
                ", and br_netfilter's FORWARD pass (%s) lets container-to-container traffic through" % how
                if brnf else "; br_netfilter is off for the bridge (%s)" % how)))
        return out
    open_ports = [v for v in veths if v in ports and not ports[v]["isolated"]]
    if open_ports and not brnf:
        out.append(finding(name, "isolation", "error", "icc is false but ports %s of bridge %s are not isolated "
                           "and br_netfilter is off for it (%s): the FORWARD drop never sees their frames, so "
                           "those containers talk to each other" % (", ".join(open_ports), bridge, how),
                           ["ip link set %s type bridge_slave isolated on" % v for v in open_ports] + [ROLE_FIX]))
    elif open_ports:
        out.append(finding(name, "isolation", "warn", "icc is false; ports %s of bridge %s are not isolated: only "
                           "the FORWARD drop (br_netfilter on: %s) keeps their containers apart"
                           % (", ".join(open_ports), bridge, how),
                           ["ip link set %s type bridge_slave isolated on" % v for v in open_ports] + [ROLE_FIX]))
    return out or [finding(name, "isolation", "ok", "icc false: every port of %s is isolated" % bridge)]


def _listening(socks, address, port):
    """'yes', 'loopback' (bound to a loopback address only) or None."""
    found = None
    for addr, p in socks:
        if p != port:
            continue
        a = ipaddress.ip_address(u"%s" % addr)
        if a.is_unspecified or str(a) == address:
            return "yes"
        if a.is_loopback:
            found = "loopback"
    return found


def _listeners(net, parsed, state):
    out = []
    count = 0
    for c in (parsed or {}).get("containers", []):
        socks = state["containers"].get(c["name"], {}).get("sockets", {})
        for p in c["publish"]:
            count += 1
            cport = int(str(p["container_port"]).split("-", maxsplit=1)[0])
            got = _listening(socks.get(p["protocol"], []), c["address"], cport)
            if got == "yes":
                continue
            verb = "listens" if p["protocol"] == "tcp" else "is bound"
            if got == "loopback":
                text = ("published port %s: in container %s the %s socket on port %d is bound to loopback only; "
                        "the DNATed traffic arrives at %s" % (p["spec"], c["name"], p["protocol"], cport, c["address"]))
            else:
                text = ("published port %s: nothing %s on %s port %d in container %s: the port does not answer "
                        "(the network is in place; start the service)"
                        % (p["spec"], verb, p["protocol"], cport, c["name"]))
            out.append(finding(net["name"], "listener", "warn", text,
                               ["ip netns exec %s <service> listening on 0.0.0.0:%d/%s (or %s)"
                                % (c["name"], cport, p["protocol"], c["address"])]))
    if out or not count:
        return out
    return [finding(net["name"], "listener", "ok", "each of its %d published ports has a listener in its container"
                    % count)]


def analyse(info, state, ruleset=None, firewalls=None):
    """The findings of a gathered host (see the module docstring); pure."""
    out = _ip_forward(state) if info["container_networks"] else []
    parsed = dict((n["bridge"], n) for n in _netspec.parse(info["container_networks"])["present"])
    for net, meta in zip(info["container_networks"], info["networks_meta"]):
        br = state["bridges"].get(net["bridge"])
        p = parsed.get(net["bridge"])
        out += _gateway(net, br)
        out += _links(net, meta, br, state)
        out += _routes(net, meta)
        out += _jumps(net, ruleset)
        out += _firewall(net, p, firewalls)
        out += _icc(net, meta, br, state, firewalls)
        out += _listeners(net, p, state)
    return out


def summary(findings):
    counts = dict((s, sum(1 for f in findings if f["status"] == s)) for s in STATUSES)
    return dict(findings=findings, error_count=counts["error"], warn_count=counts["warn"],
                problems=[f for f in findings if f["status"] != "ok"])
