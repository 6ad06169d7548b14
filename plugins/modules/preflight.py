#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: preflight
short_description: Check a whole run's netplumb calls against the host before the first write
version_added: 0.2.0
description:
  - Takes the calls a play is about to make to M(netplumb.container.linux_bridge), M(netplumb.container.netns),
    M(netplumb.container.veth_pair), M(netplumb.container.container_nat) and M(netplumb.container.port_publish),
    and plans each of them in check mode with the very planner its module uses, against the host as it is.
    Nothing is written, in check mode or not.
  - Every refusal those modules would make is found here, before the first of them runs - invalid input
    (naming the field and the value), a name held by an object that is not netplumb's, a subnet that
    touches the host's own addresses, routes or default gateway, a bridge that is the host's uplink or not a
    bridge, a C(host_ip) that is no address of the host, a host port bound by a local listener - and all of them
    are reported at once, each prefixed with the call's O(calls[].label).
  - Calls that remove a network (V(state=absent) of linux_bridge or container_nat) free its bridge, subnet
    and published ports for the calls after them, as they will when the play runs.
  - The role M(netplumb.container.container_network) runs it first, so bad input never half-applies.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
  - iptables on the managed host when a call is to container_nat or port_publish
options:
  calls:
    description: The calls, in the order the play makes them.
    type: list
    elements: dict
    required: true
    suboptions:
      module:
        description: The module's short name.
        type: str
        required: true
        choices: [container_nat, linux_bridge, netns, port_publish, veth_pair]
      args:
        description: The module's arguments, as the task passes them (omitted options take the module's defaults).
        type: dict
        required: true
      label:
        description: Prefix of this call's errors and warnings, for example V(container_networks[0] (web)).
        type: str
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
notes:
  - Requires root on the managed host, like the modules it checks. It reads state; it never changes any.
  - It holds the host lock while it reads, so no other netplumb run changes the host under its feet.
seealso:
  - module: netplumb.container.linux_bridge
  - module: netplumb.container.container_nat
  - module: netplumb.container.port_publish
"""

EXAMPLES = r"""
- name: Refuse the whole play before the first write when any step would be refused
  netplumb.container.preflight:
    calls:
      - {module: linux_bridge, label: web, args: {name: br0, addresses: [172.18.0.1/16]}}
      - {module: container_nat, label: web, args: {bridge: br0, subnet: 172.18.0.0/16}}
      - {module: port_publish, label: web, args: {bridge: br0, ports: [{host_port: 8080, container_ip: 172.18.0.10}]}}
"""

RETURN = r"""
calls:
  description: Each call that passed, with what it would do on the host as it is now (later calls may differ once
    earlier ones have run, e.g. rules for a bridge created by an earlier call).
  returned: always
  type: list
  elements: dict
  sample: [{"label": "web", "module": "linux_bridge", "changed": true,
            "commands": ["ip link add br0 type bridge stp_state 0"]}]
errors:
  description: One line per refused call - its label, module and the refusal.
  returned: always
  type: list
  elements: str
  sample: ["web (container_nat): subnet=192.0.2.0/24: overlaps 192.0.2.10/24, an address of the host on eth0; ..."]
"""

from ansible_collections.netplumb.container.plugins.module_utils import _dryrun
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("preflight", _dryrun.CallsJob, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
