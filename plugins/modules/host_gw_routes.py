#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_gw_routes
short_description: Routes to other hosts' container subnets via their addresses (flannel host-gw)
version_added: 0.2.0
description:
  - Adds, in the main routing table, a route to each C(subnet) via C(via) with the route
    protocol 151 (C(ip route replace SUBNET via VIA proto 151)), netplumb's ownership mark for routes.
  - A route to that subnet without the mark (someone else's) is never replaced or deleted - the module refuses,
    naming it. With O(prune=true), routes of ours not listed (hosts that left the inventory) are removed.
  - A subnet overlapping an address of this host, or a C(via) on no directly connected network, is
    refused before any change.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
options:
  routes:
    description: The routes, each a mapping with C(subnet) (CIDR) and C(via) (the other host's address).
    type: list
    elements: dict
    default: []
  prune:
    description:
      - With O(state=present), remove the routes of ours (protocol 151) that O(routes) does not list, and the exemption
        rules (owner C(netplumb:fleet/BRIDGE)) of networks O(networks) does not list.
    type: bool
    default: false
  cluster_cidr:
    description:
      - The fleet's cluster CIDR, for example V(10.244.0.0/16). With O(networks), traffic between a local network
        and the cluster CIDR over O(underlay) is exempt from masquerade (the other host's container sees the sender's
        own address), passes the drop of outside traffic to the containers, and is forwarded.
      - Rules C(-t nat -A NETPLUMB-POSTROUTING -s SUBNET -d CLUSTER -o UNDERLAY -j RETURN), C(-t raw -A NETPLUMB-PREROUTING
        -s CLUSTER -d SUBNET -i UNDERLAY -j RETURN) (both first in their chain) and C(-t filter -A NETPLUMB-FORWARD
        -s CLUSTER -d SUBNET -i UNDERLAY -o BRIDGE -j ACCEPT), each with the comment C(netplumb:fleet/BRIDGE). Isolation
        between the networks of one host is unchanged.
    type: str
  underlay:
    description: The interface towards the other hosts. Default the interface whose networks hold every C(via) (with
      no routes, the one towards the default gateway).
    type: str
  networks:
    description: The local container networks (mappings with C(bridge) and C(subnet), inside O(cluster_cidr)).
    type: list
    elements: dict
    default: []
  state:
    description: V(present) converges the routes; V(absent) removes the listed routes of ours.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
"""

EXAMPLES = r"""
- name: h1 reaches the containers of h2 and h3
  netplumb.container.host_gw_routes:
    routes:
      - {subnet: 10.244.12.0/24, via: 192.0.2.12}
      - {subnet: 10.244.13.0/24, via: 192.0.2.13}
    prune: true

- name: The same, and containers of the fleet see each other's own addresses
  netplumb.container.host_gw_routes:
    routes:
      - {subnet: 10.244.12.0/24, via: 192.0.2.12}
    cluster_cidr: 10.244.0.0/16
    underlay: eth0
    networks:
      - {bridge: br-web, subnet: 10.244.11.0/24}
    prune: true
"""

RETURN = r"""
commands:
  description: The equivalent ip commands of the plan, applied or predicted.
  returned: always
  type: list
  elements: str
diff:
  description: Our routes before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("host_gw_routes", _steps.HostGwStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
