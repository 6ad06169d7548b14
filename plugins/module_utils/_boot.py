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

from ansible_collections.netplumb.container.plugins.module_utils import _converge, _firewalld, _netspec, _persist
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT
from ansible_collections.netplumb.container.plugins.module_utils._nl import HAS_PYROUTE2

USAGE = "usage: netplumb-networks.py [--check] [NETWORKS_JSON (default %s)]" % _persist.NETWORKS_FILE
PREFIX = "netplumb-networks: "


def _say(stream, text):
    stream.write("%s\n" % text)


def main(argv, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        _say(err, USAGE)
        return 2
    path = args[0] if args else _persist.NETWORKS_FILE
    try:
        data = _persist.load_networks(path)
    except NetplumbError as exc:
        _say(err, PREFIX + str(exc))
        return 2
    backend = data.get("firewall_backend") or "auto"
    variable = data.get("variable") or "networks"
    parsed = _netspec.parse(data["networks"], backend, root=variable)
    if parsed["errors"]:
        for line in parsed["errors"]:
            _say(err, PREFIX + line)
        return 2
    if not HAS_PYROUTE2:
        _say(err, PREFIX + "this Python (%s) cannot import pyroute2" % sys.executable)
        return 1
    zone = data.get("firewalld_zone")
    try:
        zone = _firewalld.validate_zone("firewalld_zone", zone)
        res = _converge.run_networks(parsed, zone, backend, False, check, DEFAULT_TIMEOUT, diff=False,
                                     variable=variable)
    except _converge.RefusedError as exc:
        for line in exc.errors:
            _say(err, PREFIX + line)
        _say(err, PREFIX + "refused, nothing written")
        return 1
    except KernelError as exc:
        for command in exc.done:
            _say(out, command)
        _say(err, PREFIX + str(exc))
        return 1
    except NetplumbError as exc:
        _say(err, PREFIX + str(exc))
        return 1
    for warning in res["warnings"]:
        _say(err, PREFIX + "warning: " + warning)
    for command in res["commands"]:
        _say(out, command)
    out.flush()
    _say(err, PREFIX + "%d networks from %s: %s%d commands" % (
        len(parsed["networks"]), path, "check mode, would run " if check else "", len(res["commands"])))
    return 0
