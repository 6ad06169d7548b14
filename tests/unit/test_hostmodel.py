"""The host model's one route reader: the preflight, host_gw_routes, vxlan_overlay and bgp_speaker see the same
routes, with the same fields, from one dump per family per frozen block."""
import ipaddress
import socket
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ansible_collections.netplumb.container.plugins.module_utils import _bgp, _hostgw, _hostmodel, _preflight, _vxlan  # noqa: E402
from fakes import FakeMsg, FakeNetlink, link, state  # noqa: E402

NET = ipaddress.ip_network


class MemoNetlink(FakeNetlink):
    """FakeNetlink whose memo() remembers (as _nl.Netlink's does in a frozen block), counting route dumps."""

    def __init__(self, *args, **kwargs):
        super(MemoNetlink, self).__init__(*args, **kwargs)
        self.memos = {}
        self.dumps = []

    def memo(self, key, fn):
        if key not in self.memos:
            self.memos[key] = fn()
        return self.memos[key]

    def sock(self, ns=None):
        sock = super(MemoNetlink, self).sock(ns)
        routes = sock.get_routes

        def counted(family=None, **kw):
            self.dumps.append(family)
            out = routes(family, **kw)
            if family != socket.AF_INET:
                return out
            out.append(FakeMsg(dict(family=2, dst_len=24, table=254, type=6, proto=4),     # blackhole
                               dict(RTA_DST="10.99.0.0", RTA_TABLE=254)))
            out.append(FakeMsg(dict(family=2, dst_len=24, table=254, type=1, proto=12),    # our BIRD's
                               dict(RTA_DST="10.244.3.0", RTA_GATEWAY="192.0.2.13", RTA_OIF=2, RTA_TABLE=254,
                                    RTA_PRIORITY=_bgp.LEARNED_METRIC)))
            out.append(FakeMsg(dict(family=2, dst_len=24, table=100, type=1, proto=3),     # another table
                               dict(RTA_DST="10.98.0.0", RTA_GATEWAY="192.0.2.1", RTA_OIF=2, RTA_TABLE=100)))
            return out
        sock.get_routes = counted
        return sock


def host():
    links = [link(1, "lo", kind=None), link(2, "eth0", kind=None)]
    addrs = {1: ["127.0.0.1/8"], 2: ["192.0.2.11/24"]}
    return MemoNetlink({None: state(None, links, addrs, {4: "192.0.2.1"})},
                       routes=[("10.244.2.0/24", "eth0", "192.0.2.12", 151)])


def test_one_dump_per_family_for_every_reader():
    nl = host()
    facts = _preflight.read_host(nl)
    hostgw = _hostgw.read_routes(nl)
    vxlan = _vxlan.read_routes(nl)
    learned = _bgp.learned_routes(nl)
    assert sorted(nl.dumps) == [socket.AF_INET, socket.AF_INET6]
    gw12 = ipaddress.ip_address(u"192.0.2.12")
    # the same route, the same fields, whoever reads it
    assert hostgw[NET(u"10.244.2.0/24")] == (gw12, 151)
    assert vxlan[NET(u"10.244.2.0/24")] == (gw12, 2, 151)
    (r,) = [r for r in facts.routes if r.dst == NET(u"10.244.2.0/24")]
    assert (r.gateway, r.oif, r.dev, r.proto, r.table, r.type) == (gw12, 2, "eth0", 151, 254, "unicast")
    # the main table only, no default route; vxlan_overlay counts unicast routes only
    assert NET(u"10.98.0.0/24") not in hostgw and NET(u"0.0.0.0/0") not in hostgw
    assert hostgw[NET(u"10.99.0.0/24")] == (None, 4) and NET(u"10.99.0.0/24") not in vxlan
    assert [str(r.dst) for r in facts.routes if r.type == "blackhole"] == ["10.99.0.0/24"]
    # the metric tells our BIRD's routes: the preflight and bgp_speaker agree
    assert learned == [(NET(u"10.244.3.0/24"), ipaddress.ip_address(u"192.0.2.13"), _bgp.LEARNED_METRIC)]
    (b,) = [r for r in facts.routes if r.dst == NET(u"10.244.3.0/24")]
    assert _preflight.is_ours(b) and b.metric == _bgp.LEARNED_METRIC


def test_main_routes_fields():
    routes = _hostmodel.main_routes(host(), name_of={2: "eth0"}.get)
    r = routes[NET(u"10.244.3.0/24")]
    assert (r.dev, r.oif, str(r.gateway), r.proto, r.table, r.type, r.nhid, r.metric) == \
        ("eth0", 2, "192.0.2.13", 12, 254, "unicast", None, _bgp.LEARNED_METRIC)
