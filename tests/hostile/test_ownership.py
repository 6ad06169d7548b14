"""Ownership, attacked: links, bridges, namespaces and routes that are not netplumb's are never changed.

Every refusal is checked in check mode and in real mode: the task fails naming the field, the object, its kind
and adopt, reports no command, and the `ip -d -j` dumps of every namespace involved (the unnamed one of an
uplink included) are identical before and after. adopt=true takes an object over once; a re-run is a no-op.
"""
import json
import os
import subprocess

import pytest

from helpers.converge import changes, converge, existing_ns
from helpers.kernel import _stable, dump, ip_json

pytestmark = pytest.mark.category("ownership")

PAIR = dict(name="veth0", peer="ceth0", peer_netns="netns0", bridge="br0", peer_addresses=["172.18.0.10/16"],
            peer_gateway="172.18.0.1")


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


class Unnamed:
    """A network namespace with no name under /run/netns, held by a child process (as a container's is)."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "--net", "sh", "-c", "echo ready; exec sleep 600"],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"    # unshare switched before running sh
        self.pid = self.proc.pid

    def dump(self):
        out = {}
        for what in ("link", "addr", "route"):
            args = ["nsenter", "-t", str(self.pid), "-n", "ip", "-d", "-j", what, "show"]
            if what == "route":
                args += ["table", "all"]
            out[what] = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout or "[]")
        return _stable(out)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def unnamed(sandbox):
    ns = Unnamed()
    try:
        yield ns
    finally:
        ns.close()


def world(extra=None):
    state = dump(existing_ns())
    state["netns"] = existing_ns()
    if extra is not None:
        state["unnamed"] = extra.dump()
    return state


def refused(run, module, args, needles, extra=None):
    """The task fails in check mode and in real mode, naming every needle, and nothing changes anywhere."""
    before = world(extra)
    for check in (True, False):
        res = run(module, args, check=check)
        assert res.get("failed"), res
        assert res["changed"] is False and res["commands"] == [], res
        for needle in needles:
            assert needle in res["msg"], (needle, res["msg"])
        after = world(extra)
        assert after == before, "changed although refused (check=%s): %s" % (check, changes(before, after))
    return res


def uplink(unnamed, name="eth0"):
    """The host's uplink as in every LXC/Docker/kind node: a veth whose peer is in an unnamed namespace."""
    sh("ip link add %s type veth peer name uplink-peer && ip link set uplink-peer netns %d" % (name, unnamed.pid))
    sh("ip addr add 192.0.2.10/24 dev %s && ip link set %s up" % (name, name))
    sh("nsenter -t %d -n ip link set uplink-peer up" % unnamed.pid)
    sh("ip route add default via 192.0.2.1")


def ours(run):
    """netns0 and br0 of ours, as earlier tasks of a play make them."""
    assert not run("netns", dict(name=["netns0"])).get("failed")
    assert not run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"])).get("failed")


VETH_NOT_OURS = ["veth", "not netplumb's", "adopt=true"]


# --- the uplink: a veth with its peer in an unnamed namespace ---------------------------------------------
def test_uplink_present_is_refused(run, unnamed):
    ours(run)
    uplink(unnamed)
    refused(run, "veth_pair", dict(name="eth0", peer="ceth9", peer_netns="netns0", bridge="br0"),
            ["name=eth0", "veth eth0", "no name under /run/netns", "adopt=true"], unnamed)


def test_uplink_absent_is_refused(run, unnamed):
    uplink(unnamed)
    refused(run, "veth_pair", dict(name="eth0", peer="ceth9", state="absent"), ["name=eth0"] + VETH_NOT_OURS,
            unnamed)


def test_uplink_named_as_peer_of_an_absent_pair_is_refused(run, unnamed):
    uplink(unnamed)
    refused(run, "veth_pair", dict(name="vgone", peer="eth0", state="absent"), ["peer=eth0"] + VETH_NOT_OURS,
            unnamed)


def test_uplink_in_a_batch_refuses_the_whole_batch(run, unnamed):
    ours(run)
    uplink(unnamed)
    refused(run, "veth_pair", dict(pairs=[PAIR, dict(name="eth0", peer="ceth9", peer_netns="netns0")]),
            ["pairs[1].name=eth0"] + VETH_NOT_OURS, unnamed)
    assert [lk["ifname"] for lk in ip_json("link", "show", "type", "veth")] == ["eth0"]


def test_our_pair_whose_namespace_vanished_is_recreated(run, unnamed):
    """Ours (marked) with its peer now in an unnamed namespace: recreated, with the warning."""
    ours(run)
    converge(run, "veth_pair", PAIR)
    sh("ip -n netns0 link set ceth0 netns %d" % unnamed.pid)
    res = converge(run, "veth_pair", PAIR)
    assert res["commands"][:2] == ["ip link del veth0",
                                   "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0"]
    assert any("no name" in w for w in res["warnings"])


# --- a foreign veth pair with an address ------------------------------------------------------------------
@pytest.fixture
def foreign_veth(sandbox, run):
    ours(run)
    sh("ip link add veth0 type veth peer name otherpeer && ip addr add 10.99.0.1/24 dev veth0 && ip link set veth0 up")


def test_foreign_veth_present_is_refused(run, foreign_veth):
    refused(run, "veth_pair", PAIR, ["name=veth0", "its peer is otherpeer"] + VETH_NOT_OURS)


def test_foreign_veth_absent_is_refused(run, foreign_veth):
    refused(run, "veth_pair", dict(name="veth0", peer="otherpeer", state="absent"), ["name=veth0"] + VETH_NOT_OURS)


def test_foreign_veth_adopted_on_purpose(run, foreign_veth):
    res = converge(run, "veth_pair", dict(PAIR, adopt=True))
    assert res["commands"][:2] == ["ip link del veth0",
                                   "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0"]
    assert "ip link set veth0 alias netplumb" in res["commands"]
    converge(run, "veth_pair", PAIR, expect_changed=False)
    assert ip_json("link", "show", "veth0")[0]["ifalias"] == "netplumb"


# --- foreign bridges --------------------------------------------------------------------------------------
@pytest.fixture
def docker0(sandbox):
    sh("ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up")


def test_docker0_absent_is_refused(run, docker0):
    refused(run, "linux_bridge", dict(name="docker0", state="absent"),
            ["name=docker0", "bridge docker0", "not netplumb's", "adopt=true"])


def test_docker0_present_is_refused(run, docker0):
    refused(run, "linux_bridge", dict(name="docker0", addresses=["172.30.0.1/16"], mtu=1400),
            ["name=docker0", "bridge docker0", "not netplumb's", "adopt=true"])


def test_veth_onto_docker0_is_refused(run, docker0):
    assert not run("netns", dict(name=["netns0"])).get("failed")
    refused(run, "veth_pair", dict(PAIR, bridge="docker0"), ["bridge=docker0", "bridge docker0", "adopt=true"])
    assert not ip_json("link", "show", "type", "veth")


def test_docker0_adopted_on_purpose(run, docker0):
    res = converge(run, "linux_bridge", dict(name="docker0", addresses=["172.17.0.1/16"], adopt=True))
    # the mark first, then what linux_bridge manages on bridges of ours (br_netfilter switch, no IPv6)
    assert res["commands"] == ["ip link set docker0 alias netplumb", "ip link set docker0 type bridge nf_call_iptables 1",
                               "sysctl -w net.ipv6.conf.docker0.disable_ipv6=1"]
    converge(run, "linux_bridge", dict(name="docker0", addresses=["172.17.0.1/16"]), expect_changed=False)
    res = converge(run, "linux_bridge", dict(name="docker0", state="absent"))
    assert res["commands"] == ["ip link del docker0"]


@pytest.fixture
def br_up(run, unnamed):
    """The host's uplink eth0 (peer in an unnamed namespace) is a port of br-up, which holds 192.0.2.10/24."""
    sh("ip link add eth0 type veth peer name uplink-peer && ip link set uplink-peer netns %d" % unnamed.pid)
    sh("ip link add br-up type bridge && ip link set eth0 master br-up && ip link set eth0 up")
    sh("ip addr add 192.0.2.10/24 dev br-up && ip link set br-up up && ip route add default via 192.0.2.1")
    return unnamed


@pytest.mark.parametrize("args", [dict(addresses=["172.30.0.1/16"]), dict(state="absent")], ids=["present", "absent"])
def test_br_up_with_the_uplink_is_refused(run, br_up, args):
    refused(run, "linux_bridge", dict(name="br-up", **args),
            ["name=br-up", "bridge br-up", "eth0", "adopt=true cannot take it over"], br_up)


def test_br_up_cannot_be_adopted_while_the_uplink_is_a_port(run, br_up):
    refused(run, "linux_bridge", dict(name="br-up", addresses=["192.0.2.10/24"], adopt=True),
            ["name=br-up", "bridge br-up", "eth0", "adopt=true does not override"], br_up)


@pytest.mark.parametrize("args", [dict(addresses=["172.30.0.1/16"]), dict(mtu=1400), dict(stp=True),
                                  dict(state="absent")], ids=["address", "mtu", "stp", "absent"])
def test_our_bridge_with_a_foreign_port_is_never_changed(run, br_up, args):
    """Even marked as ours (by hand, or adopted before the uplink was enslaved), a foreign port freezes it."""
    sh("ip link set br-up alias netplumb")
    refused(run, "linux_bridge", dict(name="br-up", **args),
            ["name=br-up", "bridge br-up", "eth0", "adopt=true does not override"], br_up)
    # nothing to change (its br_netfilter switch and IPv6 as they are): no error
    res = run("linux_bridge", dict(name="br-up", addresses=["192.0.2.10/24"], nf_call_iptables=False, ipv6=True))
    assert not res.get("failed") and res["changed"] is False, res


def test_new_port_on_our_bridge_with_a_foreign_port_is_refused(run, br_up):
    sh("ip link set br-up alias netplumb")
    assert not run("netns", dict(name=["netns0"])).get("failed")
    refused(run, "veth_pair", dict(PAIR, bridge="br-up"), ["bridge=br-up", "eth0", "adopt=true does not override"],
            br_up)


def test_prune_next_to_a_foreign_veth_on_our_bridge(run, sandbox):
    ours(run)
    assert not run("netns", dict(name=["c1", "c2"])).get("failed")
    pairs = [dict(name="vh%d" % i, peer="eth0", peer_netns="c%d" % i, bridge="br0") for i in (1, 2)]
    converge(run, "veth_pair", dict(pairs=pairs))
    for name, alias in (("vforeign", None), ("vlook", "netplumb2"), ("vcase", "Netplumb")):
        sh("ip link add %s type veth peer name %s-p && ip link set %s master br0 up" % (name, name, name))
        if alias:
            sh("ip link set %s alias %s" % (name, alias))

    def looks():    # what a deletion, re-parenting, renaming or re-marking would change (not port timers)
        return [dict((k, lk.get(k)) for k in ("ifindex", "ifname", "ifalias", "master", "address", "mtu", "flags"))
                for lk in ip_json("link", "show", "type", "veth") if lk["ifname"] in ("vforeign", "vlook", "vcase")]
    foreign = looks()
    res = converge(run, "veth_pair", dict(pairs=pairs[:1], prune=True))
    assert res["pruned"] == [dict(name="vh2", peer_netns="c2")] and res["commands"] == ["ip link del vh2"]
    assert len(foreign) == 3 and looks() == foreign


# --- foreign namespaces -----------------------------------------------------------------------------------
@pytest.fixture
def foreign_ns(sandbox):
    sh("ip netns add theirs && ip -n theirs link add inside type veth peer name inside-p "
       "&& ip -n theirs addr add 10.77.0.1/24 dev inside")


def test_foreign_namespace_present_is_refused(run, foreign_ns):
    refused(run, "netns", dict(name=["mine", "theirs"]),
            ["name[1]=theirs", "network namespace theirs", "not netplumb's", "adopt=true"])
    assert existing_ns() == ["theirs"]


def test_foreign_namespace_absent_is_refused(run, foreign_ns):
    refused(run, "netns", dict(name=["theirs"], state="absent"),
            ["name[0]=theirs", "network namespace theirs", "adopt=true"])


def test_veth_into_a_foreign_namespace_is_refused(run, foreign_ns):
    assert not run("linux_bridge", dict(name="br0")).get("failed")
    refused(run, "veth_pair", dict(PAIR, peer_netns="theirs"),
            ["peer_netns=theirs", "network namespace theirs", "adopt=true"])


def test_veth_absent_reaching_into_a_foreign_namespace_is_refused(run, foreign_ns):
    refused(run, "veth_pair", dict(name="vgone", peer="inside", peer_netns="theirs", state="absent"),
            ["peer_netns=theirs", "network namespace theirs", "adopt=true"])


def test_foreign_namespace_adopted_on_purpose(run, foreign_ns):
    res = converge(run, "netns", dict(name=["theirs"], adopt=True))
    assert res["commands"] == ["ip -n theirs link set lo alias netplumb", "ip -n theirs link set lo up"]
    converge(run, "netns", dict(name=["theirs"]), expect_changed=False)
    res = converge(run, "netns", dict(name=["theirs"], state="absent"))
    assert res["commands"] == ["ip netns delete theirs"] and existing_ns() == []


# --- look-alike marks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("alias", ["netplumb2", "Netplumb"])
def test_look_alike_alias_on_a_veth(run, sandbox, alias):
    ours(run)
    sh("ip link add veth0 type veth peer name ceth0 netns netns0 && ip link set veth0 alias %s" % alias)
    refused(run, "veth_pair", PAIR, ["name=veth0"] + VETH_NOT_OURS)
    refused(run, "veth_pair", dict(PAIR, state="absent"), ["name=veth0"] + VETH_NOT_OURS)


@pytest.mark.parametrize("alias", ["netplumb2", "Netplumb"])
def test_look_alike_alias_on_a_bridge(run, sandbox, alias):
    sh("ip link add br0 type bridge && ip link set br0 alias %s" % alias)
    refused(run, "linux_bridge", dict(name="br0", state="absent"), ["name=br0", "bridge br0", "adopt=true"])


@pytest.mark.parametrize("alias", ["netplumb2", "Netplumb"])
def test_look_alike_alias_on_a_namespace(run, sandbox, alias):
    sh("ip netns add look && ip -n look link set lo alias %s" % alias)
    refused(run, "netns", dict(name=["look"], state="absent"), ["name[0]=look", "network namespace look", "adopt=true"])


# --- adopt and the route mark -----------------------------------------------------------------------------
def test_adopt_a_pair_and_its_namespace_made_by_hand(run, sandbox):
    assert not run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"])).get("failed")
    sh("ip netns add netns0 && ip link add veth0 type veth peer name ceth0 netns netns0 "
       "&& ip -n netns0 addr add 172.18.0.10/16 dev ceth0 && ip -n netns0 link set ceth0 up "
       "&& ip -n netns0 route add default via 172.18.0.1")
    refused(run, "veth_pair", PAIR, ["name=veth0"] + VETH_NOT_OURS)
    res = converge(run, "veth_pair", dict(PAIR, adopt=True))
    assert res["commands"][:1] == ["ip -n netns0 link set lo alias netplumb"]
    assert "ip link set veth0 alias netplumb" in res["commands"]
    assert "ip -n netns0 route replace default via 172.18.0.1 proto 151" in res["commands"]
    converge(run, "veth_pair", PAIR, expect_changed=False)
    # the namespace is ours now: netns converges it without adopt (its lo was left down by hand)
    assert converge(run, "netns", dict(name=["netns0"]))["commands"] == ["ip -n netns0 link set lo up"]


def test_route_carries_our_protocol(run, sandbox):
    ours(run)
    converge(run, "veth_pair", PAIR)
    route = ip_json("route", "show", "default", ns="netns0")[0]
    assert route["gateway"] == "172.18.0.1" and route["protocol"] == "151"
    # the same gateway without our mark (say, set by hand): replaced once, to set it
    sh("ip -n netns0 route replace default via 172.18.0.1 proto static")
    res = converge(run, "veth_pair", PAIR)
    assert res["commands"] == ["ip -n netns0 route replace default via 172.18.0.1 proto 151"]
    assert ip_json("route", "show", "default", ns="netns0")[0]["protocol"] == "151"
    assert os.path.exists("/run/netns/netns0")
