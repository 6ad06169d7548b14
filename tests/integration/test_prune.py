"""container_network prune: networks of ours that no entry declares are warned about, or removed with prune.

Two networks are converged, then one is deleted from the list: without prune nothing changes and every run
(check, real, re-run) warns once, naming its bridge and subnet; with prune it is removed exactly as a
declared state: absent (the same steps). A foreign bridge, namespace, veth and iptables rules next to them
stay byte for byte. Every run is the cycle check+diff -> real -> re-run, check == real and a zero-write re-run.
"""
import subprocess

from helpers.converge import changes, existing_ns
from helpers.kernel import Monitor, dump
from helpers_fw import save, save_content, sh
from test_network_absent import foreign, inode, ours_left

WEB = dict(name="web", bridge="br-web", subnet="172.18.0.0/24", containers=[
    dict(name="c0", address="172.18.0.10", publish=["8080:80"])])
API = dict(name="api", bridge="br-api", subnet="172.19.0.0/24", containers=[
    dict(name="a0", address="172.19.0.10", publish=["8081:80"]),
    dict(name="a1", address="172.19.0.11", publish=["5353:53/udp"])])
ABSENT_STEPS = ["port_publish", "container_nat", "veth_pair", "netns", "linux_bridge"]


def web_links():
    return [lk for lk in dump()["host"]["link"] if lk["ifname"] in ("br-web", "vn-c0")]


def undeclared_warnings(res):
    return [w for w in res["warnings"] if "declared by no entry" in w]


def cycle(run, nets, prune=False):
    """check+diff, real, re-run (and a check re-run); returns (check, real, again)."""
    args = dict(networks=nets, prune=prune)
    ns_before = existing_ns()
    state_before, rules_before = dump(ns_before), save()
    check = run("container_network", args, check=True)
    assert not check.get("failed"), check.get("msg")
    assert existing_ns() == ns_before and dump(ns_before) == state_before and save() == rules_before, \
        "check mode wrote"
    real = run("container_network", args)
    assert not real.get("failed"), real.get("msg")
    for key in ("changed", "commands", "diff", "calls", "undeclared", "pruned"):
        assert real[key] == check[key], (key, changes(check[key], real[key]))
    namespaces = existing_ns()
    mon = Monitor(namespaces)
    try:
        state, rules = dump(namespaces), save()
        again = run("container_network", args)
        assert not again.get("failed"), again.get("msg")
        assert (again["changed"], again["commands"]) == (False, [])
        assert mon.events() == 0, "the re-run wrote to the kernel"
        assert dump(namespaces) == state and save() == rules
        again_check = run("container_network", args, check=True)
        assert (again_check["changed"], again_check["commands"]) == (False, [])
    finally:
        mon.close()
    return check, real, again


def test_a_network_deleted_from_the_list_is_warned_about_then_pruned(sandbox, run):
    foreign()
    host, rules, theirs = dump(["theirs"]), save_content(), inode("theirs")
    dummy, real, again = cycle(run, [WEB, API])
    assert real["undeclared"] == [] and undeclared_warnings(again) == []

    # deleted from the list, no prune: nothing changes, every run warns once (one line for all)
    state, fw = dump(existing_ns()), save()
    check, real, again = cycle(run, [WEB])
    assert real["changed"] is False and real["commands"] == []
    assert real["undeclared"] == [dict(bridge="br-api", subnet="172.19.0.0/24", ours=True)]
    for res in (check, real, again):
        warned = undeclared_warnings(res)
        assert len(warned) == 1, res["warnings"]
        assert "br-api (subnet 172.19.0.0/24)" in warned[0] and "prune=true" in warned[0]
        assert "{name: api, bridge: br-api, subnet: 172.19.0.0/24, state: absent}" in warned[0]
    assert dump(existing_ns()) == state and save() == fw
    assert sorted(existing_ns()) == ["a0", "a1", "c0", "theirs"]

    # prune: removed exactly as a declared state: absent, web and theirs untouched
    web_before = web_links()
    check, real, again = cycle(run, [WEB], prune=True)
    assert real["changed"]
    assert [(c["label"], c["module"]) for c in real["calls"] if c["changed"]] == \
        [("prune (br-api)", m) for m in ABSENT_STEPS]
    assert sorted(p["name"] for p in real["pruned"]) == ["vn-a0", "vn-a1"]
    assert "ip link del br-api" in real["commands"] and "ip netns delete a0" in real["commands"]
    assert any(c.startswith("conntrack -D -p udp --orig-port-dst 5353") for c in real["commands"])
    assert undeclared_warnings(real) == [] and again["undeclared"] == [] and again["warnings"] == []
    assert sorted(existing_ns()) == ["c0", "theirs"] and inode("theirs") == theirs
    links, left, dummy = ours_left("br-api", "172.19.0")
    assert links == ["br-web", "vn-c0"] and left == []
    assert web_links() == web_before
    assert "netplumb:br-web" in save() and "netplumb:br-api" not in save()
    assert subprocess.run(["ip", "link", "show", "br-api"], capture_output=True, check=False).returncode != 0

    # an empty list with prune removes every network of ours: back to the host with only their network
    check, real, again = cycle(run, [], prune=True)
    assert [c["label"] for c in real["calls"] if c["changed"]] == ["prune (br-web)"] * len(ABSENT_STEPS)
    assert existing_ns() == ["theirs"] and inode("theirs") == theirs
    assert ours_left("br-web", "172.18.0") == ([], [], [])
    assert "NETPLUMB" not in save()
    assert dump(["theirs"]) == host
    assert save_content() == rules


def test_rules_of_a_bridge_deleted_by_hand_are_found_and_pruned_by_owner(sandbox, run):
    foreign()
    host, rules = dump(["theirs"]), save_content()
    api = dict(API, containers=[])
    cycle(run, [api])
    sh("ip", "link", "del", "br-api")
    check, real, again = cycle(run, [])
    assert real["undeclared"] == [dict(bridge="br-api", subnet="172.19.0.0/24", ours=True)]
    assert len(undeclared_warnings(real)) == 1
    check, real, again = cycle(run, [], prune=True)
    assert [(c["label"], c["module"]) for c in real["calls"] if c["changed"]] == [("prune (br-api)", "container_nat")]
    assert "NETPLUMB" not in save()
    assert dump(["theirs"]) == host and save_content() == rules


def test_a_bridge_that_is_not_ours_named_by_our_rules_keeps_its_link(sandbox, run):
    """Rules of ours whose bridge was replaced by someone else's (same name, no mark): only the rules go."""
    api = dict(API, containers=[])
    cycle(run, [api])
    sh("ip", "link", "del", "br-api")
    sh("ip", "link", "add", "br-api", "type", "bridge")
    sh("ip", "addr", "add", "172.19.0.1/24", "dev", "br-api")
    link_before = dump()
    check, real, again = cycle(run, [], prune=True)
    assert real["undeclared"] == [dict(bridge="br-api", subnet="172.19.0.0/24", ours=False)]
    assert [c["module"] for c in real["calls"]] == ["port_publish", "container_nat"]
    assert any("is not netplumb's: only the rules of ours" in w for w in real["warnings"])
    assert "NETPLUMB" not in save()
    assert dump() == link_before
