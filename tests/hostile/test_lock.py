"""The host lock, attacked: a lock held by another process, released while a module waits, its holder killed,
concurrent runs (modules and playbooks) on one host, SIGKILL in the middle of an apply, and bad lock_timeout.

Every module takes an exclusive flock on /run/netplumb/lock before it reads any state and holds it through
apply. /run is private to the isolated suite, so the lock file is shared by its (sequential) tests; module
children forked from the test thread live in its sandbox netns.
"""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._lock import LOCK_PATH, HostLock
from helpers.converge import existing_ns
from helpers.kernel import dump
from helpers.lockhold import Holder, has_open, results, spawn_modules, wait_for

pytestmark = pytest.mark.category("lock")

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TESTS)
PLAYBOOKS = os.path.join(TESTS, "integration", "playbooks")

# The five modules, each asked for a change (on top of the setup below) that it would make at once.
CHANGES = [
    ("netns", dict(name=["lk0", "lk1"])),
    ("linux_bridge", dict(name="br-lk2", addresses=["172.30.1.1/24"])),
    ("veth_pair", dict(name="vlk0", peer="clk0", bridge="br-lk")),
    ("container_nat", dict(bridge="br-lk", subnet="172.30.0.0/24")),
    ("port_publish", dict(host_port=8080, container_ip="172.30.0.10", container_port=80, bridge="br-lk")),
]


def rules():
    """Both iptables backends of this namespace, counters dropped (what a module could have written)."""
    out = []
    for variant in ("nft", "legacy"):
        text = subprocess.run(["iptables-%s-save" % variant], capture_output=True, text=True, check=True).stdout
        out += [variant + " " + line.split(" [")[0] if line.startswith(":") else variant + " " + line
                for line in text.splitlines() if not line.startswith("#")]
    return out


def state():
    return dict(links=dump(existing_ns()), ns=existing_ns(), rules=rules())


def rule_lines():
    """The rules of the namespace (nf_tables backend, as the module picks here), as "TABLE -A CHAIN ..."."""
    text = subprocess.run(["iptables-nft-save"], capture_output=True, text=True, check=True).stdout
    table, out = None, []
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            out.append("%s %s" % (table, line))
    return out


def assert_single(lines):
    """No rule line twice, exactly one jump per hook into each chain of ours."""
    dupes = sorted(set(line for line in lines if lines.count(line) > 1))
    assert not dupes, "duplicate rule lines: %s" % dupes
    jumps = [line for line in lines if line.split()[2] in ("PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD")
             and "-j NETPLUMB-" in line]
    assert jumps, "no jump into our chains at all: %s" % lines
    return jumps


@pytest.fixture
def bridge(sandbox, run):
    """br-lk (172.30.0.1/24), ours, so every change above is valid."""
    res = run("linux_bridge", dict(name="br-lk", addresses=["172.30.0.1/24"]))
    assert not res.get("failed") and res["changed"], res
    return "br-lk"


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("name,args", CHANGES, ids=[c[0] for c in CHANGES])
def test_lock_held_by_another_process_refuses_before_reading_state(bridge, run, name, args, check):
    holder = Holder(LOCK_PATH, "flock" if check else "python")
    try:
        before = state()
        res = run(name, dict(args, lock_timeout=1), check=check)
        assert state() == before, "wrote while another process held the lock"
    finally:
        holder.release()
    assert res.get("failed") and res["changed"] is False and res["commands"] == [], res
    for part in ("lock", LOCK_PATH, "lock_timeout=1s", "PID %d" % holder.pid):
        assert part in res["msg"], res["msg"]
    # the same call goes through once the holder is gone
    again = run(name, dict(args, lock_timeout=0), check=check)
    assert not again.get("failed") and again["changed"] is True, again


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
def test_lock_released_while_waiting_then_module_succeeds(bridge, run, check):
    holder = Holder(LOCK_PATH)
    try:
        before = state()
        child = spawn_modules([["container_nat", dict(bridge="br-lk", subnet="172.30.0.0/24", lock_timeout=60),
                                check]])
        wait_for(lambda: has_open(child.pid, LOCK_PATH) or child.poll() is not None,
                 what="the module to wait for the lock")
        assert child.poll() is None, "the module did not wait for the held lock"
        assert state() == before, "wrote while waiting for the lock"
    finally:
        holder.release()
    (res,) = results(child)
    assert not res.get("failed") and res["changed"] is True, res
    assert (state() == before) is check
    if not check:
        assert run("container_nat", dict(bridge="br-lk", subnet="172.30.0.0/24"))["changed"] is False


def test_holder_killed_with_sigkill_frees_the_lock_at_once(bridge, run):
    holder = Holder(LOCK_PATH)
    assert run("netns", dict(name=["lk0"], lock_timeout=0)).get("failed")
    holder.kill(signal.SIGKILL)
    res = run("netns", dict(name=["lk0"], lock_timeout=0))
    assert not res.get("failed") and res["changed"] is True, res
    assert existing_ns() == ["lk0"]


def _network(n):
    bridge, net = "br-c%d" % n, "172.30.%d" % (10 + n)
    return bridge, [
        ["container_nat", dict(bridge=bridge, subnet=net + ".0/24"), False],
        ["port_publish", dict(bridge=bridge, ports=[dict(host_port=8000 + n, container_ip=net + ".10",
                                                         container_port=80),
                                                    dict(host_port=9000 + n, container_ip=net + ".11",
                                                         protocol="udp")]), False],
    ]


@pytest.mark.category("faults")
def test_concurrent_module_runs_leave_no_duplicate(sandbox, run):
    for n in (1, 2):
        bridge, dummy = _network(n)
        assert not run("linux_bridge", dict(name=bridge, addresses=["172.30.%d.1/24" % (10 + n)])).get("failed")
    gun_r, gun_w = os.pipe()
    children = []
    try:
        for i in range(6):
            children.append(spawn_modules(_network(1 + i % 2)[1], start_fd=gun_r))
    finally:
        os.close(gun_r)
        os.close(gun_w)     # the start gun: every child reads EOF at once
    outcomes = [res for child in children for res in results(child)]
    assert len(outcomes) == 12
    for res in outcomes:
        assert not res.get("failed") or "lock" in res["msg"], res
    assert sum(1 for res in outcomes if not res.get("failed")) >= 4
    lines = rule_lines()
    jumps = assert_single(lines)
    hooks = [" ".join(line.split()[:3]) for line in jumps]
    assert len(hooks) == len(set(hooks)), "a hook jumps twice into our chains: %s" % jumps
    # one writer at a time: each network's rules are there, exactly once, and a re-run has nothing to do
    for n in (1, 2):
        assert any("netplumb:br-c%d:tcp/8%03d" % (n, n) in line for line in lines), lines
        for name, args, _check in _network(n)[1]:
            again = run(name, args)
            assert not again.get("failed") and again["changed"] is False and again["commands"] == [], again


def _playbook(book, *extra):
    """Starts ansible-playbook -c local on this host (in the sandbox netns of the test thread)."""
    build = os.path.join(ROOT, ".build")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(build, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(build, "ansible-remote-tmp"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(PLAYBOOKS, "callback_plugins"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable,
           "-e", "container_network_firewall_backend=iptables", "-e", "swarm_prerequisites_firewall_backend=iptables",
           os.path.join(PLAYBOOKS, book)] + list(extra)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    res = json.loads(out.strip().splitlines()[-1])
    return res["stats"]["localhost"], res["tasks"]


def test_two_tutorial_playbooks_at_once_converge(sandbox):
    """Without the lock the second run's link adds race the first's (EEXIST); with it both succeed."""
    procs = [_playbook("tutorial.yml", "-e", '{"batch_size": 8}') for dummy in range(2)]
    stats = [_finish(p)[0] for p in procs]
    assert all(s["failures"] == 0 for s in stats), stats
    assert sum(s["changed"] for s in stats) == 4, "the 4 tasks changed exactly once in total: %s" % stats
    links = subprocess.run(["ip", "-j", "link", "show", "master", "br0"], capture_output=True, text=True,
                           check=True).stdout
    assert len(json.loads(links)) == 10
    assert _finish(_playbook("tutorial.yml", "-e", '{"batch_size": 8}'))[0]["changed"] == 0


def _role_vars(tmp_path, state="present"):
    networks = [dict(name="web", bridge="br-web", subnet="172.30.20.0/24", state=state,
                     containers=[dict(name="w1", address="172.30.20.11", publish=["8081:80"]),
                                 dict(name="w2", address="172.30.20.12", publish=["8082:80", "5353:53/udp"])]),
                dict(name="db", bridge="br-db", subnet="172.30.21.0/24", state=state,
                     containers=[dict(name="d1", address="172.30.21.11", publish=["8083:5432"])])]
    path = tmp_path / ("vars-%s.json" % state)
    path.write_text(json.dumps(dict(container_networks=networks)))
    return "@%s" % path


@pytest.mark.category("faults")
def test_two_role_playbooks_at_once_no_duplicate_jump_and_teardown_converges(sandbox, tmp_path):
    present = _role_vars(tmp_path)
    procs = [_playbook("role.yml", "-e", present) for dummy in range(2)]
    stats = [_finish(p)[0] for p in procs]
    assert all(s["failures"] == 0 for s in stats), stats
    jumps = assert_single(rule_lines())
    hooks = [" ".join(line.split()[:3]) for line in jumps]
    assert len(hooks) == len(set(hooks)), jumps
    # teardown: check predicts, the real run removes every chain of ours (-X would fail on a second jump)
    absent = _role_vars(tmp_path, "absent")
    before = state()
    check_stats, check = _finish(_playbook("role.yml", "-e", absent, "--check"))
    assert check_stats["failures"] == 0 and state() == before
    real_stats, real = _finish(_playbook("role.yml", "-e", absent))
    assert real_stats["failures"] == 0 and real_stats["changed"] == check_stats["changed"]
    assert not [line for line in rules() if "NETPLUMB" in line or "netplumb:" in line], rules()
    assert existing_ns() == []
    assert _finish(_playbook("role.yml", "-e", absent))[0]["changed"] == 0


@pytest.mark.category("faults")
def test_sigkill_mid_apply_frees_the_lock_and_a_rerun_converges(sandbox, run):
    n = 300
    names = ["vk%d" % i for i in range(n)]
    assert not run("netns", dict(name=["k%d" % i for i in range(n)])).get("failed")
    assert not run("linux_bridge", dict(name="br-k", addresses=["172.30.4.1/22"])).get("failed")
    args = dict(bridge="br-k", pairs=[dict(name=names[i], peer="eth0", peer_netns="k%d" % i,
                                           peer_addresses=["172.30.%d.%d/22" % (4 + (i + 2) // 256, (i + 2) % 256)],
                                           peer_gateway="172.30.4.1") for i in range(n)])

    def created():
        count = 0
        for name in names:
            try:
                socket.if_nametoindex(name)
                count += 1
            except OSError:
                pass
        return count

    child = spawn_modules([["veth_pair", args, False]])
    wait_for(lambda: created() > 0 or child.poll() is not None, what="the first link of the batch")
    assert child.poll() is None, "the batch finished before it could be killed"
    child.kill()        # SIGKILL
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert 0 < created() < n, "not killed mid-apply"
    with HostLock(0):       # free at once: the kernel dropped the dead run's flock
        pass
    # the re-run converges: check predicts exactly what the real run does, then nothing is left to do
    # (helpers.converge's netlink monitor would overflow on 300 namespaces' own chatter: results compared)
    check = run("veth_pair", args, check=True)
    assert not check.get("failed") and check["changed"] is True, check
    real = run("veth_pair", args)
    assert not real.get("failed"), real
    assert real["commands"] == check["commands"] and real["diff"] == check["diff"]
    assert created() == n
    again = run("veth_pair", args)
    assert not again.get("failed") and again["changed"] is False and again["commands"] == [], again


@pytest.mark.parametrize("value,check", [(-1, True), (-1, False), ("soon", True), ("soon", False), (1.5, False)])
def test_bad_lock_timeout_names_the_field_and_writes_nothing(bridge, run, value, check):
    before = state()
    res = run("container_nat", dict(bridge="br-lk", subnet="172.30.0.0/24", lock_timeout=value), check=check)
    assert res.get("failed") and "lock_timeout" in res["msg"] and str(value) in res["msg"], res
    assert state() == before
