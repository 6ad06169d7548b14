"""vxlan_overlay's pure parts: the VTEP derived from the fleet subnet, validation, the port rules."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _vxlan
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError


def spec(**kw):
    out = dict(subnet="10.244.1.0/24", local="192.0.2.11", cluster_cidr="10.244.0.0/16", state="present",
               peers=[dict(subnet="10.244.2.0/24", address="192.0.2.12"),
                      dict(subnet="10.244.3.0/24", address="203.0.113.13")],
               networks=[dict(bridge="br-fleet", subnet="10.244.1.0/24", mtu=1450)])
    out.update(kw)
    return out


def test_vtep_derived_from_the_subnet_stable_locally_administered_unicast():
    net = ipaddress.ip_network(u"10.244.59.0/24")
    assert str(_vxlan.vtep_address(net)) == "10.244.59.0"
    assert _vxlan.vtep_mac(net) == "0a:6e:0a:f4:3b:00"
    first = int(_vxlan.vtep_mac(net)[:2], 16)
    assert first & 0x02 and not first & 0x01
    # one MAC per subnet of a /16 cut into /24s: no two hosts share one
    macs = set(_vxlan.vtep_mac(n) for n in ipaddress.ip_network(u"10.244.0.0/16").subnets(new_prefix=24))
    assert len(macs) == 256


def test_defaults_never_swarm():
    s = _vxlan.validate(spec())
    assert (s.device, s.vni, s.port, s.firewall) == ("np-vxlan", 151, 8472, True)
    assert [str(a) for sub, a in s.peers] == ["192.0.2.12", "203.0.113.13"]
    assert s.mtus == [("networks[0].mtu", "br-fleet", 1450)]


@pytest.mark.parametrize("kw,field,needle", [
    (dict(port=4789), "port", "Swarm"),
    (dict(port=0), "port", "a UDP port"),
    (dict(vni=0), "vni", "VXLAN network identifier"),
    (dict(vni=2 ** 24), "vni", "VXLAN network identifier"),
    (dict(device="a/b"), "device", ""),
    (dict(subnet=None), "subnet", "required"),
    (dict(local=None), "local", "required"),
    (dict(local="239.1.1.1"), "local", "unicast"),
    (dict(subnet="10.245.1.0/24"), "subnet", "not inside cluster_cidr"),
    (dict(peers=[dict(subnet="10.244.1.0/25", address="192.0.2.12")]), "peers[0].subnet", "this host's subnet"),
    (dict(peers=[dict(subnet="10.244.2.0/24", address="192.0.2.11")]), "peers[0].address", "own underlay"),
    (dict(peers=[dict(subnet="10.244.2.0/24", address="192.0.2.12"),
                 dict(subnet="10.244.3.0/24", address="192.0.2.12")]),
     "peers[1].address", "one VTEP per host"),
    (dict(peers=[dict(subnet="10.244.2.0/24", address="192.0.2.12"),
                 dict(subnet="10.244.2.128/25", address="192.0.2.13")]),
     "peers[1].subnet", "overlaps peers[0]"),
    (dict(peers=[dict(subnet="10.9.2.0/24", address="192.0.2.12")]), "peers[0].subnet", "cluster_cidr"),
    (dict(peers=[dict(subnet="10.244.2.0/24", via="192.0.2.12")]), "peers[0]", "a mapping"),
    (dict(networks=[dict(bridge="br-fleet", subnet="10.244.1.0/24", mtu=20)]), "networks[0].mtu", "an MTU"),
    (dict(cluster_cidr=None), "cluster_cidr", "required with networks"),
])
def test_refused_naming_field_and_value(kw, field, needle):
    with pytest.raises(ValidationError) as exc:
        _vxlan.validate(spec(**kw))
    assert str(exc.value).startswith(field + "=") and needle in str(exc.value)


def test_absent_needs_nothing_else():
    s = _vxlan.validate(dict(state="absent"))
    assert s.peers == [] and s.subnet is None


def test_port_rules_peers_then_drop():
    rules = _vxlan.input_rules(_vxlan.validate(spec(port=8473)))
    assert [r.text() for r in rules] == [
        "-t filter -A NETPLUMB-INPUT -s 192.0.2.12/32 -p udp -m udp --dport 8473 -m comment --comment "
        "netplumb:vxlan/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -s 203.0.113.13/32 -p udp -m udp --dport 8473 -m comment --comment "
        "netplumb:vxlan/peer -j ACCEPT",
        "-t filter -A NETPLUMB-INPUT -p udp -m udp --dport 8473 -m comment --comment netplumb:vxlan/drop -j DROP"]
    assert all(_vxlan.is_vxlan_owner(r.owner) for r in rules)
    assert not _vxlan.is_vxlan_owner("netplumb:swarm/peer") and not _vxlan.is_vxlan_owner("netplumb:vxlanbr")
