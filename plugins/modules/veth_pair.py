#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: veth_pair
short_description: Manage veth pairs that plug network namespaces into a bridge
version_added: 0.1.0
description:
  - Creates and converges veth pairs - the host end optionally attached to a bridge and addressed, the peer
    moved into a network namespace, addressed, with a default route via the gateway - or deletes them.
  - One pair (O(name), O(peer), ...) or a batch (O(pairs)) per call; a batch of 1000 pairs is read with one
    netlink dump per namespace and applied in the same invocation.
  - A pair of ours whose peer is in the wrong namespace, or has wrong addresses, master, MTU or route, is
    corrected in place. A pair of ours whose peer carries another name, or sits in a namespace that has no
    name, is recreated with a warning. A name held by a link that is not a veth is an error; such a link is
    never deleted. The host's uplink (a link carrying a default route or the route to the gateway, in any
    table, through multipath or nexthop objects, or tied to one) is never deleted, recreated, re-addressed,
    re-parented or pruned, whatever mark it carries and whatever O(adopt) says.
  - Ownership. Host ends created by this module carry the link alias C(netplumb) (exactly; C(netplumb2) or
    C(Netplumb) is not ours); a named namespace is ours when its C(lo) carries that alias (see
    M(netplumb.container.netns)); the default routes it sets carry the route protocol 151. A veth without the
    alias (another tool's, or the host's own uplink whose peer sits in a container's unnamed namespace) is
    never deleted, recreated, re-addressed, moved or re-parented, with O(state=present) or O(state=absent) -
    the task fails before any change, naming the field, the link and its kind. So does a peer namespace that
    is not ours, and a O(bridge) that is not ours or has a port that is not ours when the pair would become a
    new port of it. Nothing is adopted implicitly - see O(adopt).
  - Talks netlink through pyroute2 and never runs C(ip); the C(commands) it returns are the equivalent
    command lines.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
options:
  name:
    description: Host end of the pair. Mutually exclusive with O(pairs).
    type: str
  peer:
    description: The other end. Required with O(name).
    type: str
  peer_netns:
    description:
      - Namespace to move the peer into. It must exist (see M(netplumb.container.netns)); it is never created implicitly.
        In check mode a missing namespace is assumed to come from an earlier task, with a warning.
      - When omitted, the peer stays in the host namespace.
    type: str
  bridge:
    description:
      - Bridge to attach the host end to. It must exist (in check mode, a warning). When omitted, the master is
        not managed.
      - With O(pairs), the bridge of every item that names none (like O(state) and O(hairpin)); with O(prune) as
        well, a bridge to prune even when no item names it - the only one when O(pairs) is empty (every pair of
        ours on it goes).
    type: str
  hairpin:
    description:
      - Hairpin mode on the host end's bridge port, so a container can reach its own published port (the translated
        packet is bridged back out of the port it came in on). Applied only with O(bridge).
    type: bool
    default: true
  addresses:
    description: When given, exactly these global addresses on the host end (CIDR form).
    type: list
    elements: str
  peer_addresses:
    description: When given, exactly these global addresses on the peer (CIDR form), for example V(172.18.0.10/16).
    type: list
    elements: str
  peer_gateway:
    description:
      - Default route inside O(peer_netns) via this address, which must lie in a subnet of O(peer_addresses).
      - The route carries the protocol number 151, netplumb's mark (C(ip route replace default via GW proto 151));
        a default route via the same gateway without it is replaced once, to set the mark.
    type: str
  mtu:
    description: MTU of both ends. When omitted, the MTU is not managed.
    type: int
  state:
    description: V(present) creates or converges and sets both ends up; V(absent) deletes the pair.
    type: str
    default: present
    choices: [present, absent]
  adopt:
    description:
      - Take over, on purpose, a veth that does not carry the C(netplumb) alias (its host end O(name), or with O(state=absent)
        a veth named O(peer) in the host namespace) and a O(peer_netns) that is not ours - the mark is set (C(ip
        link set NAME alias netplumb), C(ip -n NS link set lo alias netplumb), listed in RV(commands)) and the pair
        is then converged like one of ours - or deleted, with O(state=absent).
      - A one-off - once adopted, the objects carry the mark and later runs need no O(adopt). Never adopts a bridge
        (use M(netplumb.container.linux_bridge) with O(netplumb.container.linux_bridge#module:adopt)).
      - With O(pairs), the default of items that set none.
    type: bool
    default: false
  pairs:
    description:
      - Batch form, mutually exclusive with O(name). Each item takes the keys O(name), O(peer), O(peer_netns), O(bridge),
        O(hairpin), O(addresses), O(peer_addresses), O(peer_gateway), O(mtu), O(adopt) and O(state) (defaulting
        to the top-level O(state)), and O(isolated).
    type: list
    elements: dict
  prune:
    description:
      - Batch form only. Makes the batch the whole truth for the bridges it names - every veth whose host end carries
        exactly the alias C(netplumb) and is a port of a bridge named by O(bridge) in a present item of O(pairs)
        (or by the top-level O(bridge)), but whose name is not in O(pairs), is deleted (C(ip link del NAME); the
        peer goes with it). The deletions come first in the plan.
      - Links without the alias, and links attached to other bridges, are never pruned. The namespaces of pruned
        peers are not deleted; they are listed in RV(pruned) (see M(netplumb.container.netns)).
    type: bool
    default: false
  isolated:
    description:
      - Bridge port isolation on the host end's port (C(ip link set NAME type bridge_slave isolated on)) - the bridge
        forwards no frame between two isolated ports, whatever the protocol (IPv4, IPv6 link-local, self-assigned
        addresses, raw frames) and whatever br_netfilter says. Frames to the bridge itself (the gateway) still pass,
        so egress and published ports work.
      - Applied only with O(bridge). When omitted (null), isolation is not managed. With O(pairs), the default of
        every item that sets none (like O(hairpin)). The role C(container_network) passes C(not icc), so the ports
        of an O(netplumb.container.container_nat#module:icc=false) network are born isolated.
    type: bool
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
notes:
  - Requires root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces) on the managed host.
seealso:
  - module: netplumb.container.netns
  - module: netplumb.container.linux_bridge
"""

EXAMPLES = r"""
- name: The tutorial's veth0/ceth0 - netns0 at 172.18.0.10 behind br0
  netplumb.container.veth_pair:
    name: veth0
    peer: ceth0
    peer_netns: netns0
    bridge: br0
    peer_addresses: [172.18.0.10/16]
    peer_gateway: 172.18.0.1

- name: One hundred containers in one task
  netplumb.container.veth_pair:
    pairs: >-
      {{ range(100) | map('string')
         | map('regex_replace', '^(.*)$', '{"name": "vh\1", "peer": "eth0", "peer_netns": "c\1", "bridge": "br0"}')
         | map('from_json') | list }}

- name: Exactly these pairs on br0 - netplumb's other veths on br0 are deleted
  netplumb.container.veth_pair:
    pairs:
      - {name: vn-app1, peer: eth0, peer_netns: app1, bridge: br0}
    prune: true
  register: veths

- name: The namespaces of the pruned pairs
  netplumb.container.netns:
    name: "{{ veths.pruned | map(attribute='peer_netns') | select | list }}"
    state: absent
  when: veths.pruned | length > 0

- name: Take over a pair made by hand (veth0 without the netplumb alias, netns0 made by ip netns add)
  netplumb.container.veth_pair:
    name: veth0
    peer: ceth0
    peer_netns: netns0
    bridge: br0
    adopt: true

- name: Remove a pair (the peer goes with it)
  netplumb.container.veth_pair:
    name: veth0
    peer: ceth0
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent command lines of the plan, applied (or predicted, in check mode).
  returned: always
  type: list
  elements: str
  sample:
    - ip link add veth0 master br0 up type veth peer name ceth0 netns netns0
    - ip link set veth0 type bridge_slave hairpin on
    - ip link set veth0 alias netplumb
    - ip -n netns0 addr add 172.18.0.10/16 dev ceth0
    - ip -n netns0 link set ceth0 up
    - ip -n netns0 route replace default via 172.18.0.1 proto 151
pruned:
  description:
    - The pairs deleted by O(prune) (predicted, in check mode) - host end name and the namespace its peer was
      in (null when the peer was in the host namespace or in a namespace without a name).
    - Empty without O(prune).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "vn-app2", "peer_netns": "app2"}]
diff:
  description:
    - Each pair before and after, keyed by host end name.
    - With changes, C(prepared) holds the equivalent commands, one per line (shown by C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"veth0": {"state": "absent"}}, "after": {"veth0": {"state": "present", "peer_netns": "netns0"}}}
"""

from ansible_collections.netplumb.container.plugins.module_utils import _schema, _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


# The options of one pair (the single form; each item of pairs takes them too): the schema's (_options.VETH_PAIR).
PAIR_OPTIONS = tuple(k for k in _schema.argspec("veth_pair") if k not in ("lock_timeout", "state", "pairs", "prune"))


def main():
    module, result, error = run_module("veth_pair", _steps.VethStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
