"""Removal by ownership, attacked: container_network state: absent takes away everything of ours that belongs to
the network, read from the host, and nothing that is not ours.

- A foreign veth plugged into our bridge: our veths, namespaces and rules go, the bridge is kept (a bridge with
  a port that is not ours is never ours to change), with a warning naming the port; the foreign veth, its peer
  and the bridge's address stay exactly as they were; check == real; a re-run changes nothing.
- Our veth leading into a namespace whose mark was taken away: the veth goes, the namespace stays, with a
  warning; the run is not refused.
- The same absent through the role, once; and a network deleted from the role's list: a warning and nothing
  changed without container_network_prune, removed with it (check == real), nothing left to prune after.
"""
import pytest

from helpers.converge import changes, existing_ns
from helpers.kernel import dump, ip_json
from helpers_fw import save, sh
from hosts import role

pytestmark = pytest.mark.category("absent")

WEB = dict(name="web", bridge="br-web", subnet="172.18.0.0/24", containers=[
    dict(name="c0", address="172.18.0.10", publish=["8080:80"]),
    dict(name="c1", address="172.18.0.11", publish=["5353:53/udp"])])
GONE = dict(name="web", bridge="br-web", subnet="172.18.0.0/24", state="absent")


def ours(bridge="br-web"):
    """What of ours could be left: marked veths, namespaces, rules of the bridge's owners."""
    veths = sorted(lk["ifname"] for lk in ip_json("link", "show", "type", "veth") if lk.get("ifalias") == "netplumb")
    rules = [line for line in save().splitlines() if "netplumb:%s" % bridge in line]
    return veths, existing_ns(), rules


def theirs():
    """The foreign veth, its peer and the bridge's addresses. The bridge's own id (its MAC, which the kernel
    derives from the lowest port MAC unless one was set) changes as our ports leave: not a change of theirs."""
    vz = ip_json("link", "show", "vz")
    for key in ("bridge_id", "root_id", "designated_root", "designated_bridge"):
        vz[0]["linkinfo"]["info_slave_data"].pop(key, None)
    return dict(vz=vz, peer=ip_json("link", "show", "vz-peer"), addr=ip_json("addr", "show", "br-web")[0]["addr_info"])


def run_twice(run, nets):
    """check, then real: the same changed/commands/diff; then a re-run with nothing to do."""
    check = run("container_network", dict(networks=nets), check=True)
    assert not check.get("failed"), check.get("msg")
    real = run("container_network", dict(networks=nets))
    assert not real.get("failed"), real.get("msg")
    assert (real["changed"], real["commands"], real["diff"]) == (check["changed"], check["commands"], check["diff"])
    assert real["warnings"] == check["warnings"]
    again = run("container_network", dict(networks=nets))
    assert not again.get("failed") and (again["changed"], again["commands"]) == (False, []), again
    return real, again


def test_a_foreign_veth_on_our_bridge_keeps_the_bridge_with_a_warning(sandbox, run):
    assert not run("container_network", dict(networks=[WEB])).get("failed")
    sh("ip", "link", "add", "vz", "type", "veth", "peer", "name", "vz-peer")
    sh("ip", "link", "set", "vz", "master", "br-web")
    foreign = theirs()
    real, again = run_twice(run, [GONE])
    assert "ip link del br-web" not in real["commands"]
    assert any("bridge br-web is kept" in w and "vz" in w for w in real["warnings"]), real["warnings"]
    assert any("bridge br-web is kept" in w for w in again["warnings"]), again["warnings"]
    assert ours() == ([], [], [])
    assert [lk["ifname"] for lk in ip_json("link", "show", "master", "br-web")] == ["vz"]
    after = theirs()
    assert after == foreign, changes(foreign, after)
    # detached by hand, the next run removes the bridge
    sh("ip", "link", "set", "vz", "nomaster")
    real, again = run_twice(run, [GONE])
    assert real["commands"] == ["ip link del br-web"] and ip_json("link", "show", "vz")


def test_our_veth_into_a_namespace_without_our_mark_leaves_the_namespace(sandbox, run):
    assert not run("container_network", dict(networks=[WEB])).get("failed")
    sh("ip", "-n", "c1", "link", "set", "lo", "alias", "someone-else")
    before = dump(["c1"])["c1"]["link"][0]
    real, again = run_twice(run, [GONE])
    assert "ip link del vn-c1" in real["commands"] and "ip netns delete c1" not in real["commands"]
    assert any("namespace c1" in w and "not netplumb's" in w for w in real["warnings"]), real["warnings"]
    assert existing_ns() == ["c1"] and dump(["c1"])["c1"]["link"] == [before]    # only its lo, untouched
    assert ours()[0] == [] and ours()[2] == []


def test_the_role_removes_a_network_it_no_longer_lists_the_containers_of(sandbox):
    rc, stats, tasks = role([WEB])
    assert rc == 0 and existing_ns() == ["c0", "c1"], (rc, stats)
    host = dump()
    rc, stats, tasks = role([GONE], "--check", "--diff")
    assert rc == 0 and stats["changed"] == 1 and dump() == host, (rc, stats)
    rc, stats, tasks = role([GONE])
    assert rc == 0 and stats["changed"] == 1, (rc, stats)
    assert ours() == ([], [], []) and ip_json("link", "show", "type", "bridge") == []
    rc, stats, tasks = role([GONE])
    assert rc == 0 and stats["changed"] == 0, (rc, stats)


def test_the_role_warns_about_a_network_it_no_longer_lists_and_prunes_it_when_told(sandbox):
    api = dict(name="api", bridge="br-api", subnet="172.19.0.0/24", containers=[
        dict(name="a0", address="172.19.0.10", publish=["8081:80"])])
    task = "Container networks - bridges, namespaces, veth pairs, NAT and published ports in one call"
    rc, stats, tasks = role([WEB, api])
    assert rc == 0 and existing_ns() == ["a0", "c0", "c1"], (rc, stats)
    host, rules = dump(), save()
    rc, stats, tasks = role([WEB])
    assert rc == 0 and stats["changed"] == 0 and dump() == host and save() == rules, (rc, stats)
    warned = [w for w in tasks[task]["warnings"] if "declared by no entry of container_networks" in w]
    assert len(warned) == 1 and "br-api (subnet 172.19.0.0/24)" in warned[0], tasks[task]["warnings"]
    prune = '{"container_network_prune": true}'
    rc, stats, tasks = role([WEB], "-e", prune, "--check", "--diff")
    assert rc == 0 and stats["changed"] == 1 and dump() == host and save() == rules, (rc, stats)
    rc, stats, tasks = role([WEB], "-e", prune)
    assert rc == 0 and stats["changed"] == 1, (rc, stats)
    assert tasks[task]["undeclared"] == [dict(bridge="br-api", subnet="172.19.0.0/24", ours=True)]
    assert existing_ns() == ["c0", "c1"] and ours("br-api") == (["vn-c0", "vn-c1"], ["c0", "c1"], [])
    rc, stats, tasks = role([WEB], "-e", prune)
    assert rc == 0 and stats["changed"] == 0 and tasks[task]["warnings"] == [], (rc, stats)
    rc, stats, tasks = role([], "-e", prune)      # an empty list with prune: no network of ours is left
    assert rc == 0 and stats["changed"] == 1, (rc, stats)
    assert ours() == ([], [], []) and ip_json("link", "show", "type", "bridge") == []
