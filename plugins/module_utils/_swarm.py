# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""swarm_firewall: validation, the rules of the Swarm intent, and its planner.

The intent: on a Swarm node, traffic to the Swarm ports (2377/tcp on managers; 7946/tcp+udp; the data-path
port, 4789/udp by default) and IP protocol 50 (ESP) is accepted from the Swarm peers only and dropped from
everyone else. Rules go to filter NETPLUMB-INPUT (hooked first in INPUT), each with an owner comment of
the form ``netplumb:swarm/<what>`` (the intent: _fwintent.SwarmAllowance, rendered by the driver): the ``/``
can never be part of a bridge name, so these owners never collide with a network's (``netplumb:<bridge>[:<port>]``).

Order in the chain: local traffic (``-i lo``) returns first (a node reaching its own ports), then the
accepts of each peer, then the drops.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils import _firewall
from ansible_collections.netplumb.container.plugins.module_utils._firewall import get_driver
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (  # pylint: disable=unused-import
    GOSSIP_PORT, MANAGER_PORT, SWARM, SWARM_DROP, SWARM_LOCAL, SWARM_PEER, SwarmAllowance)  # noqa: F401
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v

OWNER = SWARM
OWNER_LOCAL = SWARM_LOCAL
OWNER_PEER = SWARM_PEER
OWNER_DROP = SWARM_DROP
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
        raise ValidationError(field, value, "only IPv4 is supported by the firewall drivers (iptables, nftables) for now")
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


def ports(manager, data_path_port):
    """{protocol: [ports]} accepted from peers on this node."""
    return SwarmAllowance((), manager, data_path_port).open_ports()


def intent(peers, manager=False, data_path_port=DEFAULT_DATA_PATH_PORT, esp=True):
    return SwarmAllowance(peers, manager, data_path_port, esp)


def rules(peers, manager=False, data_path_port=DEFAULT_DATA_PATH_PORT, esp=True):
    """The iptables rendering of the intent, in chain order (for the readers of iptables rules)."""
    return _firewall.render_iptables([intent(peers, manager, data_path_port, esp)])


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
    wanted = [intent(peers, manager, port, spec.get("esp", True))] if present else []
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
