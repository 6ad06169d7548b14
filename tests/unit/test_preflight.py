"""Host-safety preflight on recorded host states: what would cut the host off is refused, naming the field,
the value and what it collides with; the network's own bridge and routes of ours never collide."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _hostmodel, _preflight
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError

from fakes import FakeNetlink, link, state

NET = ipaddress.ip_network


def lxc_host(routes=None, extra_links=(), extra_addrs=None):
    """A host whose uplink eth0 (192.0.2.10/24, default via 192.0.2.1) is a veth to an unnamed namespace, with
    our bridge br0 (172.18.0.1/16)."""
    links = [link(1, "lo", kind=None), link(2, "eth0", peer_index=7, peer_netnsid=0),
             link(5, "br0", kind="bridge", alias="netplumb")] + list(extra_links)
    addrs = {1: ["127.0.0.1/8"], 2: ["192.0.2.10/24"], 5: ["172.18.0.1/16"]}
    addrs.update(extra_addrs or {})
    fake = FakeNetlink({None: state(None, links, addrs, {4: "192.0.2.1"})}, routes=routes)
    # the default route's device: eth0
    fake.routes.append(("default", "eth0", "192.0.2.1", 4))
    return fake


def facts(fake):
    return _preflight.read_host(fake)


@pytest.mark.parametrize("subnet, hit", [
    ("192.0.2.0/24", "192.0.2.10/24"),          # the uplink's own subnet
    ("192.0.2.0/28", "192.0.2.10/24"),          # inside it
    ("192.0.0.0/16", "192.0.2.10/24"),          # around it
    ("128.0.0.0/1", "192.0.2.10/24"),           # half the internet
    ("127.0.0.0/16", "127.0.0.1/8"),            # loopback
])
def test_subnet_touching_a_host_address_is_refused(subnet, hit):
    with pytest.raises(_preflight.HostSafetyError) as err:
        _preflight.check_subnet("subnet", NET(subnet), facts(lxc_host()), bridge="br9")
    msg = str(err.value)
    assert msg.startswith("subnet=%s:" % subnet) and hit in msg and "host safety" in msg


def test_subnet_holding_the_default_gateway_is_refused():
    # a /32 uplink address with an on-link gateway elsewhere: only the gateway collides
    fake = FakeNetlink({None: state(None, [link(1, "lo", kind=None), link(2, "eth0")],
                                    {2: ["203.0.113.7/32"]}, {4: "198.51.100.1"})},
                       routes=[("198.51.100.1/32", "eth0", None, 3), ("default", "eth0", "198.51.100.1", 3)])
    with pytest.raises(_preflight.HostSafetyError, match="default gateway 198.51.100.1"):
        _preflight.check_subnet("subnet", NET("198.51.100.0/30"), facts(fake), bridge="br0")


def test_subnet_over_a_foreign_static_route_is_refused():
    fake = lxc_host(routes=[("10.0.0.0/8", "eth0", "192.0.2.1", 4)])
    with pytest.raises(_preflight.HostSafetyError, match=r"route 10.0.0.0/8 via 192.0.2.1 dev eth0"):
        _preflight.check_subnet("subnet", NET("10.20.0.0/16"), facts(fake), bridge="br0")


def test_routes_of_ours_and_the_own_bridge_do_not_collide():
    fake = lxc_host(routes=[("10.244.1.0/24", "eth0", "192.0.2.11", 151)])
    f = facts(fake)
    _preflight.check_subnet("subnet", NET("10.244.0.0/16"), f, bridge="br1")       # route proto 151: ours
    _preflight.check_subnet("subnet", NET("172.18.0.0/16"), f, bridge="br0")       # br0's own address/route


def test_another_bridge_address_collides():
    with pytest.raises(_preflight.HostSafetyError, match="172.18.0.1/16, an address of the host on br0"):
        _preflight.check_subnet("subnet", NET("172.18.5.0/24"), facts(lxc_host()), bridge="br1")


def test_uplink_and_its_bridge_are_refused():
    f = facts(lxc_host())
    with pytest.raises(_preflight.HostSafetyError, match="eth0 is the host's uplink"):
        _preflight.check_bridge("bridge", "eth0", f)
    up = lxc_host(extra_links=[link(9, "br-up", kind="bridge")])
    up.states[None].links["eth0"].master = 9
    with pytest.raises(_preflight.HostSafetyError, match="port eth0 carries the default route"):
        _preflight.check_bridge("bridge", "br-up", facts(up))


def test_not_a_bridge_and_missing_bridge():
    f = facts(lxc_host(extra_links=[link(11, "veth7")]))
    with pytest.raises(_preflight.HostSafetyError, match="kind veth, not a bridge"):
        _preflight.check_bridge("bridge", "veth7", f)
    with pytest.raises(StateError, match="no such bridge"):
        _preflight.check_bridge("bridge", "br9", f, must_exist=True)
    _preflight.check_bridge("bridge", "br9", f)         # check mode: an earlier task may create it


def test_host_ip_must_be_local():
    f = facts(lxc_host())
    for ok in ("192.0.2.10", "172.18.0.1", "127.0.0.1", "127.0.0.53"):
        _preflight.check_host_ip("host_ip", ipaddress.ip_address(ok), f)
    with pytest.raises(_preflight.HostSafetyError, match=r"host_ip=192.0.2.99: is no address of this host"):
        _preflight.check_host_ip("host_ip", ipaddress.ip_address("192.0.2.99"), f)


NAT = dict(bridge="br0", subnet="192.0.2.0/24", state="present", masquerade=True, ip_forward=True, isolate=True,
           icc=True, firewall_backend="auto")


class NoDriver:
    """The planner must refuse before it reads the firewall."""
    warnings = []

    def read(self):
        raise AssertionError("the firewall was read before the preflight refused")


@pytest.mark.parametrize("check_mode", [True, False])
def test_container_nat_refuses_before_reading_the_firewall(check_mode):
    with pytest.raises(_preflight.HostSafetyError, match="subnet=192.0.2.0/24"):
        _fwnet.plan_nat(lxc_host(), dict(NAT), driver=NoDriver(), check_mode=check_mode)
    with pytest.raises(_preflight.HostSafetyError, match="bridge=eth0"):
        _fwnet.plan_nat(lxc_host(), dict(NAT, bridge="eth0", subnet="10.9.0.0/24"), driver=NoDriver(),
                        check_mode=check_mode)


def test_container_nat_needs_the_bridge_in_real_mode_only():
    with pytest.raises(StateError, match="bridge=br9: no such bridge"):
        _fwnet.plan_nat(lxc_host(), dict(NAT, bridge="br9", subnet="10.9.0.0/24"), driver=NoDriver())


PUB = dict(state="present", firewall_backend="auto", prune=False, bridge=None, host_port=None, container_ip=None)


class EmptyDriver:
    warnings = []
    backend = "iptables-nft"

    def read(self):
        from ansible_collections.netplumb.container.plugins.module_utils._firewall import Ruleset
        return Ruleset()


@pytest.mark.parametrize("check_mode", [True, False])
def test_port_publish_refuses_a_foreign_host_ip_naming_the_item(check_mode):
    spec = dict(PUB, ports=[dict(host_port=80, container_ip="172.18.0.10"),
                            dict(host_port=81, container_ip="172.18.0.10", host_ip="198.51.100.7")])
    with pytest.raises(_preflight.HostSafetyError, match=r"ports\[1\].host_ip=198.51.100.7"):
        _fwnet.plan_publish(lxc_host(), spec, check_mode, driver=EmptyDriver())


def test_port_publish_refuses_the_uplink_as_bridge():
    spec = dict(PUB, host_port=80, container_ip="192.0.2.20", bridge="eth0")
    with pytest.raises(_preflight.HostSafetyError, match="bridge=eth0: eth0 is the host's uplink"):
        _fwnet.plan_publish(lxc_host(), spec, True, driver=EmptyDriver())


# --- route types, multipath and nexthop objects (the host model's route reader) ---------------------------
class Msg(dict):
    def __init__(self, attrs, **fields):
        super(Msg, self).__init__(fields)
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)


class Hop(Msg):
    def get(self, key, default=None):
        return dict.get(self, key, default)


NAMES = {2: "eth0", 3: "eth1", 4: "br0"}


def records(attrs, nexthops=None, rtype="unicast", table=254, dst_len=0, **fields):
    msg = Msg(attrs, dst_len=dst_len, proto=fields.get("proto", 3))
    return _hostmodel.route_records(msg, 2, table, rtype, nexthops or {}, NAMES.get)


@pytest.mark.parametrize("rtype", ["blackhole", "unreachable", "prohibit", "throw"])
def test_typed_routes_are_read_and_named(rtype):
    (r,) = records({"RTA_DST": "10.99.0.0"}, rtype=rtype, dst_len=16, table=100)
    assert (str(r.dst), r.dev, r.gateway, r.type) == ("10.99.0.0/16", None, None, rtype)
    assert r.describe() == "%s route 10.99.0.0/16 table 100" % rtype


def test_route_types_table_covers_what_the_kernel_dumps():
    assert _hostmodel.ROUTE_TYPES == {1: "unicast", 6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw"}


def test_a_route_naming_only_a_nexthop_resolves_through_it():
    """compat mode 0: the route carries RTA_NH_ID alone; nexthop 12 is a group of 10 (gateway on eth0) and 11
    (eth1, no gateway); 13 is a blackhole."""
    nhs = {10: _hostmodel.Nexthop(10, 2, ipaddress.ip_address("192.0.2.1")), 11: _hostmodel.Nexthop(11, 3),
           12: _hostmodel.Nexthop(12, group=[10, 11]), 13: _hostmodel.Nexthop(13, blackhole=True)}
    rs = records({"RTA_NH_ID": 12}, nhs)
    assert [(r.dev, str(r.gateway) if r.gateway else None, r.nhid) for r in rs] == [
        ("eth0", "192.0.2.1", 12), ("eth1", None, 12)]
    assert rs[0].text() == "default nhid 12 via 192.0.2.1 dev eth0"
    assert [(r.dev, r.gateway) for r in records({"RTA_NH_ID": 13}, nhs)] == [(None, None)]
    assert [(r.dev, r.gateway) for r in records({"RTA_NH_ID": 99}, nhs)] == [(None, None)]    # unknown id


def test_compat_mode_routes_use_their_own_hops():
    hops = [Hop({"RTA_GATEWAY": "192.0.2.1"}, oif=2), Hop({}, oif=3)]
    rs = records({"RTA_NH_ID": 12, "RTA_MULTIPATH": hops})
    assert [(r.dev, str(r.gateway) if r.gateway else None) for r in rs] == [("eth0", "192.0.2.1"), ("eth1", None)]


def test_nexthop_uplinks_gateways_and_ties():
    """default via nexthop 10 (gateway 198.51.100.1 on br0, reached by a route on eth1): br0 carries the
    default route, eth1 the route to the gateway; eth0 is br0's port; a veth twin in this namespace (vt) and a
    macvlan's lower link follow their uplink."""
    from fakes import link, state
    links = [link(1, "lo", kind=None), link(2, "eth0", master=4), link(3, "eth1", peer_index=5),
             link(4, "br0", kind="bridge"), link(5, "vt", peer_index=3), link(6, "other")]
    st = state(None, links)
    nhs = {10: _hostmodel.Nexthop(10, 4, ipaddress.ip_address("198.51.100.1"))}
    routes = records({"RTA_NH_ID": 10}, nhs) + records({"RTA_DST": "198.51.100.0", "RTA_OIF": 3}, dst_len=24)
    f = _preflight.HostFacts(st, [], routes, nhs)
    up = f.uplinks()
    assert sorted(up) == ["br0", "eth0", "eth1", "vt"], up
    assert "default nhid 10 via 198.51.100.1 dev br0" in up["br0"]
    assert "route to the default gateway 198.51.100.1" in up["eth1"]
    with pytest.raises(_preflight.HostSafetyError, match="holds the host's default gateway 198.51.100.1"):
        _preflight.check_subnet("subnet", NET("198.51.100.0/25"), f)
    with pytest.raises(_preflight.HostSafetyError, match="vt is the host's uplink"):
        _preflight.check_uplink("name", "vt", f, "deleted")
    _preflight.check_uplink("name", "other", f, "deleted")
