"""A run that only reads (a converged re-run, a check) never imports pyroute2.iproute (issue 18): every read of
container_network goes through _nl.Writer, and IPRoute is imported on a socket's first use only."""
import ipaddress
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

NETS = [dict(name="web", bridge="br0", subnet="172.18.0.0/16",
             containers=[dict(name="c%d" % i, address="172.18.0.%d" % (10 + i), publish=["%d:8000" % (10000 + i)])
                         for i in range(3)])]

# One module run in a fresh interpreter, as Ansible runs it: its result, which pyroute2 modules it imported and
# where an IPRoute socket was asked for (the stack of each nl.sock call).
CHILD = r"""
import json, sys, traceback
sys.path.insert(0, %(tests)r)
import conftest
from helpers.modrun import pinned
from ansible_collections.netplumb.container.plugins.module_utils import _nl
socks = []
real_sock = _nl.Netlink.sock
def sock(self, ns=None):
    socks.append(traceback.format_stack(limit=6))
    return real_sock(self, ns)
_nl.Netlink.sock = sock
res = pinned("iptables")("container_network", dict(networks=json.loads(%(nets)r)), check=%(check)r)
print("LAZYJSON " + json.dumps(dict(changed=res.get("changed"), commands=res.get("commands"), msg=res.get("msg"),
                                    failed=res.get("failed"), socks=socks,
                                    modules=sorted(m for m in sys.modules if m.startswith("pyroute2")))))
"""


def fresh_run(check):
    code = CHILD % dict(tests=os.path.dirname(HERE), nets=json.dumps(NETS), check=check)
    out = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    return json.loads([x for x in out.splitlines() if x.startswith("LAZYJSON ")][-1][len("LAZYJSON "):])


@pytest.mark.deb
def test_noop_and_check_never_import_iproute(sandbox, run):
    first = run("container_network", dict(networks=NETS))
    assert not first.get("failed"), first.get("msg")
    assert first["changed"]
    for check in (False, True):
        res = fresh_run(check)
        assert not res["failed"], res["msg"]
        assert (res["changed"], res["commands"]) == (False, [])
        assert res["socks"] == [], "an IPRoute socket was asked for:\n" + "\n".join("".join(s) for s in res["socks"])
        assert "pyroute2.iproute" not in res["modules"], res["modules"]
    # and the same re-run in this process (IPRoute already imported here) gives the same answer
    again = run("container_network", dict(networks=NETS))
    assert (again["changed"], again["commands"]) == (False, [])


@pytest.mark.deb
def test_writer_nexthops_give_what_pyroute2_gives(sandbox):
    """Nexthop objects (a gateway one, a device-only one, a group of two, a blackhole) as the Writer decodes
    them and as pyroute2's dump through _hostmodel.read_nexthops does: the same Nexthop records."""
    from ansible_collections.netplumb.container.plugins.module_utils import _hostmodel, _nl

    def ip(*args):
        subprocess.run(("ip",) + args, check=True)
    ip("link", "add", "nhd0", "type", "veth", "peer", "name", "nhd1")
    ip("link", "set", "nhd1", "up")
    ip("link", "set", "nhd0", "up")
    ip("addr", "add", "198.51.100.1/24", "dev", "nhd0")
    first = ["ip", "nexthop", "add", "id", "11", "via", "198.51.100.2", "dev", "nhd0"]
    if subprocess.run(first, check=False).returncode:
        pytest.skip("this kernel has no nexthop objects")
    ip("nexthop", "add", "id", "12", "via", "198.51.100.3", "dev", "nhd0")
    ip("nexthop", "add", "id", "13", "dev", "nhd0")
    ip("nexthop", "add", "id", "14", "group", "11/12")
    ip("nexthop", "add", "id", "15", "blackhole")
    ip("route", "add", "203.0.113.0/24", "nhid", "14")

    def records(nhs):
        return dict((k, (v.id, v.oif, v.gateway, v.group, v.blackhole)) for k, v in nhs.items())
    with _nl.Netlink() as nl:
        mine = records(_hostmodel.host_nexthops(nl))
        theirs = records(_hostmodel.read_nexthops(nl.sock(None)))
        index = nl.writer(None).lookup("nhd0")
    assert mine == theirs
    assert mine[11] == (11, index, ipaddress.ip_address(u"198.51.100.2"), [], False)
    assert mine[13] == (13, index, None, [], False)
    assert mine[14] == (14, None, None, [11, 12], False)
    assert mine[15] == (15, None, None, [], True)
