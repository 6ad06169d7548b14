"""The fleet subnet allocation rule (docs/fleet-subnets.md)."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._fleet import allocate, slot_of

CIDR = "10.244.0.0/16"


def subnets(hosts, prefix=24):
    return dict((k, v["subnet"]) for k, v in allocate(CIDR, prefix, hosts).items())


def test_derived_from_the_name_only():
    got = subnets([dict(name="h1"), dict(name="h2"), dict(name="h3")])
    assert got == dict((h, "10.244.%d.0/24" % slot_of(h, 256)) for h in ("h1", "h2", "h3"))
    assert len(set(got.values())) == 3


def test_stable_when_hosts_are_added_removed_or_reordered():
    base = subnets([dict(name="h1"), dict(name="h2"), dict(name="h3")])
    more = subnets([dict(name="h9"), dict(name="h3"), dict(name="h1"), dict(name="h2")])
    fewer = subnets([dict(name="h3"), dict(name="h1")])
    assert all(more[h] == base[h] for h in base)
    assert all(fewer[h] == base[h] for h in fewer)


def test_explicit_index():
    got = allocate(CIDR, 24, [dict(name="a", index=0), dict(name="b", index=255), dict(name="c")])
    assert got["a"] == dict(subnet="10.244.0.0/24", index=0, source="index")
    assert got["b"]["subnet"] == "10.244.255.0/24"
    assert allocate("10.0.0.0/8", 20, [dict(name="x", index=3)])["x"]["subnet"] == "10.0.48.0/20"


def test_collision_fails_naming_both_hosts_and_subnets():
    a = "h1"
    b = next(n for n in ("n%d" % i for i in range(5000)) if slot_of(n, 256) == slot_of(a, 256))
    with pytest.raises(ValidationError) as exc:
        allocate(CIDR, 24, [dict(name=a), dict(name=b)])
    msg = str(exc.value)
    s = "10.244.%d.0/24" % slot_of(a, 256)
    assert a in msg and b in msg and msg.count(s) == 2 and "container_host_index" in msg
    # an explicit index on one of them resolves it; the other keeps its derived slot
    fixed = allocate(CIDR, 24, [dict(name=a), dict(name=b, index=(slot_of(a, 256) + 1) % 256)])
    assert fixed[a]["subnet"] == s


def test_explicit_index_collision_and_range():
    with pytest.raises(ValidationError) as exc:
        allocate(CIDR, 24, [dict(name="a", index=5), dict(name="b", index=5)])
    assert "10.244.5.0/24" in str(exc.value) and "a" in str(exc.value) and "b:" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        allocate(CIDR, 24, [dict(name="a", index=256)])
    assert "container_host_index=256" in str(exc.value) and "0-255" in str(exc.value)


def test_overlap_with_literal_subnet_or_foreign_route_names_both():
    s1 = subnets([dict(name="h1")])["h1"]
    with pytest.raises(ValidationError) as exc:
        allocate(CIDR, 24, [dict(name="h1"), dict(name="h2", index=(slot_of("h1", 256) + 1) % 256,
                                                  subnets=[s1.replace("/24", "/25")])])
    assert "h2: network subnet" in str(exc.value) and "h1's allocated subnet %s" % s1 in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        allocate(CIDR, 24, [dict(name="h1", routes=["10.244.0.0/16"])])
    assert "h1: route 10.244.0.0/16 overlaps h1's allocated subnet" in str(exc.value)
    # the host's own network on exactly its allocated subnet is no overlap
    assert allocate(CIDR, 24, [dict(name="h1", subnets=[s1])])["h1"]["subnet"] == s1


@pytest.mark.parametrize("cidr,prefix,field", [
    ("10.244.0.1/16", 24, "container_cluster_cidr"),
    ("fd00::/48", 64, "container_cluster_cidr"),
    (CIDR, 16, "container_host_prefix"),
    (CIDR, 31, "container_host_prefix"),
])
def test_bad_input(cidr, prefix, field):
    with pytest.raises(ValidationError) as exc:
        allocate(cidr, prefix, [dict(name="h1")])
    assert exc.value.field == field
