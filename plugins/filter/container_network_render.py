# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: container_network_render
short_description: The exact ip, sysctl and iptables commands that build container_networks on an empty host
version_added: 0.3.0
description:
  - Takes the networks of the role M(netplumb.container.container_network) (the schema of the module
    M(netplumb.container.container_network)'s O(networks)) and returns the commands a converge of them runs on an
    empty host, in order, for review, audit and teaching. No host is read or touched, nothing is connected to.
  - "The commands are the engine's own (the module's C(commands)): the very converge the module runs, in check
    mode, planned against an in-memory empty host, not a second writer of command text. A real converge of the
    same list on an empty host prints the same list (the integration tests assert it)."
  - "The empty host is a fresh network namespace: C(lo) only, no named namespace, no firewall rule, no
    listening socket, C(net.ipv4.ip_forward=0), IPv6 on by default, br_netfilter not loaded. On a host that
    already has some of it, the module runs fewer commands (only the difference)."
  - Input errors are those of C(netplumb.container.container_network_plan), word for word (field path and
    value), all at once in C(errors). A refusal of the engine's preflight on the empty host (a C(host_ip) that
    is no address of it) is one line per refused call, as the module reports it. The filter never fails on bad
    input; the caller decides.
  - Runs on the controller without pyroute2.
positional: firewall_backend
options:
  _input:
    description: The networks (C(container_networks)).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - netplumb.container.firewall_backend
"""

EXAMPLES = r"""
- name: Show what the role would run on a fresh host
  ansible.builtin.debug:
    msg: "{{ (container_networks | netplumb.container.container_network_render).commands }}"

- name: The commands of one network
  ansible.builtin.debug:
    msg: "{{ (container_networks | netplumb.container.container_network_render).networks
             | selectattr('name', 'equalto', 'web') | map(attribute='commands') | first }}"
"""

RETURN = r"""
_value:
  description:
    - C(errors) (list of str; empty when the list is valid), C(commands) (every command, in order), C(networks)
      (each present network's C(name), C(bridge) and C(commands), in order) and C(calls) (each building-block
      step's C(label), C(module) and C(commands), in the order the module runs them). With errors, no command.
    - "A later network's firewall steps repeat the rules of the earlier ones: each changed chain of ours is
      rebuilt whole in one atomic iptables-restore (C(-F), then C(-A) of every rule it keeps), as the module does."
  type: dict
"""

from ansible.errors import AnsibleFilterError


def container_network_render(networks, firewall_backend="auto"):
    # The render runs the host-side planners against an empty in-memory host: imported when the filter is
    # used, so loading this collection's filters keeps the controller's import chain pure (no netlink, no
    # firewall driver; tests/unit/test_filter_imports.py).
    from ansible_collections.netplumb.container.plugins.module_utils._render import render
    try:
        return render(networks, firewall_backend)
    except Exception as exc:  # a bug, not bad input: bad input is reported in errors
        raise AnsibleFilterError("container_network_render: %s" % exc)


class FilterModule(object):
    def filters(self):
        return dict(container_network_render=container_network_render)
