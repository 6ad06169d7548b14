#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_network_info
short_description: Read a host's container networks back as container_networks - ours and hand-made ones
version_added: 0.3.0
description:
  - Reads the host's container networks and returns them as C(container_networks), in exactly the schema of the
    role M(netplumb.container.container_network) (and of the module M(netplumb.container.container_network)'s
    O(netplumb.container.container_network#module:networks)), so that the value fed back to the role builds
    the same networks. Changes nothing (C(changed) is always false), in check mode or not; one module call per
    host.
  - "A network is a bridge with an IPv4 address (its primary one gives C(subnet) and C(gateway)) that is not
    the host's uplink nor another tool's (a rule in Docker's, podman's, libvirt's... chains names it): one of
    ours, or one built by hand with C(ip) as the tutorials do. Its containers are its veth ports whose other
    end is in a named network namespace (C(ip netns)) with an IPv4 address in the subnet; C(veth) and
    C(interface) name the two ends when they are not the role's defaults (C(vn-NAME), C(eth0))."
  - "Its flags and published ports come from the rules: ours by their owner comments; others' as the
    tutorials write them - C(iptables -t nat -A POSTROUTING -s SUBNET ! -o BRIDGE -j MASQUERADE) is
    C(masquerade: true); C(iptables -t nat -A PREROUTING [-d HOST_IP] -p tcp --dport 5000 -j DNAT
    --to-destination IP:PORT) (and its OUTPUT twin) a C(publish) entry of the container with that address. A
    hand-made network has no isolation rules: C(isolate: false)."
  - Whatever of that kind the schema cannot express is returned in C(unmanaged), each with a reason - nothing
    is left out silently. The value is validated with the role's own parser before it is returned.
  - "Adopting a gathered hand-made network is the role's C(adopt: true) (O(adopt) writes it into the value)."
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
  - iptables on the managed host, to read the rules (without it networks are read without them, and
    C(unmanaged) says so)
options:
  adopt:
    description:
      - 'V(true) sets C(adopt: true) on every network of the value that holds something without netplumb''s mark
        (a hand-made bridge, veth or namespace), so that feeding the value to the role takes those over on purpose.
        Rules made by hand are never taken over - delete them first (C(networks_meta[].rules) names them), and adopt
        the veths of a hand-made bridge first (M(netplumb.container.veth_pair) with C(adopt: true)): a bridge with
        ports that are not netplumb''s is never netplumb''s to change (see the examples).'
      - V(false) leaves the key out; the role then refuses to change a hand-made object and says so.
    type: bool
    default: false
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Requires root on the managed host. It reads state; it never changes any. It holds the host lock while it
    reads, so it never sees a converge half-applied.
  - Routes other than the default route inside a container's namespace are not read; filter rules that name
    neither a gathered bridge nor a gathered subnet are the host's own firewall and are not listed.
seealso:
  - module: netplumb.container.container_network
"""

EXAMPLES = r"""
- name: What is on the host, in the role's own schema
  netplumb.container.container_network_info:
  register: gathered

- name: Nothing of the kind was left out
  ansible.builtin.assert:
    that: gathered.unmanaged | length == 0
    fail_msg: "{{ gathered.unmanaged }}"

# Taking hand-made networks over in place: their hand-made rules go first (a host port someone else's DNAT
# holds is a bound port), then their veths (a bridge with ports that are not ours is never ours to change),
# then the role adopts the rest.
- name: Gather, with adopt where something is not ours
  netplumb.container.container_network_info:
    adopt: true
  register: adopting

- name: Delete the hand-made rules each network stands for
  ansible.builtin.command:
    argv: "{{ item | split | map('regex_replace', '^-A$', '-D') | list }}"
  loop: "{{ adopting.networks_meta | map(attribute='rules') | flatten }}"
  changed_when: true

- name: Adopt the veths
  netplumb.container.veth_pair:
    pairs: "{{ (adopting.container_networks | netplumb.container.container_network_plan).present
               | map(attribute='pairs') | flatten | map('combine', {'adopt': true}) | list }}"

- name: The role takes over the rest, with its marks
  ansible.builtin.include_role:
    name: netplumb.container.container_network
  vars:
    container_networks: "{{ adopting.container_networks }}"
"""

RETURN = r"""
container_networks:
  description:
    - The host's container networks in the schema of the role's C(container_networks) (networks sorted by
      bridge, containers by name), validated with the role's own parser. Keys at their default value are left
      out, except C(bridge), C(subnet), C(gateway), C(masquerade), C(icc), C(isolate) and C(containers).
  returned: success
  type: list
  elements: dict
  sample:
    - name: br0
      bridge: br0
      subnet: 172.18.0.0/16
      gateway: 172.18.0.1
      masquerade: true
      icc: true
      isolate: false
      containers:
        - {name: netns0, address: 172.18.0.10, veth: veth0, interface: ceth0, publish: ["5000:5000/tcp"]}
networks_meta:
  description:
    - For each network of C(container_networks), in the same order, what the schema does not hold - C(name),
      C(bridge), C(owned) (the bridge carries netplumb's mark), C(rules) (the rules of others it stands for, as
      commands; delete them after adopting), and per container C(name), C(owned) (its veth and namespace carry
      the mark), C(veth), C(interface) and C(default_route) (the one the namespace has, or null).
  returned: success
  type: list
  elements: dict
unmanaged:
  description:
    - What the schema cannot express, each as C(kind) (bridge, veth, link, namespace, address, route, rule,
      chain, setting, network, publish or firewall), C(name) and C(reason).
  returned: success
  type: list
  elements: dict
  sample:
    - {kind: veth, name: veth9, reason: "a veth on no bridge, its peer ceth9 in namespace netns9: ..."}
overlay:
  description:
    - The VXLAN overlay devices of netplumb (M(netplumb.container.vxlan_overlay), role
      C(container_cross_host=vxlan)) in that module's arguments - C(device), C(vni), C(port), C(local),
      C(underlay), C(mtu), C(up), C(subnet) (this host's fleet subnet, when a bridge holds the VTEP's network)
      and C(peers) (each C(subnet) routed through the device, with the C(address) its FDB entry sends to). Empty
      without one (read only then).
  returned: success
  type: list
  elements: dict
  sample:
    - {device: np-vxlan, vni: 151, port: 8472, local: 192.0.2.11, underlay: eth0, mtu: 1450, up: true,
       subnet: 10.244.1.0/24, peers: [{subnet: 10.244.2.0/24, address: 192.0.2.12}]}
host:
  description: C(uplinks) (the host's uplink links), C(ip_forward) (bool) and C(firewall) (the backend whose
    rules were read, or null).
  returned: success
  type: dict
missing_pyroute2:
  description: True when the module's Python cannot import pyroute2.
  returned: failure
  type: bool
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("container_network_info", _steps.GatherStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
