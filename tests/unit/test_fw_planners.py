"""The firewall planners against a driver that records intents (fakes.RecordingDriver): what each planner
hands the driver and what it asks, with no rule syntax of any backend. Rendering: test_fw_render.py; the
iptables driver: test_firewall_iptables.py; the nftables driver: test_nftables.py."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _hostgw, _swarm
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import ChainedDriver
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    Exemption, NetworkIntent, PortForward, SwarmAllowance)

from fakes import FakeNetlink, RecordingDriver, link, state


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch):
    monkeypatch.setattr(_fwnet, "sysctl_read", lambda name, nl=None: "1")
    monkeypatch.setattr(_fwnet, "listeners", lambda proto, proc_net=None: [])


def host():
    links = [link(1, "lo", kind=None), link(2, "eth0"), link(5, "br0", kind="bridge", alias="netplumb"),
             link(6, "br1", kind="bridge", alias="netplumb")]
    return FakeNetlink({None: state(None, links, {2: ["192.0.2.10/24"], 5: ["172.18.0.1/24"],
                                                  6: ["172.19.0.1/24"]})})


NAT = dict(bridge="br0", subnet="172.18.0.0/24", state="present", masquerade=True, ip_forward=True,
           isolate=False, icc=False, firewall_backend="auto")


def test_container_nat_hands_one_network_intent_for_its_own_owner():
    d = RecordingDriver()
    _fwnet.plan_nat(host(), dict(NAT), driver=d)
    [(owned, intents)] = d.planned
    assert intents == [NetworkIntent("br0", "172.18.0.0/24", masquerade=True, isolate=False, icc=False)]
    gone = RecordingDriver([NetworkIntent("br0", "172.18.0.0/24")])
    _fwnet.plan_nat(host(), dict(NAT, state="absent"), driver=gone)
    assert gone.planned == [(["netplumb:br0"], [])]


def test_container_nat_refuses_a_subnet_another_network_claims():
    d = RecordingDriver([NetworkIntent("br1", "172.18.0.0/16")])
    with pytest.raises(StateError, match="overlaps 172.18.0.0/16 of network br1"):
        _fwnet.plan_nat(host(), dict(NAT), driver=d)
    assert d.planned == []


PUB = dict(state="present", firewall_backend="auto", prune=False, bridge=None, host_port=None, container_ip=None)


def test_port_publish_hands_port_forwards_with_the_bridge_found():
    d = RecordingDriver()
    spec = dict(PUB, ports=[dict(host_port=8080, container_ip="172.18.0.10", container_port=80),
                            dict(host_port="5000-5002", container_ip="172.19.0.9", protocol="udp",
                                 host_ip="127.0.0.1")])
    p = _fwnet.plan_publish(host(), spec, False, driver=d)
    [(owned, intents)] = d.planned
    assert intents == [PortForward("br0", "tcp", None, (8080, 8080), "172.18.0.10", (80, 80)),
                       PortForward("br1", "udp", "127.0.0.1", (5000, 5002), "172.19.0.9", (5000, 5002))]
    assert p.commands == []    # the fake writes nothing; route_localnet read as 1 already


def test_port_publish_finds_the_bridge_of_a_network_known_only_to_the_firewall():
    d = RecordingDriver([NetworkIntent("br-x", "10.7.0.0/24")])
    _fwnet.plan_publish(host(), dict(PUB, ports=[dict(host_port=81, container_ip="10.7.0.5")]), True, driver=d)
    assert d.planned[0][1][0].bridge == "br-x"


def test_port_publish_refuses_a_port_another_network_publishes():
    d = RecordingDriver([PortForward("br1", "tcp", None, (8080, 8080), "172.19.0.2", (80, 80))])
    with pytest.raises(StateError, match="already published by netplumb:br1:tcp/8080"):
        _fwnet.plan_publish(host(), dict(PUB, ports=[dict(host_port=8080, container_ip="172.18.0.10")]), False,
                            driver=d)


def test_udp_change_flushes_conntrack_and_loopback_sets_route_localnet(monkeypatch):
    monkeypatch.setattr(_fwnet, "sysctl_read", lambda name, nl=None: "0")
    d = RecordingDriver([PortForward("br0", "udp", None, (5353, 5353), "172.18.0.11", (53, 53))])
    spec = dict(PUB, ports=[dict(host_port=5353, container_ip="172.18.0.12", container_port=53, protocol="udp"),
                            dict(host_port=6000, container_ip="172.18.0.13", host_ip="127.0.0.1")])
    p = _fwnet.plan_publish(host(), spec, False, driver=d)
    assert p.commands == ["sysctl -w net.ipv4.conf.br0.route_localnet=1",
                          "conntrack -D -p udp --orig-port-dst 5353"]
    same = RecordingDriver([PortForward("br0", "udp", None, (5353, 5353), "172.18.0.11", (53, 53))])
    p = _fwnet.plan_publish(host(), dict(PUB, ports=[dict(host_port=5353, container_ip="172.18.0.11",
                                                          container_port=53, protocol="udp")]), False, driver=same)
    assert p.commands == []


def test_swarm_and_host_gw_hand_their_intents():
    d = RecordingDriver()
    _swarm.plan(dict(state="present", peers=["192.0.2.11", "192.0.2.0/24"], manager=True, data_path_port=4789,
                     esp=False, firewall_backend="auto"), driver=d)
    assert d.planned[0][1] == [SwarmAllowance([ipaddress.ip_network(u"192.0.2.0/24")], True, 4789, False)]
    assert _hostgw.exemptions(ipaddress.ip_network(u"10.244.0.0/16"), "eth0",
                              [("cbr0", ipaddress.ip_network(u"10.244.1.0/24"))]) == [
        Exemption("cbr0", "10.244.1.0/24", "10.244.0.0/16", "eth0")]


def test_check_mode_chains_through_the_interface():
    """A run of several calls in check mode: the second call reads what the first call's plan leaves."""
    d = ChainedDriver(RecordingDriver(), True)
    _fwnet.plan_nat(host(), dict(NAT, bridge="br-x", subnet="10.7.0.0/24"), driver=d, check_mode=True)
    assert d.networks(d.read()) == {"br-x": [ipaddress.ip_network(u"10.7.0.0/24")]}
    p = _fwnet.plan_publish(host(), dict(PUB, ports=[dict(host_port=81, container_ip="10.7.0.5")]), True, driver=d)
    assert not any("placeholder" in w for w in p.warnings)
    assert sorted(d.owners(d.read())) == ["netplumb:br-x", "netplumb:br-x:tcp/81"]
    real = ChainedDriver(RecordingDriver(), False)     # not check mode: every read is the driver's own
    _fwnet.plan_nat(host(), dict(NAT, bridge="br-x", subnet="10.7.0.0/24"), driver=real, check_mode=True)
    assert real.owners(real.read()) == set()


def test_prune_finds_undeclared_networks_through_the_driver_queries():
    from ansible_collections.netplumb.container.plugins.module_utils import _prune
    d = RecordingDriver([NetworkIntent("br-gone", "172.30.0.0/24"),
                         PortForward("br-gone", "tcp", None, (80, 80), "172.30.0.5", (80, 80))])
    found = _prune.read(host(), [dict(bridge="br0"), dict(bridge="br1")], d.read(), d)
    assert found == [dict(bridge="br-gone", subnet="172.30.0.0/24", ours=True)]


# --- the planners' input: validation, listeners (no driver) ------------------------------------------------
_LISTENERS = _fwnet.listeners     # the real one (no_kernel replaces it in every test)


@pytest.mark.parametrize("spec,field", [
    (dict(host_port=0, container_ip="172.18.0.10"), "host_port"),
    (dict(host_port="9-8", container_ip="172.18.0.10"), "host_port"),
    (dict(host_port="1-2-3", container_ip="172.18.0.10"), "host_port"),
    (dict(host_port=5, container_ip="172.18.0.10", protocol="icmp"), "protocol"),
    (dict(host_port=5, container_ip="2001:db8::1"), "container_ip"),
    (dict(host_port=5, container_ip="127.0.0.2"), "container_ip"),
    (dict(host_port=5, container_ip="172.18.0.10", host_ip="x"), "host_ip"),
    (dict(ports=[dict(host_port=5, container_ip="172.18.0.10"), dict(host_port="1-9", container_ip="172.18.0.11")]),
     "ports"),
    (dict(ports=[dict(host_port=5, container_ip="172.18.0.10", typo=1)]), "ports[0].typo"),
])
def test_publish_validation_names_field(spec, field):
    spec = dict(dict(state="present"), **spec)
    with pytest.raises(ValidationError) as err:
        _fwnet.validate_mappings(spec)
    assert err.value.field == field


def test_nat_validation():
    base = dict(bridge="br0", state="present")
    for subnet in ("172.18.0.1/16", "x", "127.0.0.0/8", "2001:db8::/64"):
        with pytest.raises(ValidationError) as err:
            _fwnet.validate_nat(dict(base, subnet=subnet))
        assert err.value.field == "subnet"


def test_listener_conflicts():
    m = _fwnet.validate_mappings(dict(host_port="5000-5002", container_ip="172.18.0.10", state="present"))[0]
    lo = ipaddress.ip_address(u"127.0.0.1")
    anyaddr = ipaddress.ip_address(u"0.0.0.0")
    assert _fwnet.listener_conflict(m, [(lo, 5001)]) is None      # loopback is not published
    assert _fwnet.listener_conflict(m, [(anyaddr, 5001)]) == (anyaddr, 5001)
    assert _fwnet.listener_conflict(m, [(anyaddr, 5003)]) is None


def test_proc_net_parsing(tmp_path):
    (tmp_path / "tcp").write_text("  sl  local_address rem_address   st\n"
                                  "   0: 00000000:1388 00000000:0000 0A 0\n"
                                  "   1: 0100007F:1389 00000000:0000 01 0\n")
    (tmp_path / "tcp6").write_text("  sl  local_address\n"
                                   "   0: 00000000000000000000000001000000:138A 0000:0000 0A 0\n")
    socks = _LISTENERS("tcp", str(tmp_path))
    assert socks == [(ipaddress.ip_address(u"0.0.0.0"), 5000), (ipaddress.ip_address(u"::1"), 5002)]
