"""The routed lab with its router as a BGP peer (netlab.py up --topology routed --bgp, NETLAB_BGP=1): BIRD runs in
the top with a session per host, a running lab is never silently switched, and the router's bird dies with the
lab. Its own state dir (<repo>/.build/lab-pytest-bgp), so no other lab is disturbed."""

import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NETLAB = os.path.join(HERE, "netlab.py")
STATE = os.path.join(REPO, ".build", "lab-pytest-bgp")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(not shutil.which("unshare") or not os.path.exists("/usr/sbin/sshd"),
                       reason="needs util-linux unshare and openssh-server"),
    pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed (make bird-deps)"),
]


def netlab(*args, check=True):
    env = dict(os.environ)
    env.pop("NETLAB_BGP", None)
    env.pop("NETLAB_TOPOLOGY", None)
    p = subprocess.run(["/usr/bin/python3", NETLAB, "--state-dir", STATE] + list(args), capture_output=True,
                       text=True, timeout=60, check=False, env=env)
    if check and p.returncode != 0:
        raise AssertionError("netlab %s failed (%d):\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2] not in "ZX"


def birds_in(netns):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
                if comm == "bird" and os.readlink("/proc/%s/ns/net" % d) == netns and alive(int(d)):
                    out.append(int(d))
            except OSError:
                pass
    return out


def test_router_runs_bird_and_it_dies_with_the_lab():
    if os.path.exists(os.path.join(STATE, "state.json")):
        netlab("down")
    try:
        netlab("up", "--hosts", "2", "--topology", "routed", "--bgp")
        with open(os.path.join(STATE, "state.json")) as f:
            state = json.load(f)
        assert state["bgp"] is True
        birds = birds_in(state["top"]["netns"])
        assert len(birds) == 1, birds
        conf = netlab("exec", "top", "--", "cat", "/run/netlab/bird.conf").stdout
        assert "protocol bgp h1 from host { neighbor 192.0.2.11 as 64512; }" in conf
        assert "protocol bgp h2 from host { neighbor 192.0.2.12 as 64512; }" in conf
        assert netlab("exec", "top", "--", "bird", "-p", "-c", "/run/netlab/bird.conf").returncode == 0
        protos = netlab("exec", "top", "--", "birdc", "-s", "/run/netlab/bird.ctl", "show", "protocols").stdout
        assert " h1 " in " %s " % protos.replace("\n", " ") and "BGP" in protos
        # the same lab without the router's BGP is another lab: refused, not switched
        p = netlab("up", "--topology", "routed", check=False)
        assert p.returncode == 1 and "with the router's BGP peer" in p.stderr, p.stderr
    finally:
        netlab("down", check=False)
    assert not [pid for pid in birds if alive(pid)]
