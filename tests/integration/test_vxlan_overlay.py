"""vxlan_overlay in one shared world: the sandbox is host A (underlay up0 192.0.2.11/24, bridge brA 10.244.1.0/24,
container cA 10.244.1.10); namespace "B" is host B (eth0 192.0.2.12/24, a hand-made vxlan device the way the
tutorials do it, bridge brB 10.244.2.0/24, container cB 10.244.2.10). C (10.244.3.0/24 at 192.0.2.13) exists
only in the inventory. The steps run in order on one world: building it once is most of the cost."""
import json
import socket

import pytest

from helpers.converge import changes, converge
from helpers.kernel import dump
from helpers_fw import Servers, http_get, save, sh

RTMGRP_NEIGH = 0x4
CLUSTER = "10.244.0.0/16"
B = dict(name="h2", subnet="10.244.2.0/24", address="192.0.2.12")
C = dict(name="h3", subnet="10.244.3.0/24", address="192.0.2.13")
SPEC = dict(subnet="10.244.1.0/24", local="192.0.2.11", cluster_cidr=CLUSTER, peers=[B, C],
            networks=[dict(bridge="brA", subnet="10.244.1.0/24")])
MAC_A, MAC_B, MAC_C = "0a:6e:0a:f4:01:00", "0a:6e:0a:f4:02:00", "0a:6e:0a:f4:03:00"


def j(*args, ns=None):
    out = sh(*args, ns=ns).stdout
    return json.loads(out or "[]")


def entries():
    """Neighbours, FDB entries and our routes of the vxlan device, as ip/bridge print them."""
    neigh = sorted("%s %s %s" % (n["dst"], n.get("lladdr"), ",".join(n.get("state", [])))
                   for n in j("ip", "-j", "neigh", "show", "dev", "np-vxlan"))
    fdb = sorted("%s %s" % (f["mac"], f.get("dst")) for f in j("bridge", "-j", "fdb", "show", "dev", "np-vxlan"))
    routes = sorted("%s via %s" % (r["dst"], r.get("gateway"))
                    for r in j("ip", "-j", "-4", "route", "show", "proto", "151"))
    return neigh, fdb, routes


class NeighMonitor:
    """Counts neighbour/FDB notifications (the rtnetlink group the shared Monitor does not listen to)."""

    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.s.bind((0, RTMGRP_NEIGH))
        self.s.setblocking(False)

    def events(self):
        n = 0
        while True:
            try:
                self.s.recv(65536)
            except BlockingIOError:
                return n
            n += 1

    def close(self):
        self.s.close()


def full_dump():
    d = dump()
    d["neigh"], d["fdb"], d["routes151"] = entries() if sh("ip", "link", "show", "np-vxlan", check=False).returncode \
        == 0 else ([], [], [])
    d["rules"] = save()
    return d


@pytest.fixture
def world(sandbox, run):
    sh("ip", "netns", "add", "B")
    sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "B")
    sh("ip", "addr", "add", "192.0.2.11/24", "dev", "up0")
    sh("ip", "link", "set", "up0", "up")
    assert run("linux_bridge", dict(name="brA", addresses=["10.244.1.1/24"]))["changed"]
    assert run("netns", dict(name=["cA", "cB"]))["changed"]
    res = run("veth_pair", dict(pairs=[dict(name="vA", peer="eth0", peer_netns="cA", bridge="brA", mtu=1450,
                                            peer_addresses=["10.244.1.10/24"], peer_gateway="10.244.1.1")]))
    assert not res.get("failed"), res
    assert not run("container_nat", dict(bridge="brA", subnet="10.244.1.0/24")).get("failed")
    for cmd in (["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                ["ip", "addr", "add", "192.0.2.12/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                # host B, by hand, as the tutorials build flannel's vxlan backend
                ["ip", "link", "add", "vx", "address", MAC_B, "type", "vxlan", "id", "151", "dstport", "8472",
                 "local", "192.0.2.12", "dev", "eth0", "nolearning"],
                ["ip", "addr", "add", "10.244.2.0/32", "dev", "vx"], ["ip", "link", "set", "vx", "up"],
                ["ip", "route", "add", "10.244.1.0/24", "via", "10.244.1.0", "dev", "vx", "onlink"],
                ["ip", "neigh", "add", "10.244.1.0", "lladdr", MAC_A, "dev", "vx", "nud", "permanent"],
                ["bridge", "fdb", "append", MAC_A, "dev", "vx", "dst", "192.0.2.11"],
                ["ip", "link", "add", "brB", "type", "bridge"], ["ip", "addr", "add", "10.244.2.1/24", "dev", "brB"],
                ["ip", "link", "set", "brB", "up"],
                ["ip", "link", "add", "vB", "mtu", "1450", "type", "veth", "peer", "name", "eth0", "mtu", "1450",
                 "netns", "cB"],
                ["ip", "link", "set", "vB", "master", "brB", "up"]):
        sh(*cmd, ns="B")
    for cmd in (["ip", "addr", "add", "10.244.2.10/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "10.244.2.1"]):
        sh(*cmd, ns="cB")
    servers = Servers()
    try:
        servers.start("cA", "0.0.0.0", 8000)
        servers.start("cB", "0.0.0.0", 8000)
        yield servers
    finally:
        servers.close()


def refused(run, spec, field, needle):
    before = full_dump()
    for check in (True, False):
        res = run("vxlan_overlay", spec, check=check)
        assert res.get("failed") and res["msg"].startswith(field + "=") and needle in res["msg"], res
        assert res["commands"] == []
    after = full_dump()
    assert after == before, changes(before, after)


@pytest.mark.deb
def test_overlay_story(world, run):
    # --- refused before any change: a declared MTU that does not fit, foreign vxlan devices on our VNI or port,
    # our name on a link that is not ours
    refused(run, dict(SPEC, networks=[dict(bridge="brA", subnet="10.244.1.0/24", mtu=1500)]), "networks[0].mtu",
            "MTU 1500, minus 50 for VXLAN over IPv4 leaves 1450")
    sh("ip", "link", "add", "fx", "type", "vxlan", "id", "151", "dstport", "9999", "local", "192.0.2.11",
       "nolearning")
    refused(run, SPEC, "vni", "fx (not netplumb's)")
    sh("ip", "link", "del", "fx")
    sh("ip", "link", "add", "fx", "type", "vxlan", "id", "77", "dstport", "8472", "local", "192.0.2.11")
    refused(run, SPEC, "port", "fx (VNI 77, not netplumb's)")
    sh("ip", "link", "del", "fx")
    sh("ip", "link", "add", "np-vxlan", "type", "vxlan", "id", "151", "dstport", "8472", "local", "192.0.2.11")
    refused(run, SPEC, "device", "not netplumb's")
    sh("ip", "link", "del", "np-vxlan")

    # a foreign vxlan device on another VNI and port, with entries of its own: never touched (checked at the end)
    sh("ip", "link", "add", "fy", "type", "vxlan", "id", "78", "dstport", "9998", "local", "192.0.2.11", "nolearning")
    sh("bridge", "fdb", "append", "02:00:00:00:00:78", "dev", "fy", "dst", "192.0.2.78")
    sh("ip", "neigh", "add", "10.78.0.1", "lladdr", "02:00:00:00:00:78", "dev", "fy", "nud", "permanent")
    foreign = (sh("ip", "-d", "-j", "link", "show", "fy").stdout, sh("bridge", "fdb", "show", "dev", "fy").stdout,
               sh("ip", "neigh", "show", "dev", "fy").stdout)

    # --- before: A cannot reach B's containers; A ran host-gw (a route to C's subnet via its underlay address and
    # the exemptions on up0), which the overlay takes over: the route replaced, the exemptions moved to np-vxlan
    assert http_get("cA", "10.244.2.10", 8000, timeout=0.5) is None
    assert run("host_gw_routes", dict(routes=[dict(subnet=C["subnet"], via=C["address"])], cluster_cidr=CLUSTER,
                                      underlay="up0", networks=SPEC["networks"]))["changed"]

    # --- check == real, then a re-run with zero writes (links, addresses, routes; neighbours and FDB too)
    res = converge(run, "vxlan_overlay", SPEC)
    assert res["commands"][:4] == [
        "ip link add np-vxlan address %s mtu 1450 type vxlan id 151 dstport 8472 local 192.0.2.11 dev up0 "
        "nolearning" % MAC_A, "ip link set np-vxlan alias netplumb", "ip link set np-vxlan up",
        "bridge fdb append %s dev np-vxlan dst 192.0.2.12 self permanent"
        % MAC_B]
    assert (res["mtu"], res["underlay"], res["underlay_mtu"]) == (1450, "up0", 1500)
    assert res["vtep"] == dict(address="10.244.1.0", mac=MAC_A)
    mon = NeighMonitor()
    try:
        state = full_dump()
        again = run("vxlan_overlay", SPEC)
        assert again["changed"] is False and again["commands"] == [], again
        assert mon.events() == 0, "the re-run wrote neighbour or FDB entries"
        assert full_dump() == state
    finally:
        mon.close()
    link = j("ip", "-d", "-j", "link", "show", "np-vxlan")[0]
    info = link["linkinfo"]["info_data"]
    got = (info["id"], info["port"], info["learning"], info["local"], info["link"])
    assert got == (151, 8472, False, "192.0.2.11", "up0")
    assert (link["address"], link["mtu"], link["ifalias"]) == (MAC_A, 1450, "netplumb")
    assert not [a for x in j("ip", "-j", "-4", "addr", "show", "dev", "np-vxlan") for a in x["addr_info"]]
    neigh, fdb, routes = entries()
    assert neigh == ["10.244.2.0 %s PERMANENT" % MAC_B, "10.244.3.0 %s PERMANENT" % MAC_C]
    assert fdb == ["%s 192.0.2.12" % MAC_B, "%s 192.0.2.13" % MAC_C]
    assert routes == ["10.244.2.0/24 via 10.244.2.0", "10.244.3.0/24 via 10.244.3.0"]
    # the port accepts the peers only; the fleet exemptions name the vxlan device
    rules = save()
    assert "-A NETPLUMB-INPUT -s 192.0.2.12/32 -p udp -m udp --dport 8472 -m comment --comment \"netplumb:vxlan/peer\" " \
           "-j ACCEPT" in rules
    assert "-A NETPLUMB-INPUT -p udp -m udp --dport 8472 -m comment --comment \"netplumb:vxlan/drop\" -j DROP" in rules
    assert [ln for ln in rules.splitlines() if ln.startswith("-A NETPLUMB-POSTROUTING")][0].startswith(
        "-A NETPLUMB-POSTROUTING -s 10.244.1.0/24 -d 10.244.0.0/16 -o np-vxlan")
    assert not [ln for ln in rules.splitlines() if "netplumb:fleet/" in ln and "up0" in ln]

    # container_network_info reads the overlay back in this module's arguments (the foreign fy is not ours)
    info = run("container_network_info", {})
    assert info["overlay"] == [dict(device="np-vxlan", vni=151, port=8472, local="192.0.2.11", underlay="up0",
                                    mtu=1450, up=True, subnet="10.244.1.0/24",
                                    peers=[dict(subnet="10.244.2.0/24", address="192.0.2.12"),
                                           dict(subnet="10.244.3.0/24", address="192.0.2.13")])], info["overlay"]
    assert not [u for u in info["unmanaged"] if "np-vxlan" in u["name"]], info["unmanaged"]

    # --- the containers see each other's own addresses, both ways, through the overlay
    assert http_get("cA", "10.244.2.10", 8000) == "10.244.1.10"
    assert http_get("cB", "10.244.1.10", 8000) == "10.244.2.10"
    counted = [ln for ln in sh("iptables", "-w", "-v", "-x", "-n", "-L", "NETPLUMB-INPUT").stdout.splitlines()
               if "192.0.2.12" in ln]
    assert counted and int(counted[0].split()[0]) > 0, counted      # B's VXLAN packets met the peer accept

    # --- h3 leaves the inventory: its route, neighbour, FDB entry and accept go, B's stay, nothing else changes
    left = dict(SPEC, peers=[B])
    res = converge(run, "vxlan_overlay", left)
    assert sorted(res["commands"][:3]) == sorted([
        "ip route del 10.244.3.0/24 proto 151", "ip neigh del 10.244.3.0 dev np-vxlan",
        "bridge fdb del %s dev np-vxlan dst 192.0.2.13 self permanent" % MAC_C])
    neigh, fdb, routes = entries()
    assert (neigh, fdb, routes) == (["10.244.2.0 %s PERMANENT" % MAC_B], ["%s 192.0.2.12" % MAC_B],
                                    ["10.244.2.0/24 via 10.244.2.0"])
    assert "192.0.2.13" not in save()
    assert http_get("cA", "10.244.2.10", 8000) == "10.244.1.10"

    # --- a foreign neighbour on another link and a foreign route stay untouched
    sh("ip", "route", "add", "10.99.0.0/16", "via", "192.0.2.50")
    sh("ip", "neigh", "add", "192.0.2.77", "lladdr", "02:00:00:00:00:77", "dev", "up0", "nud", "permanent")
    again = run("vxlan_overlay", left)
    assert again["changed"] is False, again

    # --- absent: our device (and everything on it) and our port rules go; the foreign ones and brA's stay
    res = converge(run, "vxlan_overlay", dict(state="absent"))
    assert res["commands"][0] == "ip link del np-vxlan"
    assert run("container_network_info", {})["overlay"] == []
    assert sh("ip", "link", "show", "np-vxlan", check=False).returncode != 0
    rules = save()
    assert "netplumb:vxlan/" not in rules and "netplumb:brA" in rules
    assert "10.99.0.0/16 via 192.0.2.50" in sh("ip", "route").stdout
    assert "192.0.2.77" in sh("ip", "neigh", "show", "dev", "up0").stdout
    assert (sh("ip", "-d", "-j", "link", "show", "fy").stdout, sh("bridge", "fdb", "show", "dev", "fy").stdout,
            sh("ip", "neigh", "show", "dev", "fy").stdout) == foreign
    # absent with a foreign link of our device's name (the role runs absent in the other modes): left alone
    sh("ip", "link", "add", "np-vxlan", "type", "vxlan", "id", "151", "dstport", "8472", "local", "192.0.2.11")
    res = run("vxlan_overlay", dict(state="absent"))
    assert not res.get("failed") and res["changed"] is False and "not netplumb's" in res["warnings"][0], res
    assert sh("ip", "link", "show", "np-vxlan", check=False).returncode == 0
