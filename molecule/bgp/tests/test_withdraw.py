"""A host that leaves the inventory is withdrawn: the role runs again with h3 gone from the fleet (an inventory of
h1 and h2 only), and h1 and h2 drop their session to h3 and the route to its subnet; h3 itself is not touched.
Then the mode goes on h3 (container_cross_host: none): our bird stops, our config goes, the router forgets h3's
subnet. Runs after test_bgp.py (its own module), once."""
import json
import os
import re
import subprocess
import sys

import netcheck
import pytest

from test_bgp import ADDR, SOCK, proto, subnet, wait

LAB = netcheck.lab_dir()


def inventory(path, hosts, mode="bgp"):
    variables = dict(ansible_user="root", ansible_python_interpreter="/usr/bin/python3",
                     ansible_ssh_private_key_file=os.path.join(LAB, "id_ed25519"),
                     ansible_ssh_common_args="-F %s" % os.path.join(LAB, "ssh_config"),
                     ansible_control_path_dir=os.path.join(LAB, "cp-withdraw"),
                     container_cluster_cidr="10.244.0.0/16", container_cross_host=mode,
                     container_bgp_peers=[dict(name="tor", address="192.0.2.1")])
    with open(path, "w") as f:
        json.dump(dict(all=dict(hosts=hosts, vars=variables)), f)


def converge(path):
    """The scenario's converge with this inventory; -> the recap lines."""
    root = netcheck.ROOT
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(root, ".build", "collections"),
               ANSIBLE_HOME=os.path.join(root, ".build", "ansible-home"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", path,
                           os.path.join(root, "molecule", "bgp", "converge.yml")], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in proc.stdout.splitlines()]


def network(name):
    return [dict(name="fleet", bridge="br-fleet", subnet="cluster", containers=[dict(name=name, address="10")])]


def routes(h):
    out = netcheck.lab_exec(h, "ip", "-4", "route", "show", "proto", "bird").stdout
    return sorted(" ".join(r.split()) for r in out.splitlines())


def test_h3_leaves_the_inventory(host, tmp_path):
    if host.backend.get_hostname() != "h1":
        pytest.skip("runs once")
    h3_before = netcheck.lab_exec("h3", "cat", "/etc/bird/bird.conf").stdout
    inv = str(tmp_path / "inventory.json")
    inventory(inv, dict(h1=dict(ansible_host=ADDR["h1"], container_networks=network("f1")),
                        h2=dict(ansible_host=ADDR["h2"])))
    recap = converge(inv)
    for h in ("h1", "h2"):      # bgp_speaker changed there (h3's session gone), nothing failed
        assert [ln for ln in recap if ln.startswith(h + " ") and "failed=0" in ln and "changed=0" not in ln], recap[-6:]
    for h in ("h1", "h2"):
        other = [o for o in ("h1", "h2") if o != h][0]
        want = ["%s via 192.0.2.1 dev eth0 metric 151" % subnet(other)]
        assert wait(lambda: routes(h) == want or None, "%s's routes %s" % (h, want))
        protos = netcheck.lab_exec(h, "birdc", "-s", SOCK, "show", "protocols").stdout
        assert proto(ADDR["h3"]) not in protos and proto(ADDR[other]) in protos
    assert netcheck.lab_exec("h3", "cat", "/etc/bird/bird.conf").stdout == h3_before

    # --- then the mode goes on h3 (container_cross_host: none): our bird stops, its config goes, and the router,
    # whose session to h3 drops with it, forgets h3's subnet
    inventory(inv, dict(h3=dict(ansible_host=ADDR["h3"], container_networks=network("f3"))), mode="none")
    recap = converge(inv)
    assert [ln for ln in recap if ln.startswith("h3 ") and "failed=0" in ln and "changed=0" not in ln], recap[-4:]
    assert netcheck.lab_exec("h3", "test", "-e", "/run/netplumb/bird.pid").returncode != 0
    assert netcheck.lab_exec("h3", "test", "-e", "/etc/bird/bird.conf").returncode != 0
    # the module waited until bird exited (a zombie at most); its reaping by the lab's init is waited for
    assert wait(lambda: netcheck.lab_exec("h3", "pgrep", "-x", "bird").returncode != 0 or None, "h3's bird reaped")

    def router():
        out = netcheck.lab_exec("top", "ip", "-4", "route", "show", "proto", "bird").stdout
        return sorted(r.split()[0] for r in out.splitlines())
    assert wait(lambda: router() == sorted([subnet("h1"), subnet("h2")]) or None, "h3's subnet gone from the router")
