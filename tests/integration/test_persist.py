"""container_network_persist: the networks saved under /etc, a oneshot unit, and a reboot simulated.

The suite's /etc is a private copy-on-write overlay (tests/isolated.sh); in it /etc/systemd/system and
/etc/sysctl.d are fresh tmpfs mounts and /etc/netplumb starts absent, so the real paths are used and the
machine's /etc and systemd are never touched. The "reboot" is boot_world.py in a child `unshare --net
--mount`: a fresh network namespace and /run, the same /etc, the unit's ExecStart."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from test_container_network import cycle

from ansible_collections.netplumb.container.plugins.module_utils import _persist

HERE = os.path.dirname(os.path.abspath(__file__))
DIRS = ("/etc/netplumb", "/etc/systemd/system", "/etc/sysctl.d")
NETS = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
    dict(name="c0", address="172.18.0.10"),
    dict(name="c1", address="172.18.0.20", publish=["5000:5000/tcp"]),
])]
ARGS = dict(networks=NETS, variable="container_networks")


@pytest.fixture
def etc():
    """Fresh, empty, private versions of the directories the module writes."""
    assert not os.path.exists("/etc/netplumb")      # the suite's overlay /etc: the module makes and removes it
    mounted = []
    try:
        for d in DIRS[1:]:
            os.makedirs(d, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "netplumb-test-etc", d], check=True)
            mounted.append(d)
        yield
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", "-l", d], check=True)
        shutil.rmtree("/etc/netplumb", ignore_errors=True)


def files():
    out = {}
    for d in DIRS:
        for root, dirs, names in os.walk(d):
            for n in dirs + names:
                p = os.path.join(root, n)
                st = os.lstat(p)
                out[p] = (stat.S_IMODE(st.st_mode), os.readlink(p) if os.path.islink(p) else
                          None if stat.S_ISDIR(st.st_mode) else open(p).read())
    return out


def persist_cycle(run, args, expect_changed=True):
    """check+diff -> real -> re-run for the module that writes files: check wrote nothing, check == real,
    the re-run changes nothing."""
    before = files()
    check = run("container_network_persist", args, check=True)
    assert not check.get("failed"), check
    assert files() == before, "check mode wrote files"
    assert check["changed"] is expect_changed, check
    assert check["diff"].get("prepared") == ("\n".join(check["commands"]) or None)
    real = run("container_network_persist", args)
    assert not real.get("failed"), real
    assert (real["changed"], real["commands"], real["diff"]) == (check["changed"], check["commands"], check["diff"])
    state = files()
    again = run("container_network_persist", args)
    assert not again.get("failed"), again
    assert again["changed"] is False and again["commands"] == [], again
    assert files() == state, "the re-run wrote files"
    return real


def reboot(exec_start, probe=True, **more):
    """boot_world.py in a fresh network namespace and /run with this /etc: its JSON (more: setup, show)."""
    proc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", sys.executable,
                           os.path.join(HERE, "boot_world.py"),
                           json.dumps(dict(exec_start=exec_start, probe=probe, **more))],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_reboot_converges_with_the_same_engine(etc, sandbox, run):
    first = cycle(run, NETS)
    res = persist_cycle(run, ARGS)
    assert any("systemctl enable" in c for c in res["commands"])
    assert res["warnings"] and "systemd is not this host's init" in res["warnings"][0]    # isolated: no /run/systemd
    assert stat.S_IMODE(os.stat(_persist.NETWORKS_FILE).st_mode) == 0o600
    assert _persist.load_networks(_persist.NETWORKS_FILE)["networks"] == NETS
    assert os.readlink(_persist.WANTS_LINK) == _persist.UNIT_FILE
    with open(_persist.SYSCTL_FILE) as f:
        assert "net.ipv4.ip_forward = 1" in f.read().splitlines()
    with open(_persist.UNIT_FILE) as f:
        unit = f.read()
    assert _persist.exec_start(unit) == res["exec_start"]
    assert res["exec_start"][0] == sys.executable and res["exec_start"][-1] == _persist.NETWORKS_FILE

    world = reboot(res["exec_start"])
    assert world["rc"] == 0, world["stderr"]
    # the unit logs the commands the module returned when it built the same networks on a fresh host
    assert world["stdout"].splitlines() == first["commands"]
    assert world["ip_forward"] == "1"
    assert world["gateway"] == "172.18.0.10"        # container -> bridge gateway
    assert world["internet"] == "192.0.2.1"         # masqueraded behind the host's address
    assert world["published"] == "192.0.2.2"        # a published port, client address preserved
    assert world["neighbour"] == "172.18.0.20"

    # the unit file itself, as systemd reads it
    analyze = shutil.which("systemd-analyze")
    if analyze:
        ver = subprocess.run([analyze, "verify", _persist.UNIT_FILE], capture_output=True, text=True, check=False)
        assert ver.returncode == 0, ver.stdout + ver.stderr
        assert _persist.UNIT not in ver.stderr, ver.stderr

    # on the converged host, the boot command is a no-op; a changed list is saved again (only the JSON
    # changes), and the boot command then does what the module predicts for it
    idle = subprocess.run(res["exec_start"], capture_output=True, text=True, check=False)
    assert (idle.returncode, idle.stdout) == (0, ""), idle.stderr
    nets2 = [dict(NETS[0], containers=NETS[0]["containers"][:1])]
    res2 = persist_cycle(run, dict(ARGS, networks=nets2))
    assert res2["commands"] == ["install -m 0600 /dev/stdin %s  # %d lines" % (
        _persist.NETWORKS_FILE, _persist.networks_text(nets2, "auto", "container_networks").count("\n"))]
    predicted = run("container_network", dict(ARGS, networks=nets2), check=True)
    assert predicted["changed"], predicted
    boot = subprocess.run(res["exec_start"], capture_output=True, text=True, check=False)
    assert boot.returncode == 0, boot.stderr
    assert boot.stdout.splitlines() == predicted["commands"]
    assert run("container_network", dict(ARGS, networks=nets2))["changed"] is False

    # persist off: every file of ours goes, the unit disabled first; nothing is left in /etc/netplumb
    off = persist_cycle(run, dict(ARGS, state="absent"))
    assert any("systemctl disable" in c for c in off["commands"])
    # (the wants directory stays, empty, as systemctl disable leaves it)
    assert files() == {os.path.dirname(_persist.WANTS_LINK): (0o755, None)}, files()
    assert off["exec_start"] is None


def test_no_present_network_removes(etc, run):
    persist_cycle(run, ARGS)
    assert os.path.exists(_persist.UNIT_FILE)
    gone = persist_cycle(run, dict(ARGS, networks=[dict(NETS[0], state="absent")]))
    assert "rm %s" % _persist.NETWORKS_FILE in gone["commands"]
    assert files() == {os.path.dirname(_persist.WANTS_LINK): (0o755, None)}, files()


def test_foreign_files_are_refused(etc, run):
    with open(_persist.UNIT_FILE, "w") as f:
        f.write("[Unit]\nDescription=someone else's\n")
    before = files()
    for state in ("present", "absent"):
        res = run("container_network_persist", dict(ARGS, state=state))
        assert res.get("failed") and "is not netplumb's" in res["msg"], res
        assert files() == before


def test_role_persists_with_check_real_rerun_and_removes_when_off(etc, sandbox, tmp_path):
    from test_playbook import role_run
    task = "Container networks - saved for boot, or their boot files removed (container_network_persist)"
    on = ("-e", "container_network_persist=true")
    stats, check = role_run(tmp_path, NETS, "--check", "--diff", *on)
    assert stats["failures"] == 0 and files() == {}, "--check wrote"
    stats, real = role_run(tmp_path, NETS, "--diff", *on)
    assert stats["failures"] == 0
    assert real[task]["commands"] == check[task]["commands"] and real[task]["changed"] is True
    assert _persist.load_networks(_persist.NETWORKS_FILE)["networks"] == NETS
    with open(_persist.UNIT_FILE) as f:
        assert _persist.exec_start(f.read()) == real[task]["exec_start"]
    stats, again = role_run(tmp_path, NETS, *on)
    assert stats["failures"] == 0 and stats["changed"] == 0, again
    # the default (false) removes them, and then stays changed=0
    stats, off = role_run(tmp_path, NETS)
    assert off[task]["changed"] and files() == {os.path.dirname(_persist.WANTS_LINK): (0o755, None)}
    stats, dummy = role_run(tmp_path, NETS)
    assert stats["changed"] == 0


UNDERLAY = [["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
            ["ip", "addr", "add", "192.0.2.11/24", "dev", "up0"],
            ["ip", "link", "set", "up0", "up"], ["ip", "link", "set", "up0p", "up"]]
FLEET_NETS = [dict(name="fleet", bridge="brA", subnet="10.244.1.0/24", mtu=1450,
                   containers=[dict(name="cA", address="10.244.1.10")])]
OVERLAY = dict(subnet="10.244.1.0/24", local="192.0.2.11", cluster_cidr="10.244.0.0/16", firewall_backend="iptables",
               peers=[dict(name="h2", subnet="10.244.2.0/24", address="192.0.2.12")],
               networks=[dict(bridge="brA", subnet="10.244.1.0/24")])
SHOW = dict(link=["ip", "-j", "-d", "link", "show", "np-vxlan"], fdb=["bridge", "-j", "fdb", "show", "dev", "np-vxlan"],
            routes=["ip", "-j", "route", "show", "proto", "151"], rules=["iptables-save"])


def test_reboot_brings_the_overlay_back(etc, sandbox, run):
    """cross_host: the role's vxlan_overlay arguments are saved with the networks; the boot converges the
    networks, then the overlay (device, FDB, route, port rules) by the module's own planner - the same commands
    the module ran on this fresh host. A bad cross_host fails before anything is written, naming its field."""
    for cmd in UNDERLAY:
        subprocess.run(cmd, check=True)
    nets = cycle(run, FLEET_NETS)
    vx = run("vxlan_overlay", OVERLAY)
    assert vx["changed"] and not vx.get("failed"), vx
    assert run("vxlan_overlay", OVERLAY)["changed"] is False
    cross = dict(module="vxlan_overlay", args=OVERLAY)
    args = dict(ARGS, networks=FLEET_NETS, cross_host=cross)

    bad = run("container_network_persist", dict(args, cross_host=dict(cross, args=dict(OVERLAY, vni=0))))
    assert bad.get("failed") and "cross_host.args.vni=0" in bad["msg"], bad
    assert (bad["changed"], bad["commands"]) == (False, [])
    assert not os.path.exists("/etc/netplumb")
    bad = run("container_network_persist", dict(args, cross_host=dict(cross, args=dict(OVERLAY, vnid=7))))
    assert bad.get("failed") and "cross_host.args='vnid'" in bad["msg"], bad

    res = persist_cycle(run, args)
    saved = _persist.load_networks(_persist.NETWORKS_FILE)["cross_host"]
    assert saved["module"] == "vxlan_overlay" and saved["args"]["vni"] == 151 and saved["args"]["local"] == "192.0.2.11"

    world = reboot(res["exec_start"], probe=False, setup=UNDERLAY, show=SHOW)
    assert world["rc"] == 0, world["stderr"]
    assert world["stdout"].splitlines() == nets["commands"] + vx["commands"]
    link = json.loads(world["show"]["link"])[0]
    assert (link["linkinfo"]["info_data"]["id"], link["linkinfo"]["info_data"]["port"], link["ifalias"]) \
        == (151, 8472, "netplumb")
    assert [(f["mac"], f["dst"]) for f in json.loads(world["show"]["fdb"]) if "dst" in f] \
        == [("0a:6e:0a:f4:02:00", "192.0.2.12")]
    assert [(r["dst"], r["gateway"]) for r in json.loads(world["show"]["routes"])] == [("10.244.2.0/24", "10.244.2.0")]
    assert "netplumb:vxlan/peer" in world["show"]["rules"]

    # no cross_host any more: the file drops it (what runs is left to the role's own vxlan_overlay task)
    res2 = persist_cycle(run, ARGS)
    assert "cross_host" not in _persist.load_networks(_persist.NETWORKS_FILE)
    assert res2["commands"][0].startswith("install -m 0600 /dev/stdin %s" % _persist.NETWORKS_FILE)


def test_boot_waits_for_the_underlay(etc, sandbox, run):
    """Early in a boot the underlay may not hold its address yet: the cross-host step waits for it (the networks
    are already converged) and converges once it appears - here it is added while the boot waits."""
    for cmd in UNDERLAY:
        subprocess.run(cmd, check=True)
    res = persist_cycle(run, dict(ARGS, networks=FLEET_NETS, cross_host=dict(module="vxlan_overlay", args=OVERLAY)))
    late = [["sh", "-c", "ip link add up0 type veth peer name up0p && ip link set up0 up && "
             "(until grep -q waiting /run/boot.err 2>/dev/null; do sleep 0.1; done; "
             "ip addr add 192.0.2.11/24 dev up0) >/dev/null 2>&1 &"]]
    world = reboot(["sh", "-c", " ".join(res["exec_start"]) + " 2>/run/boot.err; rc=$?; cat /run/boot.err >&2; "
                    "exit $rc"], probe=False, setup=late, show=SHOW)
    assert world["rc"] == 0, world["stderr"]
    assert "vxlan_overlay: waiting for the underlay (local='192.0.2.11'" in world["stderr"], world["stderr"]
    assert json.loads(world["show"]["link"])[0]["ifalias"] == "netplumb"
