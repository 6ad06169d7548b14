"""Real packets through container_nat + port_publish: the tutorial setup (br0 172.18.0.0/16, netns0 at
172.18.0.10 serving on 5000, masquerade, port 5000 published). The sandbox namespace is the host; "out" is
a neighbour on 192.0.2.0/24 joined by a veth; br1 (172.19.0.0/16) is a second network of ours."""
import re
import subprocess

import pytest

from helpers_fw import Probe, Servers, converge_fw, http_get, nft_table, our_lines, save, sh

FOREIGN = """*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -d 203.0.113.7/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.99.0.2:80
COMMIT
*filter
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -s 203.0.113.0/24 -j RETURN
COMMIT
"""


def counter(ns, table, chain, needle):
    out = sh("iptables", "-t", table, "-L", chain, "-v", "-x", "-n", ns=ns).stdout
    total = 0
    for line in out.splitlines():
        if needle in line:
            total += int(line.split()[0])
    return total


@pytest.fixture
def lab(sandbox, run):
    subprocess.run(["iptables-restore", "--noflush"], input=FOREIGN, text=True, check=True)
    foreign = [line for line in save().splitlines() if "DOCKER" in line]
    res = run("netns", dict(name=["out", "c0", "c1", "c3"]))
    assert res["changed"], res
    assert run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))["changed"]
    assert run("linux_bridge", dict(name="br1", addresses=["172.19.0.1/16"]))["changed"]
    res = run("veth_pair", dict(pairs=[
        dict(name="up0", peer="eth0", peer_netns="out", addresses=["192.0.2.1/24"], peer_addresses=["192.0.2.2/24"]),
        dict(name="veth0", peer="ceth0", peer_netns="c0", bridge="br0", peer_addresses=["172.18.0.10/16"],
             peer_gateway="172.18.0.1"),
        dict(name="veth1", peer="ceth0", peer_netns="c1", bridge="br0", peer_addresses=["172.18.0.20/16"],
             peer_gateway="172.18.0.1"),
        dict(name="veth3", peer="ceth0", peer_netns="c3", bridge="br1", peer_addresses=["172.19.0.10/16"],
             peer_gateway="172.19.0.1"),
    ]))
    assert res["changed"] and not res.get("failed"), res
    servers = Servers()
    try:
        servers.start("out", "0.0.0.0", 8000)
        servers.start("c0", "0.0.0.0", 5000)
        servers.start("c0", "0.0.0.0", 5001)
        servers.start("c3", "0.0.0.0", 5000)
        yield dict(foreign=foreign)
    finally:
        servers.close()


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_tutorial_setup(lab, run, backend):
    """Once per firewall backend. With iptables the early drops are counted in NETPLUMB-PREROUTING; with
    nftables (no counters in our rules) a probe table of the test counts the packets that reached the host."""
    fb = dict(firewall_backend=backend)
    probe = Probe() if backend == "nftables" else None

    def reached(needle, daddr, dport):
        """Packets of a probe that reached this host: counted where ours drops them (iptables) or before any
        chain (nftables)."""
        if probe is None:
            return counter(None, "raw", "NETPLUMB-PREROUTING", needle)
        return probe.packets(names[(daddr, dport)])
    names = {}
    if probe is not None:
        names[("127.0.0.1", 6000)] = probe.count_to("127.0.0.1", 6000)
        names[("172.18.0.10", 5000)] = probe.count_to("172.18.0.10", 5000)
    nat = dict(bridge="br0", subnet="172.18.0.0/16", **fb)
    pub = dict(host_port=5000, container_ip="172.18.0.10", **fb)
    # check mode before the first run predicts every change and writes nothing (converge_fw asserts it)
    check = run("container_nat", nat, check=True)
    assert check["changed"] and "sysctl -w net.ipv4.ip_forward=1" in check["commands"]
    converge_fw(run, "container_nat", nat)
    converge_fw(run, "container_nat", dict(bridge="br1", subnet="172.19.0.0/16", **fb))
    converge_fw(run, "port_publish", pub)
    loop = dict(host_port=6000, container_ip="172.18.0.10", container_port=5001, host_ip="127.0.0.1", **fb)
    res = converge_fw(run, "port_publish", loop)
    assert "sysctl -w net.ipv4.conf.br0.route_localnet=1" in res["commands"]
    with open("/proc/sys/net/ipv4/conf/all/route_localnet") as f:
        assert f.read().strip() == "0"

    # egress: the outside sees the host's address
    assert http_get("c0", "192.0.2.2", 8000) == "192.0.2.1"
    # outside -> host:5000 reaches the container, client address preserved
    assert http_get("out", "192.0.2.1", 5000) == "192.0.2.2"
    # host-local -> host:5000 (its outside address and the bridge address)
    assert http_get(None, "192.0.2.1", 5000) == "192.0.2.1"
    assert http_get(None, "172.18.0.1", 5000) is not None
    # hairpin: a neighbour's published port, then its own (br_netfilter bridges the DNATed packet back to
    # the port it came from: that needs hairpin mode on the container's bridge port, which veth_pair sets)
    assert http_get("c1", "192.0.2.1", 5000) == "172.18.0.1"
    assert http_get("c1", "172.18.0.1", 5000) == "172.18.0.1"
    assert "hairpin on" in subprocess.run(["ip", "-d", "link", "show", "veth0"], capture_output=True, text=True, check=False).stdout
    assert http_get("c0", "192.0.2.1", 5000) == "172.18.0.1"

    # 127.0.0.1:6000 works from the host...
    sh("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "5001", ns="c0")
    assert http_get(None, "127.0.0.1", 6000) == "172.18.0.1"
    seen = counter("c0", "filter", "INPUT", "dpt:5001")
    assert seen > 0
    # ...and not from a neighbour that routes 127.0.0.0/8 to us: nothing arrives in the container
    sh("sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1", ns="out")
    sh("ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local", ns="out")
    sh("ip", "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local", ns="out")
    sh("ip", "route", "add", "127.0.0.1/32", "via", "192.0.2.1", "dev", "eth0", ns="out")
    dropped = reached("127.0.0.0/8", "127.0.0.1", 6000)
    assert http_get("out", "127.0.0.1", 6000, timeout=0.5) is None
    assert reached("127.0.0.0/8", "127.0.0.1", 6000) > dropped, "the probe never reached us"
    assert counter("c0", "filter", "INPUT", "dpt:5001") == seen

    # container addresses are not reachable directly from outside
    sh("ip", "route", "add", "172.18.0.0/16", "via", "192.0.2.1", ns="out")
    sh("ip", "route", "add", "172.19.0.0/16", "via", "192.0.2.1", ns="out")
    sh("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "5000", ns="c0")
    before = counter("c0", "filter", "INPUT", "dpt:5000")
    direct = reached("172.18.0.0/16", "172.18.0.10", 5000)
    assert http_get("out", "172.18.0.10", 5000, timeout=0.5) is None
    assert reached("172.18.0.0/16", "172.18.0.10", 5000) > direct
    assert counter("c0", "filter", "INPUT", "dpt:5000") == before

    # isolate: br0 and br1 cannot reach each other, both ways; isolate=false on both opens it
    assert http_get("c0", "172.19.0.10", 5000, timeout=0.5) is None
    assert http_get("c3", "172.18.0.10", 5000, timeout=0.5) is None
    converge_fw(run, "container_nat", dict(nat, isolate=False))
    converge_fw(run, "container_nat", dict(bridge="br1", subnet="172.19.0.0/16", isolate=False, **fb))
    # (masqueraded on the way: masquerade covers everything leaving the source bridge)
    assert http_get("c0", "172.19.0.10", 5000) == "172.19.0.1"
    assert http_get("c3", "172.18.0.10", 5000) == "172.18.0.1"
    assert http_get("out", "172.18.0.10", 5000, timeout=0.5) is None   # still not from outside
    converge_fw(run, "container_nat", dict(bridge="br1", subnet="172.19.0.0/16", **fb))
    assert http_get("c3", "172.18.0.10", 5000, timeout=0.5) is None     # isolated br1 cannot reach br0
    assert http_get("c0", "172.19.0.10", 5000, timeout=0.5) is None

    # removal leaves nothing of ours, no jump rule, route_localnet back off; Docker's rules untouched
    converge_fw(run, "port_publish", dict(loop, state="absent"))
    with open("/proc/sys/net/ipv4/conf/br0/route_localnet") as f:
        assert f.read().strip() == "0"
    converge_fw(run, "port_publish", dict(pub, state="absent"))
    converge_fw(run, "container_nat", dict(nat, state="absent"))
    assert our_lines() != []        # br1 still has its rules
    # ours are in one backend only: iptables chains or the nftables table
    assert ("NETPLUMB" in save().split("table inet netplumb")[0]) == (backend == "iptables")
    assert (nft_table() != "") == (backend == "nftables")
    converge_fw(run, "container_nat", dict(bridge="br1", subnet="172.19.0.0/16", state="absent", **fb))
    assert our_lines() == [] and nft_table() == ""
    assert not re.search(r"NETPLUMB", save())
    assert [line for line in save().splitlines() if "DOCKER" in line] == lab["foreign"]
