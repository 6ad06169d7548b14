"""Issue 8: the linear replacements of pairwise loops give exactly the answers of the pairwise definitions.

Checked by counting and comparing, never by timing: PortIndex against ``overlaps`` on every pair,
_merge_missing against the original insert-before-next-present loop, split_line against shlex.
"""
import ipaddress
import random
import shlex

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _portmap
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import _merge_missing
from ansible_collections.netplumb.container.plugins.module_utils._iptables import split_line

IPS = [None, None, ipaddress.ip_address(u"127.0.0.1"), ipaddress.ip_address(u"192.0.2.10"),
       ipaddress.ip_address(u"192.0.2.11")]


def mapping(rng):
    lo = rng.randint(1, 60)
    hi = lo + rng.choice([0, 0, 0, 1, 4])
    return _portmap.Mapping(rng.choice(["tcp", "udp"]), rng.choice(IPS), (lo, hi), None, (lo, hi), "br0")


@pytest.mark.parametrize("seed", range(40))
def test_port_index_answers_like_pairwise_overlaps(seed):
    rng = random.Random(seed)
    index, added = _portmap.PortIndex(), []
    for i in range(60):
        m = mapping(rng)
        expected = [j for j, other in added if _portmap.overlaps(m, other)]
        hit = index.conflict(m)
        assert (hit is None) == (not expected), (m.key(), expected)
        if hit is None:
            index.add(m, i)
            added.append((i, m))
        else:
            assert hit in expected


def test_every_address_and_loopback_do_not_collide_one_rule_for_role_and_module():
    """127.0.0.1:80 and :80 may go to different containers (the every-address rules skip 127.0.0.0/8);
    192.0.2.10:80 and :80 may not. The role's parser uses this very function (tests/unit/test_netspec.py)."""
    every = _portmap.Mapping("tcp", None, (80, 80), None, (80, 80), "br0")
    lo = _portmap.Mapping("tcp", IPS[2], (80, 80), None, (80, 80), "br0")
    one = _portmap.Mapping("tcp", IPS[3], (80, 80), None, (80, 80), "br0")
    assert not _portmap.overlaps(every, lo) and _portmap.overlaps(every, one)
    index = _portmap.PortIndex()
    index.add(every, "every")
    assert index.conflict(lo) is None and index.conflict(one) == "every"


def test_validate_mappings_refuses_the_first_overlap_of_a_large_batch():
    ports = [dict(host_port=10000 + i, container_ip="172.18.0.2") for i in range(5000)]
    assert len(_portmap.validate_mappings(dict(ports=ports, state="present"))) == 5000
    ports.append(dict(host_port="14990-15010", container_ip="172.18.0.3"))
    with pytest.raises(ValidationError, match=r"overlaps item 49\d\d \(tcp/149\d\d\) of the same batch"):
        _portmap.validate_mappings(dict(ports=ports, state="present"))


def merge_pairwise(lst, want_args):
    """The original algorithm (quadratic), kept here as the reference."""
    lst = list(lst)
    for i, args in enumerate(want_args):
        if args in lst:
            continue
        later = [w for w in want_args[i + 1:] if w in lst]
        lst.insert(lst.index(later[0]) if later else len(lst), args)
    return lst


@pytest.mark.parametrize("seed", range(40))
def test_merge_missing_equals_the_pairwise_reference(seed):
    rng = random.Random(seed)
    universe = [("-j", "R%d" % i) for i in range(30)]
    lst = rng.sample(universe, rng.randint(0, 12))
    want = rng.sample(universe, rng.randint(0, 25))     # wanted rules are unique (one owner comment each)
    assert _merge_missing(lst, want) == merge_pairwise(lst, want)


@pytest.mark.parametrize("line", [
    '-A NETPLUMB-PREROUTING -p tcp -m tcp --dport 5000 -m comment --comment "netplumb:br0:tcp/5000" -j DNAT',
    '-A NETPLUMB-FORWARD -i br0 -m comment --comment netplumb:br0 -j ACCEPT',
    '-A NETPLUMB-FORWARD -m comment --comment "two words" -j ACCEPT',
    '-A NETPLUMB-FORWARD -m comment --comment "" -j ACCEPT',
    '-A NETPLUMB-FORWARD -m comment --comment "with \\"quote\\"" -j ACCEPT',
    "-A NETPLUMB-FORWARD -m comment --comment 'single' -j ACCEPT",
    '-A NETPLUMB-FORWARD -m comment --comment ab"cd" -j ACCEPT',
])
def test_split_line_equals_shlex(line):
    assert split_line(line) == shlex.split(line)


class NetlinkDumpInterrupted(Exception):
    """Named like pyroute2's: the kernel flagged the dump NLM_F_DUMP_INTR."""


def test_an_interrupted_dump_is_taken_again_and_other_errors_are_not():
    from ansible_collections.netplumb.container.plugins.module_utils._nl import DUMP_TRIES, dump
    tries = []

    def flaky(table=None):
        tries.append(table)
        if len(tries) < 3:
            raise NetlinkDumpInterrupted(-1, "dump interrupted")
        return iter([1, 2])
    assert dump(flaky, table=254) == [1, 2] and tries == [254, 254, 254]

    def always():
        raise NetlinkDumpInterrupted(-1, "dump interrupted")
    with pytest.raises(NetlinkDumpInterrupted):
        dump(always)

    calls = []

    def broken():
        calls.append(1)
        raise OSError(1, "EPERM")
    with pytest.raises(OSError):
        dump(broken)
    assert calls == [1] and DUMP_TRIES == 10
