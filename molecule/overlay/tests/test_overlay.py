"""container_cross_host: vxlan on the routed lab: every host has the overlay device and, for every other host, a
route, a permanent neighbour and an FDB entry derived from the inventory; a container on h1 reaches one on h3
with its own address, and the lab's router forwards nothing between the hosts but UDP to the VXLAN port."""
import json
import os
import sys

import netcheck
import pytest

sys.path.insert(0, os.path.join(netcheck.ROOT, ".build", "collections"))

from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
ADDR = dict((h, "192.0.2.%d" % (11 + i)) for i, h in enumerate(HOSTS))
ALLOC = allocate("10.244.0.0/16", 24, [dict(name=h, subnets=[]) for h in HOSTS])
CONTAINERS = dict(h1=("f1", 10), h3=("f3", 10))


def subnet(h):
    return ALLOC[h]["subnet"]


def vtep(h):
    return subnet(h).split("/")[0]


def mac(h):
    return "0a:6e:" + ":".join("%02x" % int(x) for x in vtep(h).split("."))


def caddr(h):
    base = vtep(h).split(".")
    return ".".join(base[:3] + [str(int(base[3]) + CONTAINERS[h][1])])


def counters():
    out = netcheck.lab_exec("top", "nft", "-j", "list", "counters", "table", "inet", "netlab")
    assert out.returncode == 0, out.stderr
    return dict((c["counter"]["name"], c["counter"]["packets"]) for c in json.loads(out.stdout)["nftables"]
                if "counter" in c)


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


def test_no_shared_segment_host_gw_could_use(host, name):
    assert ("inet %s peer 192.0.2.1/32" % ADDR[name]) in host.check_output("ip -4 -o addr show dev eth0")


def test_device_and_entries_from_the_inventory(host, name):
    link = json.loads(host.check_output("ip -d -j link show np-vxlan"))[0]
    info = link["linkinfo"]["info_data"]
    assert (info["id"], info["port"], info["learning"], info["local"]) == (151, 8472, False, ADDR[name])
    assert (link["address"], link["mtu"], link["ifalias"]) == (mac(name), 1450, "netplumb")
    others = [o for o in HOSTS if o != name]
    routes = sorted(r.strip() for r in host.check_output("ip -4 route show proto 151").splitlines())
    assert routes == sorted("%s via %s dev np-vxlan onlink" % (subnet(o), vtep(o)) for o in others)
    neigh = host.check_output("ip neigh show dev np-vxlan nud permanent")
    fdb = host.check_output("bridge fdb show dev np-vxlan")
    for o in others:
        assert "%s lladdr %s PERMANENT" % (vtep(o), mac(o)) in neigh
        assert "%s dst %s self permanent" % (mac(o), ADDR[o]) in fdb
    if name in CONTAINERS:      # the containers get the overlay's MTU (the underlay's 1500 - 50)
        assert "mtu 1450" in host.check_output("ip netns exec %s ip link show eth0" % CONTAINERS[name][0])


def test_h1_reaches_h3_with_its_own_address_only_vxlan_crosses_the_router(host, name):
    if name != "h1":
        pytest.skip("the probe runs once, from h1")
    before = counters()
    assert before["other"] == 0, before     # the converge sent nothing host to host but VXLAN
    listener = CONTAINERS["h3"][0]
    netcheck.serve_peer_address("h3", listener)
    assert netcheck.ask(host, caddr("h3"), 7070, netns="f1") == caddr("h1")
    after = counters()
    assert after["vxlan"] > before["vxlan"] and after["other"] == 0, (before, after)


def test_the_overlay_comes_back_at_boot_without_ansible(host, name):
    """container_network_persist on h1 saves the overlay's arguments (the role's vxlan_overlay task) with the
    networks; the boot command finds the converged host converged, and puts back an FDB entry taken away by
    hand - with the exact command the module would run, no Ansible."""
    if name != "h1":
        pytest.skip("only h1 persists (host_vars)")
    saved = json.loads(host.check_output("cat /etc/netplumb/networks.json"))
    cross = saved["cross_host"]
    assert cross["module"] == "vxlan_overlay"
    assert (cross["args"]["local"], cross["args"]["vni"], cross["args"]["port"]) == (ADDR["h1"], 151, 8472)
    assert sorted(p["address"] for p in cross["args"]["peers"]) == [ADDR["h2"], ADDR["h3"]]
    boot = "/usr/bin/python3 -E -s -B /etc/netplumb/lib/netplumb-networks.py"
    idle = host.run(boot)
    assert (idle.rc, idle.stdout) == (0, ""), idle
    entry = "%s dev np-vxlan dst %s self permanent" % (mac("h3"), ADDR["h3"])
    host.check_output("bridge fdb del " + entry)
    back = host.run(boot)
    assert back.rc == 0, back
    assert back.stdout.splitlines() == ["bridge fdb append " + entry], back.stdout
    assert "%s dst %s self permanent" % (mac("h3"), ADDR["h3"]) in host.check_output("bridge fdb show dev np-vxlan")
