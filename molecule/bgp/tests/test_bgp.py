"""container_cross_host: bgp on the routed lab: BIRD 2 runs on every host (started and supervised by the module:
the lab's hosts have no systemd), its sessions to the other hosts and to the lab's router are established, every
host has a route to every other host's fleet subnet learned over BGP (protocol bird, metric 151, via the router),
the router learned them all, and a container on h1 reaches one on h3 with its own address."""
import os
import sys
import time

import netcheck
import pytest

sys.path.insert(0, os.path.join(netcheck.ROOT, ".build", "collections"))

from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
ADDR = dict((h, "192.0.2.%d" % (11 + i)) for i, h in enumerate(HOSTS))
ALLOC = allocate("10.244.0.0/16", 24, [dict(name=h, subnets=[]) for h in HOSTS])
CONTAINERS = dict(h1=("f1", 10), h3=("f3", 10))
SOCK = "/run/netplumb/bird.ctl"
LIMIT = 60.0    # a bound on conditions waited for (sessions come up in seconds), never asserted as a time


def subnet(h):
    return ALLOC[h]["subnet"]


def caddr(h):
    base = subnet(h).split("/")[0].split(".")
    return ".".join(base[:3] + [str(int(base[3]) + CONTAINERS[h][1])])


def proto(addr):
    return "np_" + addr.replace(".", "_")


def wait(cond, what):
    deadline = time.monotonic() + LIMIT
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("still not true after %ds: %s" % (LIMIT, what))
        time.sleep(0.2)


def sessions(host):
    out = host.run("birdc -s %s show protocols", SOCK)
    assert out.rc == 0, out
    return dict((p[0], p[5] if len(p) > 5 else "") for p in (line.split() for line in out.stdout.splitlines())
                if len(p) > 3 and p[1] == "BGP")


def learned(host):
    return sorted(" ".join(r.split()) for r in host.check_output("ip -4 route show proto bird").splitlines())


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


def test_bird_runs_supervised_by_the_module(host, name):
    pid = int(host.file("/run/netplumb/bird.pid").content_string.strip())
    assert host.file("/proc/%d/comm" % pid).content_string.strip() == "bird"
    conf = host.file("/etc/bird/bird.conf").content_string
    assert conf.startswith("# netplumb.container: managed by netplumb.container.bgp_speaker")
    assert "route %s blackhole;" % subnet(name) in conf


def test_sessions_established_to_the_fleet_and_the_router(host, name):
    want = sorted([proto(ADDR[o]) for o in HOSTS if o != name] + [proto("192.0.2.1")])

    def established():
        s = sessions(host)
        return s if sorted(s) == want and set(s.values()) == {"Established"} else None
    got = wait(established, "sessions %s Established" % want)
    assert sorted(got) == want


def test_routes_to_the_other_subnets_learned_over_bgp(host, name):
    want = sorted("%s via 192.0.2.1 dev eth0 metric 151" % subnet(o) for o in HOSTS if o != name)
    assert wait(lambda: learned(host) == want or None, "learned routes %s" % want)
    # this host's own subnet is announced, never sent to its kernel as a blackhole
    assert "blackhole" not in host.check_output("ip -4 route show")


def test_the_router_learned_every_subnet(host, name):
    if name != "h1":
        pytest.skip("the router is looked at once")

    def router():
        out = netcheck.lab_exec("top", "ip", "-4", "route", "show", "proto", "bird")
        return sorted(" ".join(r.split()[:3]) for r in out.stdout.splitlines())
    want = sorted("%s via %s" % (subnet(h), ADDR[h]) for h in HOSTS)
    assert wait(lambda: router() == want or None, "router's routes %s" % want)


def test_h1_reaches_h3_with_its_own_address(host, name):
    if name != "h1":
        pytest.skip("the probe runs once, from h1")
    listener = CONTAINERS["h3"][0]
    netcheck.serve_peer_address("h3", listener)
    assert netcheck.ask(host, caddr("h3"), 7070, netns="f1") == caddr("h1")       # no masquerade between fleet subnets
