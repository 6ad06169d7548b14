# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: swarm_peers
short_description: Resolve and validate the Swarm peers on the controller, before any host is written to
version_added: 0.3.0
description:
  - Validates each node's Swarm address and each extra peer exactly as M(netplumb.container.swarm_firewall)
    does (an IPv4 address or CIDR, not 0.0.0.0/0, multicast or loopback), and returns the peers with every
    problem, each naming the host and the value. Used by the role C(swarm_prerequisites) as its first check.
positional: extra
options:
  _input:
    description: The nodes, a list of C({host, value, source}) (C(source) - where the value came from).
    type: list
    elements: dict
    required: true
  extra:
    description: Further peers (C(swarm_prerequisites_extra_peers)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Peers
  ansible.builtin.set_fact:
    resolved: "{{ nodes | netplumb.container.swarm_peers(['10.40.0.0/24']) }}"
  vars:
    nodes: [{host: w1, value: 192.0.2.21, source: ansible_host}]
"""

RETURN = r"""
_value:
  description: C(peers) (the valid values, in order) and C(problems) (one message per invalid one).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._fleet import swarm_peers as _swarm_peers


def swarm_peers(nodes, extra=None):
    try:
        return _swarm_peers([dict(n) for n in nodes], list(extra or []))
    except (NetplumbError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("swarm_peers: %s" % exc)


class FilterModule(object):
    def filters(self):
        return dict(swarm_peers=swarm_peers)
