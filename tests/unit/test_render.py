"""container_network_render (_render): the converge's own commands, planned against an in-memory empty host.

Pure: no kernel, no host read (the readers of /proc, /run, /etc and every tool are made to fail during a
render), no pyroute2 needed. That the text is the real converge's is proven on the kernel by
tests/integration/test_render.py.
"""
import builtins
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.netplumb.container.plugins.filter.container_network_plan import container_network_plan
from ansible_collections.netplumb.container.plugins.filter.container_network_render import container_network_render
from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _hosttools, _isolation, _netns
from ansible_collections.netplumb.container.plugins.module_utils import _render

TUTORIAL = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
    dict(name="netns0", address="172.18.0.10", publish=["5000:5000/tcp", "127.0.0.1:8053:53/udp"]),
    dict(name="netns1", address="172.18.0.20")])]
TWO = TUTORIAL + [dict(name="api", bridge="br1", subnet="172.19.0.0/16", icc=False, masquerade=False,
                       containers=[dict(name="a0", address="172.19.0.10")])]
BAD = [
    dict(name="x", subnet="172.18.0.5/16", containers=[]),
    dict(name="y", bridge="a-very-long-bridge", subnet="10.0.0.0/24", colour="red", containers=[
        dict(name="one", address="10.0.1.5"),
        dict(name="one", address="10.0.0.1", publish=["80", "70000:80", "1:2/icmp", "5000:5000"]),
        dict(name="two", address="10.0.0.9", publish=["5000:5001"])]),
]
HOST_PATHS = ("/proc", "/run", "/etc", "/sys")


@pytest.fixture(scope="module")
def two():
    return container_network_render(TWO)


def test_the_tutorial_network_reads_like_the_tutorial():
    out = container_network_render(TUTORIAL)
    assert out["errors"] == []
    cmds = out["commands"]
    assert cmds[:5] == ["ip link add br0 type bridge stp_state 0", "ip link set br0 alias netplumb",
                        "ip addr add 172.18.0.1/16 dev br0", "ip link set br0 type bridge nf_call_iptables 1",
                        "sysctl -w net.ipv6.conf.br0.disable_ipv6=1"]
    for cmd in ("ip netns add netns0", "ip link add vn-netns0 master br0 up type veth peer name eth0 netns netns0",
                "ip -n netns0 addr add 172.18.0.10/16 dev eth0",
                "ip -n netns0 route replace default via 172.18.0.1 proto 151",
                "iptables -t nat -A NETPLUMB-POSTROUTING -s 172.18.0.0/16 ! -o br0 -m comment --comment "
                "netplumb:br0 -j MASQUERADE", "sysctl -w net.ipv4.ip_forward=1",
                "sysctl -w net.ipv4.conf.br0.route_localnet=1"):
        assert cmd in cmds, cmd
    assert [c["module"] for c in out["calls"]] == ["linux_bridge", "netns", "veth_pair", "container_nat",
                                                   "port_publish"]


def test_grouped_per_call_and_per_network_in_order(two):
    assert two["errors"] == []
    assert [cmd for c in two["calls"] for cmd in c["commands"]] == two["commands"]
    assert [(n["name"], n["bridge"]) for n in two["networks"]] == [("web", "br0"), ("api", "br1")]
    assert [cmd for n in two["networks"] for cmd in n["commands"]] == two["commands"]
    api = two["networks"][1]["commands"]
    assert "ip link set vn-a0 type bridge_slave isolated on" in api          # icc: false
    assert not any("-s 172.19.0.0/16 ! -o br1" in c for c in two["commands"])   # masquerade: false
    assert "sysctl -w net.ipv4.ip_forward=1" not in api      # the first network's step already set it


def test_same_input_same_commands_and_nothing_left_patched(two):
    assert container_network_render(TWO) == two
    assert _hosttools.check.__name__ == "check" and _fwnet.listeners.__name__ == "listeners"
    assert _netns.check_free.__name__ == "check_free" and _netns._read_file.__name__ == "_read_file"
    assert _isolation.plan_bridge.__module__ == _isolation.__name__
    assert _isolation.plan_nat.__module__ == _isolation.__name__


def test_invalid_input_gives_the_plan_filters_errors_word_for_word():
    out = container_network_render(BAD)
    assert out["errors"] and out["errors"] == container_network_plan(BAD)["errors"]
    assert (out["commands"], out["networks"], out["calls"]) == ([], [], [])
    assert "container_networks[1].containers[1].publish[1]='70000:80': host_port 70000: ports are 1-65535" \
        in out["errors"]
    assert container_network_render("nope")["errors"] == container_network_plan("nope")["errors"]
    assert container_network_render(TUTORIAL, "pf")["errors"] == container_network_plan(TUTORIAL, "pf")["errors"]


def test_refusals_of_the_empty_host_name_the_call_and_field():
    nets = [dict(TUTORIAL[0], containers=[dict(name="c0", address="172.18.0.10", publish=["198.51.100.7:80:80"])])]
    out = container_network_render(nets)
    assert out["commands"] == [] and len(out["errors"]) == 1
    assert out["errors"][0].startswith("container_networks[0] (web) (port_publish): ports[0].host_ip=198.51.100.7: "
                                       "is no address of this host")
    nft = container_network_render(TUTORIAL, "nftables")
    assert nft["errors"] == [] and "nft add table inet netplumb" in nft["commands"]
    assert not [c for c in nft["commands"] if c.startswith("iptables")]


def test_an_absent_network_has_nothing_to_remove_on_an_empty_host():
    out = container_network_render([dict(TUTORIAL[0], state="absent")])
    assert out == dict(errors=[], commands=[], networks=[], calls=out["calls"])
    assert all(c["commands"] == [] for c in out["calls"])


def test_no_host_is_read(monkeypatch, two):
    """Every reader of the host's files and every tool fails while a render runs: the result is unchanged."""
    def guard(fn):
        def wrapped(path, *args, **kwargs):
            text = os.fsdecode(path) if isinstance(path, (str, bytes)) else ""
            if text.startswith(HOST_PATHS):
                raise AssertionError("the render read the host: %s" % text)
            return fn(path, *args, **kwargs)
        return wrapped

    def no_tools(*args, **kwargs):
        raise AssertionError("the render ran a tool: %r" % (args,))
    for mod, name in ((builtins, "open"), (os, "open"), (os, "stat"), (os, "lstat"), (os, "listdir"),
                      (os, "statvfs"), (os.path, "exists"), (os.path, "lexists"), (os.path, "isfile"),
                      (os.path, "isdir")):
        monkeypatch.setattr(mod, name, guard(getattr(mod, name)))
    monkeypatch.setattr(subprocess, "run", no_tools)
    monkeypatch.setattr(subprocess, "Popen", no_tools)
    assert container_network_render(TWO) == two


def test_runs_without_pyroute2(two):
    """The controller may have no pyroute2: a Python where importing it fails renders the same."""
    code = (
        "import json, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyroute2' or name.startswith('pyroute2.'):\n"
        "            raise ImportError('no pyroute2 here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ansible_collections.netplumb.container.plugins.filter.container_network_render import "
        "container_network_render\n"
        "from ansible_collections.netplumb.container.plugins.module_utils import _nl\n"
        "assert not _nl.HAS_PYROUTE2\n"
        "print(json.dumps(container_network_render(json.loads(sys.argv[1]))))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(TWO)], capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == two


def test_the_empty_hosts_sysctls():
    assert _render.empty_sysctl("net.ipv4.ip_forward") == "0"
    assert _render.empty_sysctl("net.ipv4.conf.br0.route_localnet") == "0"
    assert _render.empty_sysctl("net.ipv6.conf.default.disable_ipv6") == "0"
    assert _render.empty_sysctl("net.bridge.bridge-nf-call-iptables") is None
