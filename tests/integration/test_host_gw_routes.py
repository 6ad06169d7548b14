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


def test_cycle_and_marks(host, run):
    res = converge(run, "host_gw_routes", dict(routes=ROUTES))
    assert res["commands"] == ["ip route replace 10.244.12.0/24 via 192.0.2.12 proto 151",
                               "ip route replace 10.244.13.0/24 via 192.0.2.13 proto 151"]
    assert ours() == ["10.244.12.0/24 via 192.0.2.12 dev up0", "10.244.13.0/24 via 192.0.2.13 dev up0"]
    assert res["diff"]["before"]["routes"] == [] and len(res["diff"]["after"]["routes"]) == 2


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
    before = sh("ip", "route", "show", "table", "all").stdout
    for check in (True, False):
        res = run("host_gw_routes", dict(routes=routes), check=check)
        assert res.get("failed") and res["msg"].startswith(field + "=") and needle in res["msg"], res
        assert res["commands"] == []
    assert sh("ip", "route", "show", "table", "all").stdout == before
