"""The fleet tests' playbook runs on the controller (test_bgp_peers, test_fleet_group): an inventory file of
their own under .build, and ansible-playbook with the collection of this checkout and the record_json callback.
No host, no kernel."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, ".build")


def inventory_fixture(text):
    """A module-scoped fixture: the path of an inventory file holding ``text``, removed after the module."""
    @pytest.fixture(scope="module")
    def inventory():
        os.makedirs(BUILD, exist_ok=True)
        fd, path = tempfile.mkstemp(suffix=".ini", dir=BUILD)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        yield path
        os.unlink(path)
    return inventory


def run(inventory, playbook, *extra):
    """ansible-playbook of tests/fleet/``playbook`` on ``inventory``: (its return code, {task name without the
    role's prefix: {host: result}})."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(BUILD, "collections"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "integration", "playbooks", "callback_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
           os.path.join(HERE, playbook)] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    return proc.returncode, dict((name.split(" : ", 1)[-1], hosts) for name, hosts in out["tasks"].items())
