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

A saved cross-host step (``cross_host``: the arguments the role's vxlan_overlay or host_gw_routes task ran with)
is converged after the networks by its module's own planner, under the same lock. It needs the underlay (the
overlay's local address, the host-gw next hops on a connected network): early in a boot that may not be
configured yet, so the step waits for it up to UNDERLAY_WAIT seconds - the networks are already up - and then
fails naming what is missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import time

from ansible_collections.netplumb.container.plugins.module_utils import _converge, _engine, _firewalld, _netspec
from ansible_collections.netplumb.container.plugins.module_utils import _persist, _steps
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT
from ansible_collections.netplumb.container.plugins.module_utils._nl import HAS_PYROUTE2

USAGE = "usage: netplumb-networks.py [--check] [NETWORKS_JSON (default %s)]" % _persist.NETWORKS_FILE
PREFIX = "netplumb-networks: "
UNDERLAY_WAIT = 90      # seconds a boot's cross-host step waits for its underlay address or next hops


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
        cross = _persist.validate_cross_host(data.get("cross_host"))
    except NetplumbError as exc:
        _say(err, PREFIX + "%s: %s" % (path, exc))
        return 2
    done = []
    try:
        zone = _firewalld.validate_zone("firewalld_zone", zone)
        with _engine.session(DEFAULT_TIMEOUT) as nl:     # the host lock and one netlink session
            firewalld = _firewalld.prepare(zone)
            res = _converge.converge_pruning(nl, parsed, backend, False, check, diff=False, variable=variable)
            done += res["commands"]
            if cross:
                done += _step(nl, cross, check, err)
            res["commands"], done = done, []    # from here res carries them (and a failure's KernelError)
            _firewalld.converge(res, parsed, zone, False, check, firewalld)
    except _converge.RefusedError as exc:
        for line in exc.errors:
            _say(err, PREFIX + line)
        _say(err, PREFIX + "refused, nothing written")
        return 1
    except KernelError as exc:
        for command in done + exc.done:     # the steps that completed, then what the failing one applied
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


def _step(nl, cross, check, err, wait=None):
    """The saved cross-host step (vxlan_overlay or host_gw_routes) on the run path (_engine, _steps: the step its
    module runs), planned against the host as it is and applied unless check mode: its commands (a KernelError
    carries the ones applied). Planning is retried while the only error is a missing underlay (the field local,
    or a next hop on no connected network), until ``wait`` seconds have passed."""
    step = (_steps.VxlanStep if cross["module"] == "vxlan_overlay" else _steps.HostGwStep)(cross["args"])
    deadline = time.monotonic() + (UNDERLAY_WAIT if wait is None else wait)
    said = False
    while True:
        ctx = _engine.RunContext(nl, check)
        ctx.declare([step])
        errors, planned = _engine.preflight(ctx, [step])
        if not errors:
            break
        exc = errors[0][1]
        if not isinstance(exc, ValidationError) or not _underlay_missing(exc) or time.monotonic() >= deadline:
            raise exc
        if not said:
            _say(err, PREFIX + "%s: waiting for the underlay (%s)" % (cross["module"], exc))
            said = True
        time.sleep(0.5)
    plan = planned[0][1]
    _engine.finish(ctx, [step], planned)
    for warning in plan.warnings:
        _say(err, PREFIX + "warning: %s: %s" % (cross["module"], warning))
    return plan.commands


def _underlay_missing(exc):
    return exc.field == "local" or exc.field.startswith("routes[") and exc.field.endswith("].via")
