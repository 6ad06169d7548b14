#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vxlan_overlay
short_description: A VXLAN overlay between the fleet's container subnets, learned from the inventory (flannel vxlan)
version_added: 0.3.0
description:
  - One vxlan device per host (default C(np-vxlan), VNI 151, UDP port 8472, MAC learning off, no multicast),
    marked with the link alias C(netplumb). For every peer - another host's fleet subnet and underlay
    address - a route to its subnet via its VTEP address on the device (C(onlink), protocol 151), a permanent
    neighbour entry for that VTEP address and a permanent FDB entry sending its VTEP MAC to its underlay address.
  - Every VTEP is derived from the host's fleet subnet, so no store is needed. The VTEP address is the
    subnet's first address (V(10.244.3.0) for V(10.244.3.0/24)), the next hop of the routes and neighbour
    entries (it is not put on the device, which holds no address); the VTEP MAC, set on the device, is the
    locally administered C(0a:6e:) followed by the four bytes of that address (C(0a:6e:0a:f4:03:00)).
  - The device is ours, so every permanent neighbour and FDB entry on it is ours - they converge to exactly
    O(peers) (a host that left the inventory loses its route, neighbour and FDB entry). With O(cluster_cidr),
    routes of ours (protocol 151) to subnets of the cluster CIDR that are not peers are removed too, wherever they
    point (host-gw routes when switching to vxlan).
  - The device MTU is the underlay's MTU, read from the host, minus 50 (VXLAN over IPv4); a network in
    O(networks) that declares a larger C(mtu) is refused before any change. The result's RV(mtu) is the MTU
    the containers of the fleet networks should use.
  - Refused before any change - the device name held by a link that is not ours or not a vxlan device;
    another vxlan device on the host with the same VNI or the same UDP port (ours or not); the port 4789
    (Docker Swarm's data path); a route to a peer's subnet that is not ours; O(local) on no interface.
  - With O(firewall=true), UDP to O(port) is accepted from the peers' underlay addresses only
    (filter C(NETPLUMB-INPUT), comments C(netplumb:vxlan/peer) and C(netplumb:vxlan/drop)). With O(cluster_cidr)
    and O(networks), the fleet exemptions of M(netplumb.container.host_gw_routes) are written with the vxlan
    device as the interface (no masquerade between fleet subnets, the containers see each other's addresses).
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
options:
  device:
    description: Name of the vxlan device.
    type: str
    default: np-vxlan
  vni:
    description: The VXLAN network identifier (1-16777215). No other vxlan device of the host may use it.
    type: int
    default: 151
  port:
    description: The UDP port VXLAN packets are sent to and received on. V(4789) (Docker Swarm's) is refused.
    type: int
    default: 8472
  subnet:
    description: This host's fleet subnet (its VTEP address and MAC are derived from it). Required with O(state=present).
    type: str
  local:
    description: This host's underlay address (the source of its VXLAN packets, the address the peers send to).
      Required with O(state=present).
    type: str
  underlay:
    description: The interface holding O(local); it is only read (its index and MTU), never changed. Default the
      interface that holds O(local).
    type: str
  peers:
    description:
      - The other hosts of the fleet, each a mapping with C(subnet) (its fleet subnet), C(address) (its underlay
        address) and optionally C(name) (for messages).
    type: list
    elements: dict
    default: []
  cluster_cidr:
    description: The fleet's cluster CIDR. Peer subnets must be inside it; routes of ours inside it that are not
      peers are removed; with O(networks), the fleet exemptions are written.
    type: str
  networks:
    description: This host's container networks on its fleet subnet, mappings with C(bridge), C(subnet) and optionally
      C(mtu) (checked against the underlay) and C(name).
    type: list
    elements: dict
    default: []
  firewall:
    description: Accept UDP O(port) from the peers' underlay addresses only (and drop it from everyone else). V(false)
      leaves the port alone (and removes no such rules).
    type: bool
    default: true
  state:
    description: V(present) converges the overlay; V(absent) deletes our device (with its address, routes, neighbour
      and FDB entries) and our rules for the port.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
"""

EXAMPLES = r"""
- name: h1 joins the overlay of h2 and h3
  netplumb.container.vxlan_overlay:
    subnet: 10.244.1.0/24
    local: 192.0.2.11
    cluster_cidr: 10.244.0.0/16
    peers:
      - {name: h2, subnet: 10.244.2.0/24, address: 192.0.2.12}
      - {name: h3, subnet: 10.244.3.0/24, address: 198.51.100.13}
    networks:
      - {bridge: br-fleet, subnet: 10.244.1.0/24}

- name: No overlay on this host any more
  netplumb.container.vxlan_overlay:
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent ip/bridge/iptables commands of the plan, applied or predicted.
  returned: always
  type: list
  elements: str
mtu:
  description: The overlay's MTU (the underlay's minus 50), for the containers of the fleet networks.
  returned: with state=present
  type: int
underlay:
  description: The interface holding O(local).
  returned: with state=present
  type: str
underlay_mtu:
  description: Its MTU, as read from the host.
  returned: with state=present
  type: int
vtep:
  description: This host's VTEP address and MAC.
  returned: with state=present
  type: dict
diff:
  description: The device, the peers' entries and our rules before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("vxlan_overlay", _steps.VxlanStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
