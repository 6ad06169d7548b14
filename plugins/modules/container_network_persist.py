#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_network_persist
short_description: Save a host's container networks under /etc with a systemd unit that rebuilds them at boot
version_added: 0.4.0
description:
  - With V(state=present), saves O(networks) (the input of M(netplumb.container.container_network)) in
    C(/etc/netplumb/networks.json) (mode 0600) and installs what converges them at every boot, without Ansible
    and without a controller - the oneshot unit C(/etc/systemd/system/netplumb-networks.service), enabled (its
    link in C(multi-user.target.wants)), whose C(ExecStart) runs the same engine as
    M(netplumb.container.container_network) (a copy of this collection's module_utils in C(/etc/netplumb/lib)
    and its launcher C(netplumb-networks.py)) with the Python that runs this module. The unit prints the
    commands it applies, the same list the module returns as C(commands).
  - Also persists C(net.ipv4.ip_forward = 1) (the tutorial's C(sysctl.conf) line) in
    C(/etc/sysctl.d/90-netplumb-container-network.conf).
  - "The unit is ordered after C(network-pre.target) (so firewall loaders that replace the whole ruleset run
    before it) and before C(network-online.target) (so units ordered after it - Docker, podman, services that
    use the namespaces - find the networks in place); see docs/persist.md."
  - Enabling is done the way C(systemctl enable) does it on disk (the symlink), so check mode predicts it and a
    host without a running systemd (an image being built) gets it too; when systemd is the running init
    (C(/run/systemd/system) exists) a change of the unit is followed by C(systemctl daemon-reload). Without a
    running systemd the module warns that only a boot with systemd runs the unit.
  - V(state=absent), or a list without a present network, removes every file of ours listed here (the unit
    disabled first by removing its link) and C(/etc/netplumb) when nothing else is left in it. Nothing already
    running is stopped or torn down.
  - Every file is written atomically and only when its content or mode differs, so check mode is exact and a
    re-run changes nothing. A file at one of these paths that is not ours (no header of ours, or a
    C(networks.json) without C("managed_by") V(netplumb.container)) is never changed or removed.
  - The networks are validated as M(netplumb.container.container_network) validates them; nothing is read from
    or written to the kernel.
author:
  - netplumb.container contributors (@netplumb)
options:
  networks:
    description:
      - The host's container networks, exactly as given to M(netplumb.container.container_network) (the schema of
        its O(netplumb.container.container_network#module:networks)), saved as they are given and validated by the
        parser the boot runs.
    type: list
    elements: dict
    default: []
  variable:
    description: The name errors give to the list of networks (at boot too), for example V(container_networks).
    type: str
    default: networks
  state:
    description:
      - V(present) saves the networks and installs the unit; V(absent) removes them.
      - V(present) with no network in state present removes them too.
    type: str
    default: present
    choices: [present, absent]
  cross_host:
    description:
      - 'The host''s cross-host step, saved with the networks and converged by the same boot unit (and reload listener)
        - V(vxlan_overlay) before the networks, as the role runs it, V(host_gw_routes) after them. Omitted: none
        is saved (a saved one is dropped from the file; what runs in the kernel is left).'
      - The role passes the arguments its own M(netplumb.container.vxlan_overlay) or M(netplumb.container.host_gw_routes)
        task ran with.
    type: dict
    suboptions:
      module:
        description: The module whose step it is.
        type: str
        required: true
        choices: [host_gw_routes, vxlan_overlay]
      args:
        description: Its arguments, as that module takes them (omitted options take its defaults); validated by
          its own validator before anything is written.
        type: dict
        required: true
  boot:
    description:
      - 'Install the boot unit C(netplumb-networks.service) (and the sysctl file). V(false) with O(firewalld_reload=true)
        saves the networks for the reload listener only (the role''s C(container_network_persist: false) with the
        listener on).'
    type: bool
    default: true
  firewalld_reload:
    description:
      - 'Install the listener of firewalld''s reloads, C(/etc/systemd/system/netplumb-firewalld-reload.service)
        (C(Type=simple), C(PartOf=firewalld.service), enabled by its link in C(firewalld.service.wants)), whose
        C(ExecStart) runs C(netplumb-firewalld-reload.py) from C(/etc/netplumb/lib): it follows firewalld''s C(Reloaded)
        signal on D-Bus (through C(dbus-monitor)) and converges the saved networks after every reload and restart
        of firewalld, so that the rules a reload flushes are back within a second, without Ansible. See docs/firewalld.md.'
      - With a running systemd, a change of the listener's files is followed by C(systemctl try-restart) of the
        listener, and its start when firewalld is active.
    type: bool
    default: false
  firewalld_zone:
    description:
      - The firewalld zone the boot and the listener bind the bridges to, as the option C(firewalld_zone) of M(netplumb.container.container_network)
        does.
    type: str
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
notes:
  - Requires root on the managed host.
  - Run it after M(netplumb.container.container_network) has converged the same list (the role does), so that
    what is saved is what was accepted.
  - The boot converge never prunes undeclared networks (there are none on a fresh boot).
seealso:
  - module: netplumb.container.container_network
"""

EXAMPLES = r"""
- name: Converge the networks now
  netplumb.container.container_network:
    networks: "{{ my_networks }}"

- name: And again at every boot, without the controller
  netplumb.container.container_network_persist:
    networks: "{{ my_networks }}"

- name: No more converge at boot (the networks that exist stay until the next reboot)
  netplumb.container.container_network_persist:
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent commands of every write, in order (empty when nothing changed).
  returned: always
  type: list
  elements: str
  sample: ["install -m 0600 /dev/stdin /etc/netplumb/networks.json  # 21 lines",
           "ln -sf /etc/systemd/system/netplumb-networks.service
             /etc/systemd/system/multi-user.target.wants/netplumb-networks.service  # systemctl enable netplumb-networks.service"]
unit:
  description: The name of the systemd unit.
  returned: success
  type: str
  sample: netplumb-networks.service
exec_start:
  description: The unit's C(ExecStart) command as a list (null when nothing is persisted).
  returned: success
  type: list
  elements: str
  sample: ["/usr/bin/python3", "-E", "-s", "-B", "/etc/netplumb/lib/netplumb-networks.py", "/etc/netplumb/networks.json"]
reload_exec_start:
  description: The reload listener's C(ExecStart) command as a list (null when it is not installed).
  returned: success
  type: list
  elements: str
systemd_running:
  description: Whether systemd is the running init (C(/run/systemd/system) exists).
  returned: success
  type: bool
diff:
  description: The networks file, the unit, the sysctl file and whether the unit is enabled, before and after;
    C(engine) lists the library files that change.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
# _boot is what the unit runs: imported so that it is shipped with this module (and copied by _persist)
from ansible_collections.netplumb.container.plugins.module_utils import _boot  # noqa: F401 pylint: disable=unused-import
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("container_network_persist", _steps.PersistStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
