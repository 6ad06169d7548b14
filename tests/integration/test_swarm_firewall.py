"""swarm_firewall with real packets. The sandbox namespace is the Swarm node (192.0.2.11 on up0); "peer" is a
Swarm peer at 192.0.2.12 behind up0, "stranger" a host at 198.51.100.2 behind up1 (the node routes nothing:
both are directly connected). TCP is proven with connections, UDP and ESP with the rules' packet counters."""
import subprocess
import sys

import pytest

from helpers_fw import Servers, converge_fw, http_get, our_lines, save, sh

NODE = "192.0.2.11"
PEER = "192.0.2.12"
STRANGER = "198.51.100.2"

FOREIGN = """*filter
:HOSTFW - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -j HOSTFW
-A HOSTFW -s 203.0.113.0/24 -j DROP
COMMIT
"""

SEND = r'''
import socket, sys
proto, addr = sys.argv[1], sys.argv[2]
if proto == "esp":
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
    s.sendto(b"\x00\x00\x10\x01" + b"\x00" * 28, (addr, 0))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"probe", (addr, int(sys.argv[3])))
'''


def send(ns, proto, addr, port=0):
    sh(sys.executable, "-c", SEND, proto, addr, str(port), ns=ns)


def counters():
    """{(target, prot, source, ports): packets} of NETPLUMB-INPUT."""
    out = sh("iptables", "-t", "filter", "-L", "NETPLUMB-INPUT", "-v", "-x", "-n").stdout.splitlines()[2:]
    res = {}
    for line in out:
        f = line.split()
        ports = line.split("dpt:")[-1].split()[0] if "dpt:" in line else (
            line.split("dports ")[-1].split()[0] if "dports" in line else "")
        res[(f[2], f[3], f[7], ports)] = int(f[0])
    return res


def delta(before, after):
    return dict((k, after[k] - before.get(k, 0)) for k in after if after[k] != before.get(k, 0))


def args(**kw):
    out = dict(peers=[PEER, NODE], manager=True)
    out.update(kw)
    return out


@pytest.fixture
def node(sandbox):
    subprocess.run(["iptables-restore", "--noflush"], input=FOREIGN, text=True, check=True)
    for ns, up, addr, mine in (("peer", "up0", PEER, NODE), ("stranger", "up1", STRANGER, "198.51.100.1")):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", up, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "addr", "add", mine + "/24", "dev", up)
        sh("ip", "link", "set", up, "up")
        sh("ip", "addr", "add", addr + "/24", "dev", "eth0", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    servers = Servers()
    try:
        for port in (2377, 7946, 8080):
            servers.start(None, "0.0.0.0", port)
        yield servers
    finally:
        servers.close()


def foreign_lines():
    return [line for line in save().splitlines() if "HOSTFW" in line or "dport 22" in line]


def test_manager_cycle_check_diff_real_idempotent(node, run):
    before = foreign_lines()
    res = converge_fw(run, "swarm_firewall", args())
    assert res["accepted"] == dict(peers=["192.0.2.12/32", "192.0.2.11/32"], tcp=[2377, 7946], udp=[4789, 7946],
                                   esp=True)
    assert res["diff"]["before"]["rules"] == []
    assert len(res["diff"]["after"]["rules"]) == 1 + 2 * 3 + 3
    assert foreign_lines() == before
    lines = our_lines()
    # our jump is the first rule of INPUT, ahead of the host's own
    assert [ln for ln in save().splitlines() if ln.startswith("-A INPUT")][0] == "-A INPUT -j NETPLUMB-INPUT"
    assert all("netplumb:swarm/" in ln for ln in lines if ln.startswith("-A NETPLUMB-INPUT"))


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_tcp_from_peer_accepted_from_stranger_dropped(node, run, backend):
    assert run("swarm_firewall", args(peers=[PEER], firewall_backend=backend))["changed"]
    for port in (2377, 7946):
        assert http_get("peer", NODE, port) == PEER
        assert http_get("stranger", "198.51.100.1", port, timeout=0.5) is None
    # every other port is left to the host's own rules (INPUT policy ACCEPT here)
    assert http_get("stranger", "198.51.100.1", 8080) == STRANGER
    # the node reaches its own ports (over lo), though it is not in peers
    assert http_get(None, NODE, 2377) == NODE


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_worker_drops_2377_from_everyone(node, run, backend):
    assert run("swarm_firewall", args(manager=False, firewall_backend=backend))["changed"]
    assert http_get("peer", NODE, 2377, timeout=0.5) is None
    assert http_get("peer", NODE, 7946) == PEER


def test_udp_and_esp_counted(node, run):
    assert run("swarm_firewall", args(data_path_port=4790))["changed"]
    c0 = counters()
    for port in (7946, 4790):
        send("peer", "udp", NODE, port)
        send("stranger", "udp", "198.51.100.1", port)
    send("peer", "esp", NODE)
    send("stranger", "esp", "198.51.100.1")
    d = delta(c0, counters())
    assert d == {
        ("ACCEPT", "17", "192.0.2.12", "4790,7946"): 2,
        ("DROP", "17", "0.0.0.0/0", "4790,7946"): 2,
        ("ACCEPT", "50", "192.0.2.12", ""): 1,
        ("DROP", "50", "0.0.0.0/0", ""): 1,
    }, d


def test_esp_false_writes_no_esp_rule(node, run):
    res = converge_fw(run, "swarm_firewall", args(esp=False))
    assert not [r for r in res["diff"]["after"]["rules"] if "esp" in r]
    c0 = counters()
    send("stranger", "esp", "198.51.100.1")
    assert delta(c0, counters()) == {}


def test_change_of_peers_and_port_touches_only_the_difference(node, run):
    assert run("swarm_firewall", args())["changed"]
    res = converge_fw(run, "swarm_firewall", args(peers=[PEER, "198.51.100.0/24", "198.51.100.2"],
                                                  data_path_port=4800))
    assert res["accepted"]["peers"] == ["192.0.2.12/32", "198.51.100.0/24"]
    assert http_get("stranger", "198.51.100.1", 7946) == STRANGER
    assert not any("4789" in c for c in res["commands"] if c.startswith("iptables -t filter -A")), res["commands"]


def test_absent_removes_exactly_ours(node, run):
    before = save()
    assert run("swarm_firewall", args())["changed"]
    res = converge_fw(run, "swarm_firewall", dict(state="absent"))
    assert res["diff"]["after"]["rules"] == []
    assert save() == before
    assert http_get("stranger", "198.51.100.1", 2377) == STRANGER


def test_absent_keeps_other_owners_rules(node, run):
    subprocess.run(["iptables-restore", "--noflush"], input="*filter\n:NETPLUMB-FORWARD - [0:0]\n"
                   "-A FORWARD -j NETPLUMB-FORWARD\n-A NETPLUMB-FORWARD -i br9 -m comment --comment netplumb:br9 "
                   "-j ACCEPT\nCOMMIT\n", text=True, check=True)
    before = save()
    assert run("swarm_firewall", args())["changed"]
    assert [ln for ln in save().splitlines() if "netplumb:br9" in ln]
    assert run("swarm_firewall", dict(state="absent"))["changed"]
    assert save() == before


@pytest.mark.parametrize("bad,field", [
    (dict(peers=["192.0.2.300"]), "peers[0]"),
    (dict(peers=[PEER, "0.0.0.0/0"]), "peers[1]"),
    (dict(peers=["2001:db8::1"]), "peers[0]"),
    (dict(peers=["192.0.2.1/24"]), "peers[0]"),
    (dict(data_path_port=7946), "data_path_port"),
    (dict(data_path_port=70000), "data_path_port"),
])
def test_bad_input_refused_before_any_change(node, run, bad, field):
    before = save()
    for check in (True, False):
        res = run("swarm_firewall", args(**bad), check=check)
        assert res.get("failed") and res["msg"].startswith(field + "="), res
        assert res["changed"] is False and res["commands"] == []
        assert save() == before


def test_foreign_rule_in_our_chain_and_duplicate_jump_repaired(node, run):
    assert run("swarm_firewall", args())["changed"]
    sh("iptables", "-I", "NETPLUMB-INPUT", "1", "-j", "ACCEPT")
    sh("iptables", "-A", "INPUT", "-j", "NETPLUMB-INPUT")
    res = run("swarm_firewall", args())
    assert res["changed"] and res["warnings"], res
    assert http_get("stranger", "198.51.100.1", 2377, timeout=0.5) is None
    assert [ln for ln in save().splitlines() if ln.startswith("-A INPUT")][0] == "-A INPUT -j NETPLUMB-INPUT"
    assert save().count("-j NETPLUMB-INPUT") == 1
    assert run("swarm_firewall", args())["changed"] is False
