"""The done-when of the foundation issue, through ansible-playbook: --check on a fresh host predicts every change
and writes nothing; the real run builds the tutorial topology (proven by ping); the second run reports changed=0
for every task; the batch task creates 100 pairs."""
import json
import os
import subprocess
import sys

from helpers.converge import existing_ns
from helpers.kernel import dump, ip_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def playbook(*extra):
    env = dict(os.environ)
    build = os.path.join(ROOT, ".build")
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_HOME=os.path.join(build, "ansible-home"),
               ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(build, "ansible-remote-tmp"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "playbooks", "callback_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, os.path.join(HERE, "playbooks", "tutorial.yml")]
    proc = subprocess.run(cmd + list(extra), cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["stats"]["localhost"], dict((name, hosts["localhost"]) for name, hosts in out["tasks"].items())


def ping(target, ns):
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", target],
                          capture_output=True, check=False).returncode == 0


def test_tutorial_playbook_check_real_idempotent(sandbox):
    before = dump()
    stats, check = playbook("--check", "--diff")
    assert dump() == before and existing_ns() == [], "--check wrote to the host"
    assert stats["changed"] == 4 and stats["failures"] == 0
    assert any("assuming an earlier task creates it" in str(w) for w in check["Gateway bridge"].get("warnings", []) +
               check["The two tutorial containers"].get("warnings", []))

    stats, real = playbook("--diff")
    assert stats["changed"] == 4 and stats["failures"] == 0
    for name, res in real.items():
        assert res["commands"] == check[name]["commands"], name
    assert len([c for c in real["One hundred more in one task"]["commands"] if c.startswith("ip link add")]) == 100
    assert len(ip_json("link", "show", "master", "br0")) == 102
    assert ping("172.18.0.20", "netns0") and ping("172.18.0.10", "netns1") and ping("172.18.1.100", "netns0")

    state = dump(existing_ns())
    stats, again = playbook()
    assert stats["changed"] == 0 and stats["ok"] == 4
    assert all(res["commands"] == [] for res in again.values())
    assert dump(existing_ns()) == state
