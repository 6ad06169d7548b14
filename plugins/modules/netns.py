#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netns
short_description: Manage named network namespaces (C(ip netns)), their loopback and resolv.conf
version_added: 0.1.0
description:
  - Creates or deletes named network namespaces the way C(ip netns add) and C(ip netns delete) do (a bind
    mount under C(/run/netns)), so C(ip netns) and this module see the same namespaces.
  - Brings C(lo) up inside, and optionally writes C(/etc/netns/NAME/resolv.conf), which C(ip netns exec)
    bind-mounts over C(/etc/resolv.conf).
  - Takes one name or a list, so a single task manages any number of namespaces.
  - Ownership. A namespace it creates is marked as netplumb's - its C(lo) carries the link alias C(netplumb)
    (C(ip -n NAME link set lo alias netplumb)); the mark lives inside the namespace, so a namespace deleted and
    re-made by someone else under the same name does not carry it. A namespace without the mark (made by
    C(ip netns add), by another tool, or by a netplumb release before the marks) is never changed or deleted -
    the task fails before any change to any of the names, naming it - unless O(adopt=true).
  - Talks netlink through pyroute2 and never runs C(ip); the C(commands) it returns are the equivalent
    command lines.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
options:
  name:
    description:
      - Name or names of the namespaces. Letters, digits, C(.), C(_) and C(-) only.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) creates missing namespaces; V(absent) deletes them.
      - A namespace that still holds processes is removed from C(/run/netns) with a warning; the kernel keeps it
        until those processes exit.
    type: str
    default: present
    choices: [present, absent]
  loopback:
    description:
      - Bring C(lo) up inside each namespace. V(false) leaves C(lo) as it is.
    type: bool
    default: true
  adopt:
    description:
      - Take over, on purpose, existing namespaces that do not carry the mark - each is marked (listed in RV(commands))
        and then converged like one of ours, or deleted with O(state=absent).
      - A one-off - later runs need no O(adopt). This is also the upgrade path for namespaces made by a release
        without ownership marks.
    type: bool
    default: false
  nameservers:
    description:
      - When given, C(/etc/netns/NAME/resolv.conf) lists exactly these servers. An empty list removes the file.
      - When omitted, the file is not managed.
      - With O(state=absent) a resolv.conf written by this module is removed with the namespace.
    type: list
    elements: str
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
notes:
  - Requires root (CAP_SYS_ADMIN) on the managed host.
seealso:
  - module: netplumb.container.veth_pair
  - module: netplumb.container.linux_bridge
"""

EXAMPLES = r"""
- name: The tutorial's two container namespaces, lo up
  netplumb.container.netns:
    name: [netns0, netns1]

- name: A namespace with its own DNS servers
  netplumb.container.netns:
    name: app1
    nameservers: [192.0.2.53]

- name: Take over a namespace made by hand (ip netns add legacy), once
  netplumb.container.netns:
    name: legacy
    adopt: true

- name: Remove them
  netplumb.container.netns:
    name: [netns0, netns1, app1]
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent command lines of the plan, applied (or predicted, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["ip netns add netns0", "ip -n netns0 link set lo alias netplumb", "ip -n netns0 link set lo up"]
diff:
  description:
    - State of each namespace before and after, keyed by name.
    - With changes, C(prepared) holds the equivalent commands, one per line (shown by C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"netns0": {"state": "absent"}},
           "after": {"netns0": {"state": "present", "loopback": true, "owned": true}}}
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("netns", _steps.NetnsStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
