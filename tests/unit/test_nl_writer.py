"""_nl.Writer's messages, packed by hand in the kernel's layouts, read back by the installed pyroute2's own
decoders (0.9 in `make unit`, Debian's 0.7.2 in `make unit-deb`): each says what its `ip` command says."""
import ipaddress
import os
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible_collections.netplumb.container.plugins.module_utils import _nl  # noqa: E402

pytest.importorskip("pyroute2")
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402


def decoded(cls, mtype, body, flags=_nl.NLM_F_REQUEST | _nl.NLM_F_ACK):
    data = struct.pack("=IHHII", 16 + len(body), mtype, flags, 1, 0) + body
    msg = cls(data)
    msg.decode()
    return msg


def test_link_set_up_alias_mtu_master():
    m = decoded(ifinfmsg, _nl.RTM_NEWLINK, _nl.link_msg(7, up=True, mtu=1400, alias="netplumb", master=3))
    assert (m["index"], m["flags"] & 1, m["change"] & 1) == (7, 1, 1)
    assert (m.get_attr("IFLA_MTU"), m.get_attr("IFLA_MASTER")) == (1400, 3)
    assert m.get_attr("IFLA_IFALIAS") == "netplumb"
    m = decoded(ifinfmsg, _nl.RTM_NEWLINK, _nl.link_msg(7, alias="netplumb"))
    assert (m["flags"], m["change"]) == (0, 0)     # the state is left as it is
    assert m.get_attr("IFLA_MTU") is None and m.get_attr("IFLA_MASTER") is None


def test_veth_add_names_both_ends_and_the_peers_namespace():
    peer = _nl.link_msg(0, name="ceth0", mtu=1400, ns_fd=9)
    body = _nl.link_msg(42, name="veth0", mtu=1400, up=True, master=3, linkinfo=_nl.veth_linkinfo(peer))
    m = decoded(ifinfmsg, _nl.RTM_NEWLINK, body)
    assert (m["index"], m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_MASTER"), m["flags"] & 1) == (42, "veth0", 3, 1)
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    p = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (p.get_attr("IFLA_IFNAME"), p.get_attr("IFLA_MTU"), p.get_attr("IFLA_NET_NS_FD")) == ("ceth0", 1400, 9)
    assert p["flags"] & 1 == 0      # the kernel cannot open a peer before the pair exists (ENOTCONN)


def test_hairpin_is_the_bridge_ports_mode():
    m = decoded(ifinfmsg, _nl.RTM_NEWLINK, _nl.link_msg(5, linkinfo=_nl.brport_linkinfo(1)))
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_SLAVE_KIND") == "bridge"
    assert info.get_attr("IFLA_INFO_SLAVE_DATA").get_attr("IFLA_BRPORT_MODE") == 1


@pytest.mark.parametrize("cidr", ["172.18.0.10/16", "fd77::2/64"])
def test_address_local_and_address_global_scope(cidr):
    iface = ipaddress.ip_interface(cidr)
    m = decoded(ifaddrmsg, _nl.RTM_NEWADDR, _nl.addr_msg(4, iface))
    assert (m["index"], m["prefixlen"], m["scope"]) == (4, iface.network.prefixlen, 0)
    assert m["family"] == (2 if iface.version == 4 else 10)
    assert m.get_attr("IFA_LOCAL") == m.get_attr("IFA_ADDRESS") == str(iface.ip)


@pytest.mark.parametrize("gw", ["172.18.0.1", "fd77::1"])
def test_default_route_main_table_our_protocol(gw):
    gateway = ipaddress.ip_address(gw)
    m = decoded(rtmsg, _nl.RTM_NEWROUTE, _nl.default_route_msg(gateway, 151))
    assert (m["dst_len"], m["table"], m["proto"], m["scope"], m["type"]) == (0, 254, 151, 0, 1)
    assert m.get_attr("RTA_GATEWAY") == gw and m.get_attr("RTA_DST") is None


class FakeSocket:
    """Answers each request with the kernel's answers given, by the request's sequence number."""

    def __init__(self, answers):
        self.answers, self.sent = answers, []

    def send(self, data):
        self.sent.append(data)

    def recv(self, size):
        seq = struct.unpack_from("=I", self.sent[-1], 8)[0]
        mtype, payload = self.answers.pop(0)
        return struct.pack("=IHHII", 16 + len(payload), mtype, 0, seq, 0) + payload

    def close(self):
        pass


def writer(answers):
    w = _nl.Writer.__new__(_nl.Writer)
    w.sock, w.seq, w.sent = FakeSocket(answers), 0, 0
    return w


def test_an_error_ack_raises_with_the_errno_as_code_and_an_ack_returns():
    w = writer([(_nl.NLMSG_ERROR, struct.pack("=i", -17)), (_nl.NLMSG_ERROR, struct.pack("=i", 0))])
    with pytest.raises(Exception) as err:
        w.link_set(3, up=True)
    assert err.value.code == 17
    assert w.link_set(3, up=True) is None and w.sent == 2


def test_lookup_reads_the_index_of_the_reply_and_none_for_enodev():
    w = writer([(_nl.RTM_NEWLINK, _nl.ifinfomsg(12) + _nl.nla_str(_nl.IFLA_IFNAME, "veth0")),
                (_nl.NLMSG_ERROR, struct.pack("=i", -19))])
    assert w.lookup("veth0") == 12
    assert w.lookup("nope") is None
    m = decoded(ifinfmsg, _nl.RTM_GETLINK, w.sock.sent[0][16:])
    assert m.get_attr("IFLA_IFNAME") == "veth0" and m["index"] == 0


def test_route_view_reads_the_metric_the_preflight_tells_learned_routes_by():
    """A route as BIRD installs it for bgp_speaker (proto 12, metric 151): route_view decodes RTA_PRIORITY, so the
    host model sees the metric and counts the route as ours (an admin's bird route, metric 32, stays theirs)."""
    from ansible_collections.netplumb.container.plugins.module_utils import _bgp, _hostmodel, _preflight
    for metric, ours in ((_bgp.LEARNED_METRIC, True), (32, False)):
        msg = rtmsg()
        msg["family"], msg["dst_len"], msg["table"], msg["proto"], msg["type"] = 2, 24, 254, 12, 1
        msg["attrs"] = [("RTA_DST", "10.244.2.0"), ("RTA_GATEWAY", "192.0.2.1"), ("RTA_OIF", 3),
                        ("RTA_PRIORITY", metric), ("RTA_TABLE", 254)]
        msg.encode()
        view = _nl.route_view(bytes(msg.data[16:msg["header"]["length"]]))
        assert view.get_attr("RTA_PRIORITY") == metric
        (route,) = _hostmodel.route_records(view, 2, 254, "unicast", {}, lambda i: "up0")
        gateway = ipaddress.ip_address("192.0.2.1")
        assert (route.metric, route.gateway, _preflight.is_ours(route)) == (metric, gateway, ours)


class DumpSocket(FakeSocket):
    """Answers a dump: each answer one datagram (recvmsg), NLMSG_DONE last."""

    def recvmsg(self, size):
        seq = struct.unpack_from("=I", self.sent[-1], 8)[0]
        mtype, payload = self.answers.pop(0)
        return struct.pack("=IHHII", 16 + len(payload), mtype, 0, seq, 0) + payload, None, 0, None


def dump_writer(answers):
    w = writer(answers)
    w.sock = DumpSocket(answers)
    return w


def nexthop_payload(attrs):
    """An RTM_NEWNEXTHOP packed by pyroute2 (with _hostmodel's nhmsg class), netlink header stripped."""
    from ansible_collections.netplumb.container.plugins.module_utils import _hostmodel
    msg = _hostmodel._nh_classes()[0]()
    msg["family"] = 2
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data[16:msg["header"]["length"]])


def test_nexthops_decode_what_pyroute2_encodes_and_the_host_model_keeps_them():
    """A gateway nexthop, a group of two (struct nexthop_grp: id, weight), a blackhole: parse_nexthop reads what
    pyroute2's nhmsg packs; _hostmodel.host_nexthops makes the same Nexthop records read_nexthops makes."""
    from ansible_collections.netplumb.container.plugins.module_utils import _hostmodel
    group = struct.pack("=IBBH", 11, 0, 0, 0) + struct.pack("=IBBH", 12, 4, 0, 0)
    answers = [(104, nexthop_payload([("NHA_ID", 11), ("NHA_OIF", 3), ("NHA_GATEWAY", bytes([192, 0, 2, 9]))])),
               (104, nexthop_payload([("NHA_ID", 14), ("NHA_GROUP", group)])),
               (104, nexthop_payload([("NHA_ID", 15), ("NHA_BLACKHOLE", True)])),
               (_nl.NLMSG_DONE, struct.pack("=i", 0))]
    w = dump_writer(list(answers))
    assert w.nexthops() == [(11, 3, bytes([192, 0, 2, 9]), [], False), (14, None, None, [11, 12], False),
                            (15, None, None, [], True)]
    assert struct.unpack_from("=IHH", w.sock.sent[0]) == (16 + 8, 106, _nl.NLM_F_REQUEST | _nl.NLM_F_DUMP)

    class Nl(object):
        def writer(self, ns):
            return dump_writer(list(answers))
    nhs = _hostmodel.host_nexthops(Nl())
    got = dict((k, (v.oif, v.gateway, v.group, v.blackhole)) for k, v in nhs.items())
    assert got == {11: (3, ipaddress.ip_address("192.0.2.9"), [], False), 14: (None, None, [11, 12], False),
                   15: (None, None, [], True)}


@pytest.mark.parametrize("code", [22, 95])
def test_a_kernel_without_nexthop_objects_has_none(code):
    assert dump_writer([(_nl.NLMSG_ERROR, struct.pack("=i", -code))]).nexthops() == []
    with pytest.raises(Exception) as err:
        dump_writer([(_nl.NLMSG_ERROR, struct.pack("=i", -1))]).nexthops()
    assert err.value.code == 1


def test_iproute_is_imported_on_first_use_and_a_broken_pyroute2_fails_before_a_write(monkeypatch):
    """_nl.IPRoute is imported by its first lookup; a pyroute2 found at load that does not import raises
    StateError from require_pyroute2 (what the engine calls before applying anything)."""
    from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
    monkeypatch.delattr(_nl, "IPRoute", raising=False)
    monkeypatch.setattr(_nl, "HAS_PYROUTE2", True)

    def broken():
        raise ImportError("No module named 'pyroute2.netlink.nlsocket'")
    monkeypatch.setattr(_nl, "_import_iproute", broken)
    with pytest.raises(StateError) as err:
        _nl.require_pyroute2()
    assert "pyroute2 is installed but does not import" in str(err.value) and "nlsocket" in str(err.value)
    monkeypatch.setattr(_nl, "_import_iproute", lambda: "the class")
    assert _nl.IPRoute == "the class" and _nl.iproute_class() == "the class"
    monkeypatch.setattr(_nl, "IPRoute", "a test's fake")      # set by a test: wins
    assert _nl.iproute_class() == "a test's fake"
