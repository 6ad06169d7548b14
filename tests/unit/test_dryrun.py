"""The preflight's dry run: the modules' defaults, errors of every call collected at once, and removals that
free bridges, subnets and ports for the calls after them."""
import importlib

import pytest
import yaml

from ansible_collections.netplumb.container.plugins.module_utils import _dryrun, _fwnet

from ansible_collections.netplumb.container.plugins.module_utils._fwintent import NetworkIntent, PortForward

from fakes import FakeNetlink, RecordingDriver, link, state


@pytest.mark.parametrize("module", sorted(_dryrun.DEFAULTS))
def test_defaults_are_the_modules_own(module):
    mod = importlib.import_module("ansible_collections.netplumb.container.plugins.modules.%s" % module)
    doc = yaml.safe_load(mod.DOCUMENTATION)
    options = dict(doc["options"])
    for name in doc.get("extends_documentation_fragment") or ():     # shared options (firewall_backend)
        if name.endswith(".host_lock"):     # the run's lock, not an option of a call
            continue
        fragment = importlib.import_module("ansible_collections.netplumb.container.plugins.doc_fragments.%s"
                                           % name.split(".")[-1])
        options.update(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION).get("options") or {})
    for key, default in _dryrun.DEFAULTS[module].items():
        assert key in options, (module, key)
        assert options[key].get("default") == default, (module, key, options[key].get("default"), default)
    required = set(k for k, o in options.items() if o.get("required"))
    assert set(options) - set(_dryrun.DEFAULTS[module]) <= required | set(["name", "bridge", "subnet"]), module


def host():
    links = [link(1, "lo", kind=None), link(2, "eth0"), link(5, "br-a", kind="bridge", alias="netplumb")]
    fake = FakeNetlink({None: state(None, links, {2: ["192.0.2.10/24"], 5: ["10.1.0.1/24"]}, {4: "192.0.2.1"})})
    fake.routes.append(("default", "eth0", "192.0.2.1", 3))
    return fake


SAVE_A = """*raw
:NETPLUMB-PREROUTING - [0:0]
-A PREROUTING -j NETPLUMB-PREROUTING
-A NETPLUMB-PREROUTING -d 10.1.0.0/24 ! -i br-a -m comment --comment "netplumb:br-a" -j DROP
COMMIT
*nat
:NETPLUMB-PREROUTING - [0:0]
-A PREROUTING -j NETPLUMB-PREROUTING
-A NETPLUMB-PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 8080 -m comment --comment "netplumb:br-a:tcp/192.0.2.10:8080" \
-j DNAT --to-destination 10.1.0.10:80
COMMIT
"""


def Driver():
    """The firewall of SAVE_A, at the level of intent (the planners never see its rules)."""
    return RecordingDriver([NetworkIntent("br-a", "10.1.0.0/24"),
                            PortForward("br-a", "tcp", "192.0.2.10", (8080, 8080), "10.1.0.10", (80, 80))],
                           warnings=[])


@pytest.fixture(autouse=True)
def fake_fw(monkeypatch):
    monkeypatch.setattr(_fwnet, "get_driver", lambda backend: Driver())
    monkeypatch.setattr(_fwnet, "sysctl_read", lambda name, nl=None: "1")
    monkeypatch.setattr(_fwnet, "listeners", lambda proto, proc_net=None: [])


NAT_B = dict(module="container_nat", label="b", args=dict(bridge="br-b", subnet="10.1.0.0/24"))
PUB_B = dict(module="port_publish", label="b", args=dict(bridge="br-b", ports=[
    dict(host_port=8080, container_ip="10.1.0.20", host_ip="192.0.2.10")]))


def test_every_refused_call_is_reported_nothing_planned_twice():
    calls = [dict(module="netns", label="x", args=dict(name=[".."])),
             dict(module="container_nat", label="y", args=dict(bridge="br-y", subnet="192.0.2.0/24")),
             dict(module="linux_bridge", label="z", args=dict(name="br-z", addresses=["10.9.0.1/24"]))]
    errors, warnings, plans = _dryrun.run_calls(host(), calls)
    assert len(errors) == 2 and errors[0].startswith("x (netns): name[0]='..'") and errors[1].startswith(
        "y (container_nat): subnet=192.0.2.0/24"), errors
    assert [p["label"] for p in plans] == ["z"] and plans[0]["changed"]


def test_a_network_taken_by_another_of_ours_is_refused():
    errors, dummy, dummy = _dryrun.run_calls(host(), [NAT_B, PUB_B])
    assert "10.1.0.1/24, an address of the host on br-a" in errors[0]
    assert "already published by netplumb:br-a:tcp/192.0.2.10:8080" in errors[1]


def test_removing_a_network_first_frees_its_subnet_and_ports():
    ports = [dict(host_port=8080, container_ip="10.1.0.10", container_port=80, host_ip="192.0.2.10")]
    removal = [dict(module="port_publish", label="a", args=dict(bridge="br-a", state="absent", ports=ports)),
               dict(module="container_nat", label="a", args=dict(bridge="br-a", subnet="10.1.0.0/24", state="absent")),
               dict(module="linux_bridge", label="a", args=dict(name="br-a", state="absent"))]
    errors, dummy, plans = _dryrun.run_calls(host(), removal + [NAT_B, PUB_B])
    assert errors == [] and [p["module"] for p in plans][-2:] == ["container_nat", "port_publish"]


def test_malformed_calls_name_their_place():
    errors, dummy, dummy = _dryrun.run_calls(host(), ["nope", dict(module="iptables", args={})])
    assert errors[0].startswith("calls[0]:") and "module='iptables'" in errors[1]


def test_a_bridge_adopted_by_an_earlier_call_takes_ports_later():
    fake = host()
    fake.states[None].links["br-x"] = link(9, "br-x", kind="bridge")
    fake.states[None].by_index[9] = fake.states[None].links["br-x"]
    veth = dict(module="veth_pair", label="x", args=dict(pairs=[dict(name="vx0", peer="cx0", bridge="br-x")]))
    errors, dummy, dummy = _dryrun.run_calls(fake, [veth])
    assert len(errors) == 1 and "bridge=br-x" in errors[0] and "not netplumb's" in errors[0], errors
    adopt = dict(module="linux_bridge", label="x", args=dict(name="br-x", adopt=True))
    errors, dummy, plans = _dryrun.run_calls(fake, [adopt, veth])
    assert errors == [] and plans[0]["commands"][0] == "ip link set br-x alias netplumb", (errors, plans)
