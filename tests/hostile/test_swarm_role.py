"""The role swarm_prerequisites in the sandbox (connection local): its preflight refuses before the first
write - in --check and real runs - naming the host and the value; a fresh run is predicted exactly by --check,
a re-run changes nothing, and state=absent removes our rules and our sysctl file only."""
import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers_fw import save_content as save, sh  # noqa: E402

pytestmark = pytest.mark.category("role")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, ".build")
SYSCTL_FILE = "/etc/sysctl.d/90-netplumb-swarm.conf"
PREFLIGHT = "Preflight of every node of the play, before the first write anywhere"


def inventory(hosts):
    """hosts: [(name, group, extra vars)] -> an ini file path (every host local, python of this venv)."""
    groups = {}
    for name, group, extra in hosts:
        groups.setdefault(group, []).append("%s ansible_connection=local ansible_python_interpreter=%s %s"
                                            % (name, sys.executable, extra))
    text = "".join("[%s]\n%s\n" % (g, "\n".join(lines)) for g, lines in groups.items())
    fd, path = tempfile.mkstemp(suffix=".ini", dir=BUILD)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def play(hosts, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(BUILD, "ansible-remote-tmp"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "integration", "playbooks", "callback_plugins"),
               ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    inv = inventory(hosts)
    try:
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inv,
               "-e", "container_network_firewall_backend=iptables", "-e", "swarm_prerequisites_firewall_backend=iptables",
               os.path.join(HERE, "playbooks", "swarm_role.yml")] + list(extra)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(inv)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    tasks = dict((name.split(" : ", 1)[-1], hosts_) for name, hosts_ in out["tasks"].items())
    return proc.returncode, out["stats"], tasks


def state():
    files = sorted(os.listdir("/etc/sysctl.d")) if os.path.isdir("/etc/sysctl.d") else []
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return save(), files, f.read().strip()


ME = [("h1", "swarm_managers", "swarm_prerequisites_address=192.0.2.11")]


@pytest.fixture
def node(sandbox):
    sh("ip", "netns", "add", "peer")
    sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "peer")
    sh("ip", "addr", "add", "192.0.2.11/24", "dev", "up0")
    sh("ip", "link", "set", "up0", "up")
    if os.path.exists(SYSCTL_FILE):
        os.unlink(SYSCTL_FILE)
    yield
    if os.path.exists(SYSCTL_FILE):
        os.unlink(SYSCTL_FILE)


def test_fresh_check_exact_then_idempotent_then_absent(node):
    before = state()
    rc, stats, tasks = play(ME, "--check", "--diff")
    assert rc == 0 and stats["h1"]["changed"] == 2, (rc, stats)
    assert state() == before, "check mode wrote"
    predicted = dict((t, r["h1"].get("commands")) for t, r in tasks.items() if r["h1"].get("changed"))
    rc, stats, tasks = play(ME)
    assert rc == 0 and stats["h1"]["changed"] == 2, (rc, stats)
    assert dict((t, r["h1"].get("commands")) for t, r in tasks.items() if r["h1"].get("changed")) == predicted
    assert os.path.exists(SYSCTL_FILE) and state()[2] == "1"
    rc, stats, tasks = play(ME)
    assert rc == 0 and stats["h1"]["changed"] == 0, (rc, stats)
    rc, stats, tasks = play(ME, "-e", "swarm_prerequisites_state=absent")
    assert rc == 0 and stats["h1"]["changed"] == 2
    assert save() == before[0] and state()[1] == before[1]


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("case", ["mtu", "feature", "port", "hostname", "member"])
def test_preflight_refuses_before_any_change(node, check, case):
    hosts, extra, needles = list(ME), [], []
    if case == "mtu":
        extra = ["-e", "swarm_prerequisites_overlay_mtu=1480"]
        needles = ["h1: underlay up0 MTU 1500 < overlay MTU 1480 + 50 (VXLAN) = 1530"]
    elif case == "feature":
        extra = ["-e", '{"swarm_prerequisites_required_features": ["vxlan", "ip_vs"]}']
        needles = ["h1: required kernel feature ip_vs is missing (CONFIG_IP_VS not set"]
    elif case == "hostname":
        hosts.append(("h2", "swarm_workers", "swarm_prerequisites_address=192.0.2.11"))
        needles = ["h2: hostname %s is also the hostname of h1" % socket.gethostname()]
    elif case == "member":
        hosts.append(("h9", "others", "swarm_prerequisites_address=192.0.2.11"))
        needles = ["h9: in neither group swarm_managers nor swarm_workers"]
    held = None
    if case == "port":
        held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        held.bind(("0.0.0.0", 4789))
        needles = ["h1: data-path port 4789/udp is bound by a local program on 0.0.0.0:4789"]
    try:
        before = state()
        rc, stats, tasks = play(hosts, *(extra + (["--check"] if check else [])))
    finally:
        if held:
            held.close()
    assert rc != 0 and all(s["failures"] == 1 and s["changed"] == 0 for s in stats.values()), (rc, stats)
    msg = tasks[PREFLIGHT]["h1"]["msg"]
    for needle in needles:
        assert needle in msg, msg
    assert state() == before, "the refused role changed the host"
