# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: container_network_plan
short_description: Parse and validate container_networks on the controller, every error at once
version_added: 0.3.0
description:
  - Parses the networks of the role M(netplumb.container.container_network) (the same schema as the module
    M(netplumb.container.container_network)'s O(networks)) with the very parser the module runs on the host,
    in Python, in time linear in the number of containers and published ports.
  - "Every error names its field path and value, for example
    C(container_networks[0].containers[3].publish[1]='70000:80': host_port 70000: ports are 1-65535), and all
    are returned at once in C(errors). The filter itself never fails on bad input; the caller decides."
  - Each network of the result carries the batches the building-block modules take (C(bridge_addresses),
    C(namespaces), C(pairs), C(ports)) and its C(containers) (name, address, host veth, published ports).
positional: firewall_backend
options:
  _input:
    description: The networks (C(container_networks)).
    type: list
    elements: dict
    required: true
  batches:
    description:
      - V(false) leaves out what only the module needs (C(networks), C(calls) and each network's batches),
        keeping C(errors), C(present) and C(absent); the role keeps this smaller form as its fact.
    type: bool
    default: true
  checked:
    description:
      - V(true) when an argument spec of the same schema has validated the networks already (the role's
        C(meta/argument_specs.yml) has, when the role runs). Their kinds, choices and keys are then not checked
        again, only read the way that validation reads them.
    type: bool
    default: false
extends_documentation_fragment:
  - netplumb.container.firewall_backend
"""

EXAMPLES = r"""
- name: Refuse invalid networks before any host is touched
  ansible.builtin.assert:
    that: plan.errors | length == 0
    fail_msg: "{{ plan.errors }}"
  vars:
    plan: "{{ container_networks | netplumb.container.container_network_plan }}"
"""

RETURN = r"""
_value:
  description: C(errors) (list of str), C(networks) (every network parsed, in order), C(present), C(absent)
    (absent ones, last declared first) and C(calls) (the building-block module calls that converge a host, in
    order; empty when there are errors).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.netplumb.container.plugins.module_utils._netspec import compact, parse


def plain(value):
    """A plain copy of the filter's input: ansible-core 2.19 hands a filter lazy containers, whose every item access
    goes through its templating machinery (rendered once, then checked on each access); the parser reads each
    value several times, so it reads this copy, made in one pass (at K=1000 the filter took 1.2 s of profiled CPU
    on the lazy input, 18 ms on plain data). Scalars are kept as they are (with their tags)."""
    if isinstance(value, Mapping):
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def container_network_plan(networks, firewall_backend="auto", batches=True, checked=False):
    try:
        plan = parse(plain(networks), firewall_backend, checked=checked)
        return plan if batches else compact(plan)
    except Exception as exc:  # a bug, not bad input: bad input is reported in errors
        raise AnsibleFilterError("container_network_plan: %s" % exc)


class FilterModule(object):
    def filters(self):
        return dict(container_network_plan=container_network_plan)
