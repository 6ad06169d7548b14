"""A stand-in for _nl.Netlink built from records: the planners run on it with no kernel."""
import contextlib
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


class FakeMsg(dict):
    """A netlink message: fields by [key], attributes by get_attr(name)."""

    def __init__(self, fields, attrs):
        super(FakeMsg, self).__init__(fields)
        self.attrs = attrs
        self["attrs"] = list(attrs.items())     # as pyroute2 lists them (name, value)

    def get_attr(self, name):
        return self.attrs.get(name)


class FakeSock:
    def __init__(self, nsids, st=None, routes=None):
        self.nsids = nsids
        self.st = st
        self.routes = routes or []

    def get_netnsid(self, fd):
        return {"nsid": self.nsids.get(fd, 4294967295)}

    def get_addr(self):
        out = []
        for index, ifaces in sorted((self.st.addrs if self.st else {}).items()):
            for i in ifaces:
                out.append(FakeMsg(dict(index=index, prefixlen=i.network.prefixlen, scope=0),
                                   dict(IFA_LOCAL=str(i.ip))))
        return out

    def get_routes(self, family=None, **kw):
        """routes: [(dst 'a.b.c.d/n' or 'default', dev, gateway or None, proto)] plus the connected routes of
        the addresses."""
        out = []
        rows = list(self.routes)
        for index, ifaces in sorted((self.st.addrs if self.st else {}).items()):
            for i in ifaces:
                rows.append((str(i.network), self.st.name_of(index), None, 2))
        for fam, gw in sorted((self.st.routes if self.st else {}).items()):
            rows.append(("default", None, str(gw), 3))
        for dst, dev, gw, proto in rows:
            net = ipaddress.ip_network(u"0.0.0.0/0" if dst == "default" else dst)
            fam = 2 if net.version == 4 else 10
            if family is not None and fam != family:
                continue
            oif = [lk.index for lk in self.st.links.values() if lk.name == dev] if dev else []
            out.append(FakeMsg(dict(family=fam, dst_len=net.prefixlen, table=254, type=1, proto=proto),
                               dict(RTA_DST=None if net.prefixlen == 0 else str(net.network_address),
                                    RTA_GATEWAY=gw, RTA_OIF=oif[0] if oif else None, RTA_TABLE=254)))
        return out


class FakeNetlink:
    """States keyed by namespace name (None: the host). Writes are never called by planners."""

    run_dir = "/run/netns"

    def __init__(self, states, nsids=None, routes=None):
        self.states = states
        self.nsids = nsids or {}
        self.routes = routes or []     # extra host routes for FakeSock.get_routes
        self.reads = []

    def read(self, ns=None):
        self.reads.append(ns)
        return self.states[ns]

    @contextlib.contextmanager
    def frozen(self):
        yield self

    def memo(self, key, fn):
        return fn()

    def peek(self, key):
        return None

    def ns_exists(self, name):
        return name in self.states

    def ns_list(self):
        return sorted(n for n in self.states if n is not None)

    def sock(self, ns=None):
        return FakeSock(self.nsids, self.states.get(ns), self.routes if ns is None else [])

    def with_ns_fd(self, ns, fn):
        return fn(ns)


class RecordingDriver:
    """A firewall driver at the level of intent, for planner tests: its state is {owner: [intent]} (seeded
    with ``intents``), plan() records (owned owners, intents) and returns the intents' reprs as before/after;
    the queries answer from the intents, so a planner test never depends on a backend's rule syntax."""

    backend = "fake"

    def __init__(self, intents=(), warnings=()):
        from ansible_collections.netplumb.container.plugins.module_utils import _fwintent
        self.fi = _fwintent
        self.warnings = list(warnings)
        self.state = {}
        for i in intents:
            for o in sorted(_fwintent.owners_of([i])):
                self.state.setdefault(o, []).append(i)
        self.planned = []

    def read(self):
        return dict((o, list(v)) for o, v in self.state.items())

    def _after(self, state, owned, intents):
        out = dict((o, list(v)) for o, v in state.items() if not owned(o))
        for i in intents:
            for o in sorted(self.fi.owners_of([i])):
                out.setdefault(o, []).append(i)
        return out

    def plan(self, plan, state, owned, intents):
        intents = list(intents)
        self.planned.append((sorted(o for o in state if owned(o)), intents))
        before = sorted(repr(i) for o, v in state.items() if owned(o) for i in v)
        return before, [repr(i) for i in intents]

    def predicted(self, state, owned, intents):
        return self._after(state, owned, intents)

    def networks(self, state):
        out = {}
        for o, v in state.items():
            for i in v:
                if isinstance(i, self.fi.NetworkIntent):
                    out.setdefault(i.bridge, []).append(i.subnet)
        return out

    def published(self, state):
        return dict((o, v[0]) for o, v in state.items() if isinstance(v[0], self.fi.PortForward))

    def loopback_bridges(self, state):
        return dict((o, v[0].bridge) for o, v in state.items()
                    if isinstance(v[0], self.fi.PortForward) and v[0].loopback)

    def owners(self, state):
        return set(state)

    def changed_owners(self, state, owned, intents):
        after = self._after(state, owned, intents)
        return set(o for o in set(state) | set(after) if owned(o) and state.get(o) != after.get(o))

    def foreign_icc(self, bridge):
        return None


class NoSession(object):
    """In the place of _nl.Netlink for a run of steps that read nothing (tests of the run path)."""

    @contextlib.contextmanager
    def frozen(self):
        yield

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@contextlib.contextmanager
def no_lock(timeout):
    """In the place of _lock.HostLock."""
    yield
