"""Pure validation: every error names the field and the value."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError


@pytest.mark.parametrize("name", ["veth0", "a", "x" * 15, "br-web.10", "ceth_0"])
def test_ifname_ok(name):
    assert v.ifname("name", name) == name


@pytest.mark.parametrize("name,why", [("", "non-empty"), ("x" * 16, "15"), ("a/b", "'/'"), ("a:b", "'/'"),
                                      ("a b", "whitespace"), (".", "'.'"), ("..", "'.'"), (None, "non-empty")])
def test_ifname_bad(name, why):
    with pytest.raises(ValidationError) as err:
        v.ifname("pairs[3].peer", name)
    assert str(err.value).startswith("pairs[3].peer=%r" % (name,))
    assert why in str(err.value)


def test_ifname_counts_bytes():
    with pytest.raises(ValidationError):
        v.ifname("name", u"\u00e9" * 8)  # 16 bytes in UTF-8


@pytest.mark.parametrize("name", ["netns0", "app-1", "a.b_c"])
def test_netns_ok(name):
    assert v.netns_name("name[0]", name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", "a b", "ns;rm", "ü"])
def test_netns_bad(name):
    with pytest.raises(ValidationError) as err:
        v.netns_name("name[0]", name)
    assert "name[0]=" in str(err.value)


def test_cidrs():
    out = v.interface_cidrs("addresses", ["172.18.0.1/16", "2001:db8::1/64"])
    assert out == [ipaddress.ip_interface(u"172.18.0.1/16"), ipaddress.ip_interface(u"2001:db8::1/64")]
    for bad, why in [("172.18.0.1", "prefix"), ("172.18.0.300/16", "valid"), ("172.18.0.0/16", "network"),
                     ("172.18.255.255/16", "broadcast"), ("224.0.0.1/4", "multicast")]:
        with pytest.raises(ValidationError) as err:
            v.interface_cidrs("addresses", ["10.0.0.1/8", bad])
        assert "addresses[1]=%r" % bad in str(err.value) and why in str(err.value)
    with pytest.raises(ValidationError) as err:
        v.interface_cidrs("addresses", ["10.0.0.1/8", "10.0.0.1/24"])
    assert "twice" in str(err.value)
    assert v.interface_cidrs("addresses", None) is None
    assert v.interface_cidr("a", "192.0.2.1/31")  # /31 point-to-point has no broadcast


def test_gateway_in_subnet():
    ifaces = v.interface_cidrs("peer_addresses", ["172.18.0.10/16"])
    assert str(v.gateway_in("peer_gateway", "172.18.0.1", ifaces, "peer_addresses")) == "172.18.0.1"
    for gw, why in [("10.0.0.1", "not inside"), ("172.18.0.10", "own address"), ("bogus", "valid IP")]:
        with pytest.raises(ValidationError) as err:
            v.gateway_in("peer_gateway", gw, ifaces, "peer_addresses")
        assert "peer_gateway=%r" % gw in str(err.value) and why in str(err.value)
    with pytest.raises(ValidationError) as err:
        v.gateway_in("peer_gateway", "172.18.0.1", None, "peer_addresses")
    assert "needs peer_addresses" in str(err.value)


def test_mtu_network_unique():
    assert v.mtu("mtu", None) is None and v.mtu("mtu", 9000) == 9000
    for bad in (0, 67, 65536, True, "1500"):
        with pytest.raises(ValidationError):
            v.mtu("mtu", bad)
    assert str(v.network("subnet", "172.18.0.0/16")) == "172.18.0.0/16"
    with pytest.raises(ValidationError) as err:
        v.network("subnet", "172.18.0.1/16")
    assert "subnet=" in str(err.value)
    with pytest.raises(ValidationError) as err:
        v.unique("pairs.name", [{"n": "a"}, {"n": "b"}, {"n": "a"}], lambda x: x["n"])
    assert "items 0 and 2" in str(err.value)


def test_ipv4_subnet_and_unicast():
    assert str(v.ipv4_subnet("subnet", "10.1.0.0/16")) == "10.1.0.0/16"
    assert str(v.ipv4_subnet("announce[0]", "10.1.0.1/32")) == "10.1.0.1/32"
    for value, reason in (("10.1.0.1/16", "not a subnet in CIDR form"), ("0.0.0.0/0", "not a default route"),
                          ("fd00::/64", "an IPv4 subnet")):
        with pytest.raises(ValidationError, match=reason):
            v.ipv4_subnet("subnet", value)
    with pytest.raises(ValidationError, match=r"subnet='10.1.0.1/32'.*between /1 and /31"):
        v.ipv4_subnet("subnet", "10.1.0.1/32", 31)
    assert str(v.ipv4_unicast("local", "192.0.2.1")) == "192.0.2.1"
    for value in ("224.0.0.1", "0.0.0.0", "127.0.0.1", "::1"):
        with pytest.raises(ValidationError, match=r"local=.*a unicast IPv4 address \(no multicast"):
            v.ipv4_unicast("local", value, "no multicast")
    with pytest.raises(ValidationError, match="not an IP address"):
        v.ipv4_unicast("local", "nope")
