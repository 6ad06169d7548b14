"""The nftables driver attacked on the sandbox's own ruleset.

"firewall": after a converged container_nat + port_publish with firewall_backend=nftables, someone deletes,
duplicates, inserts, flushes or deletes the table behind our back, or edits a rule's body keeping its comment;
one re-run repairs it (check mode predicting exactly what real mode does) and a second re-run writes nothing.
Other tables are never touched.
"atomicity": a fake ``nft`` that fails the transaction: nothing is changed, the module says so, and a re-run
without the fake converges.
"""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers_fw import nft_table, our_lines, sh  # noqa: E402

NFT = dict(firewall_backend="nftables")
NET = dict(bridge="br0", subnet="172.18.0.0/16", **NFT)
PORTS = dict(ports=[dict(host_port=5000, container_ip="172.18.0.10"),
                    dict(host_port=5353, container_ip="172.18.0.11", protocol="udp"),
                    dict(host_port=6000, container_ip="172.18.0.10", host_ip="127.0.0.1")], **NFT)
STEPS = [("container_nat", NET), ("port_publish", PORTS)]
FOREIGN = """table inet filter {
    chain forward {
        type filter hook forward priority filter; policy accept;
        iifname "eth9" drop
    }
}"""


def ruleset():
    return sh("nft", "list", "ruleset").stdout


def foreign():
    return sh("nft", "list", "table", "inet", "filter").stdout


def converge_steps(run):
    out = []
    for mod, args in STEPS:
        before = ruleset()
        check = run(mod, args, check=True)
        assert not check.get("failed"), check
        assert ruleset() == before, "check mode of %s changed the ruleset" % mod
        real = run(mod, args)
        assert not real.get("failed"), real
        assert (real["changed"], real["commands"], real["diff"]) == \
            (check["changed"], check["commands"], check["diff"]), (mod, check, real)
        out.append(real)
    return out


def assert_quiet(run):
    before = ruleset()
    for mod, args in STEPS:
        again = run(mod, args)
        assert not again.get("failed") and again["changed"] is False and again["commands"] == [], (mod, again)
    assert ruleset() == before


@pytest.fixture
def converged(sandbox, run):
    subprocess.run(["nft", "-f", "-"], input=FOREIGN, text=True, check=True)
    res = run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    assert res["changed"] and not res.get("failed"), res
    converge_steps(run)
    assert_quiet(run)
    return dict(lines=sorted(our_lines()), foreign=foreign())


def handles(chain):
    doc = json.loads(sh("nft", "-j", "-a", "list", "chain", "inet", "netplumb", chain).stdout)
    return [(o["rule"]["handle"], o["rule"].get("comment")) for o in doc["nftables"] if "rule" in o]


def tamper(kind):
    if kind == "delete-a-drop":
        h = [h for h, c in handles("prerouting-raw") if c.startswith("netplumb:br0 ")][0]
        sh("nft", "delete", "rule", "inet", "netplumb", "prerouting-raw", "handle", str(h))
    elif kind == "foreign-accept-on-top":
        sh("nft", "insert", "rule", "inet", "netplumb", "prerouting-raw", "accept")
    elif kind == "duplicate":
        sh("nft", "add rule inet netplumb forward meta nfproto ipv4 oifname \"br0\" ct state invalid drop comment "
           "\"%s\"" % handles("forward")[0][1])
    elif kind == "flush-chain":
        sh("nft", "flush", "chain", "inet", "netplumb", "prerouting-nat")
    elif kind == "delete-table":
        sh("nft", "delete", "table", "inet", "netplumb")
    elif kind == "flush-ruleset":
        sh("nft", "flush", "ruleset")
    elif kind in ("altered-accept-to-drop", "altered-early-drop-to-accept"):
        # the body edited, the comment (owner #rank:digest) kept: only the read back of the body can see it
        chain, owner, old, new = (("forward", "netplumb:br0:tcp/5000 ", "accept", "drop")
                                  if kind == "altered-accept-to-drop" else
                                  ("prerouting-raw", "netplumb:br0 ", "drop", "accept"))
        doc = json.loads(sh("nft", "-j", "-a", "list", "chain", "inet", "netplumb", chain).stdout)
        [rule] = [o["rule"] for o in doc["nftables"] if "rule" in o and o["rule"].get("comment", "").startswith(owner)
                  and any(old in e for e in o["rule"]["expr"])][:1]
        text = sh("nft", "-a", "list", "chain", "inet", "netplumb", chain).stdout
        [line] = [ln.strip() for ln in text.splitlines() if "# handle %d" % rule["handle"] in ln]
        body = line.split(" comment ", 1)[0].rsplit(" " + old, 1)[0] + " " + new
        sh("nft", "replace rule inet netplumb %s handle %d %s comment \"%s\""
           % (chain, rule["handle"], body, rule["comment"]))


@pytest.mark.category("firewall")
@pytest.mark.parametrize("kind", ["delete-a-drop", "foreign-accept-on-top", "duplicate", "flush-chain",
                                  "delete-table", "flush-ruleset", "altered-accept-to-drop",
                                  "altered-early-drop-to-accept"])
def test_one_rerun_repairs_what_was_done_behind_our_back(converged, run, kind):
    tamper(kind)
    assert sorted(our_lines()) != converged["lines"] or kind == "duplicate" or kind == "foreign-accept-on-top"
    res = converge_steps(run)
    assert any(r["changed"] for r in res)
    if kind in ("foreign-accept-on-top", "duplicate"):
        assert any("did not write" in w or "copies" in w for r in res for w in r["warnings"]), res
    if kind.startswith("altered-"):
        assert any("whose body was changed" in w for r in res for w in r["warnings"]), res
    assert sorted(our_lines()) == converged["lines"]
    assert_quiet(run)
    if kind != "flush-ruleset":
        assert foreign() == converged["foreign"]


FAKE_NFT = r'''#!/bin/sh
# a fake nft: every transaction (nft -f -) fails; reads go to the real one
if [ "$1" = "-f" ]; then cat >/dev/null; echo "Error: injected fault: Could not process rule" >&2; exit 1; fi
exec %s "$@"
'''


@pytest.mark.category("atomicity")
def test_failed_transaction_changes_nothing_and_a_rerun_converges(sandbox, run, tmp_path, monkeypatch):
    res = run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    assert not res.get("failed"), res
    real = subprocess.run(["sh", "-c", "command -v nft"], capture_output=True, text=True, check=True).stdout.strip()
    fake = tmp_path / "nft"
    fake.write_text(FAKE_NFT % real)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    before = ruleset()
    res = run("container_nat", NET)
    assert res.get("failed") and "injected fault" in res["msg"] and "the table is unchanged" in res["msg"], res
    assert res["changed"] is False
    assert ruleset() == before and nft_table() == ""
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])
    assert run("container_nat", NET)["changed"]
    assert nft_table() != ""
