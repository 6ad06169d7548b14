"""The done-when of the foundation issue, through ansible-playbook: --check on a fresh host predicts every change
and writes nothing; the real run builds the tutorial topology (proven by ping); the second run reports changed=0
for every task; the batch task creates 100 pairs."""
import json
import os
import subprocess
import sys

from helpers.converge import existing_ns
from helpers.kernel import dump, ip_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def playbook(*extra, book="tutorial.yml"):
    env = dict(os.environ)
    build = os.path.join(ROOT, ".build")
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_HOME=os.path.join(build, "ansible-home"),
               ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(build, "ansible-remote-tmp"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "playbooks", "callback_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable,
           # the backend-independent suites run with iptables (see helpers.modrun.pinned)
           "-e", "container_network_firewall_backend=iptables", "-e", "swarm_prerequisites_firewall_backend=iptables", os.path.join(HERE, "playbooks", book)]
    proc = subprocess.run(cmd + list(extra), cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["stats"]["localhost"], dict((name, hosts["localhost"]) for name, hosts in out["tasks"].items())


def ping(target, ns):
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-w", "10", "-i", "0.2", target],
                          capture_output=True, check=False).returncode == 0


def test_tutorial_playbook_check_real_idempotent(sandbox):
    before = dump()
    stats, check = playbook("--check", "--diff")
    assert dump() == before and existing_ns() == [], "--check wrote to the host"
    assert stats["changed"] == 4 and stats["failures"] == 0
    assert any("assuming an earlier task creates it" in str(w) for w in check["Gateway bridge"].get("warnings", []) +
               check["The two tutorial containers"].get("warnings", []))

    stats, real = playbook("--diff")
    assert stats["changed"] == 4 and stats["failures"] == 0
    for name, res in real.items():
        assert res["commands"] == check[name]["commands"], name
    assert len([c for c in real["One hundred more in one task"]["commands"] if c.startswith("ip link add")]) == 100
    assert len(ip_json("link", "show", "master", "br0")) == 102
    assert ping("172.18.0.20", "netns0") and ping("172.18.0.10", "netns1") and ping("172.18.1.100", "netns0")

    state = dump(existing_ns())
    stats, again = playbook()
    assert stats["changed"] == 0 and stats["ok"] == 4
    assert all(res["commands"] == [] for res in again.values())
    assert dump(existing_ns()) == state


def role_run(tmp_path, networks, *extra):
    path = tmp_path / "vars.json"
    path.write_text(json.dumps(dict(container_networks=networks)))
    stats, tasks = playbook("-e", "@%s" % path, *extra, book="role.yml")
    return stats, dict((name.split(" : ", 1)[-1], res) for name, res in tasks.items())


def test_role_prunes_undeclared_containers_and_ports(sandbox, tmp_path):
    def net(containers):
        return [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=containers)]
    c1 = dict(name="c1", address="172.18.0.11", publish=["5001:5001"])
    c2 = dict(name="c2", address="172.18.0.12", publish=["5002:5002", "5353:53/udp"])
    c3 = dict(name="c3", address="172.18.0.13", publish=["5003:5003"])
    stats, dummy = role_run(tmp_path, net([c1, c2, c3]))
    assert stats["failures"] == 0 and existing_ns() == ["c1", "c2", "c3"]
    # c3 and c2's udp port no longer declared: --check predicts exactly what the real run does
    declared = net([c1, dict(c2, publish=["5002:5002"])])
    before = dump(existing_ns())
    stats, check = role_run(tmp_path, declared, "--check", "--diff")
    assert stats["failures"] == 0 and dump(existing_ns()) == before and existing_ns() == ["c1", "c2", "c3"]
    task = "Container networks - bridges, namespaces, veth pairs, NAT and published ports in one call"
    assert check[task]["pruned"] == [dict(name="vn-c3", peer_netns="c3")]
    assert [c["module"] for c in check[task]["calls"]][-1:] == ["port_publish"]
    stats, real = role_run(tmp_path, declared, "--diff")
    assert stats["failures"] == 0
    for name, res in real.items():
        assert res.get("commands") == check[name].get("commands") and res.get("skipped") == check[name].get("skipped")
    assert real[task]["calls"] == check[task]["calls"] and real[task]["diff"] == check[task]["diff"]
    assert [c["module"] for c in real[task]["calls"]] == [
        "linux_bridge", "netns", "veth_pair", "netns", "container_nat", "port_publish"]
    assert real[task]["calls"][3]["commands"] == ["ip netns delete c3"]
    assert existing_ns() == ["c1", "c2"] and "vn-c3" not in [lk["ifname"] for lk in ip_json("link", "show", "type", "veth")]
    rules = subprocess.run(["iptables-nft-save"], capture_output=True, text=True, check=True).stdout
    assert "netplumb:br0:tcp/5001" in rules and "netplumb:br0:tcp/5002" in rules
    assert "5003" not in rules and "udp/5353" not in rules
    stats, again = role_run(tmp_path, declared)
    assert stats["changed"] == 0 and stats["failures"] == 0
    # the last container goes too: the network keeps its bridge and NAT, nothing else
    stats, dummy = role_run(tmp_path, net([]))
    assert stats["failures"] == 0 and existing_ns() == [] and not ip_json("link", "show", "type", "veth")
    rules = subprocess.run(["iptables-nft-save"], capture_output=True, text=True, check=True).stdout
    assert "netplumb:br0:" not in rules and "netplumb:br0" in rules
    assert role_run(tmp_path, net([]))[0]["changed"] == 0
