#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: port_publish
short_description: Publish container ports on the host (DNAT), safely
version_added: 0.1.0
description:
  - Publishes a container port on the host, like C(iptables -t nat -A PREROUTING -p tcp --dport 5000 -j DNAT
    --to-destination 172.18.0.10:5000) plus its C(OUTPUT) twin for traffic from the host itself, with the
    forwarding accept, hairpin and loopback handling that makes it work from outside, from the host and from
    other containers.
  - Rules live only in netplumb's own chains (C(NETPLUMB-PREROUTING)/C(NETPLUMB-OUTPUT)/C(NETPLUMB-POSTROUTING)
    in nat, C(NETPLUMB-FORWARD) in filter, C(NETPLUMB-PREROUTING) in raw). Each rule carries the comment
    C(netplumb:BRIDGE:PROTO/[HOST_IP:]PORTS) naming the network and the mapping; a call touches only the
    mappings it names. One C(iptables-restore --noflush --wait) per table, whatever the batch size.
  - A host port already published by another mapping of ours, bound by a local listener, or DNATed by another
    firewall (Docker with userland-proxy off, an nft dnat; read from nftables and every iptables backend) is
    refused.
  - Another firewall whose chain drops a published port's traffic (a native nftables C(policy drop), firewalld,
    ufw, C(DOCKER-USER)) is never changed; a warning names its table, chain and hook and the fix for it.
  - Changing or removing a UDP mapping flushes the stale conntrack entries of its host ports
    (C(conntrack -D -p udp --orig-port-dst PORT)).
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - iptables (nf_tables- or legacy-backed) and conntrack on the managed host
  - pyroute2 >= 0.7.2 on the managed host
options:
  host_port:
    description: Host port, or a range like V(8000-8010) mapped onto an equally long container range.
    type: raw
  container_ip:
    description: The container's IPv4 address.
    type: str
  container_port:
    description: Container port or range; defaults to O(host_port).
    type: raw
  protocol:
    description: Protocol of the mapping.
    type: str
    default: tcp
    choices: [tcp, udp, sctp]
  host_ip:
    description:
      - Publish on this host address only. When omitted, every local address except loopback.
      - A loopback address (V(127.0.0.1)) publishes for the host itself only; it is never reachable from other hosts,
        even those that route 127.0.0.0/8 to this one. C(route_localnet) is turned on for the container's bridge
        only (never C(all)) while such a mapping exists, and the bridge may not address the host's loopback (raw-table
        drop).
    type: str
  bridge:
    description:
      - The bridge the container sits on. When omitted, the host link whose subnet holds O(container_ip).
      - In check mode, when no bridge holds O(container_ip)'s subnet yet (an earlier task creates it), the rules
        are predicted with the placeholder name C(<bridge>) and a warning says so; a real run fails then.
      - With O(ports), the default of each item's C(bridge); with O(prune), also a network to prune.
      - With O(state=absent) and no mapping named (neither O(host_port) nor a non-empty O(ports)), the network whose
        published ports all go - every rule whose owner comment is C(netplumb:BRIDGE:...), found on the host, whoever
        published it.
    type: str
  ports:
    description: Batch form, instead of O(host_port)/O(container_ip); all applied in one call.
    type: list
    elements: dict
    suboptions:
      host_port:
        description: As O(host_port).
        type: raw
        required: true
      container_ip:
        description: As O(container_ip).
        type: str
        required: true
      container_port:
        description: As O(container_port).
        type: raw
      protocol:
        description: As O(protocol).
        type: str
        default: tcp
        choices: [tcp, udp, sctp]
      host_ip:
        description: As O(host_ip).
        type: str
      bridge:
        description: As O(bridge).
        type: str
  prune:
    description:
      - Makes the call the whole truth for the networks it names - the bridges of its mappings, and O(bridge). Mappings
        of those networks that the call does not name are removed, in the same single restore per table, with the
        same conntrack flush for UDP, as with O(state=absent). Other networks' mappings are never touched.
      - With an empty O(ports) list, O(bridge) is required (it names the network whose mappings all go).
      - Only with O(state=present).
    type: bool
    default: false
  state:
    description:
      - V(present) publishes the mappings; V(absent) removes them.
      - V(absent) with only O(bridge) removes every port published into that bridge's network (see O(bridge)).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
notes:
  - Requires root. Acts on the network namespace the module runs in. IPv4 only for now.
  - Published traffic is not exempt from the host firewall. The jump into C(NETPLUMB-FORWARD) is appended to
    FORWARD, so the host's own FORWARD rules decide first; our accept matches only connections DNATed to the
    exact container address and port.
  - Use M(netplumb.container.container_nat) for the bridge too, it provides the hairpin NAT and the forwarding
    of replies.
seealso:
  - module: netplumb.container.container_nat
"""

EXAMPLES = r"""
- name: The tutorial's port 5000
  netplumb.container.port_publish:
    host_port: 5000
    container_ip: 172.18.0.10

- name: For the host itself only
  netplumb.container.port_publish:
    host_port: 8080
    container_ip: 172.18.0.10
    container_port: 80
    host_ip: 127.0.0.1
    bridge: br0

- name: Exactly these published ports on br-web - the network's other mappings are removed
  netplumb.container.port_publish:
    bridge: br-web
    ports:
      - {host_port: 5000, container_ip: 172.18.0.10}
    prune: true

- name: Every port published into br-web's network goes, whichever mappings they were
  netplumb.container.port_publish:
    bridge: br-web
    state: absent

- name: Several at once
  netplumb.container.port_publish:
    ports:
      - {host_port: 53, container_ip: 172.18.0.20, protocol: udp}
      - {host_port: "8000-8010", container_ip: 172.18.0.20, container_port: "9000-9010"}
"""

RETURN = r"""
commands:
  description: The equivalent command lines (iptables, sysctl, conntrack), applied or predicted.
  returned: always
  type: list
  elements: str
diff:
  description:
    - The rules of the named mappings (iptables-save form) before and after.
    - With changes, C(prepared) holds the equivalent commands, one per line (shown by C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("port_publish", _steps.PublishStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
