"""Never cut the host off: input touching the host's addresses, routes or uplink is refused before any
change, in check mode and in real mode, naming the field and the value (docs/safety.md)."""
import socket

import pytest

from hosts import (UnnamedNs, bridged_uplink, lxc_uplink, multipath_uplink, nexthop_uplink, peer_up, sh,
                   snapshot, wait_carrier)

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
    ("192.0.2.0/23", "192.0.2.10/24, an address of the host on eth0"),
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
        dict(host_port=8081, container_ip="172.18.0.10", host_ip="203.0.113.1")]), check,
        "ports[1].host_ip=203.0.113.1")


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


# --- routes of every type, in every table -----------------------------------------------------------------
@MODES
@pytest.mark.parametrize("route, subnet, hit", [
    ("blackhole 172.21.0.0/16", "172.21.4.0/24", "overlaps the host's blackhole route 172.21.0.0/16"),
    ("unreachable 172.22.0.0/16 table 100", "172.22.0.0/16",
     "overlaps the host's unreachable route 172.22.0.0/16 table 100"),
    ("prohibit 172.23.0.0/24", "172.23.0.0/16", "overlaps the host's prohibit route 172.23.0.0/24"),
    ("throw 172.24.0.0/16 table 200", "172.24.1.0/24", "overlaps the host's throw route 172.24.0.0/16 table 200"),
], ids=["blackhole", "unreachable", "prohibit", "throw"])
def test_subnet_inside_a_route_of_another_type(lxc, run, check, route, subnet, hit):
    sh("ip route add %s" % route)
    refused(run, "container_nat", nat("br1", subnet), check, "subnet=%s" % subnet, hit)
    refused(run, "linux_bridge", dict(name="br1", addresses=[subnet.replace(".0/", ".1/")]), check, hit)


# --- default routes through nexthop objects, multipath ----------------------------------------------------
@pytest.fixture(params=[0, 1], ids=["compat0", "compat1"])
def nexthop_host(sandbox, request):
    un = UnnamedNs()
    try:
        nexthop_uplink(un, addr="203.0.113.7/32", gateway="198.51.100.1", compat=request.param)
        yield un
    finally:
        un.close()


@MODES
def test_subnet_holding_a_gateway_reached_through_a_nexthop(nexthop_host, run, check):
    refused(run, "container_nat", nat("br1", "198.51.100.0/24"), check, "subnet=198.51.100.0/24",
            "default gateway 198.51.100.1", "nhid 10")


@MODES
@pytest.mark.parametrize("module", ["container_nat", "port_publish"])
def test_bridged_uplink_through_a_nexthop_is_no_bridge_of_ours(sandbox, run, check, module):
    """br-up carries the default route only through nexthop object 10 (compat mode 0)."""
    un = UnnamedNs()
    try:
        sh("sysctl -qw net.ipv4.nexthop_compat_mode=0")
        sh("ip link add eth0 type veth peer name up0 && ip link set up0 netns %d" % un.proc.pid)
        peer_up(un, "up0")
        sh("ip link add br-up type bridge && ip link set eth0 master br-up && ip link set eth0 up")
        sh("ip addr add 192.0.2.10/24 dev br-up && ip link set br-up up")
        wait_carrier("br-up")   # the bridge's carrier follows its port's, after the commands return
        sh("ip nexthop add id 10 via 192.0.2.1 dev br-up && ip route add default nhid 10")
        args = nat("br-up", "172.30.0.0/16") if module == "container_nat" else dict(
            host_port=8080, container_ip="172.30.0.10", bridge="br-up")
        refused(run, module, args, check, "bridge=br-up", "br-up is the host's uplink", "nhid 10")
    finally:
        un.close()


@MODES
def test_every_hop_of_a_multipath_default_is_an_uplink(sandbox, run, check):
    un = UnnamedNs()
    try:
        multipath_uplink(un)
        refused(run, "container_nat", nat("eth1", "172.30.0.0/16"), check, "bridge=eth1", "eth1 is the host's uplink")
        refused(run, "container_nat", nat("br1", "198.51.100.0/25"), check, "198.51.100.10/24")
    finally:
        un.close()


# --- special-purpose ranges (docs/safety.md, section 2) ---------------------------------------------------
@MODES
@pytest.mark.parametrize("subnet, hit", [
    ("169.254.0.0/16", "169.254.0.0/16 (link-local)"),
    ("255.255.255.0/24", "255.255.255.255/32 (limited broadcast)"),
    ("224.0.0.0/4", "224.0.0.0/4 (multicast)"),
    ("0.0.0.0/8", "0.0.0.0/8 (this network)"),
    ("240.0.0.0/24", "240.0.0.0/4 (reserved)"),
    ("192.0.0.0/24", "192.0.0.0/24 (IETF protocol assignments)"),
    ("172.30.0.0/31", "/30 at most"),
    ("172.30.0.4/32", "/30 at most"),
])
def test_container_nat_special_subnet(lxc, run, check, subnet, hit):
    refused(run, "container_nat", nat("br0", subnet), check, "subnet=", subnet, hit)


@MODES
@pytest.mark.parametrize("address, hit", [
    ("169.254.1.1/16", "169.254.0.0/16 (link-local)"),
    ("0.0.0.1/8", "0.0.0.0/8 (this network)"),
    ("fe80::1/64", "fe80::/10 (link-local)"),
])
def test_linux_bridge_special_address(lxc, run, check, address, hit):
    refused(run, "linux_bridge", dict(name="br1", addresses=[address]), check, "addresses[0]=%s" % address, hit)


def range_warnings(res):
    return [w for w in res["warnings"] if "special-purpose" in w or "public address space" in w]


def test_documentation_and_benchmarking_ranges_are_taken_without_a_word(sandbox, run):
    for i, net in enumerate(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"]):
        gw = net.rsplit(".", 1)[0] + ".1/" + net.split("/")[1]
        res = run("linux_bridge", dict(name="brd%d" % i, addresses=[gw]))
        assert not res.get("failed") and res["changed"] and not range_warnings(res), res
        res = run("container_nat", nat("brd%d" % i, net))
        assert not res.get("failed") and not range_warnings(res), res


def test_shared_address_space_and_public_subnets_warn(sandbox, run):
    for name, addr, net, hit in (("brs", "100.64.0.1/24", "100.64.0.0/24", "100.64.0.0/10 (shared address space)"),
                                 ("brp", "11.0.0.1/24", "11.0.0.0/24", "public address space")):
        res = run("linux_bridge", dict(name=name, addresses=[addr]))
        assert not res.get("failed") and any(hit in w for w in res["warnings"]), res
        res = run("container_nat", nat(name, net))
        assert not res.get("failed") and any(hit in w for w in res["warnings"]), res


@MODES
def test_container_nat_subnet_is_the_bridges_own_network(lxc, run, check):
    refused(run, "container_nat", nat("br0", "172.30.0.0/16"), check, "subnet=172.30.0.0/16",
            "not the network of bridge br0", "172.18.0.1/16")


# --- names and Docker's bridge (issue 14, item 9) ---------------------------------------------------------
@MODES
@pytest.mark.parametrize("module, args, field", [
    ("linux_bridge", dict(name="-br0"), "name='-br0'"),
    ("veth_pair", dict(name="-v0", peer="v1"), "name='-v0'"),
    ("veth_pair", dict(name="v0", peer="-v1"), "peer='-v1'"),
    ("netns", dict(name=["-n"]), "name[0]='-n'"),
    ("container_nat", dict(bridge="-br", subnet="172.30.0.0/16"), "bridge='-br'"),
])
def test_names_starting_with_a_dash(sandbox, run, check, module, args, field):
    refused(run, module, args, check, field, "may not start with '-'")


@MODES
def test_icc_false_on_dockers_own_bridge_is_refused(sandbox, run, check):
    """docker0 as Docker leaves it: unmarked, 172.17.0.1/16, Docker's ACCEPT of docker0 to docker0."""
    sh("ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up")
    sh("iptables -A FORWARD -i docker0 -o docker0 -j ACCEPT")
    refused(run, "container_nat", nat("docker0", "172.17.0.0/16", icc=False), check, "icc=false", "docker0",
            "silent no-op", "-A FORWARD -i docker0 -o docker0 -j ACCEPT")
