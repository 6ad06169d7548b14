"""Tools and writable places a plan needs (docs/safety.md, "Tools and writable places"): a missing tool, a
read-only directory or /proc/sys, a leftover file where a namespace goes, each refused before the run's first
write, in check mode and in real mode, naming the tool (what needs it, the Debian package) or the path (why).

Missing tools: PATH is a directory of links to every tool of /usr/sbin but the ones taken away (all the names
the code could run: iptables-restore, iptables-nft-restore, iptables-legacy-restore...), then /usr/bin.
Read-only places: a read-only bind mount inside the suite's private mount namespace, undone after the test.
"""
import os
import subprocess

import pytest

from helpers_fw import save, sysctl
from hosts import role, sh, snapshot

pytestmark = pytest.mark.category("tools-and-places")

MODES = pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
RESTORE_TOOLS = ("iptables-restore", "iptables-nft-restore", "iptables-legacy-restore", "ip6tables-restore",
                 "ip6tables-nft-restore", "ip6tables-legacy-restore")
NETWORK = dict(name="web", bridge="br0", subnet="172.18.0.0/16",
               containers=[dict(name="c1", address="172.18.0.10", publish=["8080:80"])])


class Tools:
    """PATH without some tools (monkeypatch restores PATH)."""

    def __init__(self, tmp_path, monkeypatch):
        self.dir = tmp_path / "sbin"
        self.monkeypatch = monkeypatch

    def without(self, *names):
        self.dir.mkdir(exist_ok=True)
        for entry in os.listdir(str(self.dir)):
            os.unlink(str(self.dir / entry))
        for entry in sorted(os.listdir("/usr/sbin")):
            if entry not in names:
                os.symlink(os.path.join("/usr/sbin", entry), str(self.dir / entry))
        self.monkeypatch.setenv("PATH", "%s:/usr/local/bin:/usr/bin" % self.dir)
        for name in names:
            found = subprocess.run(["sh", "-c", "command -v %s" % name], check=False, capture_output=True)
            assert found.returncode != 0, name


@pytest.fixture
def tools(tmp_path, monkeypatch):
    return Tools(tmp_path, monkeypatch)


@pytest.fixture
def readonly():
    """readonly(path): a read-only bind mount of path on itself, in the suite's private mount namespace."""
    mounted = []

    def make(path):
        os.makedirs(path, exist_ok=True)
        sh("mount --bind %s %s && mount -o remount,bind,ro %s" % (path, path, path))
        mounted.append(path)
    try:
        yield make
    finally:
        for path in reversed(mounted):
            sh("umount %s" % path)


def netns_list():
    return sorted(os.listdir("/run/netns"))


def state():
    """What a refusal must leave exactly as it was: links, addresses, routes, iptables rules, /run/netns, the
    sysctls our modules write, and our files."""
    paths = ("/etc/sysctl.d/90-netplumb.conf", "/etc/netns/c1/resolv.conf", "/etc/modules-load.d/netplumb.conf")
    files = dict((p, os.path.exists(p)) for p in paths)
    path = os.environ["PATH"]
    os.environ["PATH"] = "/usr/sbin:/usr/bin"       # the dumps with every tool, whatever a test took away
    try:
        return dict(snapshot(), netns=netns_list(), ip_forward=sysctl("net.ipv4.ip_forward"), files=files)
    finally:
        os.environ["PATH"] = path


def refused(run, module, args, check, *parts):
    before = state()
    res = run(module, args, check=check)
    assert res.get("failed"), res
    for part in parts:
        assert part in res["msg"], (part, res["msg"])
    assert res["changed"] is False and res["commands"] == [], res
    assert state() == before, "a refused run changed the host"
    return res


# --- missing tools --------------------------------------------------------------------------------------
@MODES
def test_container_network_without_restore_tool_makes_no_link(sandbox, run, tools, check):
    """The case of the issue: iptables -V works, no iptables-*-restore; links and namespaces were made, then
    the NAT step failed."""
    tools.without(*RESTORE_TOOLS)
    res = refused(run, "container_network", dict(networks=[NETWORK]), check, "iptables-nft-restore is not installed",
                  "install the Debian package iptables", "to apply the rule changes of table",
                  "(container_nat)", "refusing before any change")
    assert "(port_publish)" in res["msg"]


@MODES
def test_role_without_restore_tool_makes_no_link(sandbox, tools, check):
    """The role container_network, as a playbook: the one module call refuses before its first write."""
    tools.without(*RESTORE_TOOLS)
    before = state()
    rc, stats, tasks = role([NETWORK], *(["--check", "--diff"] if check else []))
    assert rc != 0 and stats["failures"] == 1, (rc, stats)
    res = tasks["Container networks - bridges, namespaces, veth pairs, NAT and published ports in one call"]
    assert res["msg"].startswith("preflight refused") and res["changed"] is False, res
    assert "iptables-nft-restore is not installed" in res["msg"], res["msg"]
    assert [name for name, r in tasks.items() if r.get("changed")] == []
    assert state() == before, "the refused role changed the host"


@MODES
@pytest.mark.parametrize("module, args", [
    ("container_nat", dict(bridge="br0", subnet="172.18.0.0/16")),
    ("port_publish", dict(host_port=8080, container_ip="172.18.0.10", bridge="br0")),
], ids=["container_nat", "port_publish"])
def test_firewall_module_without_restore_tool(sandbox, run, tools, check, module, args):
    sh("ip link add br0 type bridge && ip link set br0 alias netplumb && ip addr add 172.18.0.1/16 dev br0 "
       "&& ip link set br0 up")
    tools.without(*RESTORE_TOOLS)
    refused(run, module, args, check, "iptables-nft-restore is not installed", "install the Debian package iptables")


@MODES
def test_without_save_tool_nothing_is_read_nor_written(sandbox, run, tools, check):
    tools.without("iptables-nft-save", "iptables-legacy-save", "iptables-save")
    refused(run, "container_network", dict(networks=[NETWORK]), check,
            "iptables-nft-save is not installed", "to read the rules", "install the Debian package iptables")


def test_without_iptables_at_all(sandbox, run, tools):
    tools.without("iptables")
    refused(run, "container_nat", dict(bridge="br0", subnet="172.18.0.0/16"), True,
            "iptables is not installed", "install the Debian package iptables")


@pytest.fixture
def udp_published(sandbox, run):
    """br0 with a UDP mapping 5353 -> 172.18.0.10:53 of ours (applied with every tool present)."""
    sh("ip link add br0 type bridge && ip addr add 172.18.0.1/16 dev br0 && ip link set br0 up")
    res = run("port_publish", dict(host_port=5353, container_ip="172.18.0.10", protocol="udp", bridge="br0"))
    assert not res.get("failed") and res["changed"], res


@MODES
@pytest.mark.parametrize("args", [
    dict(state="absent"), dict(container_port=5454),
], ids=["removed", "changed"])
def test_udp_mapping_change_without_conntrack(udp_published, run, tools, check, args):
    """Changing or removing a UDP mapping flushes its conntrack entries after the rules: without conntrack the
    rules changed, then the flush failed. Now: refused before the rules change."""
    tools.without("conntrack")
    refused(run, "port_publish", dict(dict(host_port=5353, container_ip="172.18.0.10", protocol="udp",
                                           bridge="br0"), **args), check,
            "conntrack is not installed", "needed by `conntrack -D -p udp --orig-port-dst 5353`",
            "install the Debian package conntrack")


def test_a_plan_without_flush_does_not_need_conntrack(sandbox, run, tools):
    """conntrack is needed only by a plan that flushes: a new UDP mapping is published without it."""
    sh("ip link add br0 type bridge && ip addr add 172.18.0.1/16 dev br0 && ip link set br0 up")
    tools.without("conntrack")
    args = dict(host_port=5353, container_ip="172.18.0.10", protocol="udp", bridge="br0")
    check = run("port_publish", args, check=True)
    real = run("port_publish", args)
    assert not real.get("failed") and real["changed"] and real["commands"] == check["commands"], real
    assert "5353" in save()


# --- read-only places -----------------------------------------------------------------------------------
@MODES
def test_kernel_prerequisites_readonly_sysctl_d(sandbox, run, readonly, check):
    """/proc/sys was written, then the sysctl.d file failed; check mode predicted success."""
    readonly("/etc/sysctl.d")
    res = refused(run, "kernel_prerequisites", dict(sysctls={"net.ipv4.ip_forward": 1}), check,
                  "cannot create, replace or remove /etc/sysctl.d/90-netplumb.conf",
                  "/etc/sysctl.d is on a read-only mount", "sysctl_file=/etc/sysctl.d/90-netplumb.conf")
    assert sysctl("net.ipv4.ip_forward") == "0", res


@MODES
def test_kernel_prerequisites_missing_dir_under_readonly_parent(sandbox, run, readonly, check):
    """The file's directory does not exist and would be made: its nearest existing ancestor decides."""
    readonly("/etc/sysctl.d")
    refused(run, "kernel_prerequisites", dict(sysctls={"net.ipv4.ip_forward": 1},
                                              sysctl_file="/etc/sysctl.d/netplumb/90.conf"), check,
            "/etc/sysctl.d is on a read-only mount", "sysctl_file=/etc/sysctl.d/netplumb/90.conf")


@MODES
def test_readonly_proc_sys(sandbox, run, readonly, check):
    """/proc/sys read-only (as in a Docker container): container_nat's rules were committed before its
    ip_forward write failed."""
    sh("ip link add br0 type bridge && ip link set br0 alias netplumb && ip addr add 172.18.0.1/16 dev br0 "
       "&& ip link set br0 up")
    readonly("/proc/sys")
    refused(run, "container_nat", dict(bridge="br0", subnet="172.18.0.0/16"), check,
            "cannot write /proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward is on a read-only mount",
            "needed by `sysctl -w net.ipv4.ip_forward=1`")


@MODES
def test_netns_nameservers_readonly_etc_netns(sandbox, run, readonly, check):
    readonly("/etc/netns")
    refused(run, "netns", dict(name="c1", nameservers=["192.0.2.53"]), check,
            "/etc/netns is on a read-only mount", "nameservers of namespace c1")


@MODES
def test_readonly_run_netplumb_fails_at_the_lock(sandbox, run, readonly, check):
    """/run/netplumb holds the lock and the journal of creations: read-only, the lock (taken before any read)
    already refuses."""
    readonly("/run/netplumb")
    refused(run, "linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]), check,
            "host lock /run/netplumb/lock: cannot open it: Read-only file system")


# --- /run/netns/<name> that is no namespace -------------------------------------------------------------
@pytest.fixture
def leftover():
    path = "/run/netns/c1"
    with open(path, "w"):
        pass
    try:
        yield path
    finally:
        os.unlink(path)


@MODES
def test_plain_file_in_run_netns(sandbox, run, leftover, check):
    refused(run, "netns", dict(name="c1"), check, "name[0]=c1: /run/netns/c1 exists and is a plain file",
            "not a network namespace", "rm /run/netns/c1")
    assert os.path.isfile(leftover)


@MODES
def test_plain_file_in_run_netns_container_network(sandbox, run, leftover, check):
    """The whole run is refused before the bridge is made."""
    refused(run, "container_network", dict(networks=[NETWORK]), check, "/run/netns/c1 exists and is a plain file")


# --- the role swarm_prerequisites: kernel_prerequisites writes first, swarm_firewall needs the restore tool ---
@pytest.fixture
def swarm_node(sandbox):
    """The sandbox as a Swarm manager at 192.0.2.11 (as tests/hostile/test_swarm_role.py)."""
    from test_swarm_role import SYSCTL_FILE
    sh("ip netns add peer && ip link add up0 type veth peer name eth0 netns peer && "
       "ip addr add 192.0.2.11/24 dev up0 && ip link set up0 up")
    if os.path.exists(SYSCTL_FILE):
        os.unlink(SYSCTL_FILE)
    yield SYSCTL_FILE
    if os.path.exists(SYSCTL_FILE):
        os.unlink(SYSCTL_FILE)


@MODES
def test_swarm_role_without_restore_tool_writes_no_sysctl(swarm_node, tools, check):
    """Before: kernel_prerequisites wrote /proc/sys and the sysctl.d file, then swarm_firewall failed."""
    from test_swarm_role import ME, play
    tools.without(*RESTORE_TOOLS)
    before = state()
    rc, stats, tasks = play(ME, *(["--check"] if check else []))
    assert rc != 0 and stats["h1"]["failures"] == 1 and stats["h1"]["changed"] == 0, (rc, stats)
    msgs = [r["h1"].get("msg", "") for r in tasks.values()]
    assert any("iptables-nft-restore is not installed" in m and "install the Debian package iptables" in m
               for m in msgs), msgs
    assert not os.path.exists(swarm_node)
    assert state() == before, "the refused role changed the host"
