"""The role's schema parser (roles/container_network/templates/plan.json.j2), rendered by ansible itself."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

# The fleet's module processes import pyroute2 through _nl's lean import: checked here too (make fleet-unit).
from test_nl_import import (  # noqa: F401  pylint: disable=unused-import
    test_lean_import_then_full_package_on_demand, test_pyroute2_imported_first_is_used_as_is)

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", ".build")

TUTORIAL = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
    dict(name="netns0", address="172.18.0.10", publish=["5000:5000/tcp", "127.0.0.1:8053:53/udp"]),
    dict(name="netns1", address="172.18.0.20")])]
LONG = [dict(name="edge", subnet="10.9.0.0/24", gateway="10.9.0.254", containers=[
    dict(name="reverse-proxy-frontend", address="10.9.0.2", publish=["8000-8002:9000-9002"]),
    dict(name="reverse-proxy-backend", address="10.9.0.3")])]
ABSENT = [dict(name="a", subnet="10.1.0.0/24", state="absent"), dict(name="b", subnet="10.2.0.0/24"),
          dict(name="c", subnet="10.3.0.0/24", state="absent")]
BAD = [
    dict(name="x", subnet="172.18.0.5/16", containers=[]),
    dict(name="y", bridge="a-very-long-bridge", subnet="10.0.0.0/24", colour="red", containers=[
        dict(name="one", address="10.0.1.5"),
        dict(name="one", address="10.0.0.1", publish=["80", "70000:80", "1:2/icmp", "5000:5000"]),
        dict(name="two", address="10.0.0.9", publish=["5000:5001"])]),
    dict(name="z", subnet="10.0.0.128/25"),
]
HUNDRED = [dict(name="s", subnet="172.18.0.0/16",
                containers=[dict(name="c%d" % i, address="172.18.%d.%d" % (i // 250, i % 250 + 2)) for i in range(100)])]
CASES = [TUTORIAL, LONG, ABSENT, BAD, HUNDRED, None, "nope"]


@pytest.fixture(scope="module")
def plans():
    os.makedirs(BUILD, exist_ok=True)
    cases, out = os.path.join(BUILD, "plan-cases.json"), os.path.join(BUILD, "plan-out.json")
    with open(cases, "w") as f:
        json.dump(dict(netplumb_cases=CASES, netplumb_out=os.path.abspath(out)), f)
    subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + cases,
                    "-e", "ansible_python_interpreter=" + sys.executable,
                    os.path.join(HERE, "plan_cases.yml")], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def test_tutorial(plans):
    p = plans[0]
    assert p["errors"] == [] and p["absent"] == []
    net = p["present"][0]
    assert net["gateway"] == "172.18.0.1" and net["bridge_addresses"] == ["172.18.0.1/16"]
    assert net["namespaces"] == ["netns0", "netns1"]
    assert net["pairs"][0] == dict(name="vn-netns0", peer="eth0", peer_netns="netns0", bridge="br0",
                                   peer_addresses=["172.18.0.10/16"], peer_gateway="172.18.0.1")
    assert net["ports"] == [
        dict(protocol="tcp", host_port=5000, container_port=5000, container_ip="172.18.0.10", bridge="br0"),
        dict(protocol="udp", host_port=8053, container_port=53, host_ip="127.0.0.1", container_ip="172.18.0.10",
             bridge="br0")]
    assert net["masquerade"] is True


def test_long_names_hash_stably_and_ranges(plans):
    net = plans[1]["present"][0]
    assert net["bridge"] == "br-edge" and net["gateway"] == "10.9.0.254"
    names = [p["name"] for p in net["pairs"]]
    assert names == ["vn-revers-" + hashlib.sha1(b"reverse-proxy-frontend").hexdigest()[:5],
                     "vn-revers-" + hashlib.sha1(b"reverse-proxy-backend").hexdigest()[:5]]
    assert all(len(n) <= 15 for n in names) and names[0] != names[1]
    assert net["ports"][0]["host_port"] == "8000-8002" and net["ports"][0]["container_port"] == "9000-9002"


def test_absent_in_reverse_order(plans):
    p = plans[2]
    assert [n["name"] for n in p["absent"]] == ["c", "a"] and [n["name"] for n in p["present"]] == ["b"]


def test_errors_name_their_fields(plans):
    errors = "\n".join(plans[3]["errors"])
    for expected in [
        "container_networks[0].subnet: 172.18.0.5/16 has host bits set (did you mean 172.18.0.0/16?)",
        "container_networks[1].colour: unknown key",
        "container_networks[1].bridge: a-very-long-bridge is 18 characters",
        "container_networks[1].containers[0].address: 10.0.1.5 is not a usable address of 10.0.0.0/24",
        "container_networks[1].containers[1].name: one is already a container of network y",
        "container_networks[1].containers[1].address: 10.0.0.1 is the network's gateway",
        'container_networks[1].containers[1].publish[0]: "80" is not [host_ip:]host_port:container_port[/proto]',
        'container_networks[1].containers[1].publish[1]: "70000:80": ports are 1-65535',
        'container_networks[1].containers[1].publish[2]: "1:2/icmp": protocol icmp',
        'container_networks[1].containers[2].publish[0]: "5000:5001": host port already published by '
        "container_networks[1].containers[1].publish[3]",
        "container_networks[2].subnet: 10.0.0.128/25 overlaps 10.0.0.0/24 of network y",
    ]:
        assert expected in errors


def test_hundred_containers_one_batch(plans):
    net = plans[4]["present"][0]
    assert len(net["pairs"]) == 100 and len(net["namespaces"]) == 100 and plans[4]["errors"] == []


def test_empty_and_wrong_type(plans):
    assert plans[5] == dict(errors=[], present=[], absent=[], networks=[], preflight=[])
    assert plans[6]["errors"] == ["container_networks: must be a list of networks"]


def test_preflight_lists_the_role_calls_in_its_order(plans):
    """The preflight module gets exactly the calls tasks/main.yml makes: absent networks first (ports, NAT,
    pairs, namespaces, bridge), then per present network bridge, namespaces, pairs, NAT, ports."""
    calls = plans[2]["preflight"]
    assert [(c["module"], c["args"].get("state", "present"), c["label"]) for c in calls] == [
        ("container_nat", "absent", "container_networks[2] (c)"),
        ("linux_bridge", "absent", "container_networks[2] (c)"),
        ("container_nat", "absent", "container_networks[0] (a)"),
        ("linux_bridge", "absent", "container_networks[0] (a)"),
        ("linux_bridge", "present", "container_networks[1] (b)"),
        ("veth_pair", "present", "container_networks[1] (b)"),
        ("container_nat", "present", "container_networks[1] (b)"),
        ("port_publish", "present", "container_networks[1] (b)"),
    ]
    tut = plans[0]["preflight"]
    pairs = [c for c in tut if c["module"] == "veth_pair"][0]["args"]
    assert pairs["prune"] is True and pairs["bridge"] == "br0" and len(pairs["pairs"]) == 2
    ports = [c for c in tut if c["module"] == "port_publish"][0]["args"]
    assert ports["prune"] is True and ports["firewall_backend"] == "auto" and len(ports["ports"]) == 2
