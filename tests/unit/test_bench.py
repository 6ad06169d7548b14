"""make bench's pure parts (bench/benchlib.py) and its baseline script's topology, with no kernel: tutorial.sh runs
with DRY_RUN=1 (prints its commands) and must build what the role's variables declare."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import benchlib  # noqa: E402

SCRIPT = os.path.join(ROOT, "bench", "tutorial.sh")


def script_topology(k, per=1):
    """{container: (address, [(host_port, container_address, container_port)])} from tutorial.sh's commands."""
    out = subprocess.run([SCRIPT, str(k), str(per)], env=dict(os.environ, DRY_RUN="1"), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    addrs, dnat = {}, {}
    for line in out:
        m = re.match(r"ip -n (\S+) addr add (\S+)/16 dev eth0$", line)
        if m:
            addrs[m.group(1)] = m.group(2)
        m = re.match(r"iptables -t nat -A (PREROUTING|OUTPUT) .* --dport (\d+) -j DNAT --to-destination (\S+):(\d+)$", line)
        if m:
            dnat.setdefault(m.group(1), []).append((int(m.group(2)), m.group(3), int(m.group(4))))
    return out, addrs, dnat


def role_topology(k, per=1):
    (net,) = benchlib.role_vars(k, per)["container_networks"]
    addrs = dict((c["name"], c["address"]) for c in net["containers"])
    ports = []
    for c in net["containers"]:
        for spec in c["publish"]:
            host, cont = spec.split(":")
            ports.append((int(host), c["address"], int(cont)))
    return net, addrs, ports


@pytest.mark.parametrize("k,per", [(300, 1), (50, 100)])
def test_script_and_role_declare_the_same_topology(k, per):
    lines, s_addrs, dnat = script_topology(k, per)
    net, r_addrs, r_ports = role_topology(k, per)
    assert s_addrs == r_addrs
    assert len(r_addrs) == k and len(set(r_addrs.values())) == k
    assert benchlib.GATEWAY not in r_addrs.values()
    assert dnat["PREROUTING"] == r_ports and dnat["OUTPUT"] == r_ports
    host_ports = [p[0] for p in r_ports]
    assert len(host_ports) == k * per and len(set(host_ports)) == k * per
    assert (net["bridge"], net["subnet"], net["gateway"]) == ("br0", "172.18.0.0/16", "172.18.0.1")
    assert "ip addr add 172.18.0.1/16 dev br0" in lines
    assert "iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE" in lines
    assert sum(1 for x in lines if x.startswith("ip netns add ")) == k
    assert sum(1 for x in lines if re.match(r"ip link add vn-c\d+ type veth peer name eth0 netns c\d+$", x)) == k


def test_one_port_per_container_is_10000_plus_i_to_80():
    assert benchlib.publish(1) == ["10001:80"]
    assert benchlib.publish(1000) == ["11000:80"]
    assert benchlib.publish(2, per=3) == ["10004:80", "10005:81", "10006:82"]
    assert benchlib.address(1) == "172.18.0.3" and benchlib.address(250) == "172.18.1.2"


def test_median_and_ratio():
    assert benchlib.median([3.0, 1.0, 2.0]) == 2.0
    assert benchlib.median([1.0, 2.0]) == 1.5
    assert benchlib.median([]) is None
    assert benchlib.ratio(1.0, 4.0) == 0.25
    assert benchlib.ratio(1.0, 0) is None and benchlib.ratio(None, 1.0) is None
    r = benchlib.row(100, "converge", [4.0, 2.0, 3.0], 6.0)
    assert (r["seconds"], r["ratio"], r["label"]) == (3.0, 0.5, "100")


def table_rows():
    return [benchlib.row(100, "script", [5.0], 5.0),
            benchlib.row(100, "converge", [4.0], 5.0, rss_mb=40.0),
            benchlib.row(100, "no-op", [4.0], 5.0),
            benchlib.row(1000, "script", [80.0], 80.0),
            benchlib.row(1000, "converge", [30.0], 80.0, rss_mb=120.0),
            benchlib.row(1000, "check", [10.0], 80.0, rss_mb=90.0),
            benchlib.row(50, "no-op", [9.0], 1.0, label="5000 ports"),
            benchlib.row(100, "fleet 3 hosts", [15.0], 10.0)]


def test_targets_met_and_missed():
    rows = table_rows()
    got = dict((r["label"] + " " + r["mode"], benchlib.evaluate(r, rows)) for r in rows)
    assert got["100 script"] == []
    assert got["100 converge"] == [("converge K=100 <= 0.7x script", "0.80x", False)]
    assert got["100 no-op"] == [("no-op K=100 <= 0.5x script", "0.80x", False)]
    assert got["1000 converge"] == [("converge K=1000 <= 0.3x script", "0.38x", False),
                                    ("converge K=1000 <= 11x converge K=100", "7.5x", True),
                                    ("peak RSS K=1000 <= 100 MB", "120 MB", False)]
    assert got["1000 check"] == [("check K=1000 <= 0.1x script", "0.12x", False), ("peak RSS K=1000 <= 100 MB", "90 MB", True)]
    assert got["5000 ports no-op"] == []
    assert got["100 fleet 3 hosts"] == [("fleet 3 hosts x 100 <= 1.5x one host", "1.50x", True)]


def test_scale_target_needs_k100():
    rows = [benchlib.row(1000, "converge", [30.0], 80.0)]
    assert ("converge K=1000 <= 11x converge K=100", "needs K=100", None) in benchlib.evaluate(rows[0], rows)


def test_render_has_machine_targets_and_one_line_per_row():
    machine = dict(nproc=2, kernel="6.1", cpu="X", python="3.11.2", ansible_core="2.19.14", pyroute2="0.9.7",
                   iptables="iptables v1.8.9 (nf_tables)")
    text = benchlib.render(table_rows(), machine, ["a note"])
    assert "Machine: nproc 2, kernel 6.1, CPU X, python 3.11.2, ansible-core 2.19.14, pyroute2 0.9.7" in text
    assert all("- " + t[4] in text for t in benchlib.TARGETS)
    table = [x for x in text.splitlines() if x.startswith("| ")]
    assert len(table) == 1 + len(table_rows())
    assert "| 100 | no-op | 4.00 | 0.80x |" in text and "0.80x MISSED" in text
    assert "| 5000 ports | no-op | 9.00 |" in text
    assert text.endswith("- a note\n")


def test_recap_invocations_and_rss():
    out = ("PLAY RECAP ****\nlocalhost                  : ok=12   changed=5    unreachable=0    failed=0    skipped=9\n"
           "h2 : ok=3 changed=0 unreachable=0 failed=1 skipped=0\n")
    assert benchlib.parse_recap(out) == dict(localhost=dict(ok=12, changed=5, unreachable=0, failed=0),
                                             h2=dict(ok=3, changed=0, unreachable=0, failed=1))
    counts = {"ansible.builtin.set_fact": 2, "ansible.builtin.include_tasks": 1, "ansible.builtin.validate_argument_spec": 1,
              "ansible.builtin.setup": 1, "ansible.builtin.command": 1, "netplumb.container.netns": 1,
              "netplumb.container.veth_pair": 1, "netplumb.container.container_network": 1}
    assert benchlib.invocations(counts) == (5, 3)
    assert benchlib.peak_rss_mb("2048\n10240\n") == 10.0
    assert benchlib.peak_rss_mb("") is None
