# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_nat and port_publish: input validation, the rules each wants, and their planners.

Backend-neutral: the planners hand intents (_fwintent.NetworkIntent, PortForward) to a firewall driver
(_firewall.get_driver) and ask it questions (which networks, which published ports, which bridges publish on
loopback); they never see a rule. Sysctls (/proc/sys of the current network namespace) and the local-listener
check live here too; conntrack flushes in _conntrack.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

from ansible_collections.netplumb.container.plugins.module_utils import _hostfw, _isolation
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils import _conntrack, _firewall
from ansible_collections.netplumb.container.plugins.module_utils._firewall import get_driver
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    OWNER_PREFIX, NetworkIntent, network_of, parse_forward_owner, parse_fwmark)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan
from ansible_collections.netplumb.container.plugins.module_utils._portmap import (
    LOOPBACK, PortIndex, by_bridge, validate_mappings)
from ansible_collections.netplumb.container.plugins.module_utils import _preflight, _ranges
from ansible_collections.netplumb.container.plugins.module_utils._owner import is_ours

PROC_SYS = "/proc/sys"
PROC_NET = "/proc/thread-self/net"
# port_publish in check mode, when no bridge holds container_ip's subnet yet (an earlier task creates it)
PLACEHOLDER_BRIDGE = "<bridge>"
# why a check-mode prediction on a host still missing an earlier task's objects can differ from the real run
REBUILD_NOTE = ("the real run may differ where earlier tasks (not applied in check mode) add rules to the same "
                "chains of ours: each changed chain is rebuilt whole (-F, then -A of every rule it keeps)")


# --- validation ---------------------------------------------------------------------------------------------
def validate_nat(spec, by_owner=False):
    v.ifname("bridge", spec["bridge"])
    if spec["state"] == "absent" and spec["subnet"] is None and by_owner:
        return None     # container_network pruning a network whose subnet is unknown: its rules go by owner
    net = v.network("subnet", spec["subnet"])
    if net.version != 4:
        raise ValidationError("subnet", spec["subnet"], "only IPv4 is supported by the firewall drivers (iptables, nftables) for now")
    if net.overlaps(LOOPBACK) or net.prefixlen == 0:
        raise ValidationError("subnet", spec["subnet"], "cannot be a loopback or default network")
    if spec["state"] == "present":
        if net.prefixlen > 30:
            raise ValidationError("subnet", spec["subnet"], "leaves no room for a gateway and containers (/30 at most)")
        _ranges.refuse("subnet", net, spec["subnet"])
    v.choice("state", spec["state"], ["present", "absent"])
    v.choice("firewall_backend", spec.get("firewall_backend", "auto"), ["auto", "iptables", "nftables"])
    parse_fwmark("docker_accept_fwmark", spec.get("docker_accept_fwmark"))
    return net


# --- intents --------------------------------------------------------------------------------------------
def nat_rules(bridge, subnet, masquerade=True, isolate=True, icc=True):
    """The iptables rendering of a network's intent, for the readers that compare iptables rules (the gather)."""
    return _firewall.render_iptables([NetworkIntent(bridge, subnet, masquerade, isolate, icc)])


def publish_rules(m, bridge):
    """The iptables rendering of a published port's intent (see nat_rules)."""
    return _firewall.render_iptables([m.intent(bridge)])


def _ports(lo_hi, sep):
    lo, hi = lo_hi
    return "%d" % lo if lo == hi else "%d%s%d" % (lo, sep, hi)


# --- sysctl, conntrack, listeners -----------------------------------------------------------------------
def sysctl_path(name):
    return os.path.join(PROC_SYS, *name.split("."))


def sysctl_read(name, nl=None):
    """The sysctl's value on the host (the planners ask their ``sysctl`` reader: in a run of several steps, the
    run context's, which answers what an earlier step's plan writes; _engine.RunContext.sysctl)."""
    try:
        with open(sysctl_path(name)) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


class SysctlWrite(Action):
    """The write of one sysctl, with its name and value (what a run context predicts from it)."""

    __slots__ = ("name", "value")


def op_sysctl(name, value):
    def fn():
        with open(sysctl_path(name), "w") as f:
            f.write("%s\n" % value)
    action = SysctlWrite("sysctl", name, "sysctl -w %s=%s" % (name, value), fn)
    action.name, action.value = name, value
    return action


def _hex_addr(text):
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return ipaddress.ip_address(raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.ip_address(words)
    return addr.ipv4_mapped or addr


def listeners(protocol, proc_net=PROC_NET):
    """[(address, port)] of sockets listening (tcp) or bound (udp/sctp) in this namespace."""
    out = []
    if protocol == "sctp":
        path = os.path.join(proc_net, "sctp", "eps")
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 8:
                        out.append((ipaddress.ip_address(u"0.0.0.0"), int(parts[5])))
        except (IOError, OSError):
            pass
        return out
    for name in (protocol, protocol + "6"):
        try:
            with open(os.path.join(proc_net, name)) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 4:
                        continue
                    if protocol == "tcp" and parts[3] != "0A":
                        continue
                    addr, port = parts[1].split(":")
                    out.append((_hex_addr(addr), int(port, 16)))
        except (IOError, OSError):
            continue
    return out


def listener_conflict(m, socks):
    for addr, port in socks:
        if not m.host[0] <= port <= m.host[1]:
            continue
        if addr.is_unspecified:
            return addr, port
        if m.host_ip is None and not addr.is_loopback:
            return addr, port
        if m.host_ip is not None and addr == m.host_ip:
            return addr, port
    return None


# --- planners -------------------------------------------------------------------------------------------
def plan_nat(nl, spec, driver=None, check_mode=False, removed=(), by_owner=False, sysctl=None, readers=None):
    """removed: networks (bridges) an earlier step of the same run removes (a predicted run); sysctl(name): the
    sysctl reader (the run context's); readers: the host's file readers (_engine.HostReaders)."""
    net = validate_nat(spec, by_owner)
    bridge = spec["bridge"]
    p = Plan()
    present = spec["state"] == "present"
    host = nl.read(None)
    if present:
        facts = _preflight.read_host(nl, host, ignore=removed)
        _preflight.check_bridge("bridge", bridge, facts)
        _preflight.check_subnet("subnet", net, facts, bridge=bridge)
        _preflight.check_bridge("bridge", bridge, facts, must_exist=not check_mode)
        _check_own_network(spec, net, host)
        for w in _ranges.warnings("subnet", net, spec["subnet"]):
            p.warn(w)
    if present and host.link(bridge) is None:
        p.warn("bridge %s does not exist (yet): rules predicted for it; %s" % (bridge, REBUILD_NOTE))
    driver = driver or get_driver(spec.get("firewall_backend") or "auto")
    for w in driver.warnings:
        p.warn(w)
    current = driver.read()
    fwmark = parse_fwmark("docker_accept_fwmark", spec.get("docker_accept_fwmark")) if present else None
    if present:     # other firewalls that drop this network's traffic: told, never changed
        for w in _hostfw.network_warnings(_hostfw.read(driver), bridge, net, fwmark, driver.backend):
            p.warn(w)
    if present and not spec.get("icc", True):
        _check_foreign_icc(driver, bridge, host)
    owner = OWNER_PREFIX + bridge
    gone = set(removed)     # networks an earlier step of the same run removes (a predicted run)
    claimed = driver.networks(current) if present else {}
    for other_bridge, subnets in sorted(claimed.items()):   # the subnet must not be claimed by another network
        for other in subnets:
            if other_bridge not in gone | set([bridge]) and other.overlaps(net):
                raise StateError("subnet %s overlaps %s of network %s already managed by netplumb"
                                 % (net, other, other_bridge))
    wanted = [NetworkIntent(bridge, net, spec.get("masquerade", True), spec.get("isolate", True),
                            spec.get("icc", True), fwmark)] if present else []
    before, after = driver.plan(p, current, lambda o: o == owner, wanted)
    fwd_before = (sysctl or sysctl_read)("net.ipv4.ip_forward")
    p.before = dict(state="present" if before else "absent", backend=driver.backend, rules=before)
    p.after = dict(state=spec["state"], backend=driver.backend, rules=after)
    if present and spec.get("ip_forward", True):
        p.before["ip_forward"] = fwd_before
        p.after["ip_forward"] = "1"
        if fwd_before != "1":
            p.add(op_sysctl("net.ipv4.ip_forward", 1))
    if readers is None:
        _isolation.plan_nat(p, nl, host, spec)
    else:
        _isolation.plan_nat(p, nl, host, spec, read=readers.proc_sys)
    return p


def _check_own_network(spec, net, host):
    """container_nat's subnet is its bridge's own network: an IPv4 address of the bridge lies in it (when the
    bridge exists and has one; in check mode an earlier task of the role creates it with the subnet's gateway)."""
    lk = host.link(spec["bridge"])
    mine = [i for i in host.addresses(lk.name) if i.version == 4] if lk is not None else []
    if mine and not any(i.ip in net for i in mine):
        raise StateError("subnet=%s: is not the network of bridge %s (its addresses: %s); give the bridge's own "
                         "network" % (net, lk.name, ", ".join(sorted(str(i.with_prefixlen) for i in mine))))


def _check_foreign_icc(driver, bridge, host):
    """icc=false on a bridge that is not ours whose owner accepts its bridge-to-bridge traffic itself (Docker's
    `-A FORWARD -i docker0 -o docker0 -j ACCEPT`, or one in its own chains): that tool puts its jump back in
    front of ours whenever it restarts, and our isolation is then a silent no-op. Refused."""
    lk = host.link(bridge)
    if lk is None or is_ours(lk):
        return
    line = driver.foreign_icc(bridge)
    if line:
        raise StateError("icc=false: bridge %s is not netplumb's (no netplumb mark) and its owner accepts its "
                         "container-to-container traffic itself (%s); that tool puts its rules back in front of "
                         "ours whenever it restarts, so our isolation would be a silent no-op. Isolate with that "
                         "tool (Docker: a network with com.docker.network.bridge.enable_icc=false), or use a "
                         "bridge of ours" % (bridge, line.strip()))


def _bridge_for(m, host, current, check_mode, driver):
    """The bridge behind container_ip: given, or the host link whose subnet holds it, or our own rules."""
    if m.bridge:
        return m.bridge
    for name, lk in sorted(host.links.items()):
        for iface in host.addresses(name):
            if iface.version == 4 and m.container_ip in iface.network and iface.network.prefixlen < 32:
                return name
    for bridge, subnets in sorted(driver.networks(current).items()):
        if any(m.container_ip in net for net in subnets):
            return bridge
    if check_mode:
        return None     # an earlier task of the play may create it: the caller predicts with a placeholder
    raise StateError("container_ip=%s: no bridge on this host holds a subnet with this address; create the "
                     "bridge first (netplumb.container.linux_bridge) or set bridge" % m.container_ip)


def plan_publish(nl, spec, check_mode, driver=None, proc_net=PROC_NET, removed=(), sysctl=None, readers=None):
    """removed, sysctl, readers: as plan_nat's."""
    mappings = validate_mappings(spec)
    present = spec["state"] == "present"
    p = Plan()
    host = nl.read(None)
    driver = driver or get_driver(spec.get("firewall_backend") or "auto")
    for w in driver.warnings:
        p.warn(w)
    current = driver.read()
    facts = _preflight.read_host(nl, host, ignore=removed) if present else None
    if present:
        _check_host_side(spec, mappings, facts)
    bridges = _place_mappings(p, mappings, host, current, check_mode, driver, present)
    owners, stale = _owners_in_scope(spec, mappings, bridges, driver, current)
    if present:
        existing = dict((o, r) for o, r in driver.published(current).items() if network_of(o) not in removed)
        _refuse_taken_ports(mappings, existing, stale, driver, facts, (readers.listeners if readers else listeners),
                            proc_net)
        _hostfw_warn(p, _hostfw.read(driver), mappings)
    wanted = [m.intent() for m in mappings] if present else []
    lb = driver.loopback_bridges(current)       # read before the plan
    changed = driver.changed_owners(current, owners.__contains__, wanted)
    before, after = driver.plan(p, current, owners.__contains__, wanted)
    _plan_route_localnet(p, bridges, lb, owners, wanted, sysctl or sysctl_read)
    _plan_conntrack_flush(p, mappings, stale, driver.owners(current), changed)
    p.before = dict(backend=driver.backend, rules=before)
    p.after = dict(backend=driver.backend, rules=after)
    return p


def _check_host_side(spec, mappings, facts):
    """Never cut the host off: a host_ip is an address of the host, a bridge named is no uplink."""
    batch = spec.get("ports") is not None
    for i, m in enumerate(mappings):
        pre = "ports[%d]." % i if batch else ""
        if m.host_ip is not None:
            _preflight.check_host_ip(pre + "host_ip", m.host_ip, facts)
        if m.bridge:
            _preflight.check_bridge(pre + "bridge" if batch and spec["ports"][i].get("bridge") else "bridge",
                                    m.bridge, facts)


def _place_mappings(p, mappings, host, current, check_mode, driver, present):
    """Each mapping's bridge (given, found from the host or our rules, or check mode's placeholder). Returns the
    bridges of the batch, in order."""
    bridges = []
    for m in mappings:
        m.bridge = _bridge_for(m, host, current, check_mode, driver) if present else \
            (m.bridge or _owner_bridge(m, driver.owners(current)))
        if present and m.bridge is None:
            m.bridge = PLACEHOLDER_BRIDGE
            p.warn("container_ip=%s: no bridge on this host holds its subnet (yet): check mode predicts the rules "
                   "with the placeholder bridge name %s. The real run needs that bridge (an earlier task of the "
                   "play may create it; else set bridge): its commands name the bridge and %s"
                   % (m.container_ip, PLACEHOLDER_BRIDGE, REBUILD_NOTE))
        elif present and host.link(m.bridge) is None:
            if not check_mode:
                raise StateError("bridge %s does not exist: create it first (netplumb.container.linux_bridge)"
                                 % m.bridge)
            p.warn("bridge %s does not exist (yet): rules predicted for it; %s" % (m.bridge, REBUILD_NOTE))
        if m.bridge not in bridges:
            bridges.append(m.bridge)
    return bridges


def _owners_in_scope(spec, mappings, bridges, driver, current):
    """(owners, stale): the rule owners this call rewrites - its mappings', and the stale ones it removes (a whole
    network's with state=absent and no mapping named, the unnamed ones of its networks with prune). Adds the
    networks of those to ``bridges``."""
    owners = set(m.owner() for m in mappings if m.bridge)
    stale = []
    if by_bridge(spec):
        bridges.append(spec["bridge"])
        stale = sorted(set(o for o in driver.owners(current) if o.count(":") >= 2
                           and network_of(o) == spec["bridge"]))
        owners.update(stale)
    if spec.get("prune"):
        # the networks of the batch: their mappings the batch does not name go, as with state=absent
        if spec.get("bridge") and spec["bridge"] not in bridges:
            bridges.append(spec["bridge"])
        mapped = set(o for o in driver.owners(current) if o.count(":") >= 2)
        stale = sorted(o for o in mapped if network_of(o) in bridges and o not in owners)
        owners.update(stale)
    return owners, stale


def _refuse_taken_ports(mappings, existing, stale, driver, facts, listening, proc_net):
    """A new mapping's host ports must be free: published by no other mapping of ours (but the stale ones this
    plan removes), bound by no local listener, claimed by no other firewall's DNAT."""
    socks = {}
    index = PortIndex()
    gone = set(stale)
    for owner in sorted(existing):
        if owner not in gone:      # stale ones are removed by this very plan
            other = parse_forward_owner(owner)
            if index.conflict(other) is None:
                index.add(other, owner)
    for m in mappings:
        owner = index.conflict(m, skip=m.owner())
        if owner is not None:
            raise StateError("%s is already published by %s (network %s): remove that mapping first"
                             % (m.key(), owner, network_of(owner)))
        if m.owner() in existing:
            continue     # ours already: the DNAT is no listener
        if m.protocol not in socks:
            socks[m.protocol] = listening(m.protocol, proc_net)
        hit = listener_conflict(m, socks[m.protocol])
        if hit:
            raise StateError("%s: port %d is bound by a local listener on %s" % (m.key(), hit[1], hit[0]))
        claim = _hostfw.read(driver).dnat_claim(m.protocol, m.host[0], m.host[1], m.host_ip, _local(facts))
        if claim:
            raise StateError(_hostfw.dnat_refusal(m.key(), claim))


def _plan_route_localnet(p, bridges, lb, owners, wanted, sysctl):
    """route_localnet on a bridge while a loopback mapping of ours points into it, and only then: a sysctl the
    new rules need goes before the firewall's actions, one they no longer need after them."""
    before_lb = set(lb.values())
    after_lb = set(b for o, b in lb.items() if o not in owners) | set(i.bridge for i in wanted if i.loopback)
    sysctl_ops = []
    for b in bridges:
        name = "net.ipv4.conf.%s.route_localnet" % b
        cur = sysctl(name)
        if b in after_lb and cur != "1":
            sysctl_ops.append(op_sysctl(name, 1))
        elif b in before_lb and b not in after_lb and cur == "1":
            sysctl_ops.append(op_sysctl(name, 0))
    p.actions = [a for a in sysctl_ops if a.command.endswith("=1")] + p.actions + \
        [a for a in sysctl_ops if a.command.endswith("=0")]


def _plan_conntrack_flush(p, mappings, stale, had, changed):
    """A UDP mapping of ours changed or removed: its stale conntrack entries are flushed."""
    for o, m in [(x.owner() if x.bridge else None, x) for x in mappings] + [(o, parse_forward_owner(o)) for o in stale]:
        if m.protocol == "udp" and o in had and o in changed:
            for port in range(m.host[0], m.host[1] + 1):
                p.add(_conntrack.op_flush("udp", port))


def _local(facts):
    """The host's non-loopback IPv4 addresses (what a mapping without host_ip listens on)."""
    return [iface.ip for dummy, iface in facts.addrs if iface.version == 4 and not iface.ip.is_loopback]


def _hostfw_warn(p, fw, mappings, limit=10):
    """Warnings for the published ports another firewall drops (at most ``limit``, then a count)."""
    more = 0
    for m in mappings:
        if m.loopback or m.bridge == PLACEHOLDER_BRIDGE:
            continue    # a loopback mapping is never forwarded
        found = _hostfw.publish_warnings(fw, m.bridge, m.protocol, _ports(m.host, "-"), m.container_ip,
                                         _ports(m.container, "-"), m.host_ip)
        if found and len(p.warnings) >= limit:
            more += 1
            continue
        for w in found:
            p.warn(w)
    if more:
        p.warn("another firewall also drops %d more published port(s) of this call, as above" % more)


def _owner_bridge(m, owners):
    for o in sorted(owners):
        if o.count(":") >= 2 and o.endswith(":" + m.key()) and o == "%s%s:%s" % (OWNER_PREFIX, network_of(o), m.key()):
            return network_of(o)
    return None
