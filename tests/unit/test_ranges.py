"""The special-purpose range table (_ranges): every entry's verdict, the message naming the range, and the
rules for subnets around or inside several entries."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _ranges
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

NET = ipaddress.ip_network


@pytest.mark.parametrize("entry", _ranges.TABLE, ids=[e[0] for e in _ranges.TABLE])
def test_each_entry(entry):
    rng, name, verdict, _why = entry
    net = NET(rng)
    small = net.prefixlen >= (30 if net.version == 4 else 126)
    inner = net if small else list(net.subnets(new_prefix=net.prefixlen + 2))[1]
    for n in (net, inner):
        if verdict == _ranges.REFUSE:
            with pytest.raises(_ranges.RangeError) as err:
                _ranges.refuse("subnet", n)
            assert "%s (%s)" % (rng, name) in str(err.value) and str(err.value).startswith("subnet=%s: " % n)
        elif verdict == _ranges.WARN:
            assert _ranges.refuse("subnet", n) == n
            (w,) = _ranges.warnings("subnet", n)
            assert "%s (%s)" % (rng, name) in w
        else:
            assert _ranges.refuse("subnet", n) == n and _ranges.warnings("subnet", n) == []


@pytest.mark.parametrize("subnet, named", [
    ("255.255.255.0/24", "255.255.255.255/32 (limited broadcast)"),     # the limited broadcast inside it
    ("192.0.0.0/16", "192.0.0.0/24 (IETF protocol assignments)"),       # around a refused range
    ("0.0.0.0/1", "0.0.0.0/8 (this network)"),
    ("2001::/16", "2001::/23 (IETF protocol assignments)"),
])
def test_a_subnet_holding_a_refused_range_is_refused(subnet, named):
    with pytest.raises(ValidationError, match=named.replace("(", r"\(").replace(")", r"\)")):
        _ranges.refuse("subnet", NET(subnet))


@pytest.mark.parametrize("subnet", ["198.18.4.0/24", "2001:2::/64", "10.1.0.0/16", "fd00:1::/64"])
def test_the_most_specific_entry_decides(subnet):
    """2001:2::/64 is benchmarking inside IETF protocol assignments: accepted, like 198.18.4.0/24."""
    assert _ranges.verdict(NET(subnet))[0] == _ranges.ACCEPT


@pytest.mark.parametrize("subnet", ["11.0.0.0/24", "198.0.0.0/8", "2a00:1::/64"])
def test_public_unicast_warns(subnet):
    (w,) = _ranges.warnings("subnet", NET(subnet))
    assert "public address space" in w and "default route" in w


def test_validation_refuses_ranges_in_addresses_and_names_with_a_dash():
    from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
    with pytest.raises(ValidationError, match=r"addresses\[0\]=169.254.1.1/16: .*169.254.0.0/16 \(link-local\)"):
        v.interface_cidrs("addresses", ["169.254.1.1/16"], ranges=True)
    assert v.interface_cidrs("addresses", ["169.254.1.1/16"])      # peer addresses: not the host's
    for fn in (v.ifname, v.netns_name):
        with pytest.raises(ValidationError, match="may not start with '-'"):
            fn("name", "-x")


def test_the_controller_filter_refuses_ranges():
    from ansible_collections.netplumb.container.plugins.module_utils import _netspec
    errors = _netspec.parse([dict(name="web", subnet="169.254.0.0/16", containers=[]),
                             dict(name="-db", subnet="172.30.0.0/16", containers=[])])["errors"]
    assert any("container_networks[0].subnet=169.254.0.0/16" in e and "(link-local)" in e for e in errors), errors
    assert any("container_networks[1].name='-db'" in e for e in errors), errors
