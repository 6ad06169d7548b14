"""container_network_diagnose on the real kernel, in the test's own namespace (the sandbox is the host).

One network of two containers with a published port, built by container_network; each of the three classic
cases of docs/troubleshooting.md broken on purpose, the way it happens on a real host; diagnose must name each
cause with its check and its fix, the fix it gives (run as given) must make the next diagnose clean, and the
packets must flow again. Diagnose itself writes nothing (its run is in check mode, and the rules are compared).
"""
import shlex
import subprocess

import pytest

from helpers.modrun import pinned
from helpers_fw import Servers, nft_table, save, sh

NETS = [dict(name="web", bridge="br-web", subnet="172.18.0.0/16", containers=[
    dict(name="c0", address="172.18.0.10", publish=["8080:80/tcp"]),
    dict(name="c1", address="172.18.0.20")])]


def diagnose(run, backend="iptables"):
    before = save()
    res = run("container_network_diagnose", dict(firewall_backend=backend), check=True)
    assert not res.get("failed"), res
    assert res["changed"] is False
    assert save() == before, "diagnose changed the rules"
    return res


def problems(res):
    """{(check, status): the first such finding}."""
    out = {}
    for f in res["problems"]:
        out.setdefault((f["check"], f["status"]), f)
    return out


def apply_fixes(res, checks):
    """Run the first command of each named problem's fix, exactly as diagnose prints it."""
    for f in res["problems"]:
        if f["check"] in checks:
            subprocess.run(shlex.split(f["fix"][0]), check=True, capture_output=True)


def ping(ns, addr, wait=10):
    """A ping expected to fail is given a short wait; one expected to answer a long one (a loaded machine)."""
    return sh("ping", "-c", "1", "-W", str(wait), addr, ns=ns, check=False).returncode == 0


def as_regular_chain(chain):
    """Our table reloaded with ``chain`` holding the same rules as a regular chain (no hook): never reached."""
    text = nft_table()
    spec = [line for line in text.splitlines() if "hook" in line and line.strip().startswith("type")]
    lines, inside = [], None
    for line in text.splitlines():
        if line.strip().startswith("chain "):
            inside = line.split()[1]
        if inside == chain and line in spec:
            continue
        lines.append(line)
    sh("nft", "delete table inet netplumb")
    subprocess.run(["nft", "-f", "-"], input="\n".join(lines) + "\n", text=True, check=True)
    assert "prerouting-nat" in nft_table()


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_diagnose_names_the_three_classic_cases(sandbox, backend):
    """Once per firewall backend: the same cases, the same checks; on nftables the "jumps" case is our base chain
    made a regular chain (its rules never reached), and others' iptables rules are named with iptables-nft."""
    run = pinned(backend)
    ipt = "iptables" if backend == "iptables" else "iptables-nft"
    built = run("container_network", dict(networks=NETS))
    assert not built.get("failed"), built
    assert (nft_table() != "") == (backend == "nftables")
    servers = Servers()
    try:
        servers.start("c0", "0.0.0.0", 80)
        clean = diagnose(run, backend)
        assert clean["error_count"] == 0 and clean["warn_count"] == 0, clean["problems"]
        assert set(f["check"] for f in clean["findings"]) == set(
            ["ip_forward", "gateway", "links", "route", "jumps", "firewall", "isolation", "listener"])

        # 1. a container cannot reach outside: forwarding off, a DROP before our jump, a default route gone
        sh("sysctl", "-qw", "net.ipv4.ip_forward=0")
        sh("iptables", "-I", "FORWARD", "-i", "br-web", "-j", "DROP")
        sh("ip", "-n", "c1", "route", "del", "default")
        res = diagnose(run, backend)
        got = problems(res)
        # with br_netfilter on (the kernel's default) that DROP also stops c0 and c1 talking: named too
        assert set(got) == set([("ip_forward", "error"), ("firewall", "error"), ("route", "error"),
                                ("isolation", "error")]), res["problems"]
        assert got[("ip_forward", "error")]["fix"][0] == "sysctl -w net.ipv4.ip_forward=1"
        assert "rule `-i br-web -j DROP` drops the egress of network web" in got[("firewall", "error")]["finding"]
        assert got[("firewall", "error")]["fix"][0] == "%s -I FORWARD -i br-web -j ACCEPT" % ipt
        assert "container c1 has no default route" in got[("route", "error")]["finding"]
        assert got[("route", "error")]["fix"][0] == "ip -n c1 route replace default via 172.18.0.1"
        assert "rule `-i br-web -j DROP` drops them" in got[("isolation", "error")]["finding"]
        apply_fixes(res, ("ip_forward", "firewall", "route"))
        sh("iptables", "-D", "FORWARD", "-i", "br-web", "-j", "DROP")
        assert diagnose(run, backend)["error_count"] == 0

        # 2. a published port does not answer: no listener, the nat PREROUTING jump to our chain deleted
        servers.close()
        servers = Servers()
        if backend == "iptables":
            sh("iptables", "-t", "nat", "-D", "PREROUTING", "-j", "NETPLUMB-PREROUTING")
        else:
            as_regular_chain("prerouting-nat")
        res = diagnose(run, backend)
        got = problems(res)
        assert set(got) == set([("jumps", "error"), ("listener", "warn")]), res["problems"]
        if backend == "iptables":
            assert "table nat chain PREROUTING has no jump to NETPLUMB-PREROUTING" in got[("jumps", "error")]["finding"]
            assert got[("jumps", "error")]["fix"][0] == "iptables -t nat -A PREROUTING -j NETPLUMB-PREROUTING"
        else:
            assert ("table inet netplumb chain prerouting-nat is a regular chain (no hook): our rules of br-web there "
                    "are never reached" in got[("jumps", "error")]["finding"])
            assert got[("jumps", "error")]["fix"] == [
                "nft flush chain inet netplumb prerouting-nat", "nft delete chain inet netplumb prerouting-nat",
                "or run the role netplumb.container.container_network again"]
        assert "8080:80/tcp" in got[("listener", "warn")]["finding"]
        assert "container c0" in got[("listener", "warn")]["finding"]
        if backend == "iptables":
            apply_fixes(res, ("jumps",))
        else:   # the chain's commands, then the role's run makes it again as a base chain
            for cmd in got[("jumps", "error")]["fix"][:2]:
                subprocess.run(shlex.split(cmd), check=True, capture_output=True)
            again = run("container_network", dict(networks=NETS))
            assert not again.get("failed") and again["changed"], again
        servers.start("c0", "0.0.0.0", 80)
        res = diagnose(run, backend)
        assert res["error_count"] == 0 and res["warn_count"] == 0, res["problems"]

        # 3. two containers cannot talk: br_netfilter on and a FORWARD drop between ports; a port isolated by hand
        sh("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
        sh("iptables", "-I", "FORWARD", "-i", "br-web", "-o", "br-web", "-j", "DROP")
        sh("ip", "link", "set", "vn-c1", "type", "bridge_slave", "isolated", "on")
        assert not ping("c0", "172.18.0.20", wait=1)
        res = diagnose(run, backend)
        found = [f for f in res["problems"] if f["check"] == "isolation"]
        assert set(f["check"] for f in res["problems"]) == set(["isolation"]), res["problems"]
        assert len(found) == 2, found
        isolated = [f for f in found if "port vn-c1" in f["finding"]]
        dropped = [f for f in found if "rule `-i br-web -o br-web -j DROP`" in f["finding"]]
        assert isolated and isolated[0]["fix"][0] == "ip link set vn-c1 type bridge_slave isolated off"
        assert dropped and dropped[0]["fix"][0] == "%s -I FORWARD -i br-web -o br-web -j ACCEPT" % ipt
        assert "br_netfilter" in dropped[0]["finding"]
        apply_fixes(res, ("isolation",))
        res = diagnose(run, backend)
        assert res["error_count"] == 0 and res["warn_count"] == 0, res["problems"]
        assert ping("c0", "172.18.0.20")
    finally:
        servers.close()
