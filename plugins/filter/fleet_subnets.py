# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_subnets
short_description: One stable container subnet per host out of a cluster CIDR
version_added: 0.2.0
description:
  - Cuts O(cluster_cidr) into subnets of O(prefix) and gives each host one - slot C(index) when the host has
    one, else slot C(sha256(name) mod slots). A collision, or an overlap with another host's literal subnet or
    a route that is not ours, fails naming both hosts and both subnets. See docs/fleet-subnets.md.
positional: cluster_cidr, prefix
options:
  _input:
    description: The hosts, a list of C({name, index, subnets, routes}) (only C(name) is required).
    type: list
    elements: dict
    required: true
  cluster_cidr:
    description: The cluster CIDR, for example V(10.244.0.0/16).
    type: str
    required: true
  prefix:
    description: The per-host prefix length, for example V(24).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Every host's subnet
  ansible.builtin.set_fact:
    fleet: "{{ hosts_spec | netplumb.container.fleet_subnets('10.244.0.0/16', 24) }}"
  vars:
    hosts_spec: [{name: h1}, {name: h2, index: 7}]
"""

RETURN = r"""
_value:
  description: Per host name its C(subnet), its slot C(index) and C(source) (V(index) or V(name)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate


def fleet_subnets(hosts, cluster_cidr, prefix):
    try:
        return allocate(cluster_cidr, int(prefix), [dict(h) for h in hosts])
    except NetplumbError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return dict(fleet_subnets=fleet_subnets)
