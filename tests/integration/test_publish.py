"""netplumb.container.port_publish on the real kernel: batch, conflicts, UDP conntrack, check mode on a
fresh host, backend errors and a failing iptables-restore."""
import os
import re
import socket
import subprocess

from helpers_fw import converge_fw, our_lines, save, sysctl


def bridge(run):
    assert run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))["changed"]
    converge_fw(run, "container_nat", dict(bridge="br0", subnet="172.18.0.0/16"))


def test_check_mode_on_fresh_host_predicts(sandbox, run):
    res = run("container_nat", dict(bridge="br0", subnet="172.18.0.0/16"), check=True)
    assert not res.get("failed") and res["changed"] and any("br0 does not exist" in w for w in res["warnings"])
    res = run("port_publish", dict(host_port=5000, container_ip="172.18.0.10", bridge="br0"), check=True)
    assert not res.get("failed") and res["changed"], res
    assert our_lines() == []
    # without bridge, nothing holds the subnet yet: predicted with a placeholder, and said so
    res = run("port_publish", dict(host_port=5000, container_ip="172.18.0.10"), check=True, diff=True)
    assert not res.get("failed") and res["changed"], res
    assert any("container_ip=172.18.0.10: no bridge" in w and "placeholder" in w for w in res["warnings"]), res
    assert any("-o '<bridge>'" in c and "DNAT" in c for c in res["commands"]), res
    assert res["diff"]["prepared"] == "\n".join(res["commands"])
    assert our_lines() == []
    # the real run still needs a bridge it can find
    res = run("port_publish", dict(host_port=5000, container_ip="172.18.0.10"))
    assert res.get("failed") and "container_ip=172.18.0.10" in res["msg"] and "set bridge" in res["msg"], res
    assert our_lines() == []


def test_batch_one_restore_per_table(sandbox, run, tmp_path, monkeypatch):
    bridge(run)
    log = tmp_path / "calls"
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    for tool in ("iptables-nft-restore",):
        (wrapper / tool).write_text("#!/bin/sh\necho \"$@\" >> %s\nexec /usr/sbin/%s \"$@\"\n" % (log, tool))
        (wrapper / tool).chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (wrapper, os.environ["PATH"]))
    ports = [dict(host_port=5000 + i, container_ip="172.18.0.10") for i in range(20)]
    ports.append(dict(host_port="8000-8010", container_ip="172.18.0.11", container_port="9000-9010",
                      protocol="udp", host_ip="172.18.0.1"))
    res = converge_fw(run, "port_publish", dict(ports=ports))
    calls = [line for line in log.read_text().splitlines() if "--test" not in line]
    # check run wrote nothing, the real run one restore per table (raw, nat, filter), the re-run none
    assert len(calls) == 3, calls
    assert "-A NETPLUMB-PREROUTING -d 172.18.0.1/32 -p udp -m udp --dport 8000:8010 -m comment --comment " \
        "\"netplumb:br0:udp/172.18.0.1:8000-8010\" -j DNAT --to-destination 172.18.0.11:9000-9010/8000" in save()
    assert len(res["diff"]["after"]["rules"]) == 21 * 4 and res["diff"]["before"]["rules"] == []
    converge_fw(run, "port_publish", dict(ports=ports, state="absent"))
    assert [line for line in our_lines() if "netplumb:br0:" in line] == []


def test_conflicts(sandbox, run):
    bridge(run)
    assert run("linux_bridge", dict(name="br1", addresses=["172.19.0.1/16"]))["changed"]
    converge_fw(run, "port_publish", dict(host_port=5000, container_ip="172.18.0.10"))
    res = run("port_publish", dict(host_port="4990-5010", container_ip="172.19.0.10"))
    assert res.get("failed") and "already published by netplumb:br0:tcp/5000" in res["msg"], res
    # another host address does not conflict, a different protocol neither
    converge_fw(run, "port_publish", dict(host_port=5000, container_ip="172.19.0.10", protocol="udp"))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 6000))
    s.listen(1)
    try:
        before = save()
        res = run("port_publish", dict(host_port=6000, container_ip="172.18.0.10"))
        assert res.get("failed") and "bound by a local listener on 0.0.0.0" in res["msg"], res
        assert save() == before
    finally:
        s.close()


def test_udp_change_flushes_conntrack(sandbox, run):
    bridge(run)
    args = dict(host_port=5353, container_ip="172.18.0.10", protocol="udp")
    converge_fw(run, "port_publish", args)
    subprocess.run(["conntrack", "-I", "-p", "udp", "-s", "198.51.100.7", "-d", "172.18.0.1", "--sport", "1234",
                    "--dport", "5353", "--timeout", "100"], check=True, capture_output=True)
    res = converge_fw(run, "port_publish", dict(args, container_ip="172.18.0.20"))
    assert res["commands"][-1] == "conntrack -D -p udp --orig-port-dst 5353"
    out = subprocess.run(["conntrack", "-L", "-p", "udp"], capture_output=True, text=True, check=False).stdout
    assert "dport=5353" not in out
    res = converge_fw(run, "port_publish", dict(args, container_ip="172.18.0.20", state="absent"))
    assert res["commands"][-1] == "conntrack -D -p udp --orig-port-dst 5353"


def test_validation_and_backend_errors(sandbox, run):
    before = save()
    for args, needle in [
        (dict(host_port=70000, container_ip="172.18.0.10"), "host_port=70000"),
        (dict(host_port="8000-8010", container_ip="172.18.0.10", container_port="9000-9005"), "container_port"),
        (dict(host_port=5000, container_ip="not-an-ip"), "container_ip='not-an-ip'"),
        (dict(ports=[dict(host_port=1, container_ip="172.18.0.10", host_ip="300.1.1.1")]), "ports[0].host_ip"),
        # the nftables backend validates like the others (it is implemented: the error is the missing bridge)
        (dict(host_port=5000, container_ip="172.18.0.10", firewall_backend="nftables"), "container_ip=172.18.0.10: no bridge"),
    ]:
        res = run("port_publish", args)
        assert res.get("failed") and needle in res["msg"], (args, res)
    res = run("container_nat", dict(bridge="br0", subnet="172.18.0.1/16"))
    assert res.get("failed") and "subnet='172.18.0.1/16'" in res["msg"]
    assert save() == before


def test_failing_restore_is_a_clear_error(sandbox, run, tmp_path, monkeypatch):
    assert run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))["changed"]
    fake = tmp_path / "iptables-nft-restore"
    fake.write_text("#!/bin/sh\necho 'iptables-restore: line 2 failed' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    before = save()
    res = run("container_nat", dict(bridge="br0", subnet="172.18.0.0/16"))
    assert res.get("failed") and "line 2 failed" in res["msg"] and res["changed"] is False, res
    assert save() == before


def test_split_brain_refused(sandbox, run):
    subprocess.run(["iptables-legacy", "-A", "FORWARD", "-s", "203.0.113.9", "-j", "DROP"], check=True)
    subprocess.run(["iptables-nft", "-A", "FORWARD", "-s", "203.0.113.8", "-j", "DROP"], check=True)
    res = run("container_nat", dict(bridge="br0", subnet="172.18.0.0/16"), check=True)
    assert res.get("failed") and "both" in res["msg"], res


def test_prune_removes_only_the_dropped_mappings_of_the_network(sandbox, run):
    bridge(run)
    assert run("linux_bridge", dict(name="br1", addresses=["172.19.0.1/16"]))["changed"]
    converge_fw(run, "port_publish", dict(host_port=7000, container_ip="172.19.0.10"))
    ports = [dict(host_port=5000, container_ip="172.18.0.10"),
             dict(host_port=5353, container_ip="172.18.0.11", protocol="udp"),
             dict(host_port=8080, container_ip="172.18.0.11", container_port=80, host_ip="127.0.0.1")]
    converge_fw(run, "port_publish", dict(ports=ports))
    assert sysctl("net.ipv4.conf.br0.route_localnet") == "1"
    nat = [line for line in our_lines() if "--comment netplumb:br0 " in line or '"netplumb:br0"' in line]
    assert nat
    res = converge_fw(run, "port_publish", dict(ports=ports[:1], prune=True))
    assert res["commands"][-1] == "conntrack -D -p udp --orig-port-dst 5353"
    assert "sysctl -w net.ipv4.conf.br0.route_localnet=0" in res["commands"]
    owners = set(re.findall(r"netplumb:[^\" ]+", "\n".join(our_lines())))
    assert owners == {"netplumb:br0", "netplumb:br0:tcp/5000", "netplumb:br1:tcp/7000"}, owners
    assert [line for line in our_lines() if '"netplumb:br0"' in line or "--comment netplumb:br0 " in line] == nat
    # an empty batch names its network with bridge
    res = run("port_publish", dict(ports=[], prune=True))
    assert res.get("failed") and res["msg"].startswith("bridge=None")
    converge_fw(run, "port_publish", dict(ports=[], prune=True, bridge="br0"))
    owners = set(re.findall(r"netplumb:[^\" ]+", "\n".join(our_lines())))
    assert owners == {"netplumb:br0", "netplumb:br1:tcp/7000"}, owners
    converge_fw(run, "port_publish", dict(ports=[], prune=True, bridge="br0"), expect_changed=False)
