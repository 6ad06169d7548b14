# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by the modules' main(): build a plan, apply it unless check mode, shape the result.

Nothing here exits: run() returns (result, error_message) and main() calls exit_json / fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT, HostLock, validate_timeout
from ansible_collections.netplumb.container.plugins.module_utils._nl import Netlink


def run(module, validate, build):
    """validate() checks all input first; then the host lock is taken (check mode too, so the prediction is
    not raced) and held while build(netlink) -> Plan reads state and the plan is applied unless check mode.
    Returns (result dict, error message or None)."""
    plan = None
    try:
        timeout = validate_timeout(module.params.get("lock_timeout", DEFAULT_TIMEOUT))
        validate()
        with HostLock(timeout):
            with Netlink() as nl:
                with nl.frozen():       # planning writes nothing: each state is read once
                    plan = build(nl)
                _hosttools.check(plan)      # the tools and writable places the plan needs, before its first write
                plan.apply(module.check_mode)
    except KernelError as exc:
        res = dict(changed=bool(exc.done), commands=exc.done)
        return res, str(exc)
    except NetplumbError as exc:
        return dict(changed=False, commands=[]), str(exc)
    for warning in plan.warnings:
        module.warn(warning)
    res = plan.result()
    if not module._diff:
        res.pop("diff")
    return res, None
