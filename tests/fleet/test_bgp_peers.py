"""container_cross_host: bgp - the peers of each host come from the fleet (the inventory), never the play: the
full mesh, route reflectors named by an inventory group, extra peers; --limit and serial change nothing. Runs the
role's template on the controller (tests/fleet/bgp_peers.yml); no host, no kernel."""
import sys

import pytest

import playbook

INVENTORY = """
[fleet]
h1 container_host_index=1 ansible_host=192.0.2.11
h2 container_host_index=2 ansible_host=192.0.2.12
h3 container_host_index=3 ansible_host=198.51.100.13 container_underlay_address=198.51.100.113
[rr]
h2
[notfleet]
x1 container_cluster_cidr=10.99.0.0/16
[fleet:vars]
container_cluster_cidr=10.244.0.0/16
[all:vars]
container_cross_host=bgp
ansible_connection=local
ansible_python_interpreter=%s
""" % sys.executable


inventory = playbook.inventory_fixture(INVENTORY)


def run(inventory, *extra):
    rc, tasks = playbook.run(inventory, "bgp_peers.yml", "--limit", "fleet", *extra)
    return rc, dict((h, r["ansible_facts"]["netplumb_bgp_peers"]) for h, r in
                    tasks.get("The peers", {}).items() if "ansible_facts" in r)


MESH = {
    "h1": [dict(name="h2", address="192.0.2.12"), dict(name="h3", address="198.51.100.113")],
    "h2": [dict(name="h1", address="192.0.2.11"), dict(name="h3", address="198.51.100.113")],
    "h3": [dict(name="h1", address="192.0.2.11"), dict(name="h2", address="192.0.2.12")],
}


@pytest.mark.parametrize("extra", [[], ["--limit", "h1"], ["-e", "netplumb_serial=1"]],
                         ids=["all", "limit-h1", "serial-1"])
def test_full_mesh_of_the_fleet_whatever_the_play(inventory, extra):
    rc, peers = run(inventory, *extra)
    assert rc == 0
    assert peers
    for host, got in peers.items():
        assert got == dict(peers=MESH[host], route_reflector=False, errors=[]), host


def test_route_reflectors_and_extra_peers(inventory):
    tor = '{"container_bgp_route_reflectors": "rr", "container_bgp_peers": [{"name": "tor", "address": "192.0.2.1"}]}'
    rc, peers = run(inventory, "-e", tor)
    assert rc == 0
    assert peers["h2"] == dict(route_reflector=True, errors=[], peers=[
        dict(name="h1", address="192.0.2.11", rr_client=True),
        dict(name="h3", address="198.51.100.113", rr_client=True), dict(name="tor", address="192.0.2.1")])
    for h in ("h1", "h3"):
        assert peers[h] == dict(route_reflector=False, errors=[], peers=[
            dict(name="h2", address="192.0.2.12"), dict(name="tor", address="192.0.2.1")])


def test_no_mesh_only_the_extra_peers(inventory):
    rc, peers = run(inventory, "-e", '{"container_bgp_node_mesh": false, "container_bgp_peers": '
                    '[{"name": "rr", "address": "192.0.2.1"}]}', "--limit", "h3")
    assert rc == 0 and peers["h3"]["peers"] == [dict(name="rr", address="192.0.2.1")]


@pytest.mark.parametrize("group,needle", [("nope", "container_bgp_route_reflectors=nope: no such inventory group"),
                                          ("notfleet", "x1 is not a host of the fleet")])
def test_a_reflector_group_that_is_not_one_is_reported(inventory, group, needle):
    rc, peers = run(inventory, "-e", "container_bgp_route_reflectors=" + group, "--limit", "h1")
    assert rc == 0
    assert any(needle in e for e in peers["h1"]["errors"]), peers
