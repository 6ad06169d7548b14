# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot entry point: converge the networks saved by container_network_persist, without Ansible.

Run by the unit netplumb-networks.service through the launcher that _persist installs next to a copy of these
module_utils (``python3 -E -s -B /etc/netplumb/lib/netplumb-networks.py /etc/netplumb/networks.json``). It does
what the module container_network does with the same input - parse (_netspec), take the host lock, plan every
step in check mode, refuse before the first write, apply (_converge) - and prints the commands it applied, one
per line on stdout (the journal), the same list the module returns as ``commands``; warnings and errors go to
stderr. Exit status: 0 converged (or already converged: no output), 1 refused or failed, 2 bad input.
``--check`` prints what would be done and writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

from ansible_collections.netplumb.container.plugins.module_utils import _converge, _netspec, _persist
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT, HostLock
from ansible_collections.netplumb.container.plugins.module_utils._nl import HAS_PYROUTE2, Netlink

USAGE = "usage: netplumb-networks.py [--check] [NETWORKS_JSON (default %s)]" % _persist.NETWORKS_FILE
PREFIX = "netplumb-networks: "


def main(argv, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(USAGE, file=err)
        return 2
    path = args[0] if args else _persist.NETWORKS_FILE
    try:
        data = _persist.load_networks(path)
    except NetplumbError as exc:
        print(PREFIX + str(exc), file=err)
        return 2
    backend = data.get("firewall_backend") or "auto"
    variable = data.get("variable") or "networks"
    parsed = _netspec.parse(data["networks"], backend, root=variable)
    if parsed["errors"]:
        for line in parsed["errors"]:
            print(PREFIX + line, file=err)
        return 2
    if not HAS_PYROUTE2:
        print(PREFIX + "this Python (%s) cannot import pyroute2" % sys.executable, file=err)
        return 1
    try:
        with HostLock(DEFAULT_TIMEOUT):
            with Netlink() as nl:
                res = _converge.converge_pruning(nl, parsed, backend, False, check, diff=False, variable=variable)
    except _converge.RefusedError as exc:
        for line in exc.errors:
            print(PREFIX + line, file=err)
        print(PREFIX + "refused, nothing written", file=err)
        return 1
    except KernelError as exc:
        for command in exc.done:
            print(command, file=out)
        print(PREFIX + str(exc), file=err)
        return 1
    except NetplumbError as exc:
        print(PREFIX + str(exc), file=err)
        return 1
    for warning in res["warnings"]:
        print(PREFIX + "warning: " + warning, file=err)
    for command in res["commands"]:
        print(command, file=out)
    out.flush()
    print(PREFIX + "%d networks from %s: %s%d commands" % (len(parsed["networks"]), path,
                                                         "check mode, would run " if check else "",
                                                         len(res["commands"])), file=err)
    return 0
