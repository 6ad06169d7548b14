#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_prerequisites
short_description: Kernel features (built in, loadable, missing) and sysctls, applied and persisted
version_added: 0.2.0
description:
  - Tells apart, for each kernel feature listed, whether it is built in, loaded, loadable or missing - from the
    kernel configuration (C(/proc/config.gz) or C(/boot/config-RELEASE)), C(/sys/module), C(/proc/filesystems)
    and C(modprobe -n) - not from C(lsmod) alone.
  - A required feature that is missing fails the module before any change, naming each feature, the evidence
    and what needs it. An optional one that is missing is a warning saying what will not work.
  - Loadable features are loaded (C(modprobe)) and, with the loaded ones, persisted in O(modules_file).
  - O(sysctls) are written to C(/proc/sys) where they differ and persisted in O(sysctl_file).
  - Both files carry a header of ours; a file at either path without it is never changed or removed.
  - Before the first write, in check mode too, the module refuses when a place it would write is read-only or not
    writable (the files' directories, each sysctl under C(/proc/sys)) or a tool it would run is missing
    (C(modprobe)), naming the path or the tool and why; nothing is then written, C(/proc/sys) included.
author:
  - netplumb.container contributors (@netplumb)
options:
  required:
    description: Features that must be available. Known names are V(vxlan), V(bridge), V(br_netfilter), V(overlay),
      V(veth), V(ip_vs), V(esp4) and V(xfrm_user).
    type: list
    elements: str
    default: []
  optional:
    description: Features used when available; missing ones are a warning. A name in both lists is required.
    type: list
    elements: str
    default: []
  sysctls:
    description: Sysctl names and values, for example C(net.ipv4.ip_forward=1) as C(net.ipv4.ip_forward) V(1).
    type: dict
    default: {}
  modules_file:
    description: The modules-load.d file of ours (written only when a feature is modular).
    type: path
    default: /etc/modules-load.d/netplumb.conf
  sysctl_file:
    description: The sysctl.d file of ours.
    type: path
    default: /etc/sysctl.d/90-netplumb.conf
  owner_label:
    description: Named in the files' header (the role passes V(swarm_prerequisites)).
    type: str
    default: kernel_prerequisites
  state:
    description:
      - V(present) loads, writes and persists.
      - V(absent) removes the two files (when they carry our header) and nothing else; running values and loaded
        modules stay (other software may rely on them).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
notes:
  - Requires root on the managed host. Sysctls under C(net.) are those of the network namespace the module
    runs in.
seealso:
  - module: netplumb.container.swarm_firewall
"""

EXAMPLES = r"""
- name: What a Swarm node needs
  netplumb.container.kernel_prerequisites:
    required: [vxlan, bridge, br_netfilter, overlay]
    optional: [ip_vs, esp4, xfrm_user]
    sysctls:
      net.ipv4.ip_forward: 1
      net.bridge.bridge-nf-call-iptables: 1
    modules_file: /etc/modules-load.d/netplumb-swarm.conf
    sysctl_file: /etc/sysctl.d/90-netplumb-swarm.conf
"""

RETURN = r"""
features:
  description: Per feature its status (V(builtin), V(loaded), V(loadable), V(missing)), the evidence, the
    module name and what needs it.
  returned: when state=present
  type: dict
  sample: {"ip_vs": {"status": "missing", "evidence": "CONFIG_IP_VS not set in /proc/config.gz",
           "module": "ip_vs", "needed_for": "the ingress routing mesh and service VIP load balancing (ip_vs)"}}
commands:
  description: The equivalent commands of the plan, applied or predicted.
  returned: always
  type: list
  elements: str
diff:
  description: The two files and the sysctl values before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("kernel_prerequisites", _steps.KernelStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
