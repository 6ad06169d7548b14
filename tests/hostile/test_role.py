"""The role never half-applies: container_networks is parsed on the controller (every input error, with its path),
then the one container_network task plans every step of every network against the host before its first write
(the preflight), so bad input or a host-unsafe network anywhere in container_networks leaves the host exactly as
it was - in --check and in a real run - and the refusal names the network, the field and the value."""
import socket

import pytest

from helpers.converge import existing_ns
from hosts import UnnamedNs, bridged_uplink, lxc_uplink, role, snapshot

pytestmark = pytest.mark.category("role")

PREFLIGHT = "Container networks - bridges, namespaces, veth pairs, NAT and published ports in one call"
INVALID = "Refuse an invalid container_networks"
GOOD = dict(name="good", bridge="br-good", subnet="172.20.0.0/24",
            containers=[dict(name="g1", address="172.20.0.10", publish=["8081:80"])])


@pytest.fixture
def lxc(sandbox):
    un = UnnamedNs()
    try:
        lxc_uplink(un)
        yield un
    finally:
        un.close()


def refused(networks, check, *parts):
    """The good network comes first: the refusal of a later one must still leave it unbuilt."""
    before = snapshot()
    rc, stats, tasks = role([GOOD] + networks, *(["--check", "--diff"] if check else []))
    assert rc != 0 and stats["failures"] == 1, (rc, stats)
    msg = failure(tasks)
    for part in parts:
        assert part in msg, (part, msg)
    assert snapshot() == before and existing_ns() == [], "the refused role changed the host"
    written = [name for name, r in tasks.items() if r.get("changed")]
    assert written == [], written


def failure(tasks):
    """The message of the task that refused: the controller's input check, or the host's preflight."""
    invalid = tasks.get(INVALID, {})
    if not invalid.get("skipped") and invalid.get("msg"):
        return "\n".join(invalid["msg"])
    res = tasks[PREFLIGHT]
    assert res.get("msg", "").startswith("preflight refused") and res.get("changed") is False, res
    return res["msg"]


def bad_container(**kw):
    c = dict(name="c1", address="172.21.0.10")
    c.update(kw)
    return [dict(name="bad", bridge="br-bad", subnet="172.21.0.0/24", containers=[c])]


MODES = pytest.mark.parametrize("check", [True, False], ids=["check", "real"])


@pytest.mark.parametrize("name", ["..", ".", "x" * 250])
def test_container_names_that_are_no_namespace(lxc, name):
    refused(bad_container(name=name), False, "container_networks[1].containers[0].name=",
            "a namespace name")


@pytest.mark.parametrize("spec, why", [("0.0.0.0:8080:80", "unspecified"), ("224.0.0.1:8080:80", "multicast")])
def test_publish_on_no_host_address(lxc, spec, why):
    refused(bad_container(publish=[spec]), False, "container_networks[1].containers[0].publish[0]=", "host_ip",
            why)


def test_publish_on_an_address_of_another_host_in_check_mode(lxc):
    refused(bad_container(publish=["192.0.2.99:8080:80"]), True, "ports[0].host_ip=192.0.2.99",
            "no address of this host")


@MODES
def test_subnet_of_the_uplink(lxc, check):
    refused([dict(name="bad", bridge="br-bad", subnet="192.0.2.0/24")], check,
            "container_networks[1] (bad) (container_nat)", "subnet=192.0.2.0/24", "192.0.2.10/24")


def test_network_on_the_uplink_interface(lxc):
    refused([dict(name="bad", bridge="eth0", subnet="172.30.0.0/16")], False, "bridge=eth0",
            "eth0 is the host's uplink")


def test_network_on_a_bridge_carrying_the_uplink(sandbox):
    un = UnnamedNs()
    try:
        bridged_uplink(un)
        refused([dict(name="bad", bridge="br-up", subnet="172.30.0.0/16")], False, "bridge=br-up",
                "br-up is the host's uplink")
    finally:
        un.close()


def test_host_port_bound_by_a_local_listener_in_check_mode(lxc):
    check = True
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", 0))
        s.listen(1)
        port = s.getsockname()[1]
        refused(bad_container(publish=["%d:80" % port]), check, "tcp/%d" % port, "bound by a local listener")
    finally:
        s.close()


def test_every_refusal_is_reported_at_once(lxc):
    nets = bad_container(name="..") + [dict(name="bad2", bridge="br-bad2", subnet="192.0.2.0/25")]
    before = snapshot()
    rc, stats, tasks = role([GOOD] + nets)
    msg = failure(tasks)
    assert rc != 0 and "container_networks[1].containers[0].name='..'" in msg, msg
    # the controller refuses before the host is asked; the host-unsafe network alone is refused there
    rc, stats, tasks = role([GOOD] + [dict(name="bad2", bridge="br-bad2", subnet="192.0.2.0/25"),
                                      dict(name="bad3", bridge="eth0", subnet="172.30.0.0/16")])
    msg = failure(tasks)
    assert rc != 0 and "container_networks[1] (bad2)" in msg and "container_networks[2] (bad3)" in msg, msg
    assert msg.startswith("preflight refused")
    assert snapshot() == before


def test_the_good_network_alone_converges(lxc):
    """Positive control: without the bad network, the same run builds and a re-run changes nothing."""
    rc, stats, tasks = role([GOOD])
    assert rc == 0 and stats["failures"] == 0 and existing_ns() == ["g1"], (rc, stats)
    rc, stats, tasks = role([GOOD])
    assert rc == 0 and stats["changed"] == 0, stats


def test_a_hand_made_bridge_is_refused_then_adopted_on_purpose(lxc):
    """The tutorial's br0 made by hand: the role refuses it and changes nothing, its hint naming the role's own
    option (container_networks[1].adopt: true, not the module linux_bridge's adopt=true); with the network's
    adopt: true it is taken over once; afterwards it is ours without adopt."""
    from hosts import sh
    sh("ip link add br-web type bridge && ip addr add 172.22.0.1/24 dev br-web")
    net = dict(name="web", bridge="br-web", subnet="172.22.0.0/24", containers=[dict(name="w1", address="172.22.0.10")])
    refused([net], False, "container_networks[1] (web) (linux_bridge)", "name=br-web",
            "run once with container_networks[1].adopt: true")
    rc, stats, tasks = role([GOOD, net])
    assert "adopt=true" not in tasks[PREFLIGHT]["msg"] and "linux_bridge and adopt" not in tasks[PREFLIGHT]["msg"]
    rc, stats, tasks = role([GOOD, dict(net, adopt=True)])
    assert rc == 0 and stats["failures"] == 0, (rc, stats)
    rc, stats, tasks = role([GOOD, net])
    assert rc == 0 and stats["changed"] == 0, stats


def test_a_fleet_subnet_over_a_route_of_the_host_is_refused(lxc):
    """subnet: cluster takes this host's slot of container_cluster_cidr; when the host already routes that range
    elsewhere (a route that is not ours), the preflight refuses before any change, naming the route."""
    from hosts import sh
    sh("ip route add 10.244.0.0/16 via 192.0.2.1 dev eth0")
    net = dict(name="fleet", bridge="br-fleet", subnet="cluster", containers=[dict(name="f1", address="10")])
    before = snapshot()
    rc, stats, tasks = role([net], "-e", "container_cluster_cidr=10.244.0.0/16")
    msg = failure(tasks)
    assert rc != 0 and "container_networks[0] (fleet)" in msg and "route 10.244.0.0/16 via 192.0.2.1" in msg, msg
    assert snapshot() == before and existing_ns() == []


def test_a_python_without_pyroute2_is_refused_clearly_when_install_is_off(lxc, tmp_path):
    """The one converge call reports missing_pyroute2 (not a failure of the play); only then does the role look
    at pyroute2, and with container_network_install_pyroute2: false it refuses, naming the variable - the host
    unchanged, the recap failed and not rescued."""
    import subprocess
    bare = tmp_path / "bare"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(bare)], check=True)
    before = snapshot()
    rc, stats, tasks = role([GOOD], "-e", "ansible_python_interpreter=%s" % (bare / "bin" / "python"),
                            "-e", "container_network_install_pyroute2=false")
    assert rc != 0 and stats["failures"] == 1 and stats["rescued"] == 0, (rc, stats)
    assert tasks[PREFLIGHT].get("missing_pyroute2") is True and not tasks[PREFLIGHT].get("failed")
    msg = tasks["Pyroute2 - refuse where it cannot be had"]["msg"]
    assert "pyroute2 is not importable" in msg and "container_network_install_pyroute2 is false" in msg, msg
    assert snapshot() == before and existing_ns() == []


def test_a_refusal_is_told_once_and_the_recap_says_failed(lxc):
    """One refusal, one failure: the converge call's own (no rescue re-failing with the same message), without a
    dump of every network; the recap says failed=1 rescued=0 - in ansible's own output as a user reads it."""
    from hosts import sh
    sh("ip link add br-web type bridge")
    net = dict(name="web", bridge="br-web", subnet="172.22.0.0/24", containers=[dict(name="w1", address="172.22.0.10")])
    rc, stats, tasks = role([GOOD, net])
    assert rc != 0 and stats["failures"] == 1 and stats["rescued"] == 0, stats
    told = [name for name, res in tasks.items() if "preflight refused" in str(res.get("msg", ""))]
    assert told == [PREFLIGHT], told
    assert "networks" not in tasks[PREFLIGHT] and len(tasks[PREFLIGHT]["errors"]) == 2, tasks[PREFLIGHT]
    rc, out = role([GOOD, net], text=True)
    assert rc != 0 and out.count("FAILED!") == 1, out[-3000:]
    recap = out[out.index("PLAY RECAP"):]
    assert "failed=1" in recap and "rescued=0" in recap, recap


def test_check_mode_on_a_fresh_host_says_its_assumptions_in_one_line(lxc):
    """--check on a fresh host: every later step assumes the bridges and namespaces the earlier steps of the same
    run create - one line for the run, not one warning per step and object."""
    nets = [GOOD, dict(name="db", bridge="br-db", subnet="172.24.0.0/24",
                       containers=[dict(name="d1", address="172.24.0.10"), dict(name="d2", address="172.24.0.11")])]
    rc, stats, tasks = role(nets, "--check")
    assert rc == 0 and stats["changed"] == 1, stats
    warnings = tasks[PREFLIGHT]["warnings"]
    assumed = [w for w in warnings if "assum" in w]
    assert assumed == ["check mode: 2 bridges, 3 namespaces assumed created by earlier steps of this run"], warnings
    assert existing_ns() == []


def test_a_converged_icc_false_network_is_not_warned_about_br_netfilter_again(lxc):
    """icc=false where br_netfilter processes the bridge: the hairpin note comes with the change that isolates
    the ports, not with every converged re-run (which changes nothing and says nothing about it)."""
    iso = dict(name="iso", bridge="br-iso", subnet="172.23.0.0/24", icc=False,
               containers=[dict(name="i1", address="172.23.0.10"), dict(name="i2", address="172.23.0.11")])
    rc, stats, tasks = role([GOOD, iso])
    assert rc == 0 and stats["changed"] == 1, stats
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            brnf = f.read().strip() == "1"
    except OSError:
        brnf = False
    if brnf:    # said once, with the change
        assert any("br_netfilter" in w for w in tasks[PREFLIGHT]["warnings"]), tasks[PREFLIGHT]["warnings"]
    rc, stats, tasks = role([GOOD, iso])
    assert rc == 0 and stats["changed"] == 0, stats
    assert not [w for w in tasks[PREFLIGHT].get("warnings", []) if "br_netfilter" in w], tasks[PREFLIGHT]


def wheel_of_pyroute2(where):
    """This venv's pyroute2 packed as a wheel (pure Python: its files and dist-info zipped), for a pip that may
    not reach any index."""
    import os
    import zipfile
    import pyroute2
    site = os.path.dirname(os.path.dirname(pyroute2.__file__))
    info = [d for d in os.listdir(site) if d.startswith("pyroute2-") and d.endswith(".dist-info")][0]
    path = os.path.join(str(where), info[:-len(".dist-info")] + "-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as whl:
        for top in ("pyroute2", info):
            for root, dirs, files in os.walk(os.path.join(site, top)):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for name in files:
                    if name not in ("INSTALLER", "REQUESTED", "direct_url.json"):
                        full = os.path.join(root, name)
                        whl.write(full, os.path.relpath(full, site))
    return path


def test_a_python_without_pyroute2_gets_it_then_converges(lxc, tmp_path, monkeypatch):
    """The one converge call reports missing_pyroute2 (not a failure of the play, not rescued): the role installs
    pyroute2 (pip here, from a local wheel: no index is reached) and calls again, which converges; a re-run
    costs no install and changes nothing."""
    import subprocess
    bare = tmp_path / "py"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(bare)], check=True)
    wheel_of_pyroute2(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    python = "ansible_python_interpreter=%s" % (bare / "bin" / "python")
    facts = '{"ansible_facts": {"os_family": "Alpine", "pkg_mgr": "apk"}}'     # pip, the way other systems go
    rc, stats, tasks = role([GOOD], "-e", python, "-e", facts)
    assert rc == 0 and stats["failures"] == 0 and stats["rescued"] == 0, (rc, stats, tasks)
    assert tasks[PREFLIGHT].get("missing_pyroute2") is True and not tasks[PREFLIGHT].get("failed")
    assert tasks["Pyroute2 - pip"].get("changed") is True
    again = tasks["Container networks - in one call, now that pyroute2 is there"]
    assert again["changed"] is True and existing_ns() == ["g1"], again
    rc, stats, tasks = role([GOOD], "-e", python, "-e", facts)
    assert rc == 0 and stats["changed"] == 0 and not tasks[PREFLIGHT].get("missing_pyroute2"), stats
    assert "skip_reason" in tasks["Pyroute2 on the managed host"] and not [t for t in tasks if "Pyroute2 -" in t]
