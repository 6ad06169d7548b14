"""netplumb.container.veth_pair on the real kernel, plus the tutorial topology proven by ping."""
import os
import subprocess

import pytest

from helpers.converge import converge
from helpers.kernel import ip_json

TUTORIAL_PAIR = dict(name="veth0", peer="ceth0", peer_netns="netns0", bridge="br0",
                     peer_addresses=["172.18.0.10/16"], peer_gateway="172.18.0.1")


def base(run, names=("netns0",)):
    assert not run("netns", dict(name=list(names))).get("failed")
    assert not run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"])).get("failed")


def peer_info(ns, name):
    lk = ip_json("link", "show", name, ns=ns)[0]
    addrs = sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in ip_json("addr", "show", name, ns=ns)[0]["addr_info"]
                   if a.get("scope") == "global")
    routes = ip_json("route", "show", "default", ns=ns)
    return lk, addrs, routes


def ping(target, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ping", "-c", "1", "-w", "10", "-i", "0.2", target]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


@pytest.mark.deb
def test_single_pair_lifecycle(sandbox, run):
    base(run)
    res = converge(run, "veth_pair", TUTORIAL_PAIR)
    assert res["commands"][0] == "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0"
    assert "ip -n netns0 route replace default via 172.18.0.1 proto 151" in res["commands"]
    host = ip_json("link", "show", "veth0")[0]
    assert host["master"] == "br0" and "UP" in host["flags"] and host["ifalias"] == "netplumb"
    lk, addrs, routes = peer_info("netns0", "ceth0")
    assert addrs == ["172.18.0.10/16"] and "UP" in lk["flags"]
    assert routes[0]["gateway"] == "172.18.0.1" and routes[0]["protocol"] == "151"
    assert ping("172.18.0.1", "netns0")

    # modify in place: addresses, gateway, mtu
    changed = dict(TUTORIAL_PAIR, peer_addresses=["172.18.0.11/16"], peer_gateway="172.18.0.1", mtu=1400)
    res = converge(run, "veth_pair", changed)
    assert "ip -n netns0 addr del 172.18.0.10/16 dev ceth0" in res["commands"]
    assert "ip link set veth0 mtu 1400" in res["commands"] and "ip -n netns0 link set ceth0 mtu 1400" in res["commands"]
    lk, addrs, routes = peer_info("netns0", "ceth0")
    assert addrs == ["172.18.0.11/16"] and lk["mtu"] == 1400 and routes[0]["gateway"] == "172.18.0.1"

    res = converge(run, "veth_pair", dict(name="veth0", peer="ceth0", state="absent"))
    assert res["commands"] == ["ip link del veth0"]
    assert not ip_json("link", "show", "type", "veth")
    assert not ip_json("link", "show", "type", "veth", ns="netns0")
    converge(run, "veth_pair", dict(name="veth0", peer="ceth0", peer_netns="netns0", state="absent"),
             expect_changed=False)


@pytest.mark.deb
def test_corrects_wrong_namespace_master_and_route(sandbox, run):
    base(run, ("netns0", "other"))
    run("linux_bridge", dict(name="br9"))
    # by hand: peer in the wrong namespace, host end on the wrong bridge, a wrong default route
    subprocess.run("ip link add veth0 type veth peer name ceth0 netns other && ip link set veth0 master br9",
                   shell=True, check=True)
    res = run("veth_pair", TUTORIAL_PAIR)
    assert res["failed"] and "name=veth0" in res["msg"] and "adopt=true" in res["msg"]
    res = converge(run, "veth_pair", dict(TUTORIAL_PAIR, adopt=True))
    assert "ip link set veth0 alias netplumb" in res["commands"]
    assert "ip -n other link set ceth0 netns netns0" in res["commands"]
    assert "ip link set veth0 master br0" in res["commands"]
    assert res["diff"]["before"]["veth0"]["peer_netns"] == "other"
    assert res["diff"]["after"]["veth0"]["peer_netns"] == "netns0"
    assert not ip_json("link", "show", "type", "veth", ns="other")
    assert ping("172.18.0.1", "netns0")

    # peer left in the host namespace: moved in
    subprocess.run("ip link add veth1 type veth peer name ceth1", shell=True, check=True)
    run("netns", dict(name=["netns1"]))
    res = converge(run, "veth_pair", dict(name="veth1", peer="ceth1", peer_netns="netns1", bridge="br0", adopt=True,
                                          peer_addresses=["172.18.0.20/16"], peer_gateway="172.18.0.1"))
    assert "ip link set ceth1 netns netns1" in res["commands"]
    assert ping("172.18.0.10", "netns1")

    # wrong default route inside the namespace is replaced
    subprocess.run("ip -n netns1 route replace default via 172.18.0.99", shell=True, check=True)
    res = converge(run, "veth_pair", dict(name="veth1", peer="ceth1", peer_netns="netns1", bridge="br0",
                                          peer_addresses=["172.18.0.20/16"], peer_gateway="172.18.0.1"))
    assert res["commands"] == ["ip -n netns1 route replace default via 172.18.0.1 proto 151"]


def test_foreign_names_are_never_touched(sandbox, run):
    base(run)
    subprocess.run("ip link add veth0 type bridge", shell=True, check=True)
    res = run("veth_pair", TUTORIAL_PAIR)
    assert res["failed"] and "not a veth" in res["msg"]
    assert ip_json("link", "show", "veth0")[0]["linkinfo"]["info_kind"] == "bridge"
    res = run("veth_pair", dict(TUTORIAL_PAIR, state="absent"))
    assert res["failed"] and ip_json("link", "show", "veth0")
    # the peer name taken inside the namespace by an unrelated link
    subprocess.run("ip -n netns0 link add ceth5 type bridge", shell=True, check=True)
    res = run("veth_pair", dict(TUTORIAL_PAIR, name="veth5", peer="ceth5"))
    assert res["failed"] and "ceth5" in res["msg"]
    assert not ip_json("link", "show", "type", "veth")


def test_missing_namespace_or_bridge(sandbox, run):
    # check mode on a fresh host: predict and warn
    res = run("veth_pair", TUTORIAL_PAIR, check=True)
    assert res["changed"] and not res.get("failed")
    assert any("netns0" in w for w in res["warnings"]) and any("br0" in w for w in res["warnings"])
    assert not ip_json("link", "show", "type", "veth")
    # real run: an error naming what is missing, nothing created
    res = run("veth_pair", TUTORIAL_PAIR)
    assert res["failed"] and "bridge=br0" in res["msg"]
    run("linux_bridge", dict(name="br0"))
    res = run("veth_pair", TUTORIAL_PAIR)
    assert res["failed"] and "peer_netns=netns0" in res["msg"]
    assert not ip_json("link", "show", "type", "veth")


def test_batch_of_100(sandbox, run):
    names = ["c%d" % i for i in range(100)]
    run("netns", dict(name=names))
    run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    pairs = [dict(name="vh%d" % i, peer="eth0", peer_netns="c%d" % i, bridge="br0",
                  peer_addresses=["172.18.%d.%d/16" % (1 + i // 200, 10 + i % 200)], peer_gateway="172.18.0.1")
             for i in range(100)]
    res = converge(run, "veth_pair", dict(pairs=pairs))
    assert len([c for c in res["commands"] if c.startswith("ip link add")]) == 100
    assert len(ip_json("link", "show", "master", "br0")) == 100
    assert ping("172.18.1.10", "c99") and ping("172.18.1.109", "c0")
    res = converge(run, "veth_pair", dict(pairs=pairs, state="absent"))
    assert len(res["commands"]) == 100 and not ip_json("link", "show", "type", "veth")


def test_batch_validation_is_all_or_nothing(sandbox, run):
    base(run)
    pairs = [dict(TUTORIAL_PAIR), dict(name="veth1", peer="ceth1", peer_netns="netns0",
                                       peer_addresses=["172.18.0.20/16"], peer_gateway="10.0.0.1")]
    res = run("veth_pair", dict(pairs=pairs))
    assert res["failed"] and "pairs[1].peer_gateway" in res["msg"] and "10.0.0.1" in res["msg"]
    assert not ip_json("link", "show", "type", "veth")
    res = run("veth_pair", dict(pairs=[dict(TUTORIAL_PAIR), dict(TUTORIAL_PAIR, peer="ceth9")]))
    assert res["failed"] and "twice" in res["msg"]


def test_tutorial_topology(sandbox, run):
    """br0 172.18.0.1/16, netns0 at .10 and netns1 at .20, default routes via the bridge: ping all ways."""
    converge(run, "netns", dict(name=["netns0", "netns1"]))
    converge(run, "linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    converge(run, "veth_pair", dict(pairs=[
        TUTORIAL_PAIR,
        dict(name="veth1", peer="ceth1", peer_netns="netns1", bridge="br0",
             peer_addresses=["172.18.0.20/16"], peer_gateway="172.18.0.1")]))
    assert ping("172.18.0.20", "netns0")
    assert ping("172.18.0.10", "netns1")
    assert ping("172.18.0.10") and ping("172.18.0.20")
    assert ping("172.18.0.1", "netns0")


@pytest.mark.deb
def test_prune_deletes_only_our_unlisted_pairs_on_the_batch_bridges(sandbox, run):
    converge(run, "netns", dict(name=["c1", "c2", "c3", "c4", "f"]))
    converge(run, "linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    converge(run, "linux_bridge", dict(name="br1", addresses=["172.19.0.1/16"]))
    three = [dict(name="vh%d" % i, peer="eth0", peer_netns="c%d" % i, bridge="br0",
                  peer_addresses=["172.18.0.%d/16" % (10 + i)], peer_gateway="172.18.0.1") for i in (1, 2, 3)]
    converge(run, "veth_pair", dict(pairs=three))
    other = dict(name="vh4", peer="eth0", peer_netns="c4", bridge="br1", peer_addresses=["172.19.0.14/16"])
    converge(run, "veth_pair", dict(pairs=[other]))
    # a veth of someone else on br0: no alias
    subprocess.run("ip link add vforeign type veth peer name eth0 netns f && ip link set vforeign master br0 up",
                   shell=True, check=True)

    res = run("veth_pair", dict(name="vh1", peer="eth0", peer_netns="c1", prune=True))
    assert res.get("failed") and res["msg"].startswith("prune=True") and ip_json("link", "show", "vh3")

    check = run("veth_pair", dict(pairs=three[:2], prune=True), check=True)
    assert check["pruned"] == [dict(name="vh3", peer_netns="c3")] and check["commands"] == ["ip link del vh3"]
    res = converge(run, "veth_pair", dict(pairs=three[:2], prune=True))
    assert res["pruned"] == check["pruned"] and res["commands"] == ["ip link del vh3"]
    assert res["diff"]["before"]["vh3"]["state"] == "present" and res["diff"]["after"]["vh3"] == {"state": "absent"}
    assert res["diff"]["before"]["vh3"]["peer_netns"] == "c3"
    assert sorted(lk["ifname"] for lk in ip_json("link", "show", "type", "veth")) == ["vforeign", "vh1", "vh2", "vh4"]
    assert os.path.exists("/run/netns/c3") and not ip_json("link", "show", "type", "veth", ns="c3")
    assert ip_json("link", "show", "vforeign")[0]["master"] == "br0" and ip_json("link", "show", "vh4")[0]["master"] == "br1"
    assert ping("172.18.0.12", "c1")
    # without prune, or on a converged host: nothing to prune
    assert run("veth_pair", dict(pairs=three[:1]))["pruned"] == []
    # an empty batch names its bridge at the top level
    res = converge(run, "veth_pair", dict(pairs=[], bridge="br1", prune=True))
    assert res["pruned"] == [dict(name="vh4", peer_netns="c4")] and not ip_json("link", "show", "master", "br1")
    assert ip_json("link", "show", "vforeign")
