"""The one run path (plugins/module_utils/_engine.py): typed steps in one run context, check-mode predictions
carried by the context (never parsed from command text), the checked plans applied, and failures that say
exactly what was applied at the step, the converge and the module."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _engine, _fwnet, _module, _steps
from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

from fakes import FakeNetlink, NoSession, RecordingDriver, link, no_lock, state


@pytest.fixture
def no_host(monkeypatch):
    monkeypatch.setattr(_engine, "HostLock", no_lock)
    monkeypatch.setattr(_engine, "Netlink", NoSession)
    monkeypatch.setattr(_engine, "plan_step", lambda ctx, step: step.plan(ctx))     # no tools to check


class Step(_steps.Step):
    """A step whose actions are ``names`` (each ``ip link add NAME``); the one named ``fail`` raises. Counts
    how often it is planned and records the context's sysctl ``watch`` as it finds it."""

    module = "netns"

    def __init__(self, label, names, fail=None, log=None, watch=None, write=None):
        super(Step, self).__init__({}, label)
        self.names, self.fail, self.log, self.watch, self.write = names, fail, log, watch, write
        self.planned, self.seen = 0, []

    def plan(self, ctx):
        self.planned += 1
        if self.watch:
            self.seen.append(ctx.sysctl(self.watch))
        p = Plan()
        for name in self.names:
            def fn(name=name):
                if name == self.fail:
                    raise OSError(17, "File exists")
                self.log.append(name)
            p.add(Action("link_add", name, "ip link add %s" % name, fn))
        if self.write:      # a typed sysctl write whose command text says nothing a parser could read
            action = _fwnet.SysctlWrite("sysctl", self.write[0], "(set by a test)", lambda: None)
            action.name, action.value = self.write
            p.add(action)
        return p


def test_a_failing_step_of_a_converge_reports_every_command_applied_before_it(no_host):
    log = []
    steps = [Step("networks[0] (a)", ["a0", "a1"], log=log), Step("networks[1] (b)", ["b0", "b1", "b2"], "b1", log)]
    with pytest.raises(KernelError) as info:
        _engine.converge(_engine.RunContext(NoSession(), False), steps)
    assert info.value.done == ["ip link add a0", "ip link add a1", "ip link add b0"]
    assert log == ["a0", "a1", "b0"]
    assert str(info.value).startswith("networks[1] (b) (netns): ip link add b1 failed: File exists")


def test_a_module_step_failing_half_way_reports_what_it_applied(no_host):
    class Module:
        check_mode, _diff, params = False, True, {"lock_timeout": 1}

        def warn(self, msg):
            raise AssertionError(msg)
    log = []
    res, err = _module.run_step(Module(), Step(None, ["x0", "x1", "x2"], "x2", log))
    assert res == dict(changed=True, commands=["ip link add x0", "ip link add x1"]) and log == ["x0", "x1"]
    assert err.startswith("ip link add x2 failed: File exists (errno 17) "
                          "(already applied: ip link add x0; ip link add x1)")


def test_check_mode_predicts_a_later_step_from_an_earlier_steps_typed_write(no_host):
    """The second step finds the sysctl the first step's plan writes, from the context: the write's command
    text is not read (it says nothing here); nothing is applied."""
    host = {"net.ipv4.ip_forward": "0"}
    ctx = _engine.RunContext(NoSession(), True, readers=_Readers(host))
    first = Step("a", [], write=("net.ipv4.ip_forward", 1), log=[])
    second = Step("b", [], watch="net.ipv4.ip_forward", log=[])
    planned = _engine.converge(ctx, [first, second])
    assert second.seen == ["1"] and [s for s, dummy in planned] == [first, second]
    # a real run sees the host: its first step changes nothing, so nothing is predicted
    ctx = _engine.RunContext(NoSession(), False, readers=_Readers(host))
    second = Step("b", [], watch="net.ipv4.ip_forward", log=[])
    _engine.converge(ctx, [Step("a", [], log=[]), second])
    assert second.seen == ["0"]


def test_a_sysctl_command_that_is_not_a_typed_write_predicts_nothing(no_host):
    ctx = _engine.RunContext(NoSession(), True, readers=_Readers({"net.ipv4.ip_forward": "0"}))
    p = Plan()
    p.add(Action("sysctl", "net.ipv4.ip_forward", "sysctl -w net.ipv4.ip_forward=1", None))
    ctx.record(p)
    assert ctx.sysctl("net.ipv4.ip_forward") == "0"


class _Readers(_engine.HostReaders):
    def __init__(self, sysctls):
        self.sysctls = sysctls

    def sysctl(self, name):
        return self.sysctls.get(name)


def test_the_checked_plans_are_applied_until_a_step_writes_then_later_steps_see_the_real_host(no_host):
    log = []
    steps = [Step("a", [], log=log), Step("b", ["b0"], log=log), Step("c", ["c0"], log=log)]
    done = _engine.converge(_engine.RunContext(NoSession(), False), steps)
    # a and b: planned once, in the preflight, and that plan applied; c: planned again after b wrote
    assert [s.planned for s in steps] == [1, 1, 2] and log == ["b0", "c0"]
    assert [d.commands for dummy, d in done] == [[], ["ip link add b0"], ["ip link add c0"]]


def test_a_broken_pyroute2_fails_check_and_real_alike_before_any_write_and_a_no_op_never_imports_it(
        no_host, monkeypatch):
    """pyroute2 is imported lazily (_nl.iproute_class). One that is installed but does not import fails a run
    that would write before its first write, and its check mode the same way (check == real); a run with nothing
    to change never imports it."""
    from ansible_collections.netplumb.container.plugins.module_utils import _nl
    monkeypatch.delattr(_nl, "IPRoute", raising=False)
    monkeypatch.setattr(_nl, "HAS_PYROUTE2", True)
    imports = []

    def broken():
        imports.append(1)
        raise ImportError("No module named 'pyroute2.netlink.nlsocket'")
    monkeypatch.setattr(_nl, "_import_iproute", broken)
    for check_mode in (True, False):
        log = []
        with pytest.raises(StateError) as err:
            _engine.converge(_engine.RunContext(NoSession(), check_mode), [Step("a", ["a0"], log=log)])
        assert "pyroute2 is installed but does not import" in str(err.value) and log == []
    assert len(imports) == 2
    ((dummy, plan),) = _engine.converge(_engine.RunContext(NoSession(), False), [Step("a", [], log=[])])
    assert not plan.changed and len(imports) == 2


def test_a_refusal_of_any_step_stops_the_run_before_its_first_write(no_host):
    class Refused(Step):
        def plan(self, ctx):
            raise StateError("name=eth0: not ours")
    log = []
    with pytest.raises(_engine.RefusedError) as info:
        _engine.converge(_engine.RunContext(NoSession(), False), [Step("a", ["a0"], log=log), Refused("b", [])])
    assert log == [] and info.value.errors == ["b (netns): name=eth0: not ours"]


def test_a_nat_step_predicts_ip_forward_for_the_next_network_through_the_context(monkeypatch):
    """Two networks in check mode: the first NatStep's plan writes ip_forward, the second finds it set (the
    host's is 0) and does not predict it again."""
    monkeypatch.setattr(_fwnet, "get_driver", lambda backend: RecordingDriver([], warnings=[]))
    monkeypatch.setattr(_fwnet, "sysctl_read", lambda name, nl=None: "0")
    links = [link(1, "lo", kind=None), link(2, "eth0"), link(5, "br-a", kind="bridge", alias="netplumb"),
             link(6, "br-b", kind="bridge", alias="netplumb")]
    nl = FakeNetlink({None: state(None, links, {2: ["192.0.2.10/24"]})})
    steps = [_steps.from_call(dict(module="container_nat", label=n, args=dict(bridge="br-" + n, subnet=net)))
             for n, net in (("a", "10.1.0.0/24"), ("b", "10.2.0.0/24"))]
    planned = _engine.converge(_engine.RunContext(nl, True), steps)
    forward = [[c for c in p.commands if "ip_forward" in c] for dummy, p in planned]
    assert forward == [["sysctl -w net.ipv4.ip_forward=1"], []]


def test_a_call_names_its_step_and_container_networks_fields_are_the_steps_own():
    step = _steps.from_call(dict(module="linux_bridge", label="n", args=dict(name="br0"), keep_foreign=True))
    assert isinstance(step, _steps.BridgeStep) and step.keep_foreign and "keep_foreign" not in step.params
    step = _steps.from_call(dict(module="veth_pair", args=dict(pairs=[]), orphans="10.0.0.0/24"), 3)
    assert step.label == "calls[3]" and str(step.orphans) == "10.0.0.0/24" and "orphans" not in step.params
