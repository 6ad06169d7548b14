# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cluster_subnet
short_description: Give the networks declared with subnet cluster this host's fleet subnet
version_added: 0.3.0
description:
  - "Networks with C(subnet: cluster) get O(subnet) (this host's subnet from
    P(netplumb.container.fleet_subnets#filter)); their containers' integer addresses are offsets inside it
    (C(address: 10) becomes the subnet's address + 10). Other networks are returned as they are.
    See docs/fleet-subnets.md."
positional: subnet
options:
  _input:
    description: The networks (C(container_networks)).
    type: list
    elements: dict
    required: true
  subnet:
    description: This host's fleet subnet, for example V(10.244.3.0/24).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: This host's networks on its fleet subnet
  ansible.builtin.set_fact:
    networks: "{{ container_networks | netplumb.container.cluster_subnet('10.244.3.0/24') }}"
"""

RETURN = r"""
_value:
  description: "The networks, those with C(subnet: cluster) resolved."
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._netspec import address_offsets


def cluster_subnet(networks, subnet):
    try:
        return address_offsets(networks, subnet)
    except ValueError as exc:
        raise AnsibleFilterError("cluster_subnet: subnet=%r: %s" % (subnet, exc))


class FilterModule(object):
    def filters(self):
        return dict(cluster_subnet=cluster_subnet)
