"""Docker 29 in nftables mode beside us, imitated with its real ruleset (issue 15, item 4).

Docker's table is the one moby renders (integration/network/bridge/nftablesdoc, "new-daemon", plus the rule its
daemon option ``bridge-accept-fwmark=2/3`` adds to each network's filter-forward-in chain, as its TestAcceptFwMark
starts it): base chain filter-FORWARD jumping through verdict maps to a chain per Docker network, which accepts
replies, the mark, ICC, and drops the rest ("UNPUBLISHED PORT DROP"). An accept in our table is not final.

"docker-nft": with real packets, and Docker's table byte-for-byte unchanged in every case:
* without docker_accept_fwmark, our containers' connections into Docker's network are dropped by Docker and the run
  says so, naming bridge-accept-fwmark and docker_accept_fwmark; our egress and published ports are not Docker's
  business (its chains only see its own bridges) and work;
* with docker_accept_fwmark=2/3 (check+diff -> real -> idempotent re-run) the same connections go through,
  egress and a published port keep working, no warning;
* a mark Docker does not accept (its option unset) is warned about, and the packets prove it;
* Docker's filter-FORWARD policy drop (set when Docker enabled IP forwarding itself) drops all our forwarded
  traffic whatever the mark; the warning names ip-forward-no-drop, and its second fix opens it;
* the iptables driver does not set the mark: it says so;
* the module container_network takes it per network (networks[].docker_accept_fwmark, the role's schema).
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers.converge import converge  # noqa: E402
from helpers_fw import Servers, http_get, sh  # noqa: E402

pytestmark = pytest.mark.category("docker-nft")

BRIDGE = "br-x"
NFT = dict(firewall_backend="nftables")
NAT = dict(bridge=BRIDGE, subnet="172.18.0.0/24", **NFT)
MARKED = dict(NAT, docker_accept_fwmark="2/3")
PUB = dict(host_port=8080, container_ip="172.18.0.10", container_port=80, bridge=BRIDGE, **NFT)
ALLOW_FW_MARK = '\t\tmeta mark and 3 == 2 counter accept comment "ALLOW FW MARK"\n'


def docker_ruleset(policy="accept", fwmark=True):
    """Docker 29's table ip docker-bridges with its default network docker0 (172.17.0.0/16)."""
    return """table ip docker-bridges {
\tchain filter-forward-in__docker0 {
\t\tct state established,related counter accept
%s\t\tiifname "docker0" counter accept comment "ICC"
\t\tcounter drop comment "UNPUBLISHED PORT DROP"
\t}
\tchain filter-forward-out__docker0 {
\t\tct state established,related counter accept
\t\tcounter accept comment "OUTGOING"
\t}
\tchain nat-postrouting-in__docker0 {
\t}
\tchain nat-postrouting-out__docker0 {
\t\toifname != "docker0" ip saddr 172.17.0.0/16 counter masquerade comment "MASQUERADE"
\t}
\tchain nat-prerouting-and-output {
\t}
\tmap filter-forward-in-jumps {
\t\ttype ifname : verdict
\t\telements = { "docker0" : jump filter-forward-in__docker0 }
\t}
\tmap filter-forward-out-jumps {
\t\ttype ifname : verdict
\t\telements = { "docker0" : jump filter-forward-out__docker0 }
\t}
\tmap nat-postrouting-in-jumps {
\t\ttype ifname : verdict
\t\telements = { "docker0" : jump nat-postrouting-in__docker0 }
\t}
\tmap nat-postrouting-out-jumps {
\t\ttype ifname : verdict
\t\telements = { "docker0" : jump nat-postrouting-out__docker0 }
\t}
\tchain filter-FORWARD {
\t\ttype filter hook forward priority filter; policy %s;
\t\toifname vmap @filter-forward-in-jumps
\t\tiifname vmap @filter-forward-out-jumps
\t}
\tchain nat-OUTPUT {
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output
\t}
\tchain nat-POSTROUTING {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tiifname vmap @nat-postrouting-out-jumps
\t\toifname vmap @nat-postrouting-in-jumps
\t}
\tchain nat-PREROUTING {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local counter jump nat-prerouting-and-output
\t}
\tchain raw-PREROUTING {
\t\ttype filter hook prerouting priority raw; policy accept;
\t}
}
""" % (ALLOW_FW_MARK if fwmark else "", policy)


def docker_table():
    """Docker's table as nft prints it, counters left out (packets move them, not us)."""
    return sh("nft", "-s", "list", "table", "ip", "docker-bridges").stdout


def load(text):
    subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)


@pytest.fixture
def run(run):
    from ansible.module_utils.common import warnings

    def fresh(name, args, check=False, diff=True):
        warnings._global_warnings.clear()   # pylint: disable=protected-access
        return run(name, args, check=check, diff=diff)
    return fresh


@pytest.fixture
def wired(sandbox, run):
    """Our br-x with container c0 (172.18.0.10, serving on 80); Docker's docker0 (172.17.0.1/16, not ours) with
    container d0 (172.17.0.2, serving on 80); an "internet" namespace out (198.51.100.1, serving on 8000)
    behind eth0 (192.0.2.10 - 192.0.2.1)."""
    assert run("netns", dict(name=["out", "c0"]))["changed"]
    assert run("linux_bridge", dict(name=BRIDGE, addresses=["172.18.0.1/24"]))["changed"]
    res = run("veth_pair", dict(pairs=[
        dict(name="eth0", peer="up0", peer_netns="out", addresses=["192.0.2.10/24"],
             peer_addresses=["192.0.2.1/24"]),
        dict(name="vx0", peer="ceth0", peer_netns="c0", bridge=BRIDGE, peer_addresses=["172.18.0.10/24"],
             peer_gateway="172.18.0.1")]))
    assert res["changed"] and not res.get("failed"), res
    sh("ip", "addr", "add", "198.51.100.1/32", "dev", "lo", ns="out")
    sh("ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0")
    # Docker's bridge and a container of it, made the way Docker makes them (no netplumb mark)
    sh("ip", "netns", "add", "d0")
    sh("ip", "link", "add", "docker0", "type", "bridge")
    sh("ip", "addr", "add", "172.17.0.1/16", "dev", "docker0")
    sh("ip", "link", "set", "docker0", "up")
    sh("ip", "link", "add", "veth-d0", "type", "veth", "peer", "name", "eth0", "netns", "d0")
    sh("ip", "link", "set", "veth-d0", "master", "docker0", "up")
    sh("ip", "addr", "add", "172.17.0.2/16", "dev", "eth0", ns="d0")
    sh("ip", "link", "set", "eth0", "up", ns="d0")
    sh("ip", "link", "set", "lo", "up", ns="d0")
    sh("ip", "route", "add", "default", "via", "172.17.0.1", ns="d0")
    servers = Servers()
    try:
        servers.start("out", "0.0.0.0", 8000)
        servers.start("c0", "0.0.0.0", 80)
        servers.start("d0", "0.0.0.0", 80)
        yield
    finally:
        servers.close()
        sh("ip", "netns", "del", "d0", check=False)
        sh("ip", "link", "del", "docker0", check=False)


def docker_warnings(res):
    return [w for w in res["warnings"] if "docker-bridges" in w or "docker_accept_fwmark" in w]


def test_without_the_mark_docker_drops_our_connections_into_its_network_and_the_run_says_so(wired, run):
    load(docker_ruleset())
    before = docker_table()
    for check in (True, False, False):
        res = run("container_nat", NAT, check=check)
        assert not res.get("failed"), res
        [w] = docker_warnings(res)
        assert "bridge-accept-fwmark" in w and "docker_accept_fwmark" in w and "filter-forward-in__docker0" in w, w
        assert "0x2/0x3" in w, w        # the mark Docker accepts, read from its rule
    assert http_get("c0", "172.17.0.2", 80, timeout=0.5) is None          # the warning is true
    assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"          # Docker's chains do not see egress
    res = run("port_publish", PUB)
    assert res["changed"] and not res.get("failed"), res
    assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"            # nor a published port of ours
    assert docker_table() == before


def test_with_the_mark_docker_accepts_our_traffic(wired, run):
    load(docker_ruleset())
    before = docker_table()
    real = converge(run, "container_nat", MARKED)
    assert any("forward-mark" in c and "meta mark set meta mark & 0xfffffffe | 0x00000002" in c
               for c in real["commands"]), real["commands"]
    assert not docker_warnings(real), real["warnings"]
    converge(run, "port_publish", PUB)
    assert http_get("c0", "172.17.0.2", 80) == "172.17.0.1"               # into Docker's network (masqueraded)
    assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"          # egress
    assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"            # published port
    assert docker_table() == before
    # read back: container_network_info sees the network, nothing unmanaged
    info = run("container_network_info", NFT)
    assert not info.get("failed"), info
    assert not [u for u in info.get("unmanaged", []) if BRIDGE in str(u)], info.get("unmanaged")
    [net] = [n for n in info["container_networks"] if n["bridge"] == BRIDGE]
    assert net["docker_accept_fwmark"] == "0x2/0x3", net
    # unset: the mark rule goes, Docker drops again
    res = run("container_nat", NAT)
    assert res["changed"] and any("forward-mark" in c for c in res["commands"]), res
    assert http_get("c0", "172.17.0.2", 80, timeout=0.5) is None


def test_a_mark_docker_does_not_accept_is_warned_and_dropped(wired, run):
    load(docker_ruleset(fwmark=False))
    before = docker_table()
    res = run("container_nat", MARKED)
    assert res["changed"] and not res.get("failed"), res
    [w] = docker_warnings(res)
    assert "no mark (its bridge-accept-fwmark is not set)" in w and '"bridge-accept-fwmark": "0x2/0x3"' in w, w
    assert http_get("c0", "172.17.0.2", 80, timeout=0.5) is None
    assert docker_table() == before


def test_docker_forward_policy_drop_is_not_fixed_by_the_mark_and_the_warning_names_ip_forward_no_drop(wired, run):
    load(docker_ruleset(policy="drop"))
    before = docker_table()
    res = run("container_nat", MARKED)
    assert res["changed"] and not res.get("failed"), res
    [w] = [w for w in res["warnings"] if "another firewall" in w]
    assert "filter-FORWARD" in w and "policy drop" in w and "ip-forward-no-drop" in w, w
    assert http_get("c0", "198.51.100.1", 8000, timeout=0.5) is None     # the warning is true, mark or not
    assert docker_table() == before
    fix = w.split("until then: ", 1)[1].split(" (Docker sets it again", 1)[0]
    assert fix == "nft add chain ip docker-bridges filter-FORWARD '{ policy accept; }'", fix
    subprocess.run(fix, shell=True, check=True)
    assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"


def test_the_iptables_driver_says_it_does_not_set_the_mark(wired, run):
    load(docker_ruleset())
    before = docker_table()
    res = run("container_nat", dict(MARKED, firewall_backend="iptables"))
    assert res["changed"] and not res.get("failed"), res
    assert any("only the nftables driver sets the mark" in w for w in res["warnings"]), res["warnings"]
    assert http_get("c0", "172.17.0.2", 80, timeout=0.5) is None
    assert docker_table() == before


def test_the_module_container_network_takes_the_option_per_network(wired, run):
    """networks[].docker_accept_fwmark (the role's container_networks[] alike) reaches container_nat: the mark rule
    in check mode exactly as in real mode, then the network's container reaches Docker's."""
    load(docker_ruleset())
    before = docker_table()
    nets = [dict(name="web", bridge="br-y", subnet="172.20.0.0/24", docker_accept_fwmark="0x2/0x3",
                 containers=[dict(name="c1", address="172.20.0.10")])]
    args = dict(networks=nets, **NFT)
    check = run("container_network", args, check=True)
    real = run("container_network", args)
    assert not check.get("failed") and not real.get("failed"), (check, real)
    assert (check["changed"], check["commands"]) == (True, real["commands"])
    again = run("container_network", args)
    assert again["changed"] is False and again["commands"] == [], again
    assert any("forward-mark" in c and '"br-y"' in c for c in real["commands"]), real["commands"]
    assert http_get("c1", "172.17.0.2", 80) == "172.17.0.1"
    assert docker_table() == before
    # container_network_info gives it back in the same schema: fed to container_network, nothing to do
    info = run("container_network_info", NFT)
    [web] = [n for n in info["container_networks"] if n["bridge"] == "br-y"]
    assert web["docker_accept_fwmark"] == "0x2/0x3", web
    again = run("container_network", dict(networks=[web], **NFT))
    assert again["changed"] is False, again
    res = run("container_network", dict(networks=[dict(nets[0], state="absent")], **NFT))
    assert res["changed"] and not res.get("failed"), res
