"""The firewall backends on the real kernel: what auto picks, switching from one backend to the other in one
run, our rules in both at once refused, recovery after a full flush, published ranges with real packets on both
backends, and living beside Docker (iptables mode: its rules byte for byte; nftables mode: the warning naming
its hook). The sandbox namespace is the host; "out" a neighbour on 192.0.2.0/24, "c0" a container of br0."""
import subprocess

import pytest

from helpers_fw import Servers, converge_fw, http_get, nft_table, our_lines, save, sh

NAT = dict(bridge="br0", subnet="172.18.0.0/24")
PUB = dict(ports=[dict(host_port=5000, container_ip="172.18.0.10"),
                  dict(host_port="8000-8001", container_ip="172.18.0.10", container_port="9000-9001",
                       host_ip="192.0.2.1"),
                  dict(host_port=6000, container_ip="172.18.0.10", container_port=5000, host_ip="127.0.0.1")])


def _libnftables_imports():
    try:
        import nftables  # noqa: F401  (python3-nftables: .venv-deb sees it, .venv does not)
    except ImportError:
        return False
    return True


def ipt_ours():
    return [line for line in save().split("table inet netplumb")[0].splitlines() if "NETPLUMB" in line]


@pytest.fixture
def host(sandbox, run):
    assert run("netns", dict(name=["out", "c0"]))["changed"]
    assert run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/24"]))["changed"]
    res = run("veth_pair", dict(pairs=[
        dict(name="up0", peer="eth0", peer_netns="out", addresses=["192.0.2.1/24"], peer_addresses=["192.0.2.2/24"]),
        dict(name="veth0", peer="ceth0", peer_netns="c0", bridge="br0", peer_addresses=["172.18.0.10/24"],
             peer_gateway="172.18.0.1")]))
    assert res["changed"] and not res.get("failed"), res
    servers = Servers()
    try:
        for port in (5000, 9000, 9001):
            servers.start("c0", "0.0.0.0", port)
        servers.start("out", "0.0.0.0", 8080)
        yield servers
    finally:
        servers.close()


def converge_all(run, backend, expect_changed=True):
    converge_fw(run, "container_nat", dict(NAT, firewall_backend=backend), expect_changed=expect_changed)
    return converge_fw(run, "port_publish", dict(PUB, firewall_backend=backend), expect_changed=expect_changed)


def works():
    """Egress, a published port from outside, a shifted range on host_ip, loopback publish from the host."""
    return (http_get("c0", "192.0.2.2", 8080), http_get("out", "192.0.2.1", 5000),
            http_get("out", "192.0.2.1", 8000), http_get("out", "192.0.2.1", 8001), http_get(None, "127.0.0.1", 6000))


WORKING = ("192.0.2.1", "192.0.2.2", "192.0.2.2", "192.0.2.2", "172.18.0.1")


# the nftables case is also run by `make integration-deb`: Debian's python3-nftables (libnftables) imports there
@pytest.mark.parametrize("backend", ["iptables", pytest.param("nftables", marks=pytest.mark.deb)])
def test_both_backends_publish_ranges_and_recover_after_a_full_flush(host, run, backend):
    # which nft path the driver takes here: libnftables where python3-nftables imports, else the nft binary
    from ansible_collections.netplumb.container.plugins.module_utils import _nftables
    assert (_nftables.NftTool().lib is not None) == _libnftables_imports()
    converge_all(run, backend)
    assert works() == WORKING
    assert bool(ipt_ours()) == (backend == "iptables") and bool(nft_table()) == (backend == "nftables")
    before = our_lines()
    sh("nft", "flush", "ruleset")      # everything: iptables-nft's tables and ours
    assert our_lines() == []
    res = run("container_nat", dict(NAT, firewall_backend=backend))
    assert res["changed"]
    res = run("port_publish", dict(PUB, firewall_backend=backend))
    assert res["changed"]
    assert sorted(our_lines()) == sorted(before)       # every rule of ours back, the security drops included
    assert works() == WORKING
    converge_all(run, backend, expect_changed=False)


def test_auto_picks_nftables_on_a_clean_host_then_keeps_what_it_finds(host, run):
    res = run("container_nat", dict(NAT, firewall_backend="auto"))
    assert res["changed"] and res["diff"]["after"]["backend"] == "nftables", res
    assert nft_table() and not ipt_ours()
    assert run("container_nat", dict(NAT, firewall_backend="auto"))["changed"] is False


@pytest.mark.deb
def test_switching_moves_our_rules_in_one_run_and_both_at_once_is_refused(host, run):
    converge_all(run, "iptables")
    assert ipt_ours() and not nft_table()
    # auto keeps the backend our rules are in
    assert run("container_nat", dict(NAT, firewall_backend="auto"))["changed"] is False
    res = run("container_nat", dict(NAT, firewall_backend="nftables"))
    assert res["changed"] and any("moves the rules" in w for w in res["warnings"]), res
    assert any(c.startswith("nft ") for c in res["commands"])
    assert any(c.startswith("iptables ") for c in res["commands"])
    # the published ports are still in iptables: ours are in both backends now, which auto refuses
    assert ipt_ours() and nft_table()
    before = save()
    res = run("port_publish", dict(PUB, firewall_backend="auto"))
    assert res.get("failed") and "both backends" in res["msg"] and "inet netplumb" in res["msg"], res
    assert save() == before
    # the explicit backend moves the rest
    res = run("port_publish", dict(PUB, firewall_backend="nftables"))
    assert res["changed"] and not res.get("failed"), res
    assert not ipt_ours() and nft_table()
    assert works() == WORKING
    converge_all(run, "nftables", expect_changed=False)
    # and back, in one run each
    converge_fw(run, "container_nat", dict(NAT, firewall_backend="iptables"))
    converge_fw(run, "port_publish", dict(PUB, firewall_backend="iptables"))
    assert ipt_ours() and not nft_table()
    assert works() == WORKING


DOCKER = """*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
COMMIT
*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -j RETURN
COMMIT
"""


def docker_lines():
    return [line for line in save().splitlines() if "DOCKER" in line or "docker0" in line or
            line.startswith(":FORWARD")]


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_beside_docker_in_iptables_mode(host, run, backend):
    """Docker's chains and its FORWARD policy DROP stay byte for byte. iptables: ours works (our FORWARD chain
    accepts before the policy). nftables: our accept is not final, the policy drops the forwarded traffic, and
    the run says so naming the DOCKER-USER fix; the published port to the host itself still works."""
    subprocess.run(["iptables-restore", "--noflush"], input=DOCKER, text=True, check=True)
    before = docker_lines()
    res = converge_fw(run, "container_nat", dict(NAT, firewall_backend=backend))
    pub = converge_fw(run, "port_publish", dict(PUB, firewall_backend=backend))
    assert docker_lines() == before
    if backend == "iptables":
        assert works() == WORKING
    else:
        [warning] = [w for w in res["warnings"] if "DOCKER-USER" in w and "policy drop" in w]
        assert http_get("c0", "192.0.2.2", 8080, timeout=0.5) is None
        assert http_get(None, "127.0.0.1", 6000) == "172.18.0.1"
        # netplumb never writes into Docker's chains (DOCKER-USER is the user's hook): the fix it names, run as
        # given, lets our forwarded traffic through; Docker's own chains stay as they were
        fixes = []
        for w in [warning] + [w for w in pub["warnings"] if "DOCKER-USER" in w]:
            fixes += w.split("run: ", 1)[1].split(" (see docs/safety.md", 1)[0].split("; ")
        assert len(fixes) > 2 and all(" -I DOCKER-USER " in cmd for cmd in fixes), fixes
        for cmd in fixes:
            subprocess.run(cmd, shell=True, check=True)
        assert works() == WORKING
        assert [line for line in docker_lines() if not line.startswith("-A DOCKER-USER") or
                line == "-A DOCKER-USER -j RETURN"] == before
        for module, args in (("container_nat", NAT), ("port_publish", PUB)):
            res = run(module, dict(args, firewall_backend=backend))
            assert res["changed"] is False and not [w for w in res["warnings"] if "DOCKER-USER" in w], res


def test_beside_docker_in_nftables_mode_warns_naming_its_hook(host, run):
    # Docker 29's table with one network (its chain filter-forward-in__docker0 drops what it does not accept);
    # the full ruleset with real packets: tests/hostile/test_docker_nft.py
    sh("nft", "add table ip docker-bridges; add chain ip docker-bridges filter-FORWARD "
              "{ type filter hook forward priority filter; policy accept; }; "
              "add chain ip docker-bridges filter-forward-in__docker0; "
              "add rule ip docker-bridges filter-forward-in__docker0 counter drop comment \"UNPUBLISHED PORT DROP\"")
    res = run("container_nat", dict(NAT, firewall_backend="nftables"))
    assert res["changed"] and any("bridge-accept-fwmark" in w and "docker_accept_fwmark" in w
                                  for w in res["warnings"]), res["warnings"]
    assert "docker-bridges" in sh("nft", "list", "tables").stdout
