"""container_network: every network of a host in one module call, against the real kernel in a sandbox.

The cycle (check+diff -> real -> idempotent re-run) with check == real exactly (commands and diff, the
firewall rules included: the run's firewall state is carried from call to call in check mode), zero writes
on the re-run, real packets through the result, pruning, removal back to the empty host, and refusals of
one network that leave every other network's objects unwritten.
"""
import pytest

from helpers.converge import changes, existing_ns
from helpers.kernel import Monitor, dump, ip_json
from helpers_fw import Servers, http_get, save, sh

UPLINK = dict(name="up0", peer="eth0", peer_netns="out", addresses=["192.0.2.1/24"],
              peer_addresses=["192.0.2.2/24"])


def networks(k=3, publish=True, extra=()):
    conts = [dict(name="c%d" % i, address="172.18.0.%d" % (10 + i),
                  publish=["%d:8000" % (10000 + i)] if publish else []) for i in range(k)]
    return [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=conts)] + list(extra)


def cycle(run, nets, **extra):
    """check+diff, real, re-run; returns the real result. Asserts check == real and a zero-write re-run."""
    ns_before = existing_ns()
    state_before, rules_before = dump(ns_before), save()
    check = run("container_network", dict(networks=nets, **extra), check=True)
    assert not check.get("failed"), check.get("msg")
    assert existing_ns() == ns_before and dump(ns_before) == state_before and save() == rules_before, \
        "check mode wrote"
    real = run("container_network", dict(networks=nets, **extra))
    assert not real.get("failed"), real.get("msg")
    assert real["changed"] == check["changed"]
    assert real["commands"] == check["commands"], changes(check["commands"], real["commands"])
    assert real["diff"] == check["diff"]
    assert real["calls"] == check["calls"]
    namespaces = existing_ns()
    mon = Monitor(namespaces)
    try:
        state, rules = dump(namespaces), save()
        again = run("container_network", dict(networks=nets, **extra))
        assert not again.get("failed"), again.get("msg")
        assert (again["changed"], again["commands"]) == (False, [])
        assert mon.events() == 0, "the re-run wrote to the kernel"
        assert dump(namespaces) == state and save() == rules
        again_check = run("container_network", dict(networks=nets, **extra), check=True)
        assert (again_check["changed"], again_check["commands"]) == (False, [])
    finally:
        mon.close()
    return real


@pytest.mark.deb
def test_fresh_host_converges_in_one_call_with_exact_check_mode(sandbox, run):
    real = cycle(run, networks(3))
    assert real["changed"]
    modules = [c["module"] for c in real["calls"]]
    assert modules == ["linux_bridge", "netns", "veth_pair", "container_nat", "port_publish"]
    assert all(c["label"] == "networks[0] (web)" for c in real["calls"])
    diff = real["diff"]
    assert [d["before_header"] for d in diff] == ["networks[0] (web) %s" % m for m in modules]
    assert diff[0]["prepared"].startswith("ip link add br0 type bridge")
    assert sorted(existing_ns()) == ["c0", "c1", "c2"]
    assert [lk["ifname"] for lk in ip_json("link", "show", "master", "br0")] == ["vn-c0", "vn-c1", "vn-c2"]
    assert "networks" not in real      # the filter has it on the controller; a result that size costs time
    failed = run("container_network", dict(networks=[dict(networks(1)[0], gateway="10.0.0.1")]))
    # a failure says what failed, once: its errors, not a dump of every network (the filter has them)
    assert failed.get("failed") and "networks" not in failed and failed["errors"], failed
    assert all(e in failed["msg"] for e in failed["errors"]) and failed["changed"] is False


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_packets_egress_masqueraded_and_published_ports(sandbox, run, backend):
    """Once per firewall backend: the one-call converge's check mode names exactly the real run's commands."""
    assert not run("netns", dict(name=["out"])).get("failed")
    assert not run("veth_pair", dict(pairs=[UPLINK])).get("failed")
    sh("ip", "route", "add", "default", "via", "192.0.2.2")
    real = cycle(run, networks(2), firewall_backend=backend)
    assert any(c.startswith("nft ") for c in real["commands"]) == (backend == "nftables")
    assert any(c.startswith("iptables ") for c in real["commands"]) == (backend == "iptables")
    servers = Servers()
    try:
        servers.start("out", "192.0.2.2", 8080)
        servers.start("c1", "172.18.0.11", 8000)
        # egress: the neighbour sees the host's address, not the container's
        assert http_get("c0", "192.0.2.2", 8080) == "192.0.2.1"
        # published: from outside through the host's address to c1 (port 10001 -> 8000)
        assert http_get("out", "192.0.2.1", 10001) == "192.0.2.2"
        # negative control: an unpublished port is not reachable
        assert http_get("out", "192.0.2.1", 10005, timeout=2) is None
    finally:
        servers.close()


def test_containers_dropped_from_the_list_are_pruned_with_their_namespace(sandbox, run):
    cycle(run, networks(4))
    real = cycle(run, networks(2))
    assert sorted(p["name"] for p in real["pruned"]) == ["vn-c2", "vn-c3"]
    assert sorted(existing_ns()) == ["c0", "c1"]
    assert "tcp/10003" not in save()
    assert [c["module"] for c in real["calls"]].count("netns") == 2     # declared ones, then the pruned ones


@pytest.mark.deb
def test_absent_takes_everything_back_to_the_empty_host(sandbox, run):
    before, rules = dump(), save()
    cycle(run, networks(3))
    gone = networks(3)
    gone[0]["state"] = "absent"
    cycle(run, gone)
    assert existing_ns() == []
    assert dump() == before
    assert rules == "" or "NETPLUMB" not in rules
    assert "NETPLUMB" not in save()


@pytest.mark.deb
def test_two_networks_and_a_move_between_them(sandbox, run):
    other = dict(name="api", bridge="br1", subnet="172.19.0.0/16",
                 containers=[dict(name="a0", address="172.19.0.10", publish=["127.0.0.1:10000:80"])])
    cycle(run, networks(2, extra=[other]))
    moved = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
        dict(name="c0", address="172.18.0.10")]),
        dict(other, containers=other["containers"] + [dict(name="c1", address="172.19.0.11")])]
    cycle(run, moved)
    assert sorted(lk["ifname"] for lk in ip_json("link", "show", "master", "br1")) == ["vn-a0", "vn-c1"]
    assert ip_json("addr", "show", "eth0", ns="c1")[0]["addr_info"][0]["local"] == "172.19.0.11"


@pytest.mark.parametrize("check", [True, False])
def test_one_bad_network_refuses_the_whole_run_before_any_write(sandbox, run, check):
    sh("ip", "link", "add", "br9", "type", "bridge")       # someone else's bridge
    before, rules, ns = dump(), save(), existing_ns()
    nets = networks(2, extra=[dict(name="theirs", bridge="br9", subnet="172.20.0.0/16",
                                   containers=[dict(name="t0", address="172.20.0.2")])])
    res = run("container_network", dict(networks=nets), check=check)
    assert res.get("failed") and "br9" in res["msg"] and "networks[1] (theirs)" in res["msg"]
    assert "refused" in res["msg"] and res["changed"] is False
    assert dump() == before and save() == rules and existing_ns() == ns    # not even network 0 was written


def test_invalid_input_all_at_once_with_paths_before_reading_anything(sandbox, run):
    nets = [dict(name="w", subnet="10.0.0.0/24", containers=[
        dict(name="a", address="10.0.1.5"), dict(name="b", address="10.0.0.6", publish=["70000:80"])])]
    res = run("container_network", dict(networks=nets))
    assert res.get("failed") and len(res["errors"]) == 2
    assert res["errors"][0].startswith("networks[0].containers[0].address='10.0.1.5'")
    assert res["errors"][1].startswith("networks[0].containers[1].publish[0]='70000:80'")


def test_subnet_on_the_host_s_own_address_is_refused(sandbox, run):
    sh("ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p")
    sh("ip", "addr", "add", "172.18.5.1/24", "dev", "eth9")
    before = dump()
    res = run("container_network", dict(networks=networks(1)), check=True)
    assert res.get("failed") and "172.18.5.1" in res["msg"], res.get("msg")
    assert dump() == before


def test_one_invocation_whatever_the_number_of_networks(sandbox, run):
    """Counted, not timed: five networks of containers are one module call, with 5 steps per network."""
    nets = [dict(name="n%d" % j, subnet="10.%d.0.0/24" % (50 + j),
                 containers=[dict(name="n%dc%d" % (j, i), address="10.%d.0.%d" % (50 + j, 10 + i)) for i in range(3)])
            for j in range(5)]
    res = run("container_network", dict(networks=nets))
    assert not res.get("failed"), res.get("msg")
    assert len(res["calls"]) == 25 and len(existing_ns()) == 15


def test_without_diff_the_applied_plans_are_let_go_and_the_result_is_the_same(sandbox, run):
    predicted = run("container_network", dict(networks=networks(2)), check=True, diff=False)
    real = run("container_network", dict(networks=networks(2)), diff=False)
    assert "diff" not in real and "diff" not in predicted
    assert real["changed"] and real["commands"] == predicted["commands"] and real["calls"] == predicted["calls"]
    again = run("container_network", dict(networks=networks(2)), diff=False)
    assert (again["changed"], again["commands"]) == (False, [])
