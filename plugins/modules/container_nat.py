#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_nat
short_description: Egress NAT, forwarding and isolation for the containers on one bridge
version_added: 0.1.0
description:
  - Masquerades traffic leaving a container bridge (C(iptables -t nat -A POSTROUTING -s SUBNET ! -o BRIDGE
    -j MASQUERADE)), accepts forwarded traffic from the bridge outward and replies back in, drops invalid
    conntrack state, drops traffic addressed to the containers that did not come in on their bridge, and turns
    on C(net.ipv4.ip_forward) when it is off.
  - Rules live only in netplumb's own chains (C(NETPLUMB-POSTROUTING) in nat, C(NETPLUMB-FORWARD) in filter,
    C(NETPLUMB-PREROUTING) in raw), reached by one jump rule from each built-in chain; each rule carries the
    comment C(netplumb:BRIDGE), and a call only touches the rules of its own bridge. Built-in policies and
    other tools' rules (Docker, ufw, firewalld) are never changed.
  - Other firewalls are read (nftables and every iptables backend); when one certainly drops the bridge's
    egress or its replies (a native nftables C(policy drop), a firewalld-style reject, ufw's reject, a
    default-deny C(DOCKER-USER)), a warning names its table, chain and hook and the fix for that firewall.
  - Each table is written with one atomic C(iptables-restore --noflush --wait); state is read with
    C(iptables-save). The C(commands) returned are the equivalent C(iptables) command lines.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - iptables (nf_tables- or legacy-backed) on the managed host
  - pyroute2 >= 0.7.2 on the managed host
options:
  bridge:
    description: The containers' bridge (as created by M(netplumb.container.linux_bridge)).
    type: str
    required: true
  subnet:
    description: The containers' subnet in CIDR form, for example V(172.18.0.0/16). IPv4 only for now.
    type: str
    required: true
  masquerade:
    description: Masquerade traffic from O(subnet) that leaves through another interface than O(bridge).
    type: bool
    default: true
  ip_forward:
    description:
      - Make sure C(net.ipv4.ip_forward) is 1 in the current network namespace. Written only when it is off; V(false)
        leaves the setting alone (it is never turned off, other networks may need it).
    type: bool
    default: true
  isolate:
    description:
      - Traffic between this bridge and another netplumb bridge is dropped (in the raw table, before any NAT).
      - V(false) lets traffic from this bridge reach the containers of other netplumb bridges that also set V(false);
        traffic from outside the host to container addresses stays dropped either way.
    type: bool
    default: true
  icc:
    description:
      - Containers on this bridge may talk to each other.
      - V(false) turns on bridge port isolation (C(ip link set PORT type bridge_slave isolated on)) on every port
        of O(bridge) whose alias is exactly C(netplumb) (ports this collection made), first in the plan - no frame
        passes between two of them, whatever the protocol (IPv4, IPv6 link-local, self-assigned ULAs, raw frames)
        and whatever br_netfilter says. The gateway (the bridge's own address) stays reachable. It also drops bridge-to-bridge
        forwarding in iptables (C(-i BRIDGE -o BRIDGE -j DROP)), a second layer.
      - V(true) turns isolation off on those ports. Ports without the C(netplumb) alias are never changed.
      - With V(false) and a port that is not netplumb's and not isolated, the iptables drop is that port's only
        layer, so the module refuses while br_netfilter is off for the bridge (global C(net.bridge.bridge-nf-call-iptables=0)
        and the bridge's C(nf_call_iptables=0)), naming the fix.
      - With V(false) and br_netfilter on for the bridge, containers cannot reach published ports of their own bridge
        through the host (the kernel bridges the DNATed packet and isolation drops it); a warning says so. Where
        br_netfilter is off for the bridge, that hairpin is routed and works.
    type: bool
    default: true
  docker_accept_fwmark:
    description:
      - 'Docker 29 with its nftables firewall backend drops new connections into its networks whatever our table
        accepts (an accept in nftables is not final), except packets carrying the mark of its daemon option C(bridge-accept-fwmark).
        Set this to the same value (C(MARK) or C(MARK/MASK), decimal or C(0x) hex, e.g. V(0x100/0x100)) and the
        nftables driver marks the traffic from the bridge (chain C(forward-mark), priority C(filter - 1): only the
        mask''s bits, without a mask the whole mark), so its containers reach Docker''s containers, unpublished
        ports included.'
      - Unset (the default) nothing is marked; where Docker's nftables table has networks, a warning names C(bridge-accept-fwmark)
        and this option. The iptables driver does not set the mark (a warning says so). See docs/firewall-backends.md.
    type: str
  state:
    description: V(present) converges the rules of O(bridge); V(absent) removes them (and our chains and jump rules
      once nothing of ours remains).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
notes:
  - Requires root (CAP_NET_ADMIN) on the managed host. Acts on the network namespace the module runs in.
  - In check mode a bridge that does not exist yet is assumed to be created by an earlier task (a warning
    says so); the rules are predicted all the same.
  - The jump into C(NETPLUMB-FORWARD) is appended to FORWARD, so the host firewall's own FORWARD rules are
    evaluated first and keep the last word.
seealso:
  - module: netplumb.container.linux_bridge
  - module: netplumb.container.port_publish
"""

EXAMPLES = r"""
- name: The tutorial's egress NAT for br0
  netplumb.container.container_nat:
    bridge: br0
    subnet: 172.18.0.0/16

- name: Two bridges that may talk to each other, no talk inside br-db
  netplumb.container.container_nat:
    bridge: br-db
    subnet: 198.51.100.0/24
    isolate: false
    icc: false

- name: Remove it
  netplumb.container.container_nat:
    bridge: br0
    subnet: 172.18.0.0/16
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent command lines of the plan (iptables and sysctl), applied or predicted.
  returned: always
  type: list
  elements: str
  sample: ["iptables -t nat -N NETPLUMB-POSTROUTING",
           "iptables -t nat -A NETPLUMB-POSTROUTING -s 172.18.0.0/16 ! -o br0 -m comment --comment netplumb:br0 -j MASQUERADE",
           "iptables -t nat -A POSTROUTING -j NETPLUMB-POSTROUTING", "sysctl -w net.ipv4.ip_forward=1"]
diff:
  description:
    - The bridge's rules (iptables-save form) and ip_forward before and after.
    - With changes, C(prepared) holds the equivalent commands, one per line (shown by C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("container_nat", _steps.NatStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
