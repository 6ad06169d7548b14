"""Truthful results (issue 18): a run that fails half-way reports exactly what it wrote, at every level -
the plan's apply, a module's run_step() and a converge's step - whatever kind of error stopped it."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _engine, _module, _steps
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

from fakes import NoSession, no_lock


def _plan(log, fail_at, exc):
    """Three actions; the one at ``fail_at`` raises ``exc``, the others append their command to ``log``."""
    p = Plan()
    for i in range(3):
        cmd = "ip link add x%d type dummy" % i

        def fn(i=i, cmd=cmd):
            if i == fail_at:
                raise exc
            log.append(cmd)
        p.add(Action("link_add", "x%d" % i, cmd, fn))
    return p


@pytest.mark.parametrize("exc", [StateError("eth0 changed under us"), OSError(17, "File exists"),
                                 ValueError("pyroute2 said no")],
                         ids=["refusal", "os-error", "library-error"])
def test_apply_names_what_landed_before_the_failure(exc):
    log = []
    with pytest.raises(KernelError) as info:
        _plan(log, 1, exc).apply(False)
    assert info.value.done == ["ip link add x0 type dummy"] == log
    assert info.value.command == "ip link add x1 type dummy"


def test_a_failure_in_the_first_action_lands_nothing():
    log = []
    with pytest.raises(KernelError) as info:
        _plan(log, 0, StateError("gone")).apply(False)
    assert info.value.done == [] and log == []


def test_a_firewall_batch_error_keeps_its_own_count():
    """A KernelError raised by an action (the iptables batch) already counts the plan's applied actions,
    net of a rollback: it passes through as it is."""
    inner = KernelError("iptables-restore (table nat)", "rolled back", ["ip link add x0 type dummy"])
    with pytest.raises(KernelError) as info:
        _plan([], 2, inner).apply(False)
    assert info.value is inner


class _FakeModule:
    check_mode = False
    _diff = True

    def __init__(self):
        self.params = {"lock_timeout": 5}
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


def test_module_run_reports_the_writes_of_a_half_applied_plan(monkeypatch):
    monkeypatch.setattr(_engine, "HostLock", no_lock)
    monkeypatch.setattr(_engine, "Netlink", NoSession)
    log = []
    res, err = _module.run_step(_FakeModule(), _Step(None, lambda: _plan(log, 2, StateError("bridge gone"))))
    assert err and "bridge gone" in err
    assert res == dict(changed=True, commands=["ip link add x0 type dummy", "ip link add x1 type dummy"]) \
        and res["commands"] == log


def test_module_run_refusal_before_any_write_is_unchanged(monkeypatch):
    monkeypatch.setattr(_engine, "HostLock", no_lock)
    monkeypatch.setattr(_engine, "Netlink", NoSession)

    def build():
        raise StateError("name=eth0: not ours")
    res, err = _module.run_step(_FakeModule(), _Step(None, build))
    assert res == dict(changed=False, commands=[]) and "not ours" in err


class _Step(_steps.Step):
    """A step whose plan is made by ``make()``."""

    module = "netns"

    def __init__(self, label, make):
        super(_Step, self).__init__({}, label)
        self.make = make

    def plan(self, ctx):
        return self.make()


def test_converge_reports_every_step_and_the_half_of_the_failing_one(monkeypatch):
    """Step 1 applies both its actions; step 2 applies one and fails on the next: the converge's error
    lists all three commands, in order."""
    monkeypatch.setattr(_engine, "plan_step", lambda ctx, step: step.plan(ctx))   # no tools to check
    log = []
    steps = [_Step("networks[0] (a)", lambda: _plan(log, 3, None)),
             _Step("networks[1] (b)", lambda: _plan(log, 1, StateError("host changed")))]
    with pytest.raises(KernelError) as info:
        _engine.converge(_engine.RunContext(NoSession(), False), steps)
    want = ["ip link add x0 type dummy", "ip link add x1 type dummy", "ip link add x2 type dummy",
            "ip link add x0 type dummy"]
    assert info.value.done == want == log
    assert "networks[1] (b)" in str(info.value) and "host changed" in str(info.value)
