"""container_network_render against the real thing: what the controller renders for an empty host is, command
for command and in order, what a real converge of the same list prints on an empty host.

The render runs as the controller runs it: the filter in a Python process of its own (the controller's code,
ansible.errors included, is not loaded into the process that runs the modules here, whose warnings it would
reroute), and while the sandbox is made to look not empty to anything that would read it (ip_forward on, a
listener on a published port): a render that read the host would differ or refuse.
"""
import json
import os
import socket
import subprocess
import sys

from helpers.converge import existing_ns
from helpers_fw import save

# 2 networks, 3 containers, masquerade, icc false, 2 published ports (one loopback-only UDP)
NETWORKS = [
    dict(name="web", bridge="br0", subnet="172.18.0.0/16", masquerade=True, icc=False, containers=[
        dict(name="c0", address="172.18.0.10", publish=["10080:80"]),
        dict(name="c1", address="172.18.0.11", publish=["127.0.0.1:10053:53/udp"])]),
    dict(name="db", bridge="br1", subnet="172.19.0.0/16", masquerade=True, containers=[
        dict(name="d0", address="172.19.0.10")]),
]


RENDER = ("import json, sys\n"
          "from ansible_collections.netplumb.container.plugins.filter.container_network_render import "
          "container_network_render\n"
          "print(json.dumps(container_network_render(json.loads(sys.argv[1]))))\n")


def container_network_render(networks):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", RENDER, json.dumps(networks)], capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write("%s\n" % value)


def test_rendered_commands_are_the_real_converges_on_an_empty_host(sandbox, run):
    _sysctl("net.ipv4.ip_forward", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 10080))
    listener.listen(1)
    try:
        rendered = container_network_render(NETWORKS)
    finally:
        listener.close()
        _sysctl("net.ipv4.ip_forward", 0)
    assert rendered["errors"] == []
    assert existing_ns() == [] and "NETPLUMB" not in save()      # the empty host

    args = dict(networks=NETWORKS, variable="container_networks")
    check = run("container_network", args, check=True)
    assert not check.get("failed"), check.get("msg")
    real = run("container_network", args)
    assert not real.get("failed"), real.get("msg")
    assert real["commands"] == check["commands"]

    assert rendered["commands"] == real["commands"]
    assert [(c["label"], c["module"], c["commands"]) for c in rendered["calls"]] == \
        [(c["label"], c["module"], c["commands"]) for c in real["calls"]]
    by_label = {}
    for c in real["calls"]:
        by_label.setdefault(c["label"], []).extend(c["commands"])
    assert [n["commands"] for n in rendered["networks"]] == \
        [by_label["container_networks[0] (web)"], by_label["container_networks[1] (db)"]]
    assert sorted(existing_ns()) == ["c0", "c1", "d0"]

    again = run("container_network", args)
    assert (again.get("failed"), again["changed"], again["commands"]) == (None, False, [])
