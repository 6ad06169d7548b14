# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() hands its run to: AnsibleModule made from the one schema (argument_spec and the
constraints between options, _schema), the run on the one run path (_engine: a typed step, or the Job of a
module that assembles its own steps: container_network, preflight), and the answer in Ansible's terms, shaped
in one place (pyroute2 missing, failures, warnings, diff). A module's main() is

    module, result, error = run_module(NAME, SomeStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)

Nothing here exits: main() calls exit_json / fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netplumb.container.plugins.module_utils import _engine, _schema
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError
from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT
from ansible_collections.netplumb.container.plugins.module_utils._nl import HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR


def missing_pyroute2():
    """(result, error) of a module whose run needs pyroute2 on a host without it (the role installs it on the
    key ``missing_pyroute2``, then calls again)."""
    return dict(changed=False, commands=[], exception=PYROUTE2_IMPORT_ERROR, missing_pyroute2=True), \
        missing_required_lib("pyroute2")


def run_module(name, make, supports_check_mode):
    """The module ``name``'s whole run: its AnsibleModule (argument_spec and constraints from the schema; check
    mode as the module's main() declares it, no default), then ``make(params)`` - a typed step (_steps) or an
    _engine.Job - answered. Returns (module, result, error message or None) for main() to exit with."""
    module = AnsibleModule(argument_spec=_schema.argspec(name), supports_check_mode=supports_check_mode,
                           **_schema.constraints(name))
    job = make(module.params)
    return (module,) + answer(module, job if isinstance(job, _engine.Job) else _engine.StepJob(job))


def run_step(module, step):
    """A module's one typed step through the run path: answer() of its StepJob."""
    return answer(module, _engine.StepJob(step))


def answer(module, job):
    """Run ``job`` (_engine.Job) in the module's mode and shape its answer: (result dict, error message or
    None). Input refused by job.check() comes first, then a missing pyroute2 (when the job reads netlink); a
    failure's result says what was applied (job.failed). The result's warnings are said (module.warn), its diff
    is kept only in diff mode."""
    try:
        job.check()
        if job.netlink and not HAS_PYROUTE2:
            return missing_pyroute2()
        res, error = job.run(module.check_mode, module.params.get("lock_timeout", DEFAULT_TIMEOUT), module._diff)
    except NetplumbError as exc:
        res, error = job.failed(exc), str(exc)
    for warning in res.pop("warnings", None) or ():
        module.warn(warning)
    if not module._diff:
        res.pop("diff", None)
    return res, error
