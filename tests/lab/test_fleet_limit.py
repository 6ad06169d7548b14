"""The fleet is the inventory, not the play (issue 14 item 8, docs/fleet-subnets.md), on the 3-host lab.

One lab (its own state dir and top namespace) for the whole module: a full converge of playbooks/site.yml with
the demo inventory (host_gw), then runs that shrink the play - `--limit h1`, `serial: 1`, h3 unreachable from
the controller - must leave every host's routes to the others exactly as they are (changed=0), and a host that
leaves container_fleet_group loses its routes on the others, and only its own. The lab is taken down at the end
and must leave nothing behind.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(REPO, ".build")
NETLAB = os.path.join(HERE, "netlab.py")
STATE = os.path.join(BUILD, "lab-pytest-fleet")
SYS_PY = "/usr/bin/python3"
ADDR = {"h1": "192.0.2.11", "h2": "192.0.2.12", "h3": "192.0.2.13"}
CIDR = "10.244.0.0/16"  # playbooks/inventory/group_vars/all.yml
ROUTES_TASK = "Host-gw routes to the other hosts' container subnets"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(not shutil.which("unshare") or not os.path.exists("/usr/sbin/sshd"),
                       reason="needs util-linux unshare and openssh-server"),
]


def netlab(*args, check=True):
    p = subprocess.run([SYS_PY, NETLAB, "--state-dir", STATE] + list(args), capture_output=True, text=True,
                       timeout=120, check=False)
    if check and p.returncode != 0:
        raise AssertionError("netlab %s failed (%d):\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def routes(host):
    """{subnet: via} of the host's routes with protocol 151 (netplumb's)."""
    out = netlab("exec", host, "--", "ip", "-4", "-o", "route", "show", "proto", "151").stdout
    return dict(re.match(r"(\S+) via (\S+) ", line).groups() for line in out.splitlines())


def expected(fleet=("h1", "h2", "h3")):
    alloc = allocate(CIDR, 24, [dict(name=h) for h in fleet])
    return dict((h, dict((alloc[o]["subnet"], ADDR[o]) for o in fleet if o != h)) for h in fleet)


def play(*extra, playbook=os.path.join(REPO, "playbooks", "site.yml")):
    """ansible-playbook against the lab with the demo inventory -> (rc, stats, {task: {host: result}})."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(BUILD, "ansible-tmp"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(BUILD, "collections"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "integration", "playbooks", "callback_plugins"),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
           "-i", os.path.join(STATE, "inventory.ini"), "-i", os.path.join(REPO, "playbooks", "inventory"),
           playbook] + list(extra)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    tasks = dict((name.split(" : ", 1)[-1], hosts) for name, hosts in out["tasks"].items())
    return proc.returncode, out["stats"], tasks


def all_routes():
    return dict((h, routes(h)) for h in ADDR)


@pytest.fixture(scope="module")
def lab():
    if os.path.exists(os.path.join(STATE, "state.json")):
        netlab("down")  # a leftover from an interrupted run
    try:
        netlab("up", "--hosts", "3")
        rc, stats, tasks = play()
        assert rc == 0, (stats, tasks)
        converged = all_routes()
        assert converged == expected(), converged
        yield converged
    finally:
        netlab("down", check=False)
        assert not os.path.exists(STATE), "the lab was not taken down"


def test_limit_h1_keeps_its_routes_to_the_others(lab):
    rc, stats, tasks = play("--limit", "h1")
    assert rc == 0 and list(stats) == ["h1"], stats
    assert stats["h1"]["changed"] == 0, stats
    assert tasks[ROUTES_TASK]["h1"]["changed"] is False
    assert all_routes() == lab


def test_serial_1_sees_the_whole_fleet_in_every_batch(lab):
    rc, stats, tasks = play(playbook=os.path.join(HERE, "playbooks", "site_serial.yml"))
    assert rc == 0 and sorted(stats) == ["h1", "h2", "h3"], stats
    assert all(s["changed"] == 0 for s in stats.values()), stats
    assert all(r["changed"] is False for r in tasks[ROUTES_TASK].values())
    assert all_routes() == lab


def test_an_unreachable_host_keeps_its_routes_on_the_others(lab):
    # h3 unreachable from the controller only: ansible's ssh masters are stopped, and inside the lab's top
    # namespace (where the ssh ProxyCommand connects from) h3's address is a blackhole. h1 and h2 reach h3 over
    # the lab bridge, untouched.
    cp = os.path.join(STATE, "cp")
    for sock in os.listdir(cp) if os.path.isdir(cp) else []:
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(cp, sock), "-O", "exit", "x"],
                       capture_output=True, timeout=10, check=False)
    netlab("exec", "top", "--", "ip", "route", "add", "blackhole", ADDR["h3"] + "/32")
    try:
        rc, stats, tasks = play()
    finally:
        netlab("exec", "top", "--", "ip", "route", "del", "blackhole", ADDR["h3"] + "/32")
    assert rc != 0 and stats["h3"]["unreachable"] == 1, stats
    for h in ("h1", "h2"):
        assert stats[h]["failures"] == 0 and stats[h]["unreachable"] == 0 and stats[h]["changed"] == 0, stats
        assert tasks[ROUTES_TASK][h]["changed"] is False
    assert all_routes() == lab


def test_zz_prune_removes_only_a_host_that_left_the_group(lab, tmp_path):
    # h2 leaves the fleet group; a run limited to h1 drops h1's route to h2 and keeps the one to h3
    inv = tmp_path / "fleet13.ini"
    inv.write_text("[fleet13]\nh1\nh3\n")
    rc, stats, tasks = play("-i", str(inv), "-e", "container_fleet_group=fleet13", "--limit", "h1")
    assert rc == 0 and tasks[ROUTES_TASK]["h1"]["changed"] is True, stats
    want = expected(("h1", "h3"))["h1"]
    assert want == dict((s, v) for s, v in lab["h1"].items() if v != ADDR["h2"])
    assert all_routes() == dict(lab, h1=want)
    # back in the group: the route comes back, and nothing else moved
    rc, stats, tasks = play("--limit", "h1")
    assert rc == 0 and tasks[ROUTES_TASK]["h1"]["changed"] is True, stats
    assert all_routes() == lab


# --- container_cross_host: vxlan (docs/cross-host.md): the same promises for the overlay's routes, neighbours and
# FDB entries; on this L2 lab too (an overlay does not need the routed one), then back to host_gw
VXLAN_TASK = "VXLAN overlay between the fleet's container subnets"


def overlay(host):
    """(routes, permanent neighbours, FDB entries) of the host's vxlan device, as ip and bridge print them."""
    def lines(*argv):
        return sorted(ln.strip() for ln in netlab("exec", host, "--", *argv).stdout.splitlines() if ln.strip())
    return (lines("ip", "-4", "route", "show", "proto", "151"),
            lines("ip", "neigh", "show", "dev", "np-vxlan", "nud", "permanent"),
            lines("bridge", "fdb", "show", "dev", "np-vxlan"))


def expected_overlay(fleet=("h1", "h2", "h3")):
    alloc = allocate(CIDR, 24, [dict(name=h) for h in fleet])
    out = {}
    for h in fleet:
        others = [o for o in fleet if o != h]
        vtep = dict((o, alloc[o]["subnet"].split("/")[0]) for o in others)
        mac = dict((o, "0a:6e:" + ":".join("%02x" % int(x) for x in vtep[o].split("."))) for o in others)
        out[h] = (sorted("%s via %s dev np-vxlan onlink" % (alloc[o]["subnet"], vtep[o]) for o in others),
                  sorted("%s lladdr %s PERMANENT" % (vtep[o], mac[o]) for o in others),
                  sorted("%s dst %s self permanent" % (mac[o], ADDR[o]) for o in others))
    return out


def test_zzz_vxlan_limit_never_touches_hosts_outside_and_a_leaving_host_is_cleaned(lab, tmp_path):
    rc, stats, tasks = play("-e", "container_cross_host=vxlan")
    assert rc == 0, stats
    full = dict((h, overlay(h)) for h in ADDR)
    assert full == expected_overlay(), full     # host-gw routes replaced by the overlay's, on every host
    # h2 leaves the fleet group; a run limited to h1 drops h1's route, neighbour and FDB entry of h2, keeps h3's,
    # and h2 and h3 (outside the play) keep everything
    inv = tmp_path / "fleet13.ini"
    inv.write_text("[fleet13]\nh1\nh3\n")
    rc, stats, tasks = play("-i", str(inv), "-e", "container_fleet_group=fleet13", "-e",
                            "container_cross_host=vxlan", "--limit", "h1")
    assert rc == 0 and list(stats) == ["h1"] and tasks[VXLAN_TASK]["h1"]["changed"] is True, stats
    now = dict((h, overlay(h)) for h in ADDR)
    assert now == dict(full, h1=expected_overlay(("h1", "h3"))["h1"]), now
    # back to host_gw: the overlay goes on every host (its device, entries and port rules), the routes come back
    rc, stats, tasks = play()
    assert rc == 0, stats
    assert all_routes() == lab
    for h in ADDR:
        assert netlab("exec", h, "--", "ip", "link", "show", "np-vxlan", check=False).returncode != 0
        assert "netplumb:vxlan/" not in netlab("exec", h, "--", "iptables-save").stdout
