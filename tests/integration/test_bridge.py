"""netplumb.container.linux_bridge on the real kernel."""
import subprocess

import pytest

from helpers.converge import converge
from helpers.kernel import ip_json


def link(name):
    return ip_json("link", "show", name)[0]


def addrs(name):
    return sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in ip_json("addr", "show", name)[0]["addr_info"]
                  if a.get("scope") == "global")


@pytest.mark.deb
def test_lifecycle(sandbox, run):
    res = converge(run, "linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))
    assert res["commands"] == ["ip link add br0 type bridge stp_state 0", "ip link set br0 alias netplumb",
                               "ip addr add 172.18.0.1/16 dev br0", "ip link set br0 type bridge nf_call_iptables 1",
                               "sysctl -w net.ipv6.conf.br0.disable_ipv6=1", "ip link set br0 up"]
    lk = link("br0")
    assert lk["linkinfo"]["info_kind"] == "bridge" and "UP" in lk["flags"] and lk["ifalias"] == "netplumb"
    assert lk["linkinfo"]["info_data"]["stp_state"] == 0
    assert addrs("br0") == ["172.18.0.1/16"]

    # modify: addresses replaced exactly, mtu, stp
    res = converge(run, "linux_bridge", dict(name="br0", addresses=["172.19.0.1/16", "2001:db8:1::1/64"],
                                             mtu=1400, stp=True, ipv6=True))
    assert "ip addr del 172.18.0.1/16 dev br0" in res["commands"]
    assert addrs("br0") == ["172.19.0.1/16", "2001:db8:1::1/64"]
    lk = link("br0")
    assert lk["mtu"] == 1400 and lk["linkinfo"]["info_data"]["stp_state"] == 1
    assert res["diff"]["before"]["mtu"] == 1500 and res["diff"]["after"]["mtu"] == 1400

    # addresses omitted: not managed
    converge(run, "linux_bridge", dict(name="br0", mtu=1400, stp=True, ipv6=True), expect_changed=False)

    res = converge(run, "linux_bridge", dict(name="br0", state="absent"))
    assert res["commands"] == ["ip link del br0"]
    assert not ip_json("link", "show", "type", "bridge")
    converge(run, "linux_bridge", dict(name="br0", state="absent"), expect_changed=False)


@pytest.mark.deb
def test_adopt_brings_a_bridge_made_by_hand_up(sandbox, run):
    subprocess.run(["ip", "link", "add", "br1", "type", "bridge"], check=True)
    for check in (True, False):
        res = run("linux_bridge", dict(name="br1"), check=check)
        assert res["failed"] and "name=br1" in res["msg"] and "adopt=true" in res["msg"], res
    assert "UP" not in link("br1")["flags"]
    res = converge(run, "linux_bridge", dict(name="br1", adopt=True))
    assert res["commands"] == ["ip link set br1 alias netplumb", "ip link set br1 type bridge nf_call_iptables 1",
                               "sysctl -w net.ipv6.conf.br1.disable_ipv6=1", "ip link set br1 up"]
    assert res["diff"]["before"]["alias"] is None and res["diff"]["after"]["alias"] == "netplumb"
    # adopted once: ours from now on
    converge(run, "linux_bridge", dict(name="br1"), expect_changed=False)


def test_absent_refuses_foreign_ports(sandbox, run):
    run("linux_bridge", dict(name="br0"))
    subprocess.run(["ip", "link", "add", "hand0", "type", "veth", "peer", "name", "hand1"], check=True)
    subprocess.run(["ip", "link", "set", "hand0", "master", "br0"], check=True)
    for adopt in (False, True):
        res = run("linux_bridge", dict(name="br0", state="absent", adopt=adopt))
        assert res["failed"] and "hand0" in res["msg"] and "adopt=true does not override" in res["msg"], res
    assert link("br0")
    # force is gone: nothing deletes a bridge with a foreign port
    res = run("linux_bridge", dict(name="br0", state="absent", force=True))
    assert res["failed"] and "force" in res["msg"] and link("br0")
    # our own ports (alias netplumb) do not block
    subprocess.run(["ip", "link", "set", "hand0", "nomaster"], check=True)
    run("veth_pair", dict(name="ours0", peer="ours1", bridge="br0"))
    res = converge(run, "linux_bridge", dict(name="br0", state="absent"))
    assert res["commands"] == ["ip link del br0"]


def test_name_held_by_other_kind_is_an_error(sandbox, run):
    subprocess.run(["ip", "link", "add", "notbr", "type", "veth", "peer", "name", "notbr1"], check=True)
    for state in ("present", "absent"):
        res = run("linux_bridge", dict(name="notbr", state=state))
        assert res["failed"] and "veth" in res["msg"], res
    assert link("notbr")["linkinfo"]["info_kind"] == "veth"


def test_validation_names_field(sandbox, run):
    res = run("linux_bridge", dict(name="a-name-longer-than-15"))
    assert res["failed"] and "name=" in res["msg"]
    res = run("linux_bridge", dict(name="br0", addresses=["172.18.0.1"]))
    assert res["failed"] and "addresses[0]" in res["msg"]
    res = run("linux_bridge", dict(name="br0", mtu=10))
    assert res["failed"] and "mtu" in res["msg"]
    assert not ip_json("link", "show", "type", "bridge")
