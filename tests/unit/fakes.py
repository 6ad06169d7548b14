"""A stand-in for _nl.Netlink built from records: the planners run on it with no kernel."""
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._nl import Link, NsState


def link(index, name, kind="veth", master=None, mtu=1500, up=True, alias=None, peer_index=None, peer_netnsid=None,
         stp=None, hairpin=None):
    if hairpin is None and master is not None:
        hairpin = True
    return Link(index, name, kind, master, mtu, up, alias, peer_index, peer_netnsid, stp, hairpin)


def state(ns, links, addrs=None, routes=None):
    a = dict((idx, [ipaddress.ip_interface(u"%s" % x) for x in lst]) for idx, lst in (addrs or {}).items())
    r = dict((fam, ipaddress.ip_address(u"%s" % gw)) for fam, gw in (routes or {}).items())
    return NsState(ns, links, a, r)


class FakeSock:
    def __init__(self, nsids):
        self.nsids = nsids

    def get_netnsid(self, fd):
        return {"nsid": self.nsids.get(fd, 4294967295)}


class FakeNetlink:
    """States keyed by namespace name (None: the host). Writes are never called by planners."""

    run_dir = "/run/netns"

    def __init__(self, states, nsids=None):
        self.states = states
        self.nsids = nsids or {}
        self.reads = []

    def read(self, ns=None):
        self.reads.append(ns)
        return self.states[ns]

    def ns_exists(self, name):
        return name in self.states

    def ns_list(self):
        return sorted(n for n in self.states if n is not None)

    def sock(self, ns=None):
        return FakeSock(self.nsids)

    def with_ns_fd(self, ns, fn):
        return fn(ns)
