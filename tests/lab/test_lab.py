"""Tests for the namespaced lab (tests/lab/netlab.py).

Brings up a 2-host lab in its own state dir (<repo>/.build/lab-pytest, its own top namespace,
so a user's lab in .build/lab is not disturbed), checks it over real ssh, takes it down and
checks that nothing is left and that the machine's own namespace never changed.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NETLAB = os.path.join(HERE, "netlab.py")
STATE = os.path.join(REPO, ".build", "lab-pytest")
SYS_PY = "/usr/bin/python3"
HOSTS = {"h1": "192.0.2.11", "h2": "192.0.2.12"}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(not shutil.which("unshare") or not os.path.exists("/usr/sbin/sshd"),
                       reason="needs util-linux unshare and openssh-server"),
]


def netlab(*args, check=True, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    p = subprocess.run([SYS_PY, NETLAB, "--state-dir", STATE] + list(args), check=False, **kw)
    if check and p.returncode != 0:
        raise AssertionError("netlab %s failed (%d):\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def ssh(host, command, check=True):
    p = subprocess.run(["ssh", "-F", os.path.join(STATE, "ssh_config"), host, command],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    if check and p.returncode != 0:
        raise AssertionError("ssh %s %r failed (%d): %s" % (host, command, p.returncode, p.stderr))
    return p


def root_snapshot():
    """What the machine's own namespace looks like: links, named netns, iptables, forwarding."""
    def out(cmd):
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    links = [re.sub(r"\s+", " ", l.split("link/")[0]) for l in out(["ip", "-o", "link", "show"]).splitlines()]
    rules = [l for l in out(["iptables-save"]).splitlines() if not l.startswith("#")]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        fwd = f.read()
    return {"links": links, "netns": out(["ip", "netns", "list"]), "iptables": rules, "ip_forward": fwd,
            "netns_id": os.readlink("/proc/self/ns/net")}


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2] not in "ZX"


@pytest.fixture(scope="module")
def lab():
    if os.path.exists(os.path.join(STATE, "state.json")):
        netlab("down")  # a leftover from an interrupted run
    before = root_snapshot()
    up = netlab("up", "--hosts", "2")
    with open(os.path.join(STATE, "state.json")) as f:
        state = json.load(f)
    info = {"before": before, "state": state, "up": up}
    yield info
    if os.path.exists(os.path.join(STATE, "state.json")):
        netlab("down", check=False)


def test_up_reports_and_status(lab):
    assert "lab up: 2 hosts" in lab["up"].stdout
    assert netlab("status").returncode == 0
    again = netlab("up", "--hosts", "2")
    assert "already up" in again.stdout
    assert netlab("inventory").stdout.strip() == os.path.join(STATE, "inventory.ini")


def test_top_is_its_own_namespace(lab):
    top = lab["state"]["top"]
    assert top["netns"] != lab["before"]["netns_id"]
    assert os.readlink("/proc/%d/ns/net" % top["pid"]) == top["netns"]
    # and it is not the default lab's namespace either
    default = os.path.join(REPO, ".build", "lab", "state.json")
    if os.path.exists(default):
        with open(default) as f:
            assert json.load(f)["top"]["netns"] != top["netns"]


def test_inventory(lab):
    with open(os.path.join(STATE, "inventory.ini")) as f:
        inv = f.read()
    assert "[lab]" in inv
    for name, addr in HOSTS.items():
        assert re.search(r"^%s ansible_host=%s$" % (name, re.escape(addr)), inv, re.M)
    assert "ansible_user=root" in inv
    assert "ansible_python_interpreter=/usr/bin/python3" in inv


def test_ssh_each_host_own_namespace_and_hostname(lab):
    seen = set()
    for name in HOSTS:
        out = ssh(name, "hostname; readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_forward").stdout.split()
        assert out[0] == name
        assert out[1] == lab["state"]["hosts"][name]["netns"]
        assert out[1] != lab["before"]["netns_id"]
        assert out[2] == "0"  # forwarding left at the kernel default: the collection enables it
        seen.add(out[1])
    assert len(seen) == len(HOSTS)


def test_ssh_by_address_and_setup_friendly(lab):
    # ansible connects to ansible_host (an IP); resolv.conf/hosts are the host's own
    out = ssh("192.0.2.12", "hostname; cat /etc/resolv.conf; getent hosts h1").stdout
    assert out.splitlines()[0] == "h2"
    assert "nameserver 127.0.0.1" in out
    assert "192.0.2.11" in out


def test_h1_reaches_h2_over_underlay(lab):
    out = ssh("h1", "exec 3<>/dev/tcp/192.0.2.12/22 && head -c 4 <&3").stdout
    assert out == "SSH-"
    out = ssh("h2", "exec 3<>/dev/tcp/h1/22 && head -c 4 <&3").stdout
    assert out == "SSH-"


def test_internet_echo_shows_source_address(lab):
    for name, addr in HOSTS.items():
        body = ssh(name, "curl -sS --max-time 30 http://198.51.100.1/").stdout
        assert body == addr + "\n"


def test_hosts_are_private(lab):
    # a named netns and a file under /etc in h1 are invisible to h2 and to the machine
    ssh("h1", "ip netns add netlab-probe && echo probe > /etc/netlab-probe")
    assert "netlab-probe" in ssh("h1", "ip netns list").stdout
    assert "netlab-probe" not in ssh("h2", "ip netns list").stdout
    assert ssh("h2", "test -e /etc/netlab-probe", check=False).returncode == 1
    assert not os.path.exists("/etc/netlab-probe")
    assert not os.path.exists("/run/netns/netlab-probe")


def test_exec_passes_exit_code(lab):
    assert netlab("exec", "h2", "--", "sh", "-c", "exit 7", check=False).returncode == 7
    assert netlab("exec", "h1", "--", "hostname").stdout.strip() == "h1"
    assert "198.51.100.1/24" in netlab("exec", "internet", "--", "ip", "-o", "addr").stdout
    assert "lab0" in netlab("exec", "top", "--", "ip", "-o", "link").stdout


def test_proxy_refuses_non_lab_addresses(lab):
    p = netlab("proxy", "10.255.255.53", "53", check=False, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert "outside the lab" in p.stderr


def test_ansible_ping(lab):
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    if not os.path.exists(ansible):
        pytest.skip("no ansible next to %s" % sys.executable)
    build = os.path.join(REPO, ".build")
    env = dict(os.environ, ANSIBLE_HOME=os.path.join(build, "ansible-home"),
               ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_DEPRECATION_WARNINGS="False")
    p = subprocess.run([ansible, "-i", os.path.join(STATE, "inventory.ini"), "lab", "-m", "ping"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=REPO, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("SUCCESS") == len(HOSTS)


def started(pid):
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or infinity."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return float("inf")


def test_zz_down_leaves_nothing(lab):
    """Runs last: take the lab down and check that nothing is left anywhere."""
    during = root_snapshot()
    assert during == lab["before"]
    state = lab["state"]
    pids = [state["top"]["pid"], state["internet"]["pid"]]
    for h in state["hosts"].values():
        pids += [h["pid"], h["init_pid"]]
    ids = {state["top"]["netns"], state["internet"]["netns"]}
    for h in state["hosts"].values():
        ids |= {h["netns"], h["mntns"], h["pidns"]}

    # a lab namespace freed by the down may give its id to another suite's new namespace at once: only a process
    # started before the down can be a leftover of the lab (in clock ticks since boot, as /proc/PID/stat says)
    with open("/proc/uptime") as f:
        down_at = float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK")
    netlab("down")
    assert not [p for p in pids if pid_alive(p)]
    assert not os.path.exists(os.path.join(STATE, "state.json"))
    assert not os.path.exists(STATE)
    # no process anywhere lives in any of the lab's namespaces
    leftovers = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            for ns in ("net", "mnt", "pid"):
                try:
                    if os.readlink("/proc/%s/ns/%s" % (d, ns)) in ids and pid_alive(int(d)) \
                            and started(int(d)) < down_at:
                        leftovers.append(int(d))
                except OSError:
                    pass
    assert leftovers == []
    assert root_snapshot() == lab["before"]
    # idempotent, and the proxy fails closed once the lab is gone
    assert "lab is down" in netlab("down").stdout
    assert netlab("status", check=False).returncode != 0
    p = netlab("proxy", "192.0.2.11", "22", check=False, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
