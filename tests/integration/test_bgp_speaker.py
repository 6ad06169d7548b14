"""bgp_speaker with a real BIRD 2, in the sandbox's namespaces: the sandbox is host A (underlay up0 192.0.2.11/24,
bridge brA 10.244.1.1/24, container cA 10.244.1.10); namespace "B" is host B (eth0 192.0.2.12/24, bridge brB
10.244.2.1/24, container cB 10.244.2.10) whose bird runs a hand-written configuration, the way a tutorial does
it. A's bird is the module's: started by it (supervisor=auto finds no systemd on the sandbox's private /run),
with its own config file, control socket and pid file in the test's directory. The steps run in order on one
world: building it and waiting for BGP sessions is most of the cost."""
import os
import shutil
import signal
import socket
import time

import pytest

from helpers_fw import sh

pytestmark = pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed (make bird-deps)")

CLUSTER = "10.244.0.0/16"
B_CONF = """router id 192.0.2.12;
protocol device { scan time 10; }
protocol direct { ipv4 { import where net !~ [ 10.244.0.0/16+ ]; }; }
protocol kernel { learn; ipv4 { import where net !~ [ 10.244.0.0/16+ ]; export where source = RTS_BGP; }; }
protocol static { ipv4; route 10.244.2.0/24 blackhole; }
protocol bgp a {
  local 192.0.2.12 as 64512; neighbor 192.0.2.11 as 64512;
  connect delay time 1; connect retry time 2;
  ipv4 { import all; export where source = RTS_STATIC; };
}
"""
LIMIT = 60.0    # generous bound for conditions waited on (a loaded machine is slow); never asserted as a time


def wait(cond, what):
    deadline = time.monotonic() + LIMIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("still not true after %ds: %s" % (LIMIT, what))
        time.sleep(0.1)


def routes(ns=None):
    """Routes of the main table with BIRD's protocol (12): 'dst via gw metric N'."""
    out = sh("ip", "-4", "route", "show", "proto", "bird", ns=ns).stdout
    return sorted(" ".join(line.split()) for line in out.splitlines())


def protocols(sock, ns=None):
    out = sh("birdc", "-s", sock, "show", "protocols", ns=ns, check=False).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "BGP":
            res[parts[0]] = (" ".join(parts[5:]), parts[4])     # (Info: Established..., Since)
    return res


def same_session(before, after):
    """(state, since) AFTER is BEFORE's session, not a restarted one: the same state, and a since within 50 ms of
    BEFORE's. BIRD shows since by converting its monotonic clock to wall time each time it is asked, so it may
    differ by a millisecond (seen: .592 then .593); a restart during a module run would set it hundreds of ms later."""
    def secs(hms):
        h, m, sec = hms.split(":")[-3:]
        return int(h) * 3600 + int(m) * 60 + float(sec)
    return after[0] == before[0] and abs(secs(after[1]) - secs(before[1])) <= 0.05


def alive(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/comm" % pid) as f:
            return pid if f.read().strip() == "bird" else None
    except (OSError, ValueError):
        return None


def stop(pidfile):
    pid = alive(pidfile)
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait(lambda: alive(pidfile) is None, "bird %d exited" % pid)


@pytest.fixture
def world(sandbox, run, tmp_path):
    sh("ip", "netns", "add", "B")
    sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "B")
    sh("ip", "addr", "add", "192.0.2.11/24", "dev", "up0")
    sh("ip", "link", "set", "up0", "up")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1")
    assert run("linux_bridge", dict(name="brA", addresses=["10.244.1.1/24"]))["changed"]
    assert run("netns", dict(name=["cA", "cB"]))["changed"]
    res = run("veth_pair", dict(pairs=[dict(name="vA", peer="eth0", peer_netns="cA", bridge="brA",
                                            peer_addresses=["10.244.1.10/24"], peer_gateway="10.244.1.1")]))
    assert not res.get("failed"), res
    for cmd in (["sysctl", "-qw", "net.ipv4.ip_forward=1"], ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "192.0.2.12/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "add", "brB", "type", "bridge"], ["ip", "addr", "add", "10.244.2.1/24", "dev", "brB"],
                ["ip", "link", "set", "brB", "up"],
                ["ip", "link", "add", "vB", "type", "veth", "peer", "name", "eth0", "netns", "cB"],
                ["ip", "link", "set", "vB", "master", "brB", "up"]):
        sh(*cmd, ns="B")
    for cmd in (["ip", "addr", "add", "10.244.2.10/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "10.244.2.1"]):
        sh(*cmd, ns="cB")
    b = tmp_path / "b"
    b.mkdir()
    (b / "bird.conf").write_text(B_CONF)
    paths = dict(config=str(tmp_path / "a" / "bird.conf"), socket=str(tmp_path / "a" / "bird.ctl"),
                 pidfile=str(tmp_path / "a" / "bird.pid"), b_sock=str(b / "bird.ctl"), b_pid=str(b / "bird.pid"))
    try:
        sh("bird", "-c", str(b / "bird.conf"), "-s", paths["b_sock"], "-P", paths["b_pid"], ns="B")
        yield paths
    finally:
        stop(paths["pidfile"])
        stop(paths["b_pid"])


def spec(paths, **more):
    out = dict(local="192.0.2.11", cluster_cidr=CLUSTER, announce=["10.244.1.0/24"],
               peers=[dict(name="h2", address="192.0.2.12")], config=paths["config"], socket=paths["socket"],
               pidfile=paths["pidfile"], connect_retry=2)
    out.update(more)
    return out


def cycle(run, args, established=()):
    """check+diff -> real (same commands and diff, check wrote nothing) -> sessions up -> re-run changed=0."""
    config = args["config"]
    before = open(config).read() if os.path.exists(config) else None
    pid_before = alive(args["pidfile"])
    check = run("bgp_speaker", args, check=True)
    assert not check.get("failed"), check
    assert check["changed"] is True
    assert check["diff"]["prepared"] == "\n".join(check["commands"])
    assert (open(config).read() if os.path.exists(config) else None) == before, "check mode wrote the file"
    assert alive(args["pidfile"]) == pid_before, "check mode started or stopped bird"
    real = run("bgp_speaker", args)
    assert not real.get("failed"), real
    assert (real["changed"], real["commands"], real["diff"]) == (check["changed"], check["commands"], check["diff"])
    for name in established:
        wait(lambda: protocols(args["socket"]).get(name, ("",))[0] == "Established", "%s Established" % name)
    again = run("bgp_speaker", args)
    assert not again.get("failed"), again
    assert again["changed"] is False and again["commands"] == [], again
    return real


def test_bgp_story(world, run):
    paths = world
    args = spec(paths)
    # --- first run: the file written (validated by bird -p first), bird started by the module itself
    res = cycle(run, args, established=["np_192_0_2_12"])
    tmp = paths["config"] + ".netplumb-new"
    assert res["commands"] == [
        "bird -p -c %s && mv %s %s" % (tmp, tmp, paths["config"]),
        "bird -c %s -s %s -P %s" % (paths["config"], paths["socket"], paths["pidfile"])]
    assert (res["supervisor"], res["socket"]) == ("self", paths["socket"])
    assert res["diff"]["before"] == dict(config=None, running=False)
    text = open(paths["config"]).read()
    assert res["diff"]["after"] == dict(config=text, running=True)
    assert text.startswith("# netplumb.container: managed by netplumb.container.bgp_speaker")
    assert "route 10.244.1.0/24 blackhole;" in text and "neighbor 192.0.2.12 as 64512;" in text
    assert not os.path.exists(tmp)
    pid = alive(paths["pidfile"])
    assert pid

    # --- each host learned the other's subnet: in A's kernel with protocol bird and our metric 151
    wait(lambda: routes() == ["10.244.2.0/24 via 192.0.2.12 dev up0 metric 151"], "A learned B's subnet")
    wait(lambda: routes("B") == ["10.244.1.0/24 via 192.0.2.11 dev eth0 metric 32"], "B learned A's subnet")
    # A's own subnet is announced, never sent to its kernel (the bridge holds it); B's bird is not A's kernel
    assert "blackhole" not in sh("ip", "-4", "route", "show").stdout
    # the containers reach each other with their own addresses (no masquerade anywhere here)
    for ns, addr in (("cA", "10.244.2.10"), ("cB", "10.244.1.10")):
        sh("ping", "-c", "1", "-W", "5", addr, ns=ns)

    # --- a peer added: only birdc configure (no restart); B's session is not touched (same state since)
    since = protocols(paths["socket"])["np_192_0_2_12"][1]
    more = spec(paths, peers=args["peers"] + [dict(name="h3", address="192.0.2.13")])
    res = cycle(run, more)
    assert res["commands"] == ["bird -p -c %s && mv %s %s" % (tmp, tmp, paths["config"]),
                               "birdc -s %s configure" % paths["socket"]]
    assert alive(paths["pidfile"]) == pid
    assert same_session(("Established", since), protocols(paths["socket"])["np_192_0_2_12"])
    assert "np_192_0_2_13" in protocols(paths["socket"])

    # --- a config bird refuses (bird -p): nothing replaced, bird still runs the previous one
    current = open(paths["config"]).read()
    for check in (True, False):
        bad = run("bgp_speaker", dict(more, extra_config="protocol nonsense {"), check=check)
        assert bad.get("failed") and "refused by `bird -p -c %s`" % paths["config"] in bad["msg"], bad
        assert bad["commands"] == [] and bad["changed"] is False
    assert open(paths["config"]).read() == current
    assert not os.path.exists(tmp)
    assert alive(paths["pidfile"]) == pid
    assert same_session(("Established", since), protocols(paths["socket"])["np_192_0_2_12"])
    assert run("bgp_speaker", more)["changed"] is False

    # --- h2 leaves the inventory: its session goes, and with it the route it taught A
    res = cycle(run, spec(paths, peers=[dict(name="h3", address="192.0.2.13")]))
    assert res["commands"][-1] == "birdc -s %s configure" % paths["socket"]
    wait(lambda: routes() == [], "B's subnet withdrawn from A")
    assert "np_192_0_2_12" not in protocols(paths["socket"])
    assert alive(paths["pidfile"]) == pid

    # --- state=absent: our bird stops (its routes with it), our file goes; a second run changes nothing
    assert run("bgp_speaker", spec(paths))["changed"]
    wait(lambda: routes() != [], "B's subnet learned again")
    gone = dict(state="absent", config=paths["config"], socket=paths["socket"], pidfile=paths["pidfile"])
    check = run("bgp_speaker", gone, check=True)
    assert check["commands"] == ["kill -TERM %d  # bird of %s" % (pid, paths["pidfile"]), "rm %s" % paths["config"]]
    real = run("bgp_speaker", gone)
    assert (real["changed"], real["commands"]) == (True, check["commands"])
    assert alive(paths["pidfile"]) is None and not os.path.exists(paths["config"])
    try:        # the module returned after bird's process exited (a zombie at most), not only after its pid file went
        with open("/proc/%d/stat" % pid) as f:
            assert f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        pass
    assert routes() == []
    assert run("bgp_speaker", gone)["changed"] is False


def test_refuses_what_is_not_ours(world, run, tmp_path):
    paths = world
    # a hand-made bird.conf: refused in check and real mode, untouched, no bird started
    hand = "router id 192.0.2.11;\nprotocol device {}\n"
    os.makedirs(os.path.dirname(paths["config"]))
    with open(paths["config"], "w") as f:
        f.write(hand)
    for check in (True, False):
        res = run("bgp_speaker", spec(paths), check=check)
        assert res.get("failed") and res["msg"].startswith("config=%s: BIRD configuration" % paths["config"]), res
        assert "adopt=true" in res["msg"] and res["commands"] == []
    assert open(paths["config"]).read() == hand and alive(paths["pidfile"]) is None
    # absent leaves it alone too, and says so
    res = run("bgp_speaker", dict(state="absent", config=paths["config"], pidfile=paths["pidfile"]))
    assert res["changed"] is False and any("not netplumb's" in w for w in res["warnings"]), res
    assert open(paths["config"]).read() == hand
    # Debian's untouched example file is nobody's: replaced without adopt
    shutil.copy("/usr/share/bird2/bird.conf", paths["config"])
    res = run("bgp_speaker", spec(paths), check=True)
    assert not res.get("failed") and res["changed"], res
    # adopt=true takes the hand-made one over
    with open(paths["config"], "w") as f:
        f.write(hand)
    res = cycle(run, spec(paths, adopt=True))
    assert open(paths["config"]).read().startswith("# netplumb.container:")
    stop(paths["pidfile"])

    # another BGP speaker already listening on TCP 179 here: ours is not started beside it
    os.unlink(paths["config"])
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsn.bind(("0.0.0.0", 179))
        lsn.listen(1)
        for check in (True, False):
            res = run("bgp_speaker", spec(paths), check=check)
            assert res.get("failed") and "TCP port 179 is already listened on" in res["msg"], res
        assert not os.path.exists(paths["config"]) and alive(paths["pidfile"]) is None
    finally:
        lsn.close()


def test_validation_names_the_field(sandbox, run):
    for args, field in ((dict(cluster_cidr=CLUSTER), "local"),
                        (dict(local="192.0.2.11"), "cluster_cidr"),
                        (dict(local="192.0.2.11", cluster_cidr=CLUSTER, announce=["10.99.0.0/24"]), "announce[0]"),
                        (dict(local="192.0.2.11", cluster_cidr=CLUSTER, peers=[dict(address="192.0.2.11")]),
                         "peers[0].address"),
                        (dict(local="192.0.2.11", cluster_cidr=CLUSTER, asn=0), "asn"),
                        (dict(local="192.0.2.11", cluster_cidr=CLUSTER, supervisor="systemd", config="/tmp/x.conf"),
                         "config")):
        res = run("bgp_speaker", args, check=True)
        assert res.get("failed") and res["msg"].startswith(field + "="), (args, res)
        assert res["commands"] == []


C_CONF = """router id 192.0.2.13;
protocol device { scan time 10; }
protocol direct { ipv4 { import where net !~ [ 10.244.0.0/16+ ]; }; }
protocol kernel { learn; ipv4 { import where net !~ [ 10.244.0.0/16+ ]; export where source = RTS_BGP; }; }
protocol static { ipv4; route 10.244.3.0/24 blackhole; }
protocol bgp a {
  local 192.0.2.13 as 64512; neighbor 192.0.2.11 as 64512;
  connect delay time 1; connect retry time 2;
  ipv4 { import all; export where source = RTS_STATIC; };
}
"""


@pytest.fixture
def lan(sandbox, tmp_path):
    """A on a bridge lan0 (192.0.2.11/24) with B (.12) and C (.13) behind it, each with its own hand-made bird
    peering with A only: A is their route reflector."""
    sh("ip", "link", "add", "lan0", "type", "bridge")
    sh("ip", "addr", "add", "192.0.2.11/24", "dev", "lan0")
    sh("ip", "link", "set", "lan0", "up")
    pids = []
    paths = dict(config=str(tmp_path / "a" / "bird.conf"), socket=str(tmp_path / "a" / "bird.ctl"),
                 pidfile=str(tmp_path / "a" / "bird.pid"))
    try:
        for name, addr, conf in (("B", "192.0.2.12", B_CONF), ("C", "192.0.2.13", C_CONF)):
            sh("ip", "netns", "add", name)
            sh("ip", "link", "add", "p" + name, "type", "veth", "peer", "name", "eth0", "netns", name)
            sh("ip", "link", "set", "p" + name, "master", "lan0", "up")
            for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", addr + "/24", "dev", "eth0"],
                        ["ip", "link", "set", "eth0", "up"]):
                sh(*cmd, ns=name)
            d = tmp_path / name
            d.mkdir()
            (d / "bird.conf").write_text(conf)
            pids.append(str(d / "bird.pid"))
            sh("bird", "-c", str(d / "bird.conf"), "-s", str(d / "bird.ctl"), "-P", str(d / "bird.pid"), ns=name)
        yield paths
    finally:
        for pidfile in [paths["pidfile"]] + pids:
            stop(pidfile)


def test_route_reflector_reflects_between_its_clients(lan, run):
    """A has no containers of its own: it announces nothing, and reflects B's subnet to C and C's to B with their
    next hops unchanged (the subnets' own hosts, not A)."""
    args = dict(local="192.0.2.11", cluster_cidr=CLUSTER, announce=[], route_reflector=True, connect_retry=2,
                peers=[dict(name="h2", address="192.0.2.12", rr_client=True),
                       dict(name="h3", address="192.0.2.13", rr_client=True)],
                config=lan["config"], socket=lan["socket"], pidfile=lan["pidfile"])
    cycle(run, args, established=["np_192_0_2_12", "np_192_0_2_13"])
    text = open(lan["config"]).read()
    assert "rr cluster id 192.0.2.11;" in text and text.count("rr client;") == 2
    wait(lambda: routes("C") == ["10.244.2.0/24 via 192.0.2.12 dev eth0 metric 32"], "C learned B's subnet via A")
    wait(lambda: routes("B") == ["10.244.3.0/24 via 192.0.2.13 dev eth0 metric 32"], "B learned C's subnet via A")
    wait(lambda: routes() == ["10.244.2.0/24 via 192.0.2.12 dev lan0 metric 151",
                              "10.244.3.0/24 via 192.0.2.13 dev lan0 metric 151"], "A learned both")
