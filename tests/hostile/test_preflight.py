"""Never cut the host off: input touching the host's addresses, routes or uplink is refused before any
change, in check mode and in real mode, naming the field and the value (docs/safety.md)."""
import socket

import pytest

from hosts import UnnamedNs, bridged_uplink, lxc_uplink, sh, snapshot

pytestmark = pytest.mark.category("preflight")

MODES = pytest.mark.parametrize("check", [True, False], ids=["check", "real"])


@pytest.fixture
def lxc(sandbox):
    """The sandbox as an LXC container: uplink eth0 192.0.2.10/24 (a veth to an unnamed namespace), default via
    192.0.2.1, a static route 10.0.0.0/8 and a policy-table route 100.64.0.0/10; our bridge br0 at
    172.18.0.1/16."""
    un = UnnamedNs()
    try:
        lxc_uplink(un)
        sh("ip route add 10.0.0.0/8 via 192.0.2.1 dev eth0")
        sh("ip route add 100.64.0.0/10 via 192.0.2.1 dev eth0 table 100")
        sh("ip link add br0 type bridge && ip link set br0 alias netplumb && ip addr add 172.18.0.1/16 dev br0 "
           "&& ip link set br0 up")
        yield un
    finally:
        un.close()


def refused(run, module, args, check, *parts):
    before = snapshot()
    res = run(module, args, check=check)
    assert res.get("failed"), res
    for part in parts:
        assert part in res["msg"], (part, res["msg"])
    assert res["changed"] is False and res["commands"] == [], res
    assert snapshot() == before, "a refused call changed the host"
    return res


def nat(bridge, subnet, **kw):
    return dict(dict(bridge=bridge, subnet=subnet), **kw)


@MODES
@pytest.mark.parametrize("subnet, hit", [
    ("192.0.2.0/24", "192.0.2.10/24, an address of the host on eth0"),
    ("192.0.2.128/25", "192.0.2.10/24, an address of the host on eth0"),
    ("128.0.0.0/1", "192.0.2.10/24, an address of the host on eth0"),
    ("10.20.0.0/16", "route 10.0.0.0/8 via 192.0.2.1 dev eth0"),
    ("100.64.1.0/24", "route 100.64.0.0/10 via 192.0.2.1 dev eth0 table 100"),
    ("172.18.0.0/24", "172.18.0.1/16, an address of the host on br0"),
])
def test_container_nat_subnet_touching_the_host(lxc, run, check, subnet, hit):
    refused(run, "container_nat", nat("br1", subnet), check, "subnet=%s" % subnet, hit)


@MODES
def test_container_nat_subnet_holding_the_gateway(sandbox, run, check):
    """A /32 uplink address with its gateway on-link elsewhere: only the gateway collides."""
    un = UnnamedNs()
    try:
        sh("ip link add eth0 type veth peer name up0 && ip link set up0 netns %d" % un.proc.pid)
        sh("ip addr add 203.0.113.7/32 dev eth0 && ip link set eth0 up")
        sh("ip route add 198.51.100.1/32 dev eth0 && ip route add default via 198.51.100.1 dev eth0")
        sh("ip link add br0 type bridge && ip link set br0 up")
        refused(run, "container_nat", nat("br0", "198.51.100.0/24"), check, "subnet=198.51.100.0/24",
                "default gateway 198.51.100.1")
    finally:
        un.close()


@MODES
@pytest.mark.parametrize("bridge, hit", [("eth0", "eth0 is the host's uplink"), ("lo", "kind loopback")])
def test_container_nat_on_the_uplink_or_a_non_bridge(lxc, run, check, bridge, hit):
    refused(run, "container_nat", nat(bridge, "10.99.0.0/24" if bridge == "lo" else "172.30.0.0/16"), check,
            "bridge=%s" % bridge, hit)


@MODES
def test_container_nat_on_a_bridge_carrying_the_uplink(sandbox, run, check):
    un = UnnamedNs()
    try:
        bridged_uplink(un)
        refused(run, "container_nat", nat("br-up", "172.30.0.0/16"), check, "bridge=br-up",
                "br-up is the host's uplink")
    finally:
        un.close()


def test_container_nat_needs_its_bridge_in_real_mode(lxc, run):
    """{bridge: br9, subnet: 172.30.0.0/16} with no br9: check mode predicts with a warning, real mode refuses."""
    check = run("container_nat", nat("br9", "172.30.0.0/16"), check=True)
    assert not check.get("failed") and check["changed"] and any("br9" in w for w in check["warnings"]), check
    refused(run, "container_nat", nat("br9", "172.30.0.0/16"), False, "bridge=br9: no such bridge")


@MODES
@pytest.mark.parametrize("host_ip", ["192.0.2.99", "198.51.100.7"])
def test_port_publish_host_ip_not_of_this_host(lxc, run, check, host_ip):
    refused(run, "port_publish", dict(host_port=8080, container_ip="172.18.0.10", container_port=80,
                                      host_ip=host_ip, bridge="br0"), check, "host_ip=%s" % host_ip,
            "no address of this host")


@MODES
def test_port_publish_batch_names_the_item(lxc, run, check):
    refused(run, "port_publish", dict(bridge="br0", ports=[
        dict(host_port=8080, container_ip="172.18.0.10"),
        dict(host_port=8081, container_ip="172.18.0.10", host_ip="203.0.113.1")]), check, "ports[1].host_ip=203.0.113.1")


@MODES
def test_port_publish_on_the_uplink_as_bridge(lxc, run, check):
    refused(run, "port_publish", dict(host_port=8080, container_ip="192.0.2.20", bridge="eth0"), check,
            "bridge=eth0: eth0 is the host's uplink")


@MODES
def test_port_publish_port_bound_by_a_local_listener(lxc, run, check):
    s = socket.socket()
    try:
        s.bind(("192.0.2.10", 0))
        s.listen(1)
        port = s.getsockname()[1]
        refused(run, "port_publish", dict(host_port=port, container_ip="172.18.0.10", bridge="br0"), check,
                "tcp/%d" % port, "bound by a local listener on 192.0.2.10")
    finally:
        s.close()


def test_a_safe_network_next_to_the_uplink_is_accepted(lxc, run):
    """The positive control: the same host takes a subnet that touches nothing of it."""
    res = run("container_nat", nat("br0", "172.18.0.0/16"))
    assert not res.get("failed") and res["changed"], res


@MODES
@pytest.mark.parametrize("address, hit", [
    ("192.0.2.1/24", "192.0.2.10/24, an address of the host on eth0"),
    ("10.1.0.1/16", "route 10.0.0.0/8 via 192.0.2.1 dev eth0"),
])
def test_linux_bridge_address_touching_the_host(lxc, run, check, address, hit):
    refused(run, "linux_bridge", dict(name="br1", addresses=[address]), check, "addresses[0]=", hit)


@MODES
def test_linux_bridge_of_ours_that_carries_the_default_route(lxc, run, check):
    """Someone routed the host's default via our bridge: it is the uplink now, never ours to change."""
    sh("ip route replace default via 172.18.0.254 dev br0")
    refused(run, "linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"], mtu=1400), check, "name=br0",
            "br0 is the host's uplink")


@MODES
def test_veth_pair_host_end_address_touching_the_host(lxc, run, check):
    refused(run, "veth_pair", dict(name="vx0", peer="vx1", addresses=["192.0.2.77/24"]), check,
            "addresses[0]=192.0.2.0/24", "192.0.2.10/24, an address of the host on eth0")


@MODES
def test_veth_pair_onto_the_uplink_bridge(lxc, run, check):
    """Our own bridge, after someone routed the host's default via it: no new port on it."""
    sh("ip route replace default via 172.18.0.254 dev br0")
    refused(run, "veth_pair", dict(pairs=[dict(name="vx0", peer="vx1", bridge="br0")]), check,
            "pairs[0].bridge=br0", "br0 is the host's uplink")
