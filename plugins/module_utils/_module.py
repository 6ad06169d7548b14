# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a module's main() hands its typed step to: the one run path (_engine.run) and the result in Ansible's
terms. A module's main() is

    module = AnsibleModule(argument_spec=_schema.argspec(NAME), supports_check_mode=True)
    result, error = run_step(module, SomeStep(module.params))
    module.fail_json(msg=error, **result) if error else module.exit_json(**result)

Nothing here exits: run_step() returns (result, error message or None) and main() calls exit_json / fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.netplumb.container.plugins.module_utils import _engine
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT
from ansible_collections.netplumb.container.plugins.module_utils._nl import HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR
from ansible_collections.netplumb.container.plugins.module_utils._steps import FuncStep


def missing_pyroute2():
    """(result, error) of a module whose step needs pyroute2 on a host without it (the role installs it on the
    key ``missing_pyroute2``, then calls again)."""
    return dict(changed=False, commands=[], exception=PYROUTE2_IMPORT_ERROR, missing_pyroute2=True), \
        missing_required_lib("pyroute2")


def run_step(module, step):
    """A module's one step through the run path: validated before the host lock, planned, its tools checked,
    applied unless check mode. Returns (result dict, error message or None); a failure's result says what was
    applied (``changed``, ``commands``)."""
    if step.netlink and not HAS_PYROUTE2:
        return missing_pyroute2()
    try:
        ((dummy, plan),) = _engine.run([step], module.check_mode, module.params.get("lock_timeout", DEFAULT_TIMEOUT),
                                       diff=module._diff)
    except NetplumbError as exc:
        res = _engine.failure(exc)
        if not getattr(exc, "errors", None):
            res.pop("errors")
        return res, str(exc)
    for warning in plan.warnings:
        module.warn(warning)
    res = step.result(plan)
    if not module._diff:
        res.pop("diff")
    return res, None


def run(module, validate, build, netlink=True):
    """run_step() of a step made of two functions: validate() checks all input, build(nl) -> Plan reads the
    host and plans (a module without a step class of its own)."""
    return run_step(module, FuncStep(module._name if hasattr(module, "_name") else None, validate, build,
                                     netlink=netlink))
