"""Every host of the fleet, its networks read from the scenario's host_vars, proven with real packets."""
import os

import netcheck
import pytest
import yaml

HOSTS = ["h1", "h2", "h3"]
ADDR = dict((h, "192.0.2.%d" % (11 + i)) for i, h in enumerate(HOSTS))
VARS = os.path.join(netcheck.ROOT, "playbooks", "inventory", "host_vars")


def networks(name):
    with open(os.path.join(VARS, name + ".yml")) as f:
        # networks on the fleet subnet (subnet: cluster) are proven by test_cross_host.py
        return [n for n in yaml.safe_load(f)["container_networks"] if n.get("state", "present") == "present"
                and n["subnet"] != "cluster"]


def gateway(net):
    if net.get("gateway"):
        return net["gateway"]
    base = net["subnet"].split("/")[0].split(".")
    return ".".join(base[:3] + [str(int(base[3]) + 1)])


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


def test_each_container_pings_its_gateway_and_neighbours(host, name):
    failures = []
    for net in networks(name):
        for c in net["containers"]:
            targets = [gateway(net)] + [o["address"] for o in net["containers"] if o is not c]
            failures += ["%s -> %s" % (c["name"], t) for t in targets if not netcheck.ping(host, c["name"], t)]
    assert failures == []


def test_egress_is_seen_with_the_host_address(host, name):
    seen = dict((c["name"], netcheck.egress_seen_as(host, c["name"]))
                for net in networks(name) for c in net["containers"])
    assert seen == dict((c, ADDR[name]) for c in seen)


def test_published_ports_answer_from_another_host(host, name):
    other = HOSTS[(HOSTS.index(name) + 1) % len(HOSTS)]
    results = {}
    for net in networks(name):
        for c in net["containers"]:
            for spec in c.get("publish", []):
                spec, dummy, proto = spec.partition("/")
                proto = proto or "tcp"
                parts = spec.split(":")
                host_port, cont_port = int(parts[-2]), int(parts[-1])
                assert netcheck.serve(host, c["name"], cont_port, c["name"], proto)
                if len(parts) == 3 and parts[0].startswith("127."):
                    # loopback publish: answers on the host itself, never from another host
                    results[(c["name"], spec, "local")] = netcheck.ask(host, "127.0.0.1", host_port, proto) == c["name"]
                    results[(c["name"], spec, other)] = netcheck.probe_from(
                        other, ADDR[name], host_port, proto, expect_answer=False) is None
                else:
                    results[(c["name"], spec, other)] = netcheck.probe_from(other, ADDR[name], host_port, proto) == c["name"]
    assert results and all(results.values()), results
