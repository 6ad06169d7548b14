"""Fleet subnets and host-gw (docs/fleet-subnets.md): each host's `subnet: cluster` network has the subnet the
allocation rule gives it, and a container on one host reaches a container on another with its own address."""
import os
import sys

import netcheck
import pytest
import yaml

sys.path.insert(0, os.path.join(netcheck.ROOT, ".build", "collections"))

from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
ADDR = dict((h, "192.0.2.%d" % (11 + i)) for i, h in enumerate(HOSTS))
INV = os.path.join(netcheck.ROOT, "playbooks", "inventory")


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


CIDR = load(os.path.join(INV, "group_vars", "all.yml"))["container_cluster_cidr"]
VARS = dict((h, load(os.path.join(INV, "host_vars", h + ".yml"))) for h in HOSTS)
ALLOC = allocate(CIDR, 24, [dict(name=h, subnets=[n["subnet"] for n in VARS[h]["container_networks"]
                                                  if n["subnet"] != "cluster"]) for h in HOSTS])


def fleet_containers(h):
    """[(name, address)] of h's containers on its fleet subnet."""
    base = ALLOC[h]["subnet"].split("/")[0].split(".")
    out = []
    for n in VARS[h]["container_networks"]:
        if n["subnet"] == "cluster":
            for c in n["containers"]:
                out.append((c["name"], ".".join(base[:3] + [str(int(base[3]) + int(c["address"]))])))
    return out


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


def test_fleet_subnet_comes_from_the_cluster_cidr(host, name):
    gw = ALLOC[name]["subnet"].split("/")[0].rsplit(".", 1)[0] + ".1"
    addrs = host.check_output("ip -4 -o addr show")
    for cname, addr in fleet_containers(name):
        assert ("inet %s/24" % gw) in addrs
        assert ("inet %s/24" % addr) in host.check_output("ip netns exec %s ip -4 -o addr show dev eth0" % cname)
    routes = sorted(r.strip() for r in host.check_output("ip -4 route show proto 151").splitlines())
    assert routes == sorted("%s via %s dev eth0" % (ALLOC[o]["subnet"], ADDR[o]) for o in HOSTS if o != name)


def test_container_reaches_other_hosts_containers_with_its_own_address(host, name):
    mine = fleet_containers(name)
    if not mine:
        pytest.skip("%s has no container on its fleet subnet" % name)
    seen = {}
    for other in HOSTS:
        for cname, addr in fleet_containers(other) if other != name else []:
            netcheck.serve_peer_address(other, cname)      # answers with the peer address it sees
            for src, src_addr in mine:
                # waits for the answer; asked again up to 3 times, as netcheck.probe_from does
                for dummy in range(3):
                    got = netcheck.ask(host, addr, 7070, "tcp", netns=src)
                    if got:
                        break
                seen[(src, cname)] = (got or "", src_addr)
    assert seen and all(got == want for got, want in seen.values()), seen
