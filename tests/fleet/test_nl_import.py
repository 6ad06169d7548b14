"""_nl imports IPRoute only when first asked for (_nl.IPRoute, Netlink.sock), without running
pyroute2/__init__.py, and the package still completes itself on demand.

Each check runs in a fresh interpreter (a module process starts with nothing imported): the venv's (PyPI
pyroute2 0.9) and, when it has pyroute2, the system python3 (Debian's 0.7.2, what the lab hosts and Debian 12
fleets run the modules with). `make fleet-unit` runs these through test_plan.py.
"""
import json
import os
import subprocess
import sys

import pytest

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "collections")

CHECK = r"""
import json, sys
sys.path.insert(0, %r)
from ansible_collections.netplumb.container.plugins.module_utils import _nl
lazy = sorted(m for m in sys.modules if m.startswith("pyroute2"))
out = dict(lazy=lazy, has=_nl.HAS_PYROUTE2, cls=_nl.IPRoute.__module__ + "." + _nl.IPRoute.__name__,
           body_ran="__all__" in sys.modules["pyroute2"].__dict__)
sock = _nl.IPRoute()
sock.close()
import pyroute2
from pyroute2 import IPRoute, NetlinkError
from pyroute2.netlink.exceptions import NetlinkError as NE
out.update(same=IPRoute is _nl.IPRoute, exc=NetlinkError is NE, completed="__all__" in pyroute2.__dict__,
           version=str(getattr(pyroute2, "__version__", None)), getattr_left="__getattr__" in pyroute2.__dict__)
print(json.dumps(out))
""" % COLLECTIONS

ALREADY = r"""
import json, sys
import pyroute2
sys.path.insert(0, %r)
from ansible_collections.netplumb.container.plugins.module_utils import _nl
print(json.dumps(dict(same=_nl.IPRoute is pyroute2.IPRoute, pkg=sys.modules["pyroute2"] is pyroute2)))
""" % COLLECTIONS


def pythons():
    out = [sys.executable]
    system = "/usr/bin/python3"
    if os.path.exists(system) and system != sys.executable and \
            subprocess.run([system, "-c", "import pyroute2"], capture_output=True, check=False).returncode == 0:
        out.append(system)
    return out


def run(python, code):
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("python", pythons())
def test_lean_import_then_full_package_on_demand(python):
    res = run(python, CHECK)
    assert res["lazy"] == []                 # nothing of pyroute2 imported until IPRoute is first asked for
    assert res["has"] is True
    assert res["cls"] == "pyroute2.iproute.linux.IPRoute"
    assert res["body_ran"] is False          # the package body was skipped by _nl itself
    assert res["same"] and res["exc"]        # `from pyroute2 import X` still works afterwards
    assert res["completed"] and not res["getattr_left"]


@pytest.mark.parametrize("python", pythons())
def test_pyroute2_imported_first_is_used_as_is(python):
    res = run(python, ALREADY)
    assert res == dict(same=True, pkg=True)
