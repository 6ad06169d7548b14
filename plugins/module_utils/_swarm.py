# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""swarm_firewall: validation, the rules of the Swarm intent, and its planner.

The intent: on a Swarm node, traffic to the Swarm ports (2377/tcp on managers; 7946/tcp+udp; the data-path
port, 4789/udp by default) and IP protocol 50 (ESP) is accepted from the Swarm peers only and dropped from
everyone else. Rules go to filter NETPLUMB-INPUT (hooked first in INPUT), each with an owner comment of
the form ``netplumb:swarm/<what>``: the ``/`` can never be part of a bridge name, so these owners never
collide with a network's (``netplumb:<bridge>[:<port>]``).

Order in the chain: local traffic (``-i lo``) returns first (a node reaching its own ports), then the
accepts of each peer, then the drops.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import OWNER_PREFIX, Rule, get_driver
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v

OWNER = OWNER_PREFIX + "swarm"
OWNER_LOCAL = OWNER + "/local"
OWNER_PEER = OWNER + "/peer"
OWNER_DROP = OWNER + "/drop"
MANAGER_PORT = 2377
GOSSIP_PORT = 7946
DEFAULT_DATA_PATH_PORT = 4789
HOOK = "INPUT"


def is_swarm_owner(owner):
    return owner is not None and owner.startswith(OWNER + "/")


def _peer(field, value):
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "expected an IPv4 address or CIDR, e.g. 192.0.2.11 or 10.0.0.0/24")
    try:
        net = ipaddress.ip_network(u"%s" % value.strip(), strict=True)
    except ValueError as exc:
        raise ValidationError(field, value, "not an address or a CIDR with host bits zero (%s)" % exc)
    if net.version != 4:
        raise ValidationError(field, value, "only IPv4 is supported by the iptables driver for now")
    if net.prefixlen == 0:
        raise ValidationError(field, value, "0.0.0.0/0 would accept the Swarm ports from everyone")
    if net.network_address.is_multicast or net.network_address.is_loopback:
        raise ValidationError(field, value, "a multicast or loopback network is no Swarm peer")
    return net


def validate(spec):
    """-> (peers as [IPv4Network], in order, without duplicates and without networks inside another peer)."""
    v.choice("state", spec["state"], ["present", "absent"])
    v.choice("firewall_backend", spec.get("firewall_backend", "auto"), ["auto", "iptables", "nftables"])
    port = spec.get("data_path_port", DEFAULT_DATA_PATH_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError("data_path_port", port, "a UDP port 1-65535")
    if port == GOSSIP_PORT:
        raise ValidationError("data_path_port", port, "is the gossip port %d (tcp+udp): Swarm refuses it too"
                              % GOSSIP_PORT)
    peers = []
    for i, value in enumerate(spec.get("peers") or []):
        net = _peer("peers[%d]" % i, value)
        if net not in peers:
            peers.append(net)
    # a peer inside a wider peer adds nothing (the wider rule accepts it): keep the list minimal and stable
    return [n for n in peers if not any(o != n and n.subnet_of(o) for o in peers)]


def _c(owner):
    return ["-m", "comment", "--comment", owner]


def _match(proto, ports):
    """-p PROTO plus the port match as iptables-save prints it."""
    ports = sorted(set(ports))
    if len(ports) == 1:
        return ["-p", proto, "-m", proto, "--dport", str(ports[0])]
    return ["-p", proto, "-m", "multiport", "--dports", ",".join(str(p) for p in ports)]


def ports(manager, data_path_port):
    """{protocol: [ports]} accepted from peers on this node."""
    tcp = [GOSSIP_PORT] + ([MANAGER_PORT] if manager else [])
    return dict(tcp=sorted(tcp), udp=sorted(set([GOSSIP_PORT, data_path_port])))


def rules(peers, manager=False, data_path_port=DEFAULT_DATA_PATH_PORT, esp=True):
    """The wanted Rule records, in chain order.

    Dropped from everyone else: every port accepted from peers, and 2377/tcp on workers too (only managers
    serve it); ESP when esp is true."""
    open_ = ports(manager, data_path_port)
    drop = dict(tcp=sorted(set(open_["tcp"] + [MANAGER_PORT])), udp=open_["udp"])
    out = [Rule("filter", HOOK, ["-i", "lo"] + _c(OWNER_LOCAL) + ["-j", "RETURN"], OWNER_LOCAL)]
    for net in peers:
        src = ["-s", str(net)]
        for proto in ("tcp", "udp"):
            out.append(Rule("filter", HOOK, src + _match(proto, open_[proto]) + _c(OWNER_PEER) + ["-j", "ACCEPT"],
                            OWNER_PEER))
        if esp:
            out.append(Rule("filter", HOOK, src + ["-p", "esp"] + _c(OWNER_PEER) + ["-j", "ACCEPT"], OWNER_PEER))
    for proto in ("tcp", "udp"):
        out.append(Rule("filter", HOOK, _match(proto, drop[proto]) + _c(OWNER_DROP) + ["-j", "DROP"], OWNER_DROP))
    if esp:
        out.append(Rule("filter", HOOK, ["-p", "esp"] + _c(OWNER_DROP) + ["-j", "DROP"], OWNER_DROP))
    return out


def plan(spec, driver=None):
    """The firewall plan of one call: our chains converge to "others' rules untouched + the Swarm rules"."""
    peers = validate(spec)
    present = spec["state"] == "present"
    p = Plan()
    driver = driver or get_driver(spec.get("firewall_backend") or "auto")
    for w in driver.warnings:
        p.warn(w)
    current = driver.read()
    manager = bool(spec.get("manager"))
    port = spec.get("data_path_port", DEFAULT_DATA_PATH_PORT)
    wanted = rules(peers, manager, port, spec.get("esp", True)) if present else []
    if present and not peers:
        p.warn("peers is empty: the Swarm ports%s are dropped from every other host" % (" and ESP" if spec.get(
            "esp", True) else ""))
    before, after = driver.plan(p, current, is_swarm_owner, wanted)
    p.before = dict(state="present" if before else "absent", backend=driver.backend, rules=before)
    p.after = dict(state=spec["state"], backend=driver.backend, rules=after)
    if present:
        open_ = ports(manager, port)
        p.extra["accepted"] = dict(peers=[str(n) for n in peers], tcp=open_["tcp"], udp=open_["udp"],
                                   esp=bool(spec.get("esp", True)))
    return p
