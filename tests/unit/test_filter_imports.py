"""The controller's import chain is pure: loading a filter plugin of the collection (what ansible-playbook does
on the controller) imports no netlink, no firewall driver and no pyroute2. Each plugin is imported in a fresh
interpreter, so what an earlier test imported cannot hide a module."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
FILTERS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "filter"))
                 if f.endswith(".py") and not f.startswith("_"))
PREFIX = "ansible_collections.netplumb.container.plugins.module_utils."
HOST_SIDE = [PREFIX + m for m in ("_nl", "_nftables", "_iptables", "_hostfw", "_fwnet", "_preflight")]

PROBE = """
import json, sys
sys.path.insert(0, %r)
import importlib
mod = importlib.import_module("ansible_collections.netplumb.container.plugins.filter." + sys.argv[1])
if sys.argv[2] == "plan":   # the role's plan, on the controller, with a published port
    mod.container_network_plan([dict(name="web", bridge="br-web", subnet="172.30.0.0/24",
                                     containers=[dict(name="c1", publish=["8080:80"])])])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("pyroute2") or m.startswith(%r))))
"""


def _loaded(name, call=""):
    out = subprocess.run([sys.executable, "-c", PROBE % (COLLECTIONS, PREFIX), name, call], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return json.loads(out)


def test_every_filter_is_probed():
    assert "container_network_plan" in FILTERS and len(FILTERS) >= 6


@pytest.mark.parametrize("name", FILTERS)
def test_filter_import_is_pure(name):
    loaded = _loaded(name)
    assert PREFIX + "_errors" in loaded or name == "container_network_render"   # the probe sees module_utils
    assert [m for m in loaded if m in HOST_SIDE or m.startswith("pyroute2")] == []


def test_role_plan_is_pure():
    """The role's plan (container_network_plan, called) validates with the same rules as port_publish, still
    without the host-side modules."""
    loaded = _loaded("container_network_plan", "plan")
    assert PREFIX + "_portmap" in loaded and PREFIX + "_netspec" in loaded
    assert [m for m in loaded if m in HOST_SIDE or m.startswith("pyroute2")] == []
