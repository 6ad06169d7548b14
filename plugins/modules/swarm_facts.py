#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: swarm_facts
short_description: What a Swarm node preflight compares across hosts (reads only)
version_added: 0.2.0
description:
  - Returns the host name, the underlay interface (the one holding O(address), else the one towards the
    default gateway) and its MTU, the userspace sockets bound to the data-path port, and the status of the
    kernel features listed. Changes nothing.
  - The role M(netplumb.container.swarm_prerequisites) runs it on every node and compares the results across
    hosts before its first write.
author:
  - netplumb.container contributors (@netplumb)
options:
  address:
    description: The node's Swarm (underlay) address.
    type: str
  data_path_port:
    description: The UDP port to look for local users of.
    type: int
    default: 4789
  features:
    description: Kernel features to detect (see M(netplumb.container.kernel_prerequisites)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Facts for the preflight
  netplumb.container.swarm_facts:
    address: "{{ ansible_host }}"
    features: [vxlan, ip_vs]
  register: node
"""

RETURN = r"""
hostname:
  description: The host name (C(uname -n)).
  returned: always
  type: str
interface:
  description: The underlay interface, or null when none is found.
  returned: always
  type: str
mtu:
  description: Its MTU, or null.
  returned: always
  type: int
data_path_port_users:
  description: Local addresses of userspace UDP sockets bound to O(data_path_port).
  returned: always
  type: list
  elements: str
features:
  description: As in M(netplumb.container.kernel_prerequisites).
  returned: always
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("swarm_facts", _steps.SwarmFactsStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
