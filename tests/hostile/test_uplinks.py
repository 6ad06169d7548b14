"""The uplink matrix: every kind of uplink x every destructive path of every module x {no mark, a forged mark,
adopt=true}. Each case is refused before any change, in check mode and in a real run, and the host's links,
addresses, routes, nexthops and firewall rules are the same afterwards (docs/safety.md, section 2).

One sandbox per kind of uplink (module-scoped: a refused call changes nothing, which each case asserts), the
module calls run in-process."""
import os

import pytest

from helpers.kernel import Sandbox, ip_json
from hosts import (UnnamedNs, bridged_uplink, lxc_uplink, macvlan_uplink, multipath_uplink, nexthop_uplink, sh,
                   snapshot)

pytestmark = pytest.mark.category("uplinks")


def _ours():
    """A bridge of ours (br0) and a namespace of ours (c1): the places a destructive call would move to."""
    sh("ip link add br0 type bridge && ip link set br0 alias netplumb && ip addr add 172.18.0.1/16 dev br0 "
       "&& ip link set br0 up")
    sh("ip netns add c1 && ip -n c1 link set lo alias netplumb")


def _marked_bridge(un):
    """br-up and its port eth0 both carry our mark (stale, from an adoption before eth0 became the uplink, or
    forged): the foreign-port rule does not apply, the uplink rule must."""
    bridged_uplink(un)
    sh("ip link set br-up alias netplumb && ip link set eth0 alias netplumb")


# kind -> (builder, uplink links to attack)
KINDS = {
    "veth": (lxc_uplink, ["eth0"]),
    "bridge-marked": (_marked_bridge, ["br-up", "eth0"]),
    "macvlan": (macvlan_uplink, ["eth0", "lower0"]),
    "bridge": (bridged_uplink, ["br-up", "eth0"]),
    "nexthop": (nexthop_uplink, ["eth0"]),
    "multipath": (multipath_uplink, ["eth1"]),
}
CASES = [(kind, target) for kind, (_b, targets) in sorted(KINDS.items()) for target in targets]

# path -> (module, args for uplink T, takes adopt)
PATHS = {
    "veth_pair-absent": ("veth_pair", lambda t: dict(name=t, peer="ceth9", state="absent"), True),
    "veth_pair-recreate": ("veth_pair", lambda t: dict(name=t, peer="ceth9"), True),
    "veth_pair-reparent": ("veth_pair", lambda t: dict(name=t, peer="ceth9", bridge="br0"), True),
    "veth_pair-into-netns": ("veth_pair", lambda t: dict(name=t, peer="ceth9", peer_netns="c1"), True),
    "veth_pair-prune": ("veth_pair", lambda t: dict(bridge="br-up" if t == "eth0" else t, prune=True,
                                                    pairs=[dict(name="vnew", peer="cnew")]), False),
    "linux_bridge-absent": ("linux_bridge", lambda t: dict(name=t, state="absent"), True),
    "linux_bridge-readdress": ("linux_bridge", lambda t: dict(name=t, addresses=["172.30.0.1/16"]), True),
    "linux_bridge-mtu": ("linux_bridge", lambda t: dict(name=t, mtu=1400), True),
    "container_nat": ("container_nat", lambda t: dict(bridge=t, subnet="172.30.0.0/16"), False),
    "port_publish": ("port_publish", lambda t: dict(bridge=t, host_port=8080, container_ip="172.30.0.10"), False),
}
MARKS = ["none", "forged", "adopt"]


def _params():
    out = []
    for kind, target in CASES:
        for path, (_m, _a, adopt) in sorted(PATHS.items()):
            for mark in MARKS:
                if mark == "adopt" and not adopt:
                    continue
                if path == "veth_pair-prune" and (kind not in ("bridge", "bridge-marked") or target != "eth0"):
                    continue    # prune of our veths on the uplink bridge br-up, whose port eth0 is the uplink
                out.append(pytest.param(kind, target, path, mark, id="%s-%s-%s-%s" % (kind, target, path, mark)))
    return out


@pytest.fixture(scope="module")
def uplink_host(request):
    """The sandbox of one kind of uplink (the test's indirect parameter), shared by that kind's cases."""
    box = Sandbox()
    un = UnnamedNs()
    try:
        KINDS[request.param][0](un)
        _ours()
        yield request.param
    finally:
        un.close()
        box.close()


@pytest.mark.parametrize("uplink_host, target, path, mark", _params(), indirect=["uplink_host"])
def test_uplink_is_never_changed(uplink_host, run, target, path, mark):
    module, args, _adopt = PATHS[path]
    args = args(target)
    if mark == "adopt":
        args["adopt"] = True
    alias = ip_json("link", "show", target)[0].get("ifalias") or ""
    if mark == "forged":
        sh("ip link set %s alias netplumb" % target)
    try:
        before = snapshot()
        for check in (True, False):
            res = run(module, args, check=check)
            assert res.get("failed"), (check, res)
            assert res["changed"] is False and res["commands"] == [], (check, res)
            assert target in res["msg"] or "br-up" in res["msg"], (check, res["msg"])
            assert snapshot() == before, "a refused call changed the host (check=%s)" % check
    finally:
        if mark == "forged":
            sh("ip link set %s alias '%s'" % (target, alias))


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
def test_namespace_holding_the_uplinks_twin_is_not_deleted(sandbox, run, check):
    """eth0's twin lives in namespace gw (ours, even): deleting gw would delete eth0, the uplink."""
    sh("ip netns add gw && ip -n gw link set lo alias netplumb")
    sh("ip link add eth0 type veth peer name up0 netns gw && ip -n gw link set up0 up && ip link set eth0 up")
    sh("ip addr add 192.0.2.10/24 dev eth0 && ip route add default via 192.0.2.1")
    before = snapshot()
    res = run("netns", dict(name=["gw"], state="absent"), check=check)
    assert res.get("failed") and "eth0 is the host's uplink" in res["msg"] and "gw" in res["msg"], res
    assert snapshot() == before and os.path.exists("/run/netns/gw")
