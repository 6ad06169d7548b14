# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Isolation that holds, whatever protocol and whatever br_netfilter says.

* Containers of one bridge (icc=false): bridge port isolation (``ip link set PORT type bridge_slave
  isolated on``, IFLA_BRPORT_ISOLATED). The bridge itself never forwards a frame from one isolated port to
  another: IPv4, IPv6 link-local, self-assigned ULAs, raw frames alike. Frames to the bridge's own address
  (the gateway) still go up to the host, so routed traffic - egress, published ports, hairpin through the
  host - is untouched. The iptables ``-i BR -o BR -j DROP`` of container_nat stays as a second layer.
* IPv6 between networks: our bridges carry no IPv6 unless asked (``net.ipv6.conf.BR.disable_ipv6=1``, in
  the network namespace the module runs in): the host neither answers nor routes IPv6 on them.
* br_netfilter: the bridge's own ``nf_call_iptables`` attribute (IFLA_BR_NF_CALL_IPTABLES, pyroute2
  ``br_nf_call_iptables`` in 0.7 and 0.9) on bridges linux_bridge manages. It is effective when it or the
  global ``net.bridge.bridge-nf-call-iptables`` is 1.

Kernel fact that shapes the rules below: when br_netfilter processes a bridge, a DNATed packet whose new
destination sits on the same bridge is *bridged* from the ingress port (br_nf "bridged DNAT"), so it meets
port isolation and is dropped: with isolated ports, containers reach published ports of their own bridge
through the host (hairpin) only while br_netfilter is off for that bridge. Without br_netfilter the DNATed
packet is routed out of the bridge device and delivered.

Every write here is an Action (equivalent command + callable) added to the caller's plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action

OWNER_ALIAS = "netplumb"
PROC_SYS = "/proc/sys"
BRNF_SYSCTL = "net.bridge.bridge-nf-call-iptables"


# --- sysctls (per network namespace: /proc/sys of the namespace the module runs in) ---------------------
def _sysctl_file(*parts):
    return os.path.join(PROC_SYS, *parts)


def read_file(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def ipv6_path(ifname):
    return _sysctl_file("net", "ipv6", "conf", ifname, "disable_ipv6")


def ipv6_name(ifname):
    """The sysctl name as `sysctl` spells it (a dot inside an interface name becomes a slash)."""
    return "net.ipv6.conf.%s.disable_ipv6" % ifname.replace(".", "/")


def global_brnf(read=read_file):
    """'1', '0', or None when br_netfilter is not there at all (then nothing is ever passed to iptables)."""
    return read(_sysctl_file("net", "bridge", "bridge-nf-call-iptables"))


# --- ops --------------------------------------------------------------------------------------------------
def op_isolated(nl, name, on):
    """Bridge port isolation: no frame goes from one isolated port to another."""
    def fn():
        nl.sock(None).brport("set", index=nl.index(None, name), isolated=1 if on else 0)
    return Action("brport_set", name, "ip link set %s type bridge_slave isolated %s" % (name, "on" if on else "off"),
                  fn)


def op_nf_call_iptables(nl, bridge, on):
    def fn():
        nl.sock(None).link("set", index=nl.index(None, bridge), kind="bridge", br_nf_call_iptables=1 if on else 0)
    return Action("link_set", bridge, "ip link set %s type bridge nf_call_iptables %d" % (bridge, 1 if on else 0), fn)


def op_disable_ipv6(bridge, value):
    def fn():
        with open(ipv6_path(bridge), "w") as f:
            f.write("%d\n" % value)
    return Action("sysctl", ipv6_name(bridge), "sysctl -w %s=%d" % (ipv6_name(bridge), value), fn)


# --- veth_pair: `isolated` on the host end's bridge port -------------------------------------------------
def validate_pair(field, pair):
    value = pair.get("isolated")
    if value is not None and not isinstance(value, bool):
        raise ValidationError(field + "isolated", value, "must be true or false (or null: not managed)")


def plan_port(p, nl, pair, h, new_port):
    """Hook of _links._plan_pair, right after hairpin: converges isolation of the host end's bridge port.
    h: the existing host end (None when the plan creates it); new_port: the plan attaches it to a bridge
    (a new port starts with isolation off). Returns the value after the plan (None: not managed)."""
    wanted = pair.get("isolated")
    if wanted is None or not pair.get("bridge"):
        return None
    name = pair["name"]
    current = False if (h is None or new_port) else bool(h.isolated)
    if h is not None and pair["name"] in p.before and p.before[name].get("state") == "present":
        p.before[name]["isolated"] = bool(h.isolated) if h.master else None
    if current != wanted:
        p.add(op_isolated(nl, name, wanted))
    return wanted


def note_after(after, isolated):
    if isolated is not None:
        after["isolated"] = isolated


# --- linux_bridge: nf_call_iptables and IPv6 -------------------------------------------------------------
def plan_bridge(p, nl, spec, lk, after, read=read_file):
    """Hook of _links.plan_bridge (state=present), after its addresses, before it is brought up. Options
    missing from spec are not managed. lk: the existing bridge (None: the plan creates it). IPv6 turned on
    goes before the plan's address additions, turned off after its deletions (the kernel drops a link's IPv6
    addresses itself then)."""
    name = spec["name"]
    nf = spec.get("nf_call_iptables")
    if nf is not None:
        cur = bool(lk.nf_call_iptables) if lk is not None else False     # a new bridge starts with 0
        if lk is not None:
            p.before["nf_call_iptables"] = cur
        if cur != nf:
            p.add(op_nf_call_iptables(nl, name, nf))
        after["nf_call_iptables"] = nf
    ipv6 = spec.get("ipv6")
    if ipv6 is not None:
        if not ipv6:
            six = [a for a in (spec.get("addresses") or []) if a.version == 6]
            if six:
                raise ValidationError("addresses", str(six[0]), "is an IPv6 address while ipv6=false (IPv6 is "
                                      "turned off on the bridge); set ipv6=true")
        if lk is not None:
            cur = read(ipv6_path(name))
        else:   # a new link takes net.ipv6.conf.default.disable_ipv6
            cur = read(_sysctl_file("net", "ipv6", "conf", "default", "disable_ipv6"))
        if cur is None:
            if ipv6:
                raise StateError("ipv6=true: IPv6 is not available in this network namespace (no %s)"
                                 % ipv6_path(name))
        else:
            if lk is not None:
                p.before["ipv6"] = cur == "0"
            want = "0" if ipv6 else "1"
            if cur != want and ipv6:
                adds = [i for i, a in enumerate(p.actions) if a.kind == "addr_add" and a.target == name]
                p.actions.insert(adds[0] if adds else len(p.actions), op_disable_ipv6(name, 0))
            elif cur != want:
                p.add(op_disable_ipv6(name, 1))
        if not ipv6 and after.get("addresses"):
            after["addresses"] = [a for a in after["addresses"] if ":" not in a]
        after["ipv6"] = bool(ipv6) if cur is not None else False


# --- container_nat: icc on our ports, and br_netfilter where a rule depends on it ------------------------
def brnf_effective(lk, read=read_file):
    return global_brnf(read) == "1" or bool(lk is not None and lk.nf_call_iptables)


def plan_nat(p, nl, host, spec, read=read_file):
    """Hook of _fwnet.plan_nat. icc=false: isolation on for every port of the bridge whose alias is exactly
    ours (isolation goes first in the plan); icc=true: off on our ports. Ports that are not ours are never
    touched: while one of them is not isolated, the FORWARD drop is its only layer, which needs br_netfilter,
    so icc=false then refuses where br_netfilter is off for the bridge."""
    if spec.get("state", "present") != "present":
        return
    bridge = spec["bridge"]
    lk = host.link(bridge)
    icc = spec.get("icc", True)
    if lk is None or lk.kind != "bridge":
        if icc:     # nothing to isolate, whatever ports earlier steps add (the diff is the real run's)
            p.before["isolated_ports"] = p.after["isolated_ports"] = []
        return      # a missing bridge is predicted (check mode) or refused elsewhere
    ports = sorted((x for x in host.by_index.values() if x.master == lk.index), key=lambda x: x.name)
    ours = [x for x in ports if x.alias == OWNER_ALIAS]
    foreign_open = [x.name for x in ports if x.alias != OWNER_ALIAS and not x.isolated]
    brnf = brnf_effective(lk, read)
    if not icc and foreign_open and not brnf:
        raise StateError(
            "icc=false: bridge %s has ports that netplumb does not own and will not isolate (%s), and "
            "br_netfilter is off for it (%s=%s, bridge attribute nf_call_iptables=0): the FORWARD drop "
            "between its containers would be a silent no-op for them. Fix: set the bridge's own attribute "
            "(netplumb.container.linux_bridge with nf_call_iptables=true, or `ip link set %s type bridge "
            "nf_call_iptables 1`), or isolate those ports yourself (`ip link set PORT type bridge_slave "
            "isolated on`)" % (bridge, ", ".join(foreign_open), BRNF_SYSCTL, global_brnf(read) or "absent",
                               bridge))
    before = [x.name for x in ours if x.isolated]
    p.before["isolated_ports"] = before
    p.after["isolated_ports"] = [x.name for x in ours] if not icc else []
    ops = [op_isolated(nl, x.name, not icc) for x in ours if bool(x.isolated) == icc]
    if not icc:
        p.actions[0:0] = ops
        if brnf and ours:
            p.warn("icc=false on bridge %s: its ports are isolated, and br_netfilter processes it (%s or the "
                   "bridge attribute nf_call_iptables is 1), so the kernel bridges DNATed packets between its "
                   "ports and isolation drops them: containers of %s cannot reach published ports of %s "
                   "through the host (hairpin). They can where br_netfilter is off for the bridge (%s=0 and "
                   "linux_bridge nf_call_iptables=false)" % (bridge, BRNF_SYSCTL, bridge, bridge, BRNF_SYSCTL))
    else:
        p.extend(ops)
