"""container_network state: absent removes a network by ownership, whether or not its containers are listed.

What belongs to the network is read from the host: the owner comments of the rules (netplumb:BRIDGE and
netplumb:BRIDGE:PROTO/PORT), our veths (alias netplumb) on its bridge and the marked namespaces they lead to,
then the bridge. The cycle (check+diff -> real -> re-run) asserts check == real and a zero-write re-run; a
foreign bridge, namespace, veth and iptables rules next to it stay byte for byte, and a namespace a present
network of the same call declares stays.
"""
import os
import subprocess

import pytest

from helpers.converge import existing_ns
from helpers.kernel import dump, ip_json
from test_container_network import cycle
from helpers_fw import converge_fw, save, save_content, sh

WEB = dict(name="web", bridge="br-web", subnet="172.18.0.0/24", containers=[
    dict(name="c0", address="172.18.0.10", publish=["8080:80"]),
    dict(name="c1", address="172.18.0.11", publish=["5353:53/udp"])])
GONE = dict(name="web", bridge="br-web", subnet="172.18.0.0/24", state="absent")


def foreign():
    """Someone else's network next to ours: a bridge with a veth into their namespace, and their rules."""
    sh("ip", "netns", "add", "theirs")
    sh("ip", "link", "add", "br-x", "type", "bridge")
    sh("ip", "link", "add", "vx", "type", "veth", "peer", "name", "eth0", "netns", "theirs")
    sh("ip", "link", "set", "vx", "master", "br-x")
    sh("ip", "addr", "add", "10.99.0.1/24", "dev", "br-x")
    sh("ip", "-n", "theirs", "addr", "add", "10.99.0.2/24", "dev", "eth0")
    for cmd in ("ip link set br-x up", "ip link set vx up", "ip -n theirs link set eth0 up"):
        sh(*cmd.split())
    sh("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.99.0.0/24", "!", "-o", "br-x", "-j", "MASQUERADE")
    sh("iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "9090", "-j", "DNAT",
       "--to-destination", "10.99.0.2:80")
    sh("iptables", "-A", "FORWARD", "-i", "br-x", "-j", "ACCEPT")


def inode(ns):
    return os.stat("/run/netns/" + ns).st_ino


def ours_left(bridge="br-web", subnet="172.18.0"):
    """Everything of ours that could still belong to the network: veths, marked namespaces, rules, routes."""
    links = [lk["ifname"] for lk in ip_json("link", "show") if lk.get("ifalias") == "netplumb"]
    rules = [line for line in save().splitlines() if bridge in line or subnet in line]
    routes = list(ip_json("route", "show", "table", "all", "proto", "151"))
    return links, rules, routes


@pytest.mark.deb
def test_absent_without_its_containers_removes_every_thing_of_ours_and_nothing_else(sandbox, run):
    foreign()
    host, rules, theirs = dump(["theirs"]), save_content(), inode("theirs")
    cycle(run, [WEB])
    assert sorted(existing_ns()) == ["c0", "c1", "theirs"]
    assert "tcp/8080" in save() and "udp/5353" in save()
    real = cycle(run, [GONE])
    assert real["changed"]
    assert [c["module"] for c in real["calls"]] == ["port_publish", "container_nat", "veth_pair", "netns",
                                                    "linux_bridge"]
    assert sorted(p["name"] for p in real["pruned"]) == ["vn-c0", "vn-c1"]
    assert "ip netns delete c0" in real["commands"] and "ip link del br-web" in real["commands"]
    assert any(c.startswith("conntrack -D -p udp --orig-port-dst 5353") for c in real["commands"])
    # nothing of ours is left, and the host is exactly as before the network: their objects byte for byte
    assert existing_ns() == ["theirs"] and inode("theirs") == theirs
    assert ours_left() == ([], [], [])
    assert "NETPLUMB" not in save()
    assert dump(["theirs"]) == host
    assert save_content() == rules     # (a raw table iptables-nft made stays, empty)


def test_a_namespace_another_present_network_declares_stays(sandbox, run):
    api = dict(name="api", bridge="br-api", subnet="172.19.0.0/24",
               containers=[dict(name="a0", address="172.19.0.10", publish=["8081:80"])])
    cycle(run, [WEB, api])
    kept = inode("c1")
    moved = dict(api, containers=api["containers"] + [dict(name="c1", address="172.19.0.11")])
    real = cycle(run, [GONE, moved])
    assert [p["name"] for p in real["pruned"]] == ["vn-c0"]
    assert sorted(existing_ns()) == ["a0", "c1"] and inode("c1") == kept     # the same namespace, re-parented
    assert sorted(lk["ifname"] for lk in ip_json("link", "show", "master", "br-api")) == ["vn-a0", "vn-c1"]
    assert ip_json("addr", "show", "eth0", ns="c1")[0]["addr_info"][0]["local"] == "172.19.0.11"
    assert not _exists("br-web")
    assert ours_left()[1] == [] and "tcp/8081" in save()


def _exists(link):
    return subprocess.run(["ip", "link", "show", link], capture_output=True, check=False).returncode == 0


def test_absent_cleans_what_an_earlier_version_left_behind(sandbox, run):
    """A host hit by the old absent (bridge and NAT gone; veths, namespaces and DNATs left): the DNATs go by
    their owner comment, the detached veths of ours whose peers sit in the network's subnet behind our default
    route go with their namespaces, listed or not. A detached veth of ours elsewhere (another subnet) stays."""
    other = dict(name="api", bridge="br-api", subnet="172.19.0.0/24",
                 containers=[dict(name="a0", address="172.19.0.10")])
    for listed in (dict(WEB, state="absent"), GONE):
        cycle(run, [WEB, other])
        sh("ip", "link", "del", "br-web")
        sh("ip", "link", "del", "br-api")
        assert "tcp/8080" in save()
        real = cycle(run, [listed])
        assert sorted(existing_ns()) == ["a0"] and ours_left() == (["vn-a0"], [], [])
        assert "netplumb:br-web" not in save()
        if listed is GONE:
            assert sorted(p["name"] for p in real["pruned"]) == ["vn-c0", "vn-c1"]
        cycle(run, [dict(other, state="absent")])


def test_port_publish_absent_with_only_the_bridge_removes_every_port_of_that_network(sandbox, run):
    """The building block on its own: every mapping whose owner comment names the bridge, none other, and not
    the network's NAT (comment netplumb:br-web)."""
    api = dict(name="api", bridge="br-api", subnet="172.19.0.0/24",
               containers=[dict(name="a0", address="172.19.0.10", publish=["8081:80"])])
    assert not run("container_network", dict(networks=[WEB, api])).get("failed")
    res = converge_fw(run, "port_publish", dict(bridge="br-web", state="absent"))
    assert any(c.startswith("conntrack -D -p udp --orig-port-dst 5353") for c in res["commands"])
    text = save()
    assert "netplumb:br-web:" not in text and "netplumb:br-web\"" in text and "netplumb:br-api:tcp/8081" in text
    converge_fw(run, "port_publish", dict(bridge="br-web", state="absent"), expect_changed=False)
