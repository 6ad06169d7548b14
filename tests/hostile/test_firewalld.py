"""The real firewalld (issue 19): our bridges in a zone on request, and our rules back after its reloads.

Debian's firewalld 1.3.3 runs in the test's network namespace on the private /run of tests/isolated.sh (its own
system D-Bus), stock configuration (default zone public, FlushAllOnReload=yes), or with the default zone drop or
FlushAllOnReload=no. The sandbox's /etc is the copy-on-write one: what a test changes under /etc/firewalld
it puts back. Every case checks packets: egress to an "internet" namespace (198.51.100.1 behind 192.0.2.1), a
published port from there, and after a reload the security drops (a container address reached directly, a port
published on 127.0.0.1 reached from a neighbour) - with their counters, so a probe that never arrived is no pass.
``BACKENDS``: the firewall drivers tried. The nftables driver's own table is checked through a zone (default
public) and through a reload (the table and its packets back; its security drops are the attacker tests of
test_nft_firewall.py and test_nat_packets).
"""
import os
import shutil
import subprocess
import time

import pytest

from helpers_fw import Servers, http_get, our_lines, sh
from test_host_firewalls import Firewalld

from ansible_collections.netplumb.container.plugins.module_utils import _firewalld, _persist

NOT_INSTALLED = "firewalld is not installed (make firewalld-deps)"
pytestmark = [pytest.mark.category("firewalld"), pytest.mark.skipif(not shutil.which("firewalld"), reason=NOT_INSTALLED)]

BACKENDS = ["iptables"]
CONF = "/etc/firewalld/firewalld.conf"
NETS = [dict(name="x", bridge="br-x", subnet="172.18.0.0/24", containers=[
    dict(name="c0", address="172.18.0.10", publish=["8080:80", "127.0.0.1:6000:80"])])]


def wait_for(cond, what, timeout=30.0):
    """A condition wait with a deadline (firewalld and the listener take their time on a loaded machine)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("no %s after %ds" % (what, timeout))


def permanent():
    """firewalld's permanent configuration as it sees it (every zone, every policy)."""
    return [Firewalld.cmd("--permanent", *args).stdout for args in (["--list-all-zones"], ["--list-all-policies"])]


def counter(ns, table, chain, needle):
    out = sh("iptables", "-t", table, "-L", chain, "-v", "-x", "-n", ns=ns).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if needle in line)


@pytest.fixture
def world(sandbox, run):
    """The host's uplink eth0 (192.0.2.10) to the "internet" namespace out (192.0.2.1, 198.51.100.1)."""
    assert run("netns", dict(name=["out"]))["changed"]
    sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "up0", "netns", "out")
    sh("ip", "addr", "add", "192.0.2.10/24", "dev", "eth0")
    sh("ip", "link", "set", "eth0", "up")
    sh("ip", "addr", "add", "192.0.2.1/24", "dev", "up0", ns="out")
    sh("ip", "addr", "add", "198.51.100.1/32", "dev", "lo", ns="out")
    sh("ip", "link", "set", "up0", "up", ns="out")
    sh("ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0")
    servers = Servers()
    try:
        servers.start("out", "0.0.0.0", 8000)
        yield servers
    finally:
        servers.close()


@pytest.fixture
def conf():
    """firewalld.conf put back after the test (the sandbox's /etc lives as long as the suite)."""
    with open(CONF) as f:
        text = f.read()
    yield text
    with open(CONF, "w") as f:
        f.write(text)


def configure(text, **settings):
    lines = [line for line in text.splitlines() if line.split("=", 1)[0] not in settings]
    with open(CONF, "w") as f:
        f.write("\n".join(lines + ["%s=%s" % kv for kv in sorted(settings.items())]) + "\n")


def cycle(run, args):
    """check+diff -> real -> re-run: check == real, nothing of firewalld changed by check mode, the re-run
    changes nothing."""
    before = (permanent(), Firewalld.cmd("--get-active-zones", check=False).stdout, our_lines())
    check = run("container_network", args, check=True)
    assert not check.get("failed"), check
    assert (permanent(), Firewalld.cmd("--get-active-zones", check=False).stdout, our_lines()) == before
    real = run("container_network", args)
    assert not real.get("failed"), real
    assert (real["changed"], real["commands"]) == (check["changed"], check["commands"])
    again = run("container_network", args)
    assert not again.get("failed") and again["changed"] is False and again["commands"] == [], again
    return real


def zones_of(bridge):
    """(runtime, permanent) zone of an interface; firewall-cmd says "no zone" on stderr."""
    out = [Firewalld.cmd(*(perm + ["--get-zone-of-interface=%s" % bridge]), check=False)
           for perm in ([], ["--permanent"])]
    return tuple((o.stdout + o.stderr).strip() for o in out)


@pytest.mark.parametrize("default,backend", [("public", "iptables"), ("drop", "iptables"), ("public", "nftables")])
def test_zone_option_opens_egress_and_removal_restores_firewalld(world, run, conf, default, backend):
    if default != "public":
        configure(conf, DefaultZone=default)
    daemon = Firewalld()
    try:
        assert Firewalld.cmd("--get-default-zone").stdout.strip() == default
        perm = permanent()
        # without the option: a clear warning naming the zone the bridge falls into, and the commands
        res = run("container_network", dict(networks=NETS, firewall_backend=backend))
        assert res["changed"] and not res.get("failed") and res["firewalld_running"] is True, res
        [warned] = [w for w in res["warnings"] if w.startswith("firewalld: ")]
        assert "bridge br-x is in no firewalld zone, so it falls into the default zone %s" % default in warned
        assert "run: firewall-cmd --zone=trusted --add-interface=br-x; firewall-cmd --permanent " \
               "--zone=trusted --add-interface=br-x" in warned, warned
        world.start("c0", "0.0.0.0", 80)
        assert http_get("c0", "198.51.100.1", 8000, timeout=0.5) is None        # the warning is true
        # with the option: bound at runtime and permanently, planned like the rest (check == real, re-run quiet)
        args = dict(networks=NETS, firewall_backend=backend, firewalld_zone="trusted")
        real = cycle(run, args)
        assert real["commands"] == [
            "install -m 0600 /dev/stdin /etc/netplumb/firewalld.json  # the firewalld bindings netplumb made: "
            "br-x=trusted",
            "firewall-cmd --zone=trusted --add-interface=br-x",
            "firewall-cmd --permanent --zone=trusted --add-interface=br-x"], real["commands"]
        assert not [w for w in real["warnings"] if w.startswith("firewalld: ")], real["warnings"]
        assert zones_of("br-x") == ("trusted", "trusted")
        assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"          # egress, masqueraded
        assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"            # published, client kept
        if default != "public":
            return      # removal is the same whatever the default zone: tested once (the suite's time is short)
        # a binding we did not make is never touched: a second bridge bound by hand stays where it is
        sh("ip", "link", "add", "br-hand", "type", "bridge")
        Firewalld.cmd("--zone=internal", "--add-interface=br-hand")
        # removal: the binding goes with the network; firewalld's permanent configuration is as it was
        gone = cycle(run, dict(args, networks=[dict(NETS[0], state="absent")]))
        assert "firewall-cmd --zone=trusted --remove-interface=br-x" in gone["commands"]
        assert "firewall-cmd --permanent --zone=trusted --remove-interface=br-x" in gone["commands"]
        assert zones_of("br-x") == ("no zone", "no zone")
        assert zones_of("br-hand")[0] == "internal"
        assert permanent() == perm
        assert not os.path.exists(_firewalld.LEDGER)
    finally:
        if os.path.exists(_firewalld.LEDGER):
            # a case that ends before the removal (drop) leaves no binding for the next test of this sandbox
            for perm in ([], ["--permanent"]):
                Firewalld.cmd(*(perm + ["--zone=trusted", "--remove-interface=br-x"]), check=False)
            shutil.rmtree("/etc/netplumb", ignore_errors=True)
        daemon.close()


def _listener(exec_start):
    """The unit's ExecStart as a process of the sandbox (no systemd here), its stderr in a file."""
    log = open("/run/netplumb-firewalld-reload.log", "w+")
    proc = subprocess.Popen(exec_start, stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, log


def _teardown(daemon, listener=None, log=None):
    """The listener ended, firewalld and its bus stopped, the tmpfs on /etc/systemd/system and /etc/netplumb gone."""
    if listener is not None:
        listener.terminate()
        listener.wait()
        log.close()
    daemon.close()
    subprocess.run(["umount", "-l", "/etc/systemd/system"], check=True)
    shutil.rmtree("/etc/netplumb", ignore_errors=True)


def _count(log, text):
    log.seek(0)
    return log.read().count(text)


def _said(log, text):
    log.seek(0)
    return text in log.read()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flush", ["yes", "no"])
def test_rules_are_back_after_a_reload_without_a_playbook(world, run, conf, flush, backend):
    configure(conf, FlushAllOnReload=flush)
    os.makedirs("/etc/systemd/system", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "netplumb-test-etc", "/etc/systemd/system"], check=True)
    daemon = Firewalld()
    listener = log = None
    try:
        args = dict(networks=NETS, firewall_backend=backend, firewalld_zone="trusted")
        assert run("container_network", args)["changed"]
        # the listener on, persist off: the list is saved the same way, no boot unit
        pargs = dict(args, variable="networks", boot=False, firewalld_reload=True)
        check = run("container_network_persist", pargs, check=True)
        assert not os.path.exists(_persist.NETWORKS_FILE)
        res = run("container_network_persist", pargs)
        assert not res.get("failed") and res["commands"] == check["commands"], res
        assert res["exec_start"] is None and not os.path.exists(_persist.UNIT_FILE)
        assert os.readlink(_persist.RELOAD_WANTS_LINK) == _persist.RELOAD_UNIT_FILE
        assert run("container_network_persist", pargs)["changed"] is False
        assert _persist.load_networks(_persist.NETWORKS_FILE)["firewalld_zone"] == "trusted"
        analyze = shutil.which("systemd-analyze")
        if analyze:
            ver = subprocess.run([analyze, "verify", _persist.RELOAD_UNIT_FILE], capture_output=True, text=True,
                                 check=False)
            assert _persist.RELOAD_UNIT not in ver.stdout + ver.stderr, ver.stdout + ver.stderr

        listener, log = _listener(res["reload_exec_start"])
        wait_for(lambda: _said(log, "listening for firewalld's reloads"), "listener subscribed")
        ours = our_lines()
        assert len(ours) > 10, ours
        assert Firewalld.cmd("--reload").stdout.strip() == "success"
        wait_for(lambda: _said(log, "firewalld reloaded: converging"), "listener woken by the reload")
        done = "networks from %s: " % _persist.NETWORKS_FILE       # the end of a converge: once at start, then
        wait_for(lambda: _count(log, done) == 2 and our_lines() == ours, "our rules back after the reload")
        log.seek(0)
        applied = log.read().rsplit("firewalld reloaded: converging", 1)[1]
        # firewalld 1.3.3 flushes every backend's tables on a reload whatever FlushAllOnReload says (the option
        # only keeps runtime interface bindings and direct rules): the listener applied our rules again
        assert "iptables -t raw -I PREROUTING 1 -j NETPLUMB-PREROUTING" in applied, applied
        assert zones_of("br-x") == ("trusted", "trusted")

        # packets: egress, the published port from outside, and both security drops
        world.start("c0", "0.0.0.0", 80)
        assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"
        assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"
        sh("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "80", ns="c0")
        seen = counter("c0", "filter", "INPUT", "dpt:80")
        sh("ip", "route", "add", "172.18.0.0/24", "via", "192.0.2.10", ns="out")
        direct = counter(None, "raw", "NETPLUMB-PREROUTING", "172.18.0.0/24")
        assert http_get("out", "172.18.0.10", 80, timeout=0.5) is None
        assert counter(None, "raw", "NETPLUMB-PREROUTING", "172.18.0.0/24") > direct, "the probe never arrived"
        sh("sysctl", "-qw", "net.ipv4.conf.up0.route_localnet=1", ns="out")
        sh("ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local", ns="out")
        sh("ip", "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local", ns="out")
        sh("ip", "route", "add", "127.0.0.1/32", "via", "192.0.2.10", "dev", "up0", ns="out")
        loop = counter(None, "raw", "NETPLUMB-PREROUTING", "127.0.0.0/8")
        assert http_get("out", "127.0.0.1", 6000, timeout=0.5) is None
        assert counter(None, "raw", "NETPLUMB-PREROUTING", "127.0.0.0/8") > loop, "the probe never arrived"
        assert counter("c0", "filter", "INPUT", "dpt:80") == seen        # nothing reached the container

        # off again: the listener's files go, the bindings go with the network
        gone = run("container_network", dict(args, networks=[dict(NETS[0], state="absent")]))
        assert not gone.get("failed") and zones_of("br-x") == ("no zone", "no zone"), gone
        res = run("container_network_persist", dict(pargs, state="absent"))
        assert res["changed"] and not os.path.exists("/etc/netplumb"), res
        assert not os.path.lexists(_persist.RELOAD_WANTS_LINK) and not os.path.exists(_persist.RELOAD_UNIT_FILE)
    finally:
        _teardown(daemon, listener, log)


def test_role_binds_and_installs_the_listener_where_firewalld_runs(world):
    """The role: container_network_firewalld_zone binds, container_network_firewalld_reload's auto installs the
    listener (and not the boot unit: persist is off) because the converge found firewalld running; a re-run
    changes nothing; the network absent and the listener off remove our bindings and files."""
    from hosts import role
    os.makedirs("/etc/systemd/system", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "netplumb-test-etc", "/etc/systemd/system"], check=True)
    daemon = Firewalld()
    try:
        perm = permanent()
        zone = ["-e", "container_network_firewalld_zone=trusted"]
        for changed in (True, False):
            rc, stats, tasks = role(NETS, *zone)
            assert rc == 0 and bool(stats["changed"]) is changed, (stats, tasks)
        assert zones_of("br-x") == ("trusted", "trusted")
        assert os.path.exists(_persist.RELOAD_UNIT_FILE) and not os.path.exists(_persist.UNIT_FILE)
        assert _persist.load_networks(_persist.NETWORKS_FILE)["firewalld_zone"] == "trusted"
        off = zone + ["-e", "container_network_firewalld_reload=false"]
        rc, stats, tasks = role([dict(NETS[0], state="absent")], *off)
        assert rc == 0 and stats["changed"], (stats, tasks)
        assert zones_of("br-x") == ("no zone", "no zone") and permanent() == perm
        assert not os.path.exists("/etc/netplumb") and not os.path.exists(_persist.RELOAD_UNIT_FILE)
    finally:
        _teardown(daemon)


def test_nftables_table_is_back_after_a_reload_without_a_playbook(world, run, conf):
    """The nftables driver beside the real firewalld (stock config, nftables backend): our bridge in zone trusted,
    the listener running; after firewall-cmd --reload the table inet netplumb holds exactly the rules it held
    (whoever flushed what, the listener converged once more), egress and the published port work."""
    os.makedirs("/etc/systemd/system", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "netplumb-test-etc", "/etc/systemd/system"], check=True)
    daemon = Firewalld()
    listener = log = None
    try:
        args = dict(networks=NETS, firewall_backend="nftables", firewalld_zone="trusted")
        assert cycle(run, args)["changed"]
        res = run("container_network_persist", dict(args, variable="networks", boot=False, firewalld_reload=True))
        assert not res.get("failed") and res["changed"], res

        def table():
            return subprocess.run(["nft", "list", "table", "inet", "netplumb"], capture_output=True, text=True,
                                  check=False).stdout
        before = table()
        assert "netplumb:br-x" in before, before
        listener, log = _listener(res["reload_exec_start"])
        wait_for(lambda: _said(log, "listening for firewalld's reloads"), "listener subscribed")
        done = "networks from %s: " % _persist.NETWORKS_FILE
        wait_for(lambda: _count(log, done) == 1, "the listener's first converge")
        assert Firewalld.cmd("--reload").stdout.strip() == "success"
        wait_for(lambda: _said(log, "firewalld reloaded: converging"), "listener woken by the reload")
        wait_for(lambda: _count(log, done) == 2 and table() == before, "our table as it was after the reload")
        assert zones_of("br-x") == ("trusted", "trusted")
        world.start("c0", "0.0.0.0", 80)
        assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"          # egress, masqueraded
        assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"            # published, client kept
        run("container_network", dict(args, networks=[dict(NETS[0], state="absent")]))
        assert run("container_network_persist", dict(args, variable="networks", boot=False, firewalld_reload=True,
                                                     state="absent"))["changed"]
    finally:
        _teardown(daemon, listener, log)
