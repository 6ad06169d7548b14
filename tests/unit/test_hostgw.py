"""host_gw_routes' pure parts: validation and the exemption rules."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _hostgw
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import rank


def spec(**kw):
    out = dict(routes=[dict(subnet="10.244.2.0/24", via="192.0.2.12")], cluster_cidr="10.244.0.0/16",
               underlay="eth0", networks=[dict(bridge="br-fleet", subnet="10.244.1.0/24")], prune=True,
               state="present")
    out.update(kw)
    return out


def test_exemptions_rules_and_rank_first():
    cluster, underlay, nets = _hostgw.validate_exempt(spec())
    rules = _hostgw.exempt_rules(cluster, underlay, nets)
    assert [r.text() for r in rules] == [
        "-t nat -A NETPLUMB-POSTROUTING -s 10.244.1.0/24 -d 10.244.0.0/16 -o eth0 -m comment --comment "
        "netplumb:fleet/br-fleet -j RETURN",
        "-t raw -A NETPLUMB-PREROUTING -s 10.244.0.0/16 -d 10.244.1.0/24 -i eth0 -m comment --comment "
        "netplumb:fleet/br-fleet -j RETURN",
        "-t filter -A NETPLUMB-FORWARD -s 10.244.0.0/16 -d 10.244.1.0/24 -i eth0 -o br-fleet -m comment --comment "
        "netplumb:fleet/br-fleet -j ACCEPT"]
    # before the loopback drops, the isolated networks' drops and the masquerade (rank 0..3)
    assert rank("raw", "PREROUTING", rules[1].args, set()) == -1
    assert rank("nat", "POSTROUTING", rules[0].args, set()) == -1
    # a RETURN of a network (isolate=false) keeps its rank
    assert rank("raw", "PREROUTING", ["-i", "br0", "-m", "comment", "--comment", "netplumb:br0", "-j", "RETURN"],
                set(["br0"])) == 2


@pytest.mark.parametrize("kw,field", [
    (dict(routes=[dict(subnet="10.244.2.0/24")]), "routes[0].via"),
    (dict(routes=[dict(subnet="0.0.0.0/0", via="192.0.2.12")]), "routes[0].subnet"),
    (dict(routes=[dict(subnet="10.244.2.0/24", via="192.0.2.12", dev="eth0")]), "routes[0]"),
    (dict(routes=[dict(subnet="10.244.2.0/24", via="192.0.2.12"), dict(subnet="10.244.0.0/16", via="192.0.2.13")]),
     "routes[1].subnet"),
    (dict(state="gone"), "state"),
])
def test_route_validation(kw, field):
    with pytest.raises(ValidationError) as exc:
        _hostgw.validate(spec(**kw))
    assert exc.value.field == field


@pytest.mark.parametrize("kw,field", [
    (dict(cluster_cidr=None), "cluster_cidr"),
    (dict(cluster_cidr="10.244.0.1/16"), "cluster_cidr"),
    (dict(networks=[dict(bridge="br-fleet", subnet="172.18.0.0/16")]), "networks[0].subnet"),
    (dict(networks=[dict(bridge="a/b", subnet="10.244.1.0/24")]), "networks[0].bridge"),
    (dict(underlay="eth:0"), "underlay"),
])
def test_exemption_validation(kw, field):
    with pytest.raises(ValidationError) as exc:
        _hostgw.validate_exempt(spec(**kw))
    assert exc.value.field == field
