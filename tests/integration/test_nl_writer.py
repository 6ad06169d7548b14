"""_nl's own netlink reads and writes (the Writer) against the kernel, beside pyroute2's: the same facts."""
import pytest

from helpers import nlrecord


def facts(st):
    return ({n: tuple(getattr(lk, a) for a in lk.__slots__) for n, lk in st.links.items()},
            {i: sorted(str(x) for x in v) for i, v in st.addrs.items()}, st.routes, st.route_protos)


@pytest.mark.deb
def test_reads_give_what_pyroute2_gives(sandbox):
    """The recording's state (bridge, ports with hairpin and isolation, a macvlan, multipath and nexthop routes,
    a namespace with addresses and default routes of both families): every fact of _read equals pyroute2's."""
    from ansible_collections.netplumb.container.plugins.module_utils import _nl
    nlrecord.build()
    with _nl.Netlink() as nl:
        for ns in (None, nlrecord.NS):
            assert facts(nl._read(ns)) == facts(nl._read_pyroute2(ns))
        sock = nl.sock(None)
        nsid = nl.with_ns_fd(nlrecord.NS, lambda fd: sock.get_netnsid(fd=fd)).get("nsid")
        assert nl.with_ns_fd(nlrecord.NS, nl.writer(None).netnsid) == nsid
        assert nl.writer(nlrecord.NS).lookup("eth0") == nl._read(nlrecord.NS).link("eth0").index
        assert nl.writer(None).lookup("no-such-link") is None
