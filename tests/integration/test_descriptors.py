"""Bounded descriptors: 300 namespaces and a 300-pair batch converge, and re-run with zero changes, in a module
process whose soft limit is `ulimit -n 256` (a namespace's netlink socket is closed when the pool of
_nl.MAX_NS_SOCKETS is full, instead of every namespace keeping one open until the module ends)."""
import json
import resource
import subprocess
import sys

import pytest

from helpers.converge import existing_ns
from helpers.kernel import ip_json
from helpers.lockhold import _PY_MODULES

N = 300


def run_limited(calls, nofile=256):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    proc = subprocess.run([sys.executable, "-c", _PY_MODULES, json.dumps(calls)], capture_output=True, text=True,
                          preexec_fn=limit, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.deb
def test_300_namespaces_under_ulimit_256(sandbox):
    names = ["d%d" % i for i in range(N)]
    pairs = [dict(name="vd%d" % i, peer="eth0", peer_netns="d%d" % i, bridge="br0",
                  peer_addresses=["172.19.%d.%d/16" % (i // 250, i % 250 + 2)], peer_gateway="172.19.0.1")
             for i in range(N)]
    calls = [["linux_bridge", dict(name="br0", addresses=["172.19.0.1/16"]), False],
             ["netns", dict(name=names), False],
             ["veth_pair", dict(pairs=pairs), False]]
    first = run_limited(calls)
    assert [r.get("failed") for r in first] == [None, None, None], [r.get("msg") for r in first]
    assert all(r["changed"] for r in first)
    assert len(existing_ns()) == N and len(ip_json("link", "show", "master", "br0")) == N
    again = run_limited(calls + [["veth_pair", dict(pairs=pairs), True]])
    assert [(r.get("failed"), r["changed"], r["commands"]) for r in again] == [(None, False, [])] * 4


def test_failure_messages_stay_short(sandbox):
    """A batch that fails late lists at most 10 applied commands, then '... and N more'."""
    from helpers.modrun import run_module
    names = ["s%d" % i for i in range(40)]
    assert not run_module("netns", dict(name=names)).get("failed")
    pairs = [dict(name="vs%d" % i, peer="eth0", peer_netns="s%d" % i) for i in range(40)]
    # the last pair's peer namespace vanishes after planning: its move fails once 39 pairs are done
    import ansible_collections.netplumb.container.plugins.module_utils._links as links
    real = links.op_veth_add

    def sabotaged(nl, name, peer, peer_ns, mtu, *args):
        action = real(nl, name, peer, peer_ns, mtu, *args)
        if name == "vs39":
            def fn():
                raise OSError(2, "No such file or directory")
            action.fn = fn
        return action
    links.op_veth_add = sabotaged
    try:
        res = run_module("veth_pair", dict(pairs=pairs))
    finally:
        links.op_veth_add = real
    assert res.get("failed") and "ip link add vs39" in res["msg"], res
    assert "... and " in res["msg"] and res["msg"].count("; ") <= 11 and len(res["msg"]) < 1500, res["msg"]


def test_container_network_300_containers_with_ports_under_ulimit_256(sandbox):
    """The one-call converge holds the same bound: 300 containers, each publishing a port, in one module process
    limited to 256 descriptors; its re-run and check mode change nothing."""
    nets = [dict(name="fd", bridge="br-fd", subnet="172.21.0.0/16", containers=[
        dict(name="f%d" % i, address="172.21.%d.%d" % (i // 250, i % 250 + 2), publish=["%d:80" % (20000 + i)])
        for i in range(N)])]
    first = run_limited([["container_network", dict(networks=nets), False]])
    assert first[0].get("failed") is None and first[0]["changed"], first[0].get("msg")
    assert len(existing_ns()) == N and len(ip_json("link", "show", "master", "br-fd")) == N
    again = run_limited([["container_network", dict(networks=nets), False],
                         ["container_network", dict(networks=nets), True]])
    assert [(r.get("failed"), r["changed"], r["commands"]) for r in again] == [(None, False, [])] * 2, \
        [r.get("msg") for r in again]
