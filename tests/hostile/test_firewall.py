"""Firewall integrity and all-or-nothing commits, attacked on the sandbox's own iptables.

"firewall": after a converged container_nat + port_publish, someone flushes, deletes, edits, duplicates or
inserts behind our back; one re-run repairs it (check mode predicting exactly what real mode does) and a
second re-run writes nothing. Rules and chains of others, and policies, are never touched.
"atomicity" / "faults": a fake iptables-{nft,legacy}-restore (helpers_fw.FakeRestore) fails the commit of one
table; the tables already committed are rolled back, iptables-save is identical to before, the module
reports changed=false, and a re-run without the fake converges.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers_fw import FakeRestore, chain_rules, ipt, our_lines, save, save_content  # noqa: E402

NET = dict(bridge="br0", subnet="172.18.0.0/16")
PORTS = dict(ports=[dict(host_port=5000, container_ip="172.18.0.10"),
                    dict(host_port=5353, container_ip="172.18.0.11", protocol="udp")])
STEPS = [("container_nat", NET), ("port_publish", PORTS)]
ABSENT = [("port_publish", dict(PORTS, state="absent")), ("container_nat", dict(NET, state="absent"))]


def use_legacy():
    """A foreign rule in the legacy backend only: the driver then writes with iptables-legacy-restore."""
    ipt("-A", "FORWARD", "-s", "203.0.113.9/32", "-j", "DROP", variant="legacy")


def bridge(run, name="br0", address="172.18.0.1/16"):
    res = run("linux_bridge", dict(name=name, addresses=[address]))
    assert res["changed"] and not res.get("failed"), res


def converge_steps(run, steps, variant="nft"):
    """Each step: check+diff first (writes nothing), then real mode with the same changed/commands/diff.
    Returns the real results."""
    out = []
    for mod, args in steps:
        before = save(variant)
        check = run(mod, args, check=True)
        assert not check.get("failed"), check
        assert save(variant) == before, "check mode of %s changed the rules" % mod
        real = run(mod, args)
        assert not real.get("failed"), real
        assert (real["changed"], real["commands"], real["diff"]) == \
            (check["changed"], check["commands"], check["diff"]), (mod, check, real)
        out.append(real)
    return out


def assert_quiet(run, steps, variant="nft"):
    before = save(variant)
    for mod, args in steps:
        again = run(mod, args)
        assert not again.get("failed") and again["changed"] is False and again["commands"] == [], (mod, again)
    assert save(variant) == before


def setup(run, variant="nft"):
    bridge(run)
    converge_steps(run, STEPS, variant)
    assert_quiet(run, STEPS, variant)
    return save(variant)


# --- firewall: flushes and edits behind our back ---------------------------------------------------------
def _edit_rule(v):
    """Our container-subnet DROP in raw becomes an ACCEPT, comment and matches unchanged."""
    rules = chain_rules("raw", "NETPLUMB-PREROUTING", v)
    [i] = [n for n, r in enumerate(rules) if "172.18.0.0/16" in r and r[-2:] == ["-j", "DROP"]]
    assert "netplumb:br0" in rules[i]
    ipt("-t", "raw", "-R", "NETPLUMB-PREROUTING", str(i + 1), *(rules[i][:-1] + ["ACCEPT"]), variant=v)


def _dup_rule(v):
    rule = chain_rules("filter", "NETPLUMB-FORWARD", v)[2]
    ipt("-t", "filter", "-A", "NETPLUMB-FORWARD", *rule, variant=v)


def _delete_chain(v):
    ipt("-t", "filter", "-D", "FORWARD", "-j", "NETPLUMB-FORWARD", variant=v)
    ipt("-t", "filter", "-F", "NETPLUMB-FORWARD", variant=v)
    ipt("-t", "filter", "-X", "NETPLUMB-FORWARD", variant=v)


TAMPER = {
    "chain-flushed": lambda v: ipt("-t", "nat", "-F", "NETPLUMB-POSTROUTING", variant=v),
    "jump-deleted": lambda v: ipt("-t", "nat", "-D", "PREROUTING", "-j", "NETPLUMB-PREROUTING", variant=v),
    "chain-deleted": _delete_chain,
    "rule-deleted": lambda v: ipt("-t", "nat", "-D", "NETPLUMB-PREROUTING", "1", variant=v),
    "rule-edited": _edit_rule,
    "foreign-rule-on-top": lambda v: ipt("-t", "raw", "-I", "NETPLUMB-PREROUTING", "1", "-j", "ACCEPT", variant=v),
    "duplicate-raw-jump": lambda v: ipt("-t", "raw", "-A", "PREROUTING", "-j", "NETPLUMB-PREROUTING", variant=v),
    "duplicate-nat-jump": lambda v: ipt("-t", "nat", "-I", "OUTPUT", "1", "-j", "NETPLUMB-OUTPUT", variant=v),
    "duplicate-rule": _dup_rule,
}


ALL_ORDER = ["rule-edited", "rule-deleted", "duplicate-rule", "foreign-rule-on-top", "duplicate-raw-jump",
             "duplicate-nat-jump", "jump-deleted", "chain-flushed", "chain-deleted"]


def _all(v):
    assert sorted(ALL_ORDER) == sorted(TAMPER)
    for name in ALL_ORDER:
        TAMPER[name](v)


REPAIRS = [pytest.param(name, "nft", id=name) for name in sorted(TAMPER)] + [
    pytest.param("all-at-once", "nft", id="all-at-once"),
    pytest.param("all-at-once", "legacy", id="all-at-once-legacy")]


@pytest.mark.category("firewall")
@pytest.mark.parametrize("name,variant", REPAIRS)
def test_one_rerun_repairs_what_was_done_behind_our_back(sandbox, run, name, variant):
    if variant == "legacy":
        use_legacy()
    good = setup(run, variant)
    (_all if name == "all-at-once" else TAMPER[name])(variant)
    assert save(variant) != good
    results = converge_steps(run, STEPS, variant)
    assert any(r["changed"] for r in results), results
    assert save(variant) == good
    assert_quiet(run, STEPS, variant)


@pytest.mark.category("firewall")
def test_raw_jump_goes_back_in_front_of_a_rule_inserted_ahead_of_it(sandbox, run):
    good = setup(run)
    ipt("-t", "raw", "-I", "PREROUTING", "1", "-s", "192.0.2.7/32", "-j", "ACCEPT")
    nat, publish = converge_steps(run, STEPS)
    assert nat["commands"] == ["iptables -t raw -D PREROUTING -j NETPLUMB-PREROUTING",
                               "iptables -t raw -I PREROUTING 1 -j NETPLUMB-PREROUTING"]
    assert any("moved back to position 1" in w for w in nat["warnings"]), nat
    assert publish["changed"] is False
    assert chain_rules("raw", "PREROUTING") == [["-j", "NETPLUMB-PREROUTING"],
                                                ["-s", "192.0.2.7/32", "-j", "ACCEPT"]]
    assert [line for line in save().splitlines() if "192.0.2.7" not in line] == good.splitlines()
    assert_quiet(run, STEPS)


@pytest.mark.category("firewall")
def test_foreign_rule_on_top_is_reported_and_removed_in_the_diff_commands(sandbox, run):
    setup(run)
    ipt("-t", "raw", "-I", "NETPLUMB-PREROUTING", "1", "-j", "ACCEPT")
    nat, publish = converge_steps(run, STEPS)
    assert nat["commands"][0] == "iptables -t raw -F NETPLUMB-PREROUTING"
    assert any("did not write" in w and "-j ACCEPT" in w for w in nat["warnings"]), nat
    assert chain_rules("raw", "NETPLUMB-PREROUTING")[0][:1] != ["-j"]
    assert all("netplumb:" in " ".join(r) for r in chain_rules("raw", "NETPLUMB-PREROUTING"))
    assert publish["changed"] is False


@pytest.mark.category("firewall")
def test_teardown_with_duplicate_jumps_everywhere_converges(sandbox, run):
    setup(run)
    for table, hook in (("raw", "PREROUTING"), ("nat", "PREROUTING"), ("nat", "OUTPUT"), ("nat", "POSTROUTING"),
                        ("filter", "FORWARD")):
        ipt("-t", table, "-A", hook, "-j", "NETPLUMB-" + hook)
        ipt("-t", table, "-I", hook, "1", "-j", "NETPLUMB-" + hook)
    converge_steps(run, ABSENT)
    assert our_lines() == []
    assert_quiet(run, ABSENT)


@pytest.mark.category("firewall")
def test_rules_of_other_networks_keep_their_place_when_a_chain_is_rebuilt(sandbox, run):
    setup(run)
    bridge(run, "br1", "172.19.0.1/16")
    other = dict(bridge="br1", subnet="172.19.0.0/16", icc=False)
    converge_steps(run, [("container_nat", other)])
    good = save()
    ipt("-t", "filter", "-I", "NETPLUMB-FORWARD", "3", "-s", "198.51.100.0/24", "-j", "ACCEPT")
    [res] = converge_steps(run, [("container_nat", other)])
    assert res["commands"][0] == "iptables -t filter -F NETPLUMB-FORWARD"
    assert res["diff"]["before"]["rules"] == res["diff"]["after"]["rules"]     # br1's rules: unchanged
    assert save() == good
    assert_quiet(run, STEPS + [("container_nat", other)])


@pytest.mark.category("firewall")
def test_other_tools_chains_rules_and_policies_are_never_touched(sandbox, run):
    for args in (["-t", "nat", "-N", "DOCKER"],
                 ["-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
                 ["-t", "nat", "-A", "DOCKER", "-i", "docker0", "-j", "RETURN"], ["-N", "DOCKER-USER"],
                 ["-A", "FORWARD", "-j", "DOCKER-USER"], ["-A", "DOCKER-USER", "-j", "RETURN"],
                 ["-P", "FORWARD", "DROP"], ["-t", "raw", "-A", "PREROUTING", "-s", "198.51.100.9/32", "-j", "ACCEPT"],
                 ["-t", "nat", "-A", "POSTROUTING", "-s", "198.51.100.0/24", "-j", "MASQUERADE"]):
        ipt(*args)
    pristine = save()
    setup(run)
    _all("nft")
    converge_steps(run, STEPS)
    converge_steps(run, ABSENT)
    assert save() == pristine


@pytest.mark.category("firewall")
def test_chain_referred_to_by_another_rule_is_emptied_not_deleted(sandbox, run):
    setup(run)
    ipt("-A", "INPUT", "-s", "192.0.2.8/32", "-j", "NETPLUMB-FORWARD")
    converge_steps(run, ABSENT)
    res = run("container_nat", dict(NET, state="absent"))
    assert res["changed"] is False and any("referred to by a rule netplumb did not write" in w
                                           for w in res["warnings"]), res
    assert chain_rules("filter", "NETPLUMB-FORWARD") == []
    assert chain_rules("filter", "INPUT") == [["-s", "192.0.2.8/32", "-j", "NETPLUMB-FORWARD"]]
    assert [line for line in our_lines() if not line.startswith(":NETPLUMB-FORWARD")] == \
        ["-A INPUT -s 192.0.2.8/32 -j NETPLUMB-FORWARD"]


# --- atomicity: a failing commit, rolled back --------------------------------------------------------------
def _fails_cleanly(res, table, before, variant):
    assert res.get("failed"), res
    assert "table %s" % table in res["msg"] and "injected commit fault" in res["msg"], res["msg"]
    assert "the firewall is unchanged" in res["msg"], res["msg"]
    assert res["changed"] is False and res["commands"] == [], res
    assert save_content(variant) == before


@pytest.mark.category("atomicity")
@pytest.mark.parametrize("variant", ["nft", "legacy"])
@pytest.mark.parametrize("table", ["raw", "nat", "filter"])
def test_failed_commit_of_one_table_leaves_every_table_as_it_was(sandbox, run, tmp_path, monkeypatch, variant, table):
    if variant == "legacy":
        use_legacy()
    bridge(run)
    before = save_content(variant)
    fake = FakeRestore(tmp_path, monkeypatch, fail_table=table)
    res = run("container_nat", NET)
    _fails_cleanly(res, table, before, variant)
    committed = {"raw": [], "nat": ["raw"], "filter": ["raw", "nat"]}[table]
    # forward commits, the failed one, then the undo of each committed table, newest first
    assert fake.log() == committed + ["!" + table] + committed[::-1]
    if committed:
        assert "rolled back table %s" % ", ".join(committed) in res["msg"]
    fake.remove()
    converge_steps(run, [("container_nat", NET)], variant)
    assert_quiet(run, [("container_nat", NET)], variant)


@pytest.mark.category("atomicity")
@pytest.mark.parametrize("variant", ["nft", "legacy"])
def test_port_publish_failing_nat_commit_rolls_raw_back(sandbox, run, tmp_path, monkeypatch, variant):
    if variant == "legacy":
        use_legacy()
    bridge(run)
    converge_steps(run, [("container_nat", NET)], variant)
    before = save_content(variant)
    args = dict(host_port=8080, container_ip="172.18.0.10", container_port=80)
    fake = FakeRestore(tmp_path, monkeypatch, fail_table="nat")
    _fails_cleanly(run("port_publish", args), "nat", before, variant)
    assert fake.log() == ["raw", "!nat", "raw"]
    fake.remove()
    converge_steps(run, [("port_publish", args)], variant)
    assert_quiet(run, [("port_publish", args)], variant)


@pytest.mark.category("atomicity")
@pytest.mark.parametrize("variant", ["nft", "legacy"])
def test_rollback_restores_foreign_rules_and_duplicate_jumps_exactly(sandbox, run, tmp_path, monkeypatch, variant):
    """The undo brings back what was read, garbage included: a foreign rule on top of our chain, duplicate
    jumps at their positions, a foreign rule ahead of the raw jump."""
    if variant == "legacy":
        use_legacy()
    setup(run, variant)
    bridge(run, "br1", "172.19.0.1/16")
    ipt("-t", "raw", "-I", "NETPLUMB-PREROUTING", "1", "-j", "ACCEPT", variant=variant)
    ipt("-t", "raw", "-I", "PREROUTING", "1", "-s", "192.0.2.7/32", "-j", "ACCEPT", variant=variant)
    ipt("-t", "raw", "-A", "PREROUTING", "-j", "NETPLUMB-PREROUTING", variant=variant)
    ipt("-t", "nat", "-I", "POSTROUTING", "1", "-j", "NETPLUMB-POSTROUTING", variant=variant)
    before = save_content(variant)
    fake = FakeRestore(tmp_path, monkeypatch, fail_table="filter")
    other = dict(bridge="br1", subnet="172.19.0.0/16")
    _fails_cleanly(run("container_nat", other), "filter", before, variant)
    assert fake.log() == ["raw", "nat", "!filter", "nat", "raw"]
    fake.remove()
    converge_steps(run, STEPS + [("container_nat", other)], variant)
    assert_quiet(run, STEPS + [("container_nat", other)], variant)
    assert all("netplumb:" in " ".join(r) for r in chain_rules("raw", "NETPLUMB-PREROUTING", variant))


@pytest.mark.category("atomicity")
def test_failed_teardown_recreates_the_chains_it_had_removed(sandbox, run, tmp_path, monkeypatch):
    setup(run)
    converge_steps(run, ABSENT[:1])
    before = save_content()
    fake = FakeRestore(tmp_path, monkeypatch, fail_table="filter")
    _fails_cleanly(run("container_nat", dict(NET, state="absent")), "filter", before, "nft")
    assert fake.log() == ["raw", "nat", "!filter", "nat", "raw"]
    fake.remove()
    converge_steps(run, ABSENT[1:])
    assert our_lines() == []


@pytest.mark.category("atomicity")
def test_premise_one_nft_restore_with_two_tables_is_no_transaction(sandbox):
    """Why the rollback exists: iptables-nft-restore commits each table at its COMMIT line, so a failure in
    the nat part of one invocation leaves the raw part applied (checked on this machine's iptables)."""
    payload = ("*raw\n:NETPLUMB-PREROUTING - [0:0]\n-I PREROUTING 1 -j NETPLUMB-PREROUTING\nCOMMIT\n"
               "*nat\n:NETPLUMB-OUTPUT - [0:0]\n-D NETPLUMB-OUTPUT -j ACCEPT\nCOMMIT\n")
    assert subprocess.run(["iptables-nft-restore", "--noflush", "--test"], input=payload, text=True,
                          capture_output=True, check=False).returncode == 0
    res = subprocess.run(["iptables-nft-restore", "--noflush"], input=payload, text=True, capture_output=True,
                         check=False)
    assert res.returncode != 0 and "line 7" in res.stderr, res
    assert chain_rules("raw", "PREROUTING") == [["-j", "NETPLUMB-PREROUTING"]]
    assert "NETPLUMB-OUTPUT" not in save()


# --- faults: the rollback itself fails --------------------------------------------------------------------
@pytest.mark.category("faults")
@pytest.mark.parametrize("variant", ["nft", "legacy"])
def test_failed_rollback_is_said_and_a_rerun_converges(sandbox, run, tmp_path, monkeypatch, variant):
    if variant == "legacy":
        use_legacy()
    bridge(run)
    before = save(variant)
    fake = FakeRestore(tmp_path, monkeypatch, fail_after=1)
    res = run("container_nat", NET)
    assert res.get("failed") and "ROLLBACK FAILED for table raw" in res["msg"] and "re-run" in res["msg"], res
    assert "table nat" in res["msg"] and res["changed"] is True, res
    assert res["commands"] and all(c.startswith("iptables -t raw") for c in res["commands"]), res
    assert fake.log() == ["raw", "!nat", "!raw"]
    assert save(variant) != before and chain_rules("nat", "NETPLUMB-POSTROUTING", variant) == []
    fake.remove()
    converge_steps(run, [("container_nat", NET)], variant)
    assert_quiet(run, [("container_nat", NET)], variant)
