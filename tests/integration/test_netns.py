"""netplumb.container.netns on the real kernel, inside the test's own namespace."""
import os
import subprocess
import time

import pytest

from helpers.converge import converge, existing_ns
from helpers.kernel import ip_json


def lo_up(ns):
    return "UP" in ip_json("link", "show", "lo", ns=ns)[0]["flags"]


@pytest.mark.deb
def test_create_idempotent_delete(sandbox, run):
    res = converge(run, "netns", dict(name=["netns0", "netns1"]))
    assert res["commands"] == ["ip netns add netns0", "ip -n netns0 link set lo alias netplumb",
                               "ip -n netns0 link set lo up", "ip netns add netns1",
                               "ip -n netns1 link set lo alias netplumb", "ip -n netns1 link set lo up"]
    assert ip_json("link", "show", "lo", ns="netns0")[0]["ifalias"] == "netplumb"
    assert res["diff"]["before"]["netns0"] == {"state": "absent"}
    assert existing_ns() == ["netns0", "netns1"]
    assert lo_up("netns0") and lo_up("netns1")
    # `ip netns` sees ours
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "netns0" in listed and "netns1" in listed
    # each is a different namespace
    assert os.stat("/run/netns/netns0").st_ino != os.stat("/run/netns/netns1").st_ino

    res = converge(run, "netns", dict(name=["netns0"], state="absent"))
    assert res["commands"] == ["ip netns delete netns0"]
    assert existing_ns() == ["netns1"]


@pytest.mark.deb
def test_adopt_namespace_made_by_ip_on_purpose(sandbox, run):
    subprocess.run(["ip", "netns", "add", "byhand"], check=True)
    for check in (True, False):
        res = run("netns", dict(name=["fresh", "byhand"]), check=check)
        assert res["failed"] and "name[1]=byhand" in res["msg"] and "adopt=true" in res["msg"], res
    assert existing_ns() == ["byhand"] and not lo_up("byhand")
    res = converge(run, "netns", dict(name=["byhand"], adopt=True))
    assert res["commands"] == ["ip -n byhand link set lo alias netplumb", "ip -n byhand link set lo up"]
    assert lo_up("byhand")
    converge(run, "netns", dict(name=["byhand"]), expect_changed=False)


def test_loopback_false_leaves_lo_alone(sandbox, run):
    res = converge(run, "netns", dict(name=["quiet"], loopback=False))
    assert res["commands"] == ["ip netns add quiet", "ip -n quiet link set lo alias netplumb"]
    assert not lo_up("quiet")


def test_nameservers(sandbox, run):
    res = converge(run, "netns", dict(name=["dns"], nameservers=["192.0.2.53", "2001:db8::53"]))
    assert res["commands"][-1].startswith("printf")
    with open("/etc/netns/dns/resolv.conf") as fh:
        text = fh.read()
    assert "nameserver 192.0.2.53\nnameserver 2001:db8::53\n" in text
    # `ip netns exec` shows it as /etc/resolv.conf
    seen = subprocess.run(["ip", "netns", "exec", "dns", "cat", "/etc/resolv.conf"],
                          capture_output=True, text=True, check=True).stdout
    assert seen == text
    converge(run, "netns", dict(name=["dns"], nameservers=["198.51.100.53"]))
    with open("/etc/netns/dns/resolv.conf") as fh:
        assert "nameserver 198.51.100.53\n" in fh.read()
    converge(run, "netns", dict(name=["dns"], state="absent"))
    assert not os.path.exists("/etc/netns/dns")


def test_absent_twice_and_absent_with_process_warns(sandbox, run):
    converge(run, "netns", dict(name=["gone"], state="absent"), expect_changed=False)
    run("netns", dict(name=["busy"]))
    proc = subprocess.Popen(["ip", "netns", "exec", "busy", "sleep", "30"])
    try:
        ino = os.stat("/run/netns/busy").st_ino
        deadline = time.time() + 30
        while True:     # the sleeper must be in the namespace before it is deleted (a condition, not luck)
            try:
                if os.stat("/proc/%d/ns/net" % proc.pid).st_ino == ino:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "the sleeper never entered namespace busy"
            time.sleep(0.02)
        res = run("netns", dict(name=["busy"], state="absent"))
        assert res["changed"] is True
        assert any("lives on until" in w for w in res.get("warnings", [])), res
        assert "busy" not in existing_ns()
    finally:
        proc.kill()
        proc.wait()


def test_invalid_names_fail_before_any_change(sandbox, run):
    res = run("netns", dict(name=["ok1", "bad/name"]))
    assert res["failed"] and "name[1]" in res["msg"] and "bad/name" in res["msg"]
    assert existing_ns() == []
    res = run("netns", dict(name=["dup", "dup"]))
    assert res["failed"] and "twice" in res["msg"]
    res = run("netns", dict(name=["x"], nameservers=["not-an-ip"]))
    assert res["failed"] and "nameservers[0]" in res["msg"]
    assert existing_ns() == []
