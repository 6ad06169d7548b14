"""swarm_firewall and kernel_prerequisites, attacked in the sandbox (its own iptables, /proc/sys of its
netns, the private /etc overlay of tests/isolated.sh).

"firewall": behind-our-back edits of NETPLUMB-INPUT are repaired by one run (check mode predicting it
exactly), a second run writes nothing; the rules of other owners (a network named "swarm" included) survive
state=absent; a failing commit leaves the firewall unchanged.
"ownership": a file of someone else's at our paths is never changed or removed; a required feature missing
refuses before any change, in check mode and real mode, naming each feature.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers_fw import FakeRestore, chain_rules, ipt, save  # noqa: E402

SWARM = dict(peers=["192.0.2.12", "192.0.2.13"], manager=True)
SYSCTL_FILE = "/etc/sysctl.d/90-netplumb-swarm.conf"
MODULES_FILE = "/etc/modules-load.d/netplumb-swarm.conf"
PREREQ = dict(required=["vxlan", "bridge", "br_netfilter", "overlay"], optional=["ip_vs", "esp4"],
              sysctls={"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1},
              modules_file=MODULES_FILE, sysctl_file=SYSCTL_FILE, owner_label="swarm_prerequisites")


def check_then_real(run, mod, args):
    before = save()
    check = run(mod, args, check=True)
    assert not check.get("failed"), check
    assert save() == before, "check mode changed the rules"
    real = run(mod, args)
    assert not real.get("failed"), real
    assert (real["changed"], real["commands"], real["diff"]) == (check["changed"], check["commands"], check["diff"])
    return real


def quiet(run, mod, args):
    before = save()
    again = run(mod, args)
    assert not again.get("failed") and again["changed"] is False and again["commands"] == [], again
    assert save() == before


@pytest.fixture
def swarm(sandbox, run):
    ipt("-A", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "ACCEPT")
    check_then_real(run, "swarm_firewall", SWARM)
    return chain_rules("filter", "NETPLUMB-INPUT")


@pytest.mark.category("firewall")
@pytest.mark.parametrize("attack", [
    ["-F", "NETPLUMB-INPUT"],
    ["-D", "NETPLUMB-INPUT", "2"],
    ["-I", "NETPLUMB-INPUT", "1", "-j", "ACCEPT"],
    ["-I", "NETPLUMB-INPUT", "1", "-p", "tcp", "--dport", "2377", "-m", "comment", "--comment", "netplumb:swarm/peer",
     "-j", "ACCEPT"],
    ["-A", "INPUT", "-j", "NETPLUMB-INPUT"],
    ["-D", "INPUT", "-j", "NETPLUMB-INPUT"],
], ids=["flush", "delete-accept", "foreign-accept-first", "forged-owner-accept", "duplicate-jump", "jump-deleted"])
def test_behind_our_back_repaired(swarm, run, attack):
    ipt(*attack)
    res = check_then_real(run, "swarm_firewall", SWARM)
    assert res["changed"]
    assert chain_rules("filter", "NETPLUMB-INPUT") == swarm
    inputs = [ln for ln in save().splitlines() if ln.startswith("-A INPUT")]
    assert inputs == ["-A INPUT -j NETPLUMB-INPUT", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]
    quiet(run, "swarm_firewall", SWARM)


@pytest.mark.category("firewall")
def test_jump_pushed_behind_host_rules_moves_back_first(swarm, run):
    ipt("-D", "INPUT", "-j", "NETPLUMB-INPUT")
    ipt("-A", "INPUT", "-j", "NETPLUMB-INPUT")
    res = check_then_real(run, "swarm_firewall", SWARM)
    assert any("position 1" in w for w in res["warnings"]), res
    assert [ln for ln in save().splitlines() if ln.startswith("-A INPUT")][0] == "-A INPUT -j NETPLUMB-INPUT"
    quiet(run, "swarm_firewall", SWARM)


@pytest.mark.category("firewall")
def test_network_named_swarm_is_not_ours_to_remove(swarm, run):
    # a bridge called "swarm" owns netplumb:swarm; the Swarm rules own netplumb:swarm/...
    ipt("-N", "NETPLUMB-FORWARD")
    ipt("-A", "FORWARD", "-j", "NETPLUMB-FORWARD")
    ipt("-A", "NETPLUMB-FORWARD", "-i", "swarm", "-m", "comment", "--comment", "netplumb:swarm", "-j", "ACCEPT")
    ipt("-A", "NETPLUMB-INPUT", "-i", "swarm", "-m", "comment", "--comment", "netplumb:swarm", "-j", "RETURN")
    res = check_then_real(run, "swarm_firewall", dict(state="absent"))
    assert res["changed"]
    lines = save().splitlines()
    assert [ln for ln in lines if "netplumb:swarm/" in ln] == []
    # the network's rules stay, so does the chain they live in and its one jump
    assert chain_rules("filter", "NETPLUMB-FORWARD") == [
        ["-i", "swarm", "-m", "comment", "--comment", "netplumb:swarm", "-j", "ACCEPT"]]
    assert chain_rules("filter", "NETPLUMB-INPUT") == [
        ["-i", "swarm", "-m", "comment", "--comment", "netplumb:swarm", "-j", "RETURN"]]
    assert lines.count("-A INPUT -j NETPLUMB-INPUT") == 1
    quiet(run, "swarm_firewall", dict(state="absent"))


@pytest.mark.category("firewall")
def test_absent_leaves_host_rules_and_other_chains(sandbox, run):
    ipt("-N", "HOSTFW")
    ipt("-A", "INPUT", "-j", "HOSTFW")
    ipt("-A", "HOSTFW", "-s", "203.0.113.0/24", "-j", "DROP")
    ipt("-P", "INPUT", "DROP")
    before = save()
    check_then_real(run, "swarm_firewall", SWARM)
    check_then_real(run, "swarm_firewall", dict(state="absent"))
    assert save() == before


@pytest.mark.category("atomicity")
def test_failing_commit_leaves_firewall_unchanged(sandbox, run, tmp_path, monkeypatch):
    ipt("-A", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "ACCEPT")
    before = save()
    fake = FakeRestore(tmp_path, monkeypatch, fail_table="filter")
    res = run("swarm_firewall", SWARM)
    assert res.get("failed") and "table filter" in res["msg"] and "unchanged" in res["msg"], res
    assert res["changed"] is False
    assert save() == before
    fake.remove()
    check_then_real(run, "swarm_firewall", SWARM)
    quiet(run, "swarm_firewall", SWARM)


@pytest.mark.category("faults")
def test_peer_list_shrinks_stale_accept_removed(swarm, run):
    res = check_then_real(run, "swarm_firewall", dict(SWARM, peers=["192.0.2.12"]))
    assert not [ln for ln in save().splitlines() if "192.0.2.13" in ln]
    assert res["diff"]["before"]["rules"] != res["diff"]["after"]["rules"]
    quiet(run, "swarm_firewall", dict(SWARM, peers=["192.0.2.12"]))


# --- kernel_prerequisites --------------------------------------------------------------------------------
def _sysctl(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


@pytest.fixture
def etc_clean(sandbox):
    for path in (SYSCTL_FILE, MODULES_FILE):
        if os.path.exists(path):
            os.unlink(path)
    yield
    for path in (SYSCTL_FILE, MODULES_FILE):
        if os.path.exists(path):
            os.unlink(path)


@pytest.mark.category("ownership")
@pytest.mark.parametrize("state", ["present", "absent"])
def test_foreign_sysctl_file_never_touched(etc_clean, run, state):
    os.makedirs(os.path.dirname(SYSCTL_FILE), exist_ok=True)
    with open(SYSCTL_FILE, "w") as f:
        f.write("net.ipv4.ip_forward = 0\n")
    fwd = _sysctl("net.ipv4.ip_forward")
    for check in (True, False):
        res = run("kernel_prerequisites", dict(PREREQ, state=state), check=check)
        assert res.get("failed") and res["msg"].startswith("sysctl_file=%s" % SYSCTL_FILE), res
        assert "not netplumb's" in res["msg"] and res["changed"] is False and res["commands"] == []
    with open(SYSCTL_FILE) as f:
        assert f.read() == "net.ipv4.ip_forward = 0\n"
    assert _sysctl("net.ipv4.ip_forward") == fwd


@pytest.mark.category("preflight")
def test_required_feature_missing_refused_before_any_change(etc_clean, run):
    args = dict(PREREQ, required=["vxlan", "ip_vs", "esp4"])
    fwd = _sysctl("net.ipv4.ip_forward")
    for check in (True, False):
        res = run("kernel_prerequisites", args, check=check)
        assert res.get("failed"), res
        assert "ip_vs is missing" in res["msg"] and "esp4 is missing" in res["msg"] and "vxlan" not in \
            res["msg"].split("missing:")[1].split("ip_vs")[0], res
        assert res["commands"] == []
    assert not os.path.exists(SYSCTL_FILE) and _sysctl("net.ipv4.ip_forward") == fwd


@pytest.mark.category("preflight")
@pytest.mark.parametrize("bad,field", [
    (dict(required=["ipvs"]), "required[0]"),
    (dict(sysctls={"net.ipv4.no_such_thing": 1}), "sysctls.net.ipv4.no_such_thing"),
    (dict(sysctls={"../../etc/passwd": 1}), "sysctls"),
    (dict(sysctl_file="etc/x.conf"), "sysctl_file"),
])
def test_bad_input_refused_naming_the_field(etc_clean, run, bad, field):
    for check in (True, False):
        res = run("kernel_prerequisites", dict(PREREQ, **bad), check=check)
        assert res.get("failed") and res["msg"].startswith(field), res
        assert res["commands"] == []
    assert not os.path.exists(SYSCTL_FILE)


@pytest.mark.category("role")
def test_cycle_check_real_idempotent_absent(etc_clean, run):
    assert _sysctl("net.ipv4.ip_forward") == "0"
    check = run("kernel_prerequisites", PREREQ, check=True)
    assert not os.path.exists(SYSCTL_FILE) and _sysctl("net.ipv4.ip_forward") == "0"
    real = run("kernel_prerequisites", PREREQ)
    assert (check["changed"], check["commands"], check["diff"]) == (real["changed"], real["commands"], real["diff"])
    assert real["commands"] == ["sysctl -w net.ipv4.ip_forward=1", "write %s (3 lines)" % SYSCTL_FILE]
    assert any("ip_vs" in w and "will not work" in w for w in real["warnings"]), real
    assert _sysctl("net.ipv4.ip_forward") == "1"
    again = run("kernel_prerequisites", PREREQ)
    assert again["changed"] is False and again["commands"] == []
    other = "/etc/sysctl.d/50-someone.conf"
    with open(other, "w") as f:
        f.write("kernel.x = 1\n")
    gone = run("kernel_prerequisites", dict(PREREQ, state="absent"))
    assert gone["commands"] == ["rm %s" % SYSCTL_FILE]
    assert os.path.exists(other) and not os.path.exists(SYSCTL_FILE)
    assert _sysctl("net.ipv4.ip_forward") == "1"     # running values stay
    os.unlink(other)
