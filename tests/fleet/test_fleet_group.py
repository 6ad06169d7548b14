"""The fleet is the inventory, not the play (roles/container_network/tasks/fleet.yml, docs/fleet-subnets.md):
the role's fleet tasks run by ansible on the controller, with --limit and serial, the default rule and an
explicit container_fleet_group, and the refusals of a group that is not a fleet. No host, no kernel."""
import sys

import pytest

import playbook
CIDR = "10.244.0.0/16"

INVENTORY = """
[k8s]
h1 container_host_index=1 container_networks='[{"name": "a", "subnet": "172.18.0.0/16"}]'
h2 container_host_index=2
[others]
h3 container_host_index=3
h4 container_cluster_cidr=10.99.0.0/16
h5 container_cluster_cidr=''
[mixed]
h1
h4
[all:vars]
container_cluster_cidr=%s
ansible_connection=local
ansible_python_interpreter=%s
""" % (CIDR, sys.executable)


inventory = playbook.inventory_fixture(INVENTORY)


def run(inventory, *extra):
    return playbook.run(inventory, "fleet_group.yml", *extra)


def fleet(tasks, host):
    return tasks["Fleet subnets of every host of the fleet"][host]["ansible_facts"]["container_network_fleet"]


@pytest.mark.parametrize("extra", [["--limit", "h1"], ["--limit", "h3"], [], ["-e", "netplumb_serial=1"]],
                         ids=["limit-h1", "limit-h3", "all", "serial-1"])
def test_default_fleet_is_every_inventory_host_with_the_same_cidr(inventory, extra):
    rc, tasks = run(inventory, *extra)
    assert rc == 0, tasks
    seen = tasks["Fleet subnets of every host of the fleet"]
    for host, res in seen.items():
        if host in ("h4", "h5"):
            continue
        assert res["ansible_facts"]["container_network_fleet"] == {
            "h1": dict(subnet="10.244.1.0/24", index=1, source="index"),
            "h2": dict(subnet="10.244.2.0/24", index=2, source="index"),
            "h3": dict(subnet="10.244.3.0/24", index=3, source="index")}, host
    if "h4" in seen:  # another cluster CIDR: a fleet of its own; h5 (empty CIDR) is in none
        assert list(fleet(tasks, "h4")) == ["h4"]
        assert "skip_reason" in seen["h5"]


def test_explicit_group_limited_and_serial(inventory):
    rc, tasks = run(inventory, "-e", "container_fleet_group=k8s", "--limit", "h2")
    assert rc == 0, tasks
    assert sorted(fleet(tasks, "h2")) == ["h1", "h2"]
    hosts = tasks["The fleet, from the inventory"]["h2"]["ansible_facts"]["container_network_fleet_hosts"]["hosts"]
    assert hosts[0] == dict(name="h1", index=1, subnets=["172.18.0.0/16"])  # h1's inventory vars, no facts


@pytest.mark.parametrize("group,limit,needle", [
    ("nope", "h1", "container_fleet_group=nope: no such inventory group"),
    ("k8s", "h3", "h3: container_cluster_cidr=10.244.0.0/16 but not in container_fleet_group=k8s"),
    ("mixed", "h1", "h4: container_cluster_cidr=10.99.0.0/16 in container_fleet_group=mixed, whose hosts share "
                    "h1's 10.244.0.0/16"),
])
def test_a_group_that_is_not_a_fleet_is_refused(inventory, group, limit, needle):
    rc, tasks = run(inventory, "-e", "container_fleet_group=" + group, "--limit", limit)
    assert rc != 0
    msg = tasks["Refuse a fleet group that is not one"][limit]["msg"]
    assert needle in " ".join(msg), msg
    assert limit not in tasks.get("Fleet subnets of every host of the fleet", {})
