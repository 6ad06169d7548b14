#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: swarm_firewall
short_description: The Docker Swarm ports and ESP, open to the Swarm peers only
version_added: 0.2.0
description:
  - Accepts, from the addresses and networks in O(peers) only, what a Docker Swarm node needs from the other
    nodes - C(7946/tcp) and C(7946/udp) (gossip), the data-path port (O(data_path_port), C(4789/udp) by
    default, the VXLAN overlay), C(2377/tcp) on managers (O(manager=true), cluster management) and IP protocol
    50 (ESP, encrypted overlays) - and drops the same from everyone else. C(2377/tcp) is dropped from everyone
    on workers (only managers serve it).
  - Rules live only in netplumb's own chain C(NETPLUMB-INPUT) of the filter table, reached by one jump rule at
    position 1 of C(INPUT); each carries an owner comment C(netplumb:swarm/local), C(netplumb:swarm/peer) or
    C(netplumb:swarm/drop). The chain first returns local traffic (C(-i lo)), so a node always reaches its own
    ports. Built-in policies, other rules of C(INPUT) and other tools' rules are never changed.
  - Traffic from a peer is accepted in C(NETPLUMB-INPUT), before the host's own C(INPUT) rules; every other
    port and protocol is left to the host's own rules.
  - The filter table is written with one atomic C(iptables-restore --noflush --wait); state is read with
    C(iptables-save). The C(commands) returned are the equivalent C(iptables) command lines.
  - IPv4 only (both firewall drivers); IPv6 traffic to these ports is not filtered by this module.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - iptables (nf_tables- or legacy-backed) with the C(multiport), C(comment) and C(esp) protocol support
    on the managed host
options:
  peers:
    description:
      - The Swarm peers, IPv4 addresses (V(192.0.2.11)) or networks in CIDR form with host bits zero (V(10.20.0.0/24)).
        Duplicates and networks inside another listed network are dropped.
      - The node itself may be listed (the role lists every member of the Swarm groups).
      - An empty list drops the Swarm ports from everyone (a warning says so).
    type: list
    elements: str
    default: []
  manager:
    description: The node is a Swarm manager - C(2377/tcp) is accepted from the peers (else dropped from all).
    type: bool
    default: false
  data_path_port:
    description: The VXLAN data-path port (C(docker swarm init --data-path-port)). Not V(7946).
    type: int
    default: 4789
  esp:
    description:
      - Accept IP protocol 50 (ESP, encrypted overlay networks) from the peers and drop it from everyone else.
      - V(false) writes no ESP rule at all.
    type: bool
    default: true
  state:
    description: V(present) converges the Swarm rules; V(absent) removes exactly the rules whose owner comment starts
      with C(netplumb:swarm/) (and our chain and its jump once nothing of ours remains in it).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
notes:
  - Requires root (CAP_NET_ADMIN) on the managed host. Acts on the network namespace the module runs in.
  - The role M(netplumb.container.swarm_prerequisites) computes O(peers) from the inventory groups.
seealso:
  - module: netplumb.container.container_nat
"""

EXAMPLES = r"""
- name: A manager of a three-node Swarm
  netplumb.container.swarm_firewall:
    peers: [192.0.2.11, 192.0.2.12, 192.0.2.13]
    manager: true

- name: A worker, peers by network, a custom data-path port, no encrypted overlays
  netplumb.container.swarm_firewall:
    peers: [10.20.0.0/24]
    data_path_port: 4790
    esp: false

- name: Remove the Swarm rules (only those)
  netplumb.container.swarm_firewall:
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent iptables command lines of the plan, applied or predicted.
  returned: always
  type: list
  elements: str
  sample: ["iptables -t filter -N NETPLUMB-INPUT",
           "iptables -t filter -A NETPLUMB-INPUT -i lo -m comment --comment netplumb:swarm/local -j RETURN",
           "iptables -t filter -I INPUT 1 -j NETPLUMB-INPUT"]
accepted:
  description: What is accepted from the peers after the run (the peers as normalized networks).
  returned: when state=present
  type: dict
  sample: {"peers": ["192.0.2.11/32"], "tcp": [2377, 7946], "udp": [4789, 7946], "esp": true}
diff:
  description: The Swarm rules (iptables-save form) before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("swarm_firewall", _steps.SwarmFirewallStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
