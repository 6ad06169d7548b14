"""A host that leaves the inventory is withdrawn: the role runs again with h3 gone from the fleet (an inventory of
h1 and h2 only), and h1 and h2 drop their session to h3 and the route to its subnet; h3 itself is not touched.
Runs after test_bgp.py (its own module), once."""
import json
import os
import re
import subprocess
import sys

import netcheck
import pytest

from test_bgp import ADDR, SOCK, proto, subnet, wait

LAB = netcheck.lab_dir()


def inventory(path):
    fleet = dict(name="fleet", bridge="br-fleet", subnet="cluster", containers=[dict(name="f1", address="10")])
    hosts = dict(h1=dict(ansible_host=ADDR["h1"], container_networks=[fleet]), h2=dict(ansible_host=ADDR["h2"]))
    variables = dict(ansible_user="root", ansible_python_interpreter="/usr/bin/python3",
                     ansible_ssh_private_key_file=os.path.join(LAB, "id_ed25519"),
                     ansible_ssh_common_args="-F %s" % os.path.join(LAB, "ssh_config"),
                     ansible_control_path_dir=os.path.join(LAB, "cp-withdraw"),
                     container_cluster_cidr="10.244.0.0/16", container_cross_host="bgp",
                     container_bgp_peers=[dict(name="tor", address="192.0.2.1")])
    with open(path, "w") as f:
        json.dump(dict(all=dict(hosts=hosts, vars=variables)), f)


def routes(h):
    out = netcheck.lab_exec(h, "ip", "-4", "route", "show", "proto", "bird").stdout
    return sorted(" ".join(r.split()) for r in out.splitlines())


def test_h3_leaves_the_inventory(host, tmp_path):
    if host.backend.get_hostname() != "h1":
        pytest.skip("runs once")
    h3_before = netcheck.lab_exec("h3", "cat", "/etc/bird/bird.conf").stdout
    inv = str(tmp_path / "inventory.json")
    inventory(inv)
    root = netcheck.ROOT
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, ".build", "collections"),
               ANSIBLE_HOME=os.path.join(root, ".build", "ansible-home"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inv,
                           os.path.join(root, "molecule", "bgp", "converge.yml")], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    recap = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in proc.stdout.splitlines()]
    for h in ("h1", "h2"):      # bgp_speaker changed there (h3's session gone), nothing failed
        assert [ln for ln in recap if ln.startswith(h + " ") and "failed=0" in ln and "changed=0" not in ln], recap[-6:]
    for h in ("h1", "h2"):
        other = [o for o in ("h1", "h2") if o != h][0]
        want = ["%s via 192.0.2.1 dev eth0 metric 151" % subnet(other)]
        assert wait(lambda: routes(h) == want or None, "%s's routes %s" % (h, want))
        protos = netcheck.lab_exec(h, "birdc", "-s", SOCK, "show", "protocols").stdout
        assert proto(ADDR["h3"]) not in protos and proto(ADDR[other]) in protos
    assert netcheck.lab_exec("h3", "cat", "/etc/bird/bird.conf").stdout == h3_before
