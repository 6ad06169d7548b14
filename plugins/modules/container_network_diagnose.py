#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_network_diagnose
short_description: Why a container network does not work - findings, each with its fix; reads only
version_added: 0.3.0
description:
  - Reads the host's container networks as M(netplumb.container.container_network_info) does (ours and
    hand-made ones), then checks each of them and returns C(findings), one per check and network, each with a
    status (V(ok), V(warn) or V(error)) and, for a problem, the exact commands that fix it. Changes nothing
    (C(changed) is always false), in check mode or not; one module call per host.
  - "The checks: C(ip_forward) is on; C(gateway): the bridge is up and holds the gateway address; C(links): both
    ends of each container's veth are up; C(route): each container's default route goes via the gateway;
    C(jumps): every built-in chain our rules of the network live under jumps to our chain; C(firewall): no base
    chain of any firewall (an earlier DROP before our jump, a policy drop, another nftables table) drops the
    network's egress, its replies or a published port's traffic; C(isolation): icc and the bridge's port
    isolation agree, and where br_netfilter hands bridged frames to iptables no FORWARD rule drops the traffic
    between containers of an icc network (or, icc false, the isolation holds without it); C(listener): each
    published port has a socket listening in its container (read from C(/proc/net) inside the container's
    namespace)."
  - A missing listener is a V(warn) (the network is in place, the service is not running); every other problem
    is an V(error). The playbook C(netplumb.container.diagnose) prints the problems and fails on an error.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
  - iptables on the managed host, to read the rules
options: {}
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
  - Requires root on the managed host. It reads state, and enters each container's network namespace only to
    read its sockets; it never changes anything.
seealso:
  - module: netplumb.container.container_network_info
  - module: netplumb.container.container_network
"""

EXAMPLES = r"""
- name: Diagnose the host's container networks
  netplumb.container.container_network_diagnose:
  register: diagnosis

- name: Every problem with its fix
  ansible.builtin.debug:
    msg: "{{ diagnosis.problems | map(attribute='finding') | list }}"

- name: Fail on an error
  ansible.builtin.assert:
    that: diagnosis.error_count == 0
"""

RETURN = r"""
findings:
  description:
    - Every check of every network, in order (the host's C(ip_forward) first, network null), each as
      C(network) (the network's name as C(container_network_info) gives it), C(check) (ip_forward, gateway,
      links, route, jumps, firewall, isolation, listener), C(status) (ok, warn, error), C(finding) (what was
      checked, or what is wrong) and C(fix) (the commands that fix it; empty when ok).
  returned: success
  type: list
  elements: dict
  sample:
    - network: web
      check: jumps
      status: error
      finding: "iptables-nft table nat chain PREROUTING has no jump to NETPLUMB-PREROUTING: our rules of br0 there
        are never reached"
      fix: ["iptables -t nat -A PREROUTING -j NETPLUMB-PREROUTING",
            "or run the role netplumb.container.container_network again"]
problems:
  description: The findings whose status is not ok.
  returned: success
  type: list
  elements: dict
error_count:
  description: The number of findings with status error.
  returned: success
  type: int
warn_count:
  description: The number of findings with status warn.
  returned: success
  type: int
container_networks:
  description: The networks diagnosed, as M(netplumb.container.container_network_info) returns them.
  returned: success
  type: list
  elements: dict
unmanaged:
  description: What M(netplumb.container.container_network_info) lists as C(unmanaged) (not diagnosed).
  returned: success
  type: list
  elements: dict
host:
  description: C(uplinks), C(ip_forward) and C(firewall), as M(netplumb.container.container_network_info) returns.
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
    module, result, error = run_module("container_network_diagnose", _steps.DiagnoseStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
