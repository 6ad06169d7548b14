"""The module helper (plugins/module_utils/_module.py) and the read-only steps on the one run path (issue 18):
every module's AnsibleModule is made from the schema, its run answered in one place (pyroute2 missing,
failures, warnings, diff), and the read-only modules' steps run through _engine.run like every other step."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _converge, _dryrun, _engine, _fwnet
from ansible_collections.netplumb.container.plugins.module_utils import _module, _options, _schema, _steps
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, StateError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

from fakes import NoSession, no_lock


@pytest.fixture
def no_host(monkeypatch):
    monkeypatch.setattr(_engine, "HostLock", no_lock)
    monkeypatch.setattr(_engine, "Netlink", NoSession)


class FakeModule(object):
    """AnsibleModule as the helper uses it: the keyword arguments it was made with, params, modes, warnings."""

    made = []

    def __init__(self, **kwargs):
        FakeModule.made.append(kwargs)
        self.kwargs = kwargs
        self.params = dict(FakeModule.params)
        self.check_mode = FakeModule.check_mode
        self._diff = FakeModule.diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


@pytest.fixture
def fake_module(monkeypatch):
    FakeModule.made, FakeModule.params, FakeModule.check_mode, FakeModule.diff = [], {"lock_timeout": 1}, False, True
    monkeypatch.setattr(_module, "AnsibleModule", FakeModule)
    return FakeModule


class WarnStep(_steps.Step):
    """A step of one action that warns."""

    module = "netns"

    def __init__(self, params, label=None):
        super(WarnStep, self).__init__(params, label)
        self.log = []

    def plan(self, ctx):
        p = Plan()
        p.add(Action("link_add", "x0", "ip link add x0 type dummy", lambda: self.log.append("x0")))
        p.warn("careful")
        return p


def test_run_module_makes_ansiblemodule_from_the_schema(fake_module, no_host):
    module, res, err = _module.run_module("port_publish", WarnStep, supports_check_mode=True)
    made = fake_module.made[0]
    assert made["argument_spec"] == _schema.argspec("port_publish") and made["supports_check_mode"] is True
    assert made["mutually_exclusive"] == [["ports", "host_port"], ["ports", "container_ip"]]
    assert made["required_one_of"] == [["ports", "host_port", "bridge"]]
    assert made["required_together"] == [["host_port", "container_ip"]]
    assert err is None and module.warnings == ["careful"]
    assert res["changed"] is True and res["commands"] == ["ip link add x0 type dummy"] and "diff" in res
    assert "warnings" not in res


def test_run_module_without_diff_drops_the_diff_and_a_module_without_constraints_gets_none(fake_module, no_host):
    fake_module.diff = False
    dummy, res, err = _module.run_module("linux_bridge", WarnStep, supports_check_mode=True)
    assert set(fake_module.made[0]) == set(["argument_spec", "supports_check_mode"])
    assert err is None and "diff" not in res


def test_every_constraint_names_options_of_its_module():
    for module in _options.CONSTRAINTS:
        spec = _schema.argspec(module)
        for kind, groups in _schema.constraints(module).items():
            names = [n for g in (groups.items() if isinstance(groups, dict) else groups) for n in g]
            assert set(names) <= set(spec), (module, kind)


# --- the read-only steps on the run path -------------------------------------------------------------------------
class Driver(object):
    backend = "iptables"

    def __init__(self):
        self.warnings = ["iptables-legacy rules found too"]

    def read(self):
        return "ruleset"


def test_gather_step_reads_with_the_runs_driver_and_says_its_warnings(fake_module, no_host, monkeypatch):
    seen = []
    monkeypatch.setattr(_fwnet, "get_driver", lambda backend: Driver())
    monkeypatch.setattr(_steps._gather, "read", lambda nl, driver, why, adopt=False: seen.append(
        (driver.backend, why, adopt)) or dict(container_networks=[], unmanaged=[], host={}))
    fake_module.params = dict(lock_timeout=1, firewall_backend="iptables", adopt=True)
    module, res, err = _module.run_module("container_network_info", _steps.GatherStep, supports_check_mode=True)
    assert err is None and seen == [("iptables", None, True)]
    assert res == dict(changed=False, container_networks=[], unmanaged=[], host={})
    assert module.warnings == ["iptables-legacy rules found too"]


def test_gather_step_without_a_driver_reads_the_networks_without_rules_and_says_why(no_host, monkeypatch):
    seen = []

    def no_driver(backend):
        raise NetplumbError("no iptables on this host")
    monkeypatch.setattr(_fwnet, "get_driver", no_driver)
    monkeypatch.setattr(_steps._gather, "read", lambda nl, driver, why, adopt=False: seen.append(
        (driver, why)) or dict(container_networks=[]))
    module = _Module(dict(firewall_backend="auto", adopt=False))
    res, err = _module.run_step(module, _steps.GatherStep(module.params))
    assert err is None and seen == [(None, "no iptables on this host")]
    assert res == dict(changed=False, container_networks=[]) and module.warnings == []


class _Module(object):
    check_mode, _diff = False, True

    def __init__(self, params):
        self.params = dict(params, lock_timeout=1)
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


def test_a_read_only_step_failing_is_shaped_like_every_failure(no_host, monkeypatch):
    def broken(nl, driver, why, adopt=False):
        raise StateError("namespace ns1 vanished")
    monkeypatch.setattr(_fwnet, "get_driver", lambda backend: Driver())
    monkeypatch.setattr(_steps._gather, "read", broken)
    res, err = _module.run_step(_Module(dict(firewall_backend="auto", adopt=False)),
                                _steps.GatherStep(dict(firewall_backend="auto", adopt=False)))
    assert err == "namespace ns1 vanished" and res == dict(changed=False, commands=[])


def test_a_read_only_step_waits_for_the_host_lock_like_every_step(monkeypatch):
    class Busy(object):
        def __init__(self, timeout):
            raise NetplumbError("the host lock is held by another run (waited 1 s)")
    monkeypatch.setattr(_engine, "HostLock", Busy)
    res, err = _module.run_step(_Module({}), _steps.DiagnoseStep(dict(firewall_backend="auto")))
    assert err.startswith("the host lock is held") and res == dict(changed=False, commands=[])


def test_read_only_steps_ask_for_pyroute2_before_reading(monkeypatch):
    monkeypatch.setattr(_module, "HAS_PYROUTE2", False)
    monkeypatch.setattr(_engine, "HostLock", None)      # nothing may be locked or read
    for step in (_steps.GatherStep(dict(adopt=False)), _steps.DiagnoseStep({}),
                 _steps.SwarmFactsStep(dict(data_path_port=4789, features=[]))):
        res, err = _module.run_step(_Module({}), step)
        assert res["missing_pyroute2"] is True and res["changed"] is False and "pyroute2" in err


def test_diagnose_step_results_the_gather_and_the_checks(no_host, monkeypatch):
    info = dict(container_networks=["n"], unmanaged=["u"], host=dict(ip_forward=True), networks_meta=[])
    monkeypatch.setattr(_fwnet, "get_driver", lambda backend: Driver())
    monkeypatch.setattr(_steps._diagnose, "read", lambda nl, driver, why: (info, {}, "ruleset", None))
    monkeypatch.setattr(_steps._diagnose, "analyse", lambda *args: ["finding"])
    monkeypatch.setattr(_steps._diagnose, "summary", lambda found: dict(ok=False, findings=found))
    module = _Module(dict(firewall_backend="auto"))
    res, err = _module.run_step(module, _steps.DiagnoseStep(module.params))
    assert err is None and module.warnings == []
    assert res == dict(changed=False, container_networks=["n"], unmanaged=["u"], host=dict(ip_forward=True),
                       ok=False, findings=["finding"])


def test_swarm_facts_step_refuses_its_input_before_the_lock(monkeypatch):
    monkeypatch.setattr(_engine, "HostLock", None)      # refused before the lock is taken
    res, err = _module.run_step(_Module({}), _steps.SwarmFactsStep(dict(data_path_port=0, features=[])))
    assert "data_path_port=0" in err and res == dict(changed=False, commands=[])


# --- the modules that assemble their own steps: the same answer --------------------------------------------------
def test_container_network_input_errors_come_before_pyroute2(monkeypatch):
    monkeypatch.setattr(_module, "HAS_PYROUTE2", False)
    job = _converge.NetworksJob(dict(variable="networks", networks=[dict(name="x", bridge="br0", subnet="bad")],
                                     firewall_backend="auto", firewalld_zone=None, prune=False, lock_timeout=1))
    res, err = _module.answer(_Module({}), job)
    assert err.startswith("networks is invalid (") and res["errors"] and res["calls"] == []
    assert res["changed"] is False and res["commands"] == [] and "missing_pyroute2" not in res


def test_preflight_failing_to_lock_has_no_commands(monkeypatch):
    class Busy(object):
        def __init__(self, timeout):
            raise NetplumbError("the host lock is held by another run")
    monkeypatch.setattr(_engine, "HostLock", Busy)
    res, err = _module.answer(_Module({}), _dryrun.CallsJob(dict(calls=[])))
    assert err == "the host lock is held by another run"
    assert res == dict(changed=False, calls=[], errors=["the host lock is held by another run"])


def test_preflight_warnings_are_said_not_returned(no_host, monkeypatch):
    monkeypatch.setattr(_dryrun, "run_calls", lambda nl, calls: ([], ["a (netns): careful"], []))
    module = _Module({})
    res, err = _module.answer(module, _dryrun.CallsJob(dict(calls=[])))
    assert err is None and res == dict(changed=False, calls=[], errors=[])
    assert module.warnings == ["a (netns): careful"]
