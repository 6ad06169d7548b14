#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: linux_bridge
short_description: Manage a Linux bridge used as the containers' gateway
version_added: 0.1.0
description:
  - Creates, converges or deletes a Linux bridge (C(ip link add NAME type bridge)), its global addresses,
    MTU and STP state, and brings it up.
  - Ownership. A bridge it creates carries the link alias C(netplumb) (C(ip link set NAME alias netplumb)).
    A bridge without exactly that alias (C(docker0), a bridge made by hand or by another tool) is never
    changed or deleted - the task fails before any change, naming it - unless O(adopt=true).
  - A bridge with a port that is not ours (a port without the C(netplumb) alias - the host's uplink, another
    tool's veth, a VM tap) is never changed, not even with O(adopt=true) - the task fails naming the ports -
    except that with nothing to change the task succeeds with C(changed=false).
  - A bridge that is the host's uplink (it carries a default route or the route to the gateway, in any table,
    through multipath or nexthop objects, or a port of it does) is never changed, deleted or adopted, whatever
    mark it carries. Addresses in a special-purpose range (link-local, this network, multicast, reserved...)
    are refused; shared address space (100.64.0.0/10) and public unicast are taken with a warning.
  - Talks netlink through pyroute2 and never runs C(ip); the C(commands) it returns are the equivalent
    command lines.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
options:
  name:
    description: Bridge name (1-15 characters, no C(/), C(:) or whitespace, not starting with C(-)).
    type: str
    required: true
  addresses:
    description:
      - Addresses with prefix, for example V(172.18.0.1/16).
      - When given, exactly these global addresses end up on the bridge (others are removed); an empty list removes
        all. When omitted, addresses are not managed.
    type: list
    elements: str
  mtu:
    description: MTU of the bridge. When omitted, the MTU is not managed.
    type: int
  stp:
    description: Spanning tree protocol on the bridge.
    type: bool
    default: false
  state:
    description:
      - V(present) creates or converges the bridge and brings it up; V(absent) deletes it.
    type: str
    default: present
    choices: [present, absent]
  adopt:
    description:
      - Take over, on purpose, an existing bridge that does not carry the C(netplumb) alias - it is marked (C(ip
        link set NAME alias netplumb), listed in RV(commands)) and then converged like one of ours, or deleted with
        O(state=absent). A one-off - later runs need no O(adopt).
      - Refused all the same while the bridge has ports that are not ours.
      - The former option C(force) (delete despite foreign ports) is gone - a bridge with a foreign port is never
        deleted; detach the port first.
    type: bool
    default: false
  nf_call_iptables:
    description:
      - The bridge's own br_netfilter switch (C(ip link set NAME type bridge nf_call_iptables 1)) - bridged IPv4
        traffic of this bridge passes iptables even where the global C(net.bridge.bridge-nf-call-iptables) is 0,
        so the FORWARD rules of M(netplumb.container.container_nat) see traffic between its containers. It changes
        only this bridge; the global sysctl is never written.
      - V(false) clears the attribute (br_netfilter then still applies while the global sysctl is 1). With isolated
        ports (O(netplumb.container.container_nat#module:icc=false)), br_netfilter makes the kernel bridge DNATed
        packets between the ports, which isolation drops - containers then cannot reach published ports of their
        own bridge through the host; the role C(container_network) passes C(icc).
    type: bool
    default: true
  ipv6:
    description:
      - V(false) turns IPv6 off on the bridge (C(sysctl -w net.ipv6.conf.NAME.disable_ipv6=1), in the network namespace
        the module runs in) - the host neither answers nor routes IPv6 there, so containers cannot reach other networks
        over IPv6 even while C(net.ipv6.conf.all.forwarding=1). IPv6 between containers of the same bridge is governed
        by port isolation (O(netplumb.container.veth_pair#module:isolated)).
      - V(true) sets it to 0. IPv6 between networks is then not filtered by netplumb (its rules are IPv4). O(addresses)
        may hold IPv6 addresses only with V(true).
    type: bool
    default: false
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
notes:
  - Requires root (CAP_NET_ADMIN) on the managed host.
  - A name held by a link that is not a bridge is an error; such a link is never modified or deleted.
seealso:
  - module: netplumb.container.veth_pair
  - module: netplumb.container.container_nat
"""

EXAMPLES = r"""
- name: The tutorial's gateway bridge
  netplumb.container.linux_bridge:
    name: br0
    addresses: [172.18.0.1/16]

- name: Jumbo frames, STP on
  netplumb.container.linux_bridge:
    name: br-storage
    addresses: [198.51.100.1/24]
    mtu: 9000
    stp: true

- name: Take over a bridge made by hand (ip link add br1 type bridge), once
  netplumb.container.linux_bridge:
    name: br1
    addresses: [198.51.100.1/24]
    adopt: true

- name: Remove it (refused while ports that are not ours are attached)
  netplumb.container.linux_bridge:
    name: br0
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent command lines of the plan, applied (or predicted, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["ip link add br0 type bridge stp_state 0", "ip link set br0 alias netplumb", "ip addr add 172.18.0.1/16 dev br0",
           "ip link set br0 up"]
diff:
  description:
    - The bridge before and after (state, up, mtu, stp, addresses, alias).
    - With changes, C(prepared) holds the equivalent commands, one per line (shown by C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"state": "absent"}, "after": {"state": "present", "up": true, "addresses": ["172.18.0.1/16"]}}
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("linux_bridge", _steps.BridgeStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
