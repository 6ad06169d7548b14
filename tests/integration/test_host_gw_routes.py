"""host_gw_routes in the sandbox: up0 (192.0.2.11/24) is this host's underlay, peers are addresses on it."""
import pytest

from helpers.converge import converge
from helpers_fw import sh

ROUTES = [dict(subnet="10.244.12.0/24", via="192.0.2.12"), dict(subnet="10.244.13.0/24", via="192.0.2.13")]


def ours():
    out = sh("ip", "-4", "route", "show", "proto", "151").stdout.split("\n")
    return sorted(line.strip() for line in out if line.strip())


@pytest.fixture
def host(sandbox):
    sh("ip", "netns", "add", "peer")
    sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "peer")
    sh("ip", "addr", "add", "192.0.2.11/24", "dev", "up0")
    sh("ip", "link", "set", "up0", "up")
    sh("ip", "link", "set", "eth0", "up", ns="peer")
    return sandbox


@pytest.mark.deb
def test_cycle_and_marks(host, run):
    res = converge(run, "host_gw_routes", dict(routes=ROUTES))
    assert res["commands"] == ["ip route replace 10.244.12.0/24 via 192.0.2.12 proto 151",
                               "ip route replace 10.244.13.0/24 via 192.0.2.13 proto 151"]
    assert ours() == ["10.244.12.0/24 via 192.0.2.12 dev up0", "10.244.13.0/24 via 192.0.2.13 dev up0"]
    assert res["diff"]["before"]["routes"] == [] and len(res["diff"]["after"]["routes"]) == 2


@pytest.mark.deb
def test_host_left_the_inventory_pruned_foreign_kept(host, run):
    sh("ip", "route", "add", "10.99.0.0/16", "via", "192.0.2.50")
    run("host_gw_routes", dict(routes=ROUTES))
    res = converge(run, "host_gw_routes", dict(routes=ROUTES[:1], prune=True))
    assert res["commands"] == ["ip route del 10.244.13.0/24 via 192.0.2.13 proto 151"]
    assert ours() == ["10.244.12.0/24 via 192.0.2.12 dev up0"]
    assert "10.99.0.0/16 via 192.0.2.50 dev up0" in sh("ip", "route").stdout
    # a moved host: its route follows it
    res = converge(run, "host_gw_routes", dict(routes=[dict(subnet="10.244.12.0/24", via="192.0.2.22")], prune=True))
    assert ours() == ["10.244.12.0/24 via 192.0.2.22 dev up0"]


def test_absent_removes_only_listed_ours(host, run):
    run("host_gw_routes", dict(routes=ROUTES))
    res = converge(run, "host_gw_routes", dict(routes=ROUTES[1:], state="absent"))
    assert ours() == ["10.244.12.0/24 via 192.0.2.12 dev up0"]
    assert res["diff"]["after"]["routes"] == ["10.244.12.0/24 via 192.0.2.12 proto 151"]


@pytest.mark.parametrize("routes,field,needle", [
    ([dict(subnet="10.55.0.0/16", via="192.0.2.12")], "routes[0].subnet", "not netplumb's"),
    ([dict(subnet="192.0.2.0/25", via="192.0.2.12")], "routes[0].subnet", "an address of this host"),
    ([dict(subnet="10.244.12.0/24", via="198.51.100.7")], "routes[0].via", "no directly connected network"),
    ([dict(subnet="10.244.12.0/24", via="192.0.2.11")], "routes[0].via", "no directly connected network"),
    ([dict(subnet="10.244.12.1/24", via="192.0.2.12")], "routes[0].subnet", "CIDR"),
    (ROUTES + [dict(subnet="10.244.12.128/25", via="192.0.2.14")], "routes[2].subnet", "overlaps routes[0]"),
])
def test_refused_before_any_change(host, run, routes, field, needle):
    sh("ip", "route", "add", "10.55.0.0/16", "via", "192.0.2.50")

    def table():
        # what the kernel does by itself as a carrier comes up is not ours to compare: a route's linkdown flag, and
        # the IPv6 link-local and multicast routes addrconf adds (late on a loaded machine)
        lines = sh("ip", "route", "show", "table", "all").stdout.replace(" linkdown", "").splitlines()
        return [ln for ln in lines if not (" proto kernel " in ln and ("fe80::/64 " in ln or "ff00::/8 " in ln))]
    before = table()
    for check in (True, False):
        res = run("host_gw_routes", dict(routes=routes), check=check)
        assert res.get("failed") and res["msg"].startswith(field + "=") and needle in res["msg"], res
        assert res["commands"] == []
    assert table() == before


# --- two hosts: the sandbox (A, 192.0.2.11, brA 10.244.1.0/24) and namespace "peer" as host B (192.0.2.12,
# brB 10.244.2.0/24, set up by hand); containers cA (10.244.1.10) and cB (10.244.2.10) --------------------
@pytest.fixture(params=["iptables", "nftables"])
def backend(request):
    return request.param


@pytest.fixture
def fleet(host, run, backend):
    from helpers_fw import Servers
    assert run("linux_bridge", dict(name="brA", addresses=["10.244.1.1/24"]))["changed"]
    assert run("netns", dict(name=["cA", "cB"]))["changed"]
    res = run("veth_pair", dict(pairs=[dict(name="vA", peer="eth0", peer_netns="cA", bridge="brA",
                                            peer_addresses=["10.244.1.10/24"], peer_gateway="10.244.1.1")]))
    assert not res.get("failed"), res
    assert not run("container_nat", dict(bridge="brA", subnet="10.244.1.0/24", firewall_backend=backend)).get("failed")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="peer")
    sh("ip", "addr", "add", "192.0.2.12/24", "dev", "eth0", ns="peer")
    sh("ip", "link", "add", "brB", "type", "bridge", ns="peer")
    sh("ip", "addr", "add", "10.244.2.1/24", "dev", "brB", ns="peer")
    sh("ip", "link", "set", "brB", "up", ns="peer")
    sh("ip", "link", "add", "vB", "type", "veth", "peer", "name", "eth0", "netns", "cB", ns="peer")
    sh("ip", "link", "set", "vB", "master", "brB", "up", ns="peer")
    sh("ip", "addr", "add", "10.244.2.10/24", "dev", "eth0", ns="cB")
    sh("ip", "link", "set", "eth0", "up", ns="cB")
    sh("ip", "link", "set", "lo", "up", ns="cB")
    sh("ip", "route", "add", "default", "via", "10.244.2.1", ns="cB")
    sh("ip", "route", "add", "10.244.1.0/24", "via", "192.0.2.11", ns="peer")
    servers = Servers()
    try:
        servers.start("cA", "0.0.0.0", 8000)
        servers.start("cB", "0.0.0.0", 8000)
        yield servers
    finally:
        servers.close()


HOST_GW_ARGS = dict(routes=[dict(subnet="10.244.2.0/24", via="192.0.2.12")], cluster_cidr="10.244.0.0/16",
                    underlay="up0", networks=[dict(bridge="brA", subnet="10.244.1.0/24")], prune=True)


def test_cross_host_containers_see_each_others_own_address(fleet, run, backend):
    """Once per firewall backend."""
    from helpers_fw import http_get, save
    HOST_GW = dict(HOST_GW_ARGS, firewall_backend=backend)
    # before: A has no route to B's containers; B's containers are dropped by A's raw drop to its containers
    assert http_get("cA", "10.244.2.10", 8000, timeout=0.5) is None
    assert http_get("cB", "10.244.1.10", 8000, timeout=0.5) is None
    before = save()
    check = run("host_gw_routes", HOST_GW, check=True)
    assert save() == before and check["changed"]
    real = run("host_gw_routes", HOST_GW)
    assert (real["commands"], real["diff"]) == (check["commands"], check["diff"])
    assert http_get("cA", "10.244.2.10", 8000) == "10.244.1.10"      # not masqueraded to 192.0.2.11
    assert http_get("cB", "10.244.1.10", 8000) == "10.244.2.10"
    # egress elsewhere is still masqueraded: B's host address (not in the cluster CIDR) sees A's address
    from helpers_fw import Servers
    s = Servers()
    try:
        s.start("peer", "192.0.2.12", 8001)
        assert http_get("cA", "192.0.2.12", 8001) == "192.0.2.11"
    finally:
        s.close()
    again = run("host_gw_routes", HOST_GW)
    assert again["changed"] is False and again["commands"] == []
    # the exemptions come first in their chains
    lines = save().splitlines()
    if backend == "iptables":
        assert [ln for ln in lines if ln.startswith("-A NETPLUMB-PREROUTING")][0].startswith(
            "-A NETPLUMB-PREROUTING -s 10.244.0.0/16 -d 10.244.1.0/24 -i up0")
        assert [ln for ln in lines if ln.startswith("-A NETPLUMB-POSTROUTING")][0].startswith(
            "-A NETPLUMB-POSTROUTING -s 10.244.1.0/24 -d 10.244.0.0/16 -o up0")
    else:
        for chain, first in (("prerouting-raw", 'ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 iifname "up0" return'),
                             ("postrouting-nat", 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 oifname "up0" return')):
            rules = [ln.strip() for ln in sh("nft", "list", "chain", "inet", "netplumb", chain).stdout.splitlines()
                     if "comment" in ln]
            assert rules[0].startswith(first), rules
    # the host leaves: its route and our exemptions go, container_nat's rules stay
    res = run("host_gw_routes", dict(routes=[], prune=True, firewall_backend=backend))
    assert res["changed"] and ours() == []
    assert not [ln for ln in save().splitlines() if "netplumb:fleet/" in ln]
    assert [ln for ln in save().splitlines() if "netplumb:brA" in ln]
    assert http_get("cB", "10.244.1.10", 8000, timeout=0.5) is None


def test_network_outside_cluster_refused(host, run):
    res = run("host_gw_routes", dict(HOST_GW_ARGS, networks=[dict(bridge="brA", subnet="172.18.0.0/16")]), check=True)
    assert res.get("failed") and res["msg"].startswith("networks[0].subnet="), res
