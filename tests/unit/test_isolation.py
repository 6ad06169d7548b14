"""The isolation planners on recorded states: port isolation, bridge nf_call_iptables / IPv6, container_nat's
ports and its br_netfilter refusal. No kernel; sysctls come from a dict."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _isolation, _links
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._nl import Link
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan

from fakes import FakeNetlink, state

LO = Link(1, "lo", "loopback", None, 65536, True, None, None, None, None)


def lk(index, name, kind="veth", master=None, alias=None, isolated=None, nf_call=None):
    return Link(index, name, kind, master, 1500, True, alias, None, None, 0 if kind == "bridge" else None,
                True if master else None, isolated, nf_call)


def reader(values):
    return values.get


PAIR = dict(name="veth0", peer="ceth0", bridge="br0", isolated=True)


def pairs(*items):
    return _links.validate_pairs([dict(x) for x in items], "pairs")


def test_new_port_is_isolated_before_it_is_up():
    nl = FakeNetlink({None: state(None, [LO, lk(2, "br0", kind="bridge", alias="netplumb")])})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    cmds = p.commands
    assert "ip link set veth0 type bridge_slave isolated on" in cmds
    assert cmds.index("ip link set veth0 type bridge_slave isolated on") < cmds.index("ip link set veth0 up")
    assert p.after["veth0"]["isolated"] is True and p.before["veth0"] == {"state": "absent"}


def test_isolation_converges_and_is_not_managed_by_default():
    links = [LO, lk(2, "br0", kind="bridge", alias="netplumb"), lk(3, "veth0", master=2, alias="netplumb", isolated=False),
             lk(4, "ceth0", master=None)]
    links[2].peer_index, links[3].peer_index = 4, 3
    nl = FakeNetlink({None: state(None, links)})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == ["ip link set veth0 type bridge_slave isolated on"]
    assert p.before["veth0"]["isolated"] is False and p.after["veth0"]["isolated"] is True
    p = _links.plan_pairs(nl, pairs(dict(PAIR, isolated=None)), check_mode=False)
    assert p.commands == [] and "isolated" not in p.after["veth0"]
    links[2].isolated = True
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == [] and p.before == p.after


def test_isolated_must_be_a_bool():
    with pytest.raises(ValidationError) as err:
        pairs(dict(PAIR, isolated="yes"))
    assert "pairs[0].isolated" in str(err.value)


def test_bridge_nf_call_and_ipv6_on_a_new_bridge():
    nl = FakeNetlink({None: state(None, [LO])})
    spec = _links.validate_bridge(dict(name="br0", state="present", addresses=["172.18.0.1/16"]))
    p = Plan()
    after = {}
    _isolation.plan_bridge(p, nl, dict(spec, nf_call_iptables=True, ipv6=False), None, after,
                           read=reader({"/proc/sys/net/ipv6/conf/default/disable_ipv6": "0"}))
    assert p.commands == ["ip link set br0 type bridge nf_call_iptables 1",
                          "sysctl -w net.ipv6.conf.br0.disable_ipv6=1"]
    assert after == dict(nf_call_iptables=True, ipv6=False)
    # the default already has IPv6 off: a new bridge inherits it, nothing to write
    p = Plan()
    _isolation.plan_bridge(p, nl, dict(spec, ipv6=False), None, {},
                           read=reader({"/proc/sys/net/ipv6/conf/default/disable_ipv6": "1"}))
    assert p.commands == []


def test_bridge_ipv6_on_goes_before_its_addresses_and_dotted_names():
    br = lk(2, "br.0", kind="bridge", nf_call=1)
    p = Plan()
    p.add(_links.op_addr(None, None, "br.0", __import__("ipaddress").ip_interface(u"fd00::1/64"), "add"))
    _isolation.plan_bridge(p, None, dict(name="br.0", nf_call_iptables=True, ipv6=True), br, {},
                           read=reader({"/proc/sys/net/ipv6/conf/br.0/disable_ipv6": "1"}))
    assert p.commands == ["sysctl -w net.ipv6.conf.br/0.disable_ipv6=0", "ip addr add fd00::1/64 dev br.0"]
    assert p.before == dict(nf_call_iptables=True, ipv6=False)


def test_bridge_ipv6_address_needs_ipv6():
    spec = _links.validate_bridge(dict(name="br0", state="present", addresses=["fd00::1/64"]))
    with pytest.raises(ValidationError) as err:
        _isolation.plan_bridge(Plan(), None, dict(spec, ipv6=False), None, {}, read=reader({}))
    assert "addresses=" in str(err.value) and "ipv6=false" in str(err.value)


def _nat_host(foreign_isolated=False, nf_call=0):
    return state(None, [LO, lk(2, "br0", kind="bridge", nf_call=nf_call),
                        lk(3, "vc0", master=2, alias="netplumb", isolated=False),
                        lk(4, "vc1", master=2, alias="netplumb", isolated=True),
                        lk(5, "fx0", master=2, alias="netplumb2", isolated=foreign_isolated),
                        lk(6, "vz0", master=None, alias="netplumb")])


def test_nat_icc_false_isolates_our_ports_only_and_first():
    p = Plan()
    p.add(_links.op_up(None, None, "br0"))
    host = _nat_host(foreign_isolated=True)
    _isolation.plan_nat(p, None, host, dict(bridge="br0", icc=False, state="present"),
                        read=reader({"/proc/sys/net/bridge/bridge-nf-call-iptables": "0"}))
    assert p.commands == ["ip link set vc0 type bridge_slave isolated on", "ip link set br0 up"]
    assert p.before["isolated_ports"] == ["vc1"] and p.after["isolated_ports"] == ["vc0", "vc1"]
    p = Plan()
    _isolation.plan_nat(p, None, host, dict(bridge="br0", icc=True, state="present"), read=reader({}))
    assert p.commands == ["ip link set vc1 type bridge_slave isolated off"]
    p = Plan()
    _isolation.plan_nat(p, None, host, dict(bridge="br0", icc=False, state="absent"), read=reader({}))
    assert p.commands == [] and p.before == {}


@pytest.mark.parametrize("global_value, attr, refused", [
    ("0", 0, True), (None, 0, True), ("1", 0, False), ("0", 1, False)])
def test_nat_refuses_when_a_foreign_open_port_depends_on_br_netfilter(global_value, attr, refused):
    host = _nat_host(foreign_isolated=False, nf_call=attr)
    values = {} if global_value is None else {"/proc/sys/net/bridge/bridge-nf-call-iptables": global_value}
    spec = dict(bridge="br0", icc=False, state="present")
    if refused:
        with pytest.raises(StateError) as err:
            _isolation.plan_nat(Plan(), None, host, spec, read=reader(values))
        for needle in ("bridge br0", "fx0", "net.bridge.bridge-nf-call-iptables=%s" % (global_value or "absent"),
                       "nf_call_iptables=true", "isolated on"):
            assert needle in str(err.value)
    else:
        p = Plan()
        _isolation.plan_nat(p, None, host, spec, read=reader(values))
        assert any("hairpin" in w for w in p.warnings)      # br_netfilter on: said, not silent
    # icc=true never depends on br_netfilter
    _isolation.plan_nat(Plan(), None, host, dict(spec, icc=True), read=reader(values))
