# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: container_network_dot
short_description: A host's container networks as a graphviz DOT picture
version_added: 0.3.0
description:
  - Takes the result of M(netplumb.container.container_network_info) and returns DOT text that graphviz's
    C(dot) draws (C(dot -Tsvg), C(dot -Tpng)), left to right - the host's uplinks (with C(ip_forward) and the
    firewall backend); per network a box with its bridge (gateway address; masquerade, icc and isolate marked, an
    icc-false bridge dashed) and its containers (namespace, address, the veth pair's two ends, a default route
    other than the gateway in red), each joined to the bridge by its veth pair; masquerade as the labelled edge
    from the bridge to the uplinks; published ports grouped per container right of it, an arrow from each
    C(host_ip:port/proto) (C(*) every address of the host) to the container, labelled with the container port.
  - Pure, on the controller; no host is read. The playbook C(netplumb.container.inspect) uses it.
positional: title
options:
  _input:
    description: The registered result of M(netplumb.container.container_network_info) (C(container_networks),
      C(networks_meta), C(host), C(unmanaged)).
    type: dict
    required: true
  title:
    description: The host's name, shown in the picture's caption.
    type: str
"""

EXAMPLES = r"""
- name: Read the networks
  netplumb.container.container_network_info:
  register: info

- name: The picture's DOT text, on the controller
  ansible.builtin.copy:
    content: "{{ info | netplumb.container.container_network_dot(inventory_hostname) }}"
    dest: "/tmp/{{ inventory_hostname }}.dot"
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: DOT text (a C(digraph)).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._dot import render
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError


def container_network_dot(info, title=None):
    try:
        return render(info, title)
    except NetplumbError as exc:
        raise AnsibleFilterError("container_network_dot: %s" % exc)


class FilterModule(object):
    def filters(self):
        return dict(container_network_dot=container_network_dot)
