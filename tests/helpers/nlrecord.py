"""Netlink recordings of both pyroute2 versions, for tests/unit/test_nl_recorded.py (`make record-netlink`).

  nlrecord.py build            builds the representative state (run once, inside tests/isolated.sh)
  nlrecord.py record OUT.json  runs the collection's own readers (_nl, _preflight, _hostgw, _links) against it
                               with the running python's pyroute2, and writes every dump they asked for

Each recorded message keeps the kernel's bytes (``raw``, re-decoded by the installed pyroute2 in the unit tests)
and what this pyroute2 version made of them (``msg``: fields and attributes, nested, as it returns them).
The facts the readers derived are stored too (``facts``), so a recording can be checked against itself.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
# the checkout importable as ansible_collections.netplumb.container
import conftest  # noqa: E402,F401  pylint: disable=unused-import

NS = "rec1"

# bridge + port (hairpin, isolated) + veth with its peer created in a named namespace, a macvlan on a dummy,
# addresses v4/v6, routes of several types and tables, a nexthop object and a route using it, an alias.
STATE = """
link add br0 type bridge stp_state 0
link set br0 mtu 1400 up
link add dum0 type veth peer name dum0p
link set dum0p up
link set dum0 up
link add mv0 link dum0 type macvlan mode bridge
link set mv0 up
link add vh1 mtu 1400 type veth peer name eth0 netns {ns}
link set vh1 master br0 alias netplumb up
addr add 10.77.0.1/24 dev br0
addr add fd77::1/64 dev br0 nodad
addr add 192.0.2.10/24 dev dum0
addr add 2001:db8:7::10/64 dev dum0 nodad
addr add 198.51.100.5/24 dev mv0
route add default via 192.0.2.1 dev dum0
route add default via 2001:db8:7::1 dev dum0
route add 10.88.0.0/24 via 192.0.2.2 proto 151
route add 10.89.0.0/24 via 192.0.2.3 proto static
route add blackhole 10.90.0.0/24
route add unreachable 10.91.0.0/24
route add prohibit 10.92.0.0/24
route add 10.93.0.0/24 nexthop via 192.0.2.4 dev dum0 weight 1 nexthop via 198.51.100.6 dev mv0 weight 2
route add 10.94.0.0/24 via 192.0.2.5 table 100
route add default via 192.0.2.6 table 100
route add 2001:db8:99::/48 via 2001:db8:7::2
nexthop add id 77 via 192.0.2.7 dev dum0
route add 10.95.0.0/24 nhid 77
"""

NS_STATE = """
link set lo up
link set eth0 up alias netplumb
addr add 10.77.0.2/24 dev eth0
addr add fd77::2/64 dev eth0 nodad
route add default via 10.77.0.1 proto 151
route add default via fd77::1 proto 151
"""


def _batch(text, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    subprocess.run(cmd, input=text.format(ns=ns or NS).encode(), check=True)


def build():
    from helpers.kernel import assert_isolated
    assert_isolated()
    subprocess.run(["ip", "netns", "add", NS], check=True)
    _batch(STATE)
    _batch(NS_STATE, NS)
    subprocess.run(["bridge", "link", "set", "dev", "vh1", "hairpin", "on", "isolated", "on"], check=True)


def value(v):
    """A decoded attribute value as JSON: nested attribute sets as {"fields", "attrs"}, lists of them as lists."""
    if hasattr(v, "get_attr") and "attrs" in v:
        return {"fields": dict((k, value(x)) for k, x in v.items() if k not in ("attrs", "header")),
                "attrs": [[slot[0], value(slot[1])] for slot in v["attrs"]]}
    if isinstance(v, (list, tuple)):
        return [value(x) for x in v]
    if isinstance(v, dict):
        return dict((str(k), value(x)) for k, x in v.items())
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return {"repr": repr(v)}


def message(msg):
    raw = bytes(msg.data[msg.offset:msg.offset + msg["header"]["length"]])
    return {"class": type(msg).__name__, "raw": raw.hex(), "msg": value(msg)}


def key(ns, method, args, kwargs):
    return json.dumps([ns, method, list(args), sorted(kwargs.items())])


class RecordingSock(object):
    """Passes every call to the real IPRoute socket and keeps what it returned."""

    def __init__(self, real, ns, calls):
        self._real, self._ns, self._calls = real, ns, calls

    def __getattr__(self, name):
        if name == "marshal":
            # _preflight.read_nexthops sends its RTM_GETNEXTHOP dump through pyroute2's raw request API with
            # message classes of its own (neither pyroute2 version has nexthop messages): not recorded, so the
            # recorded host, like the replay, has no socket marshal and no nexthop objects. Nexthops are tested
            # on the kernel (tests/hostile/test_preflight.py, test_uplinks.py).
            raise AttributeError(name)
        fn = getattr(self._real, name)

        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            if name == "get_netnsid":     # by namespace name: a descriptor number means nothing in a replay
                self._calls[key(self._ns, name, [], {"fd": RecordingNetlink.fd_names[kwargs["fd"]]})] = \
                    {"value": value(out)}
                return out
            out = list(out)
            self._calls[key(self._ns, name, args, kwargs)] = {"messages": [message(m) for m in out]}
            return out
        return call


def readers(nl, ns_names):
    """What the collection reads, through nl (a live or a replayed Netlink), as plain JSON-able facts."""
    from ansible_collections.netplumb.container.plugins.module_utils import _hostgw, _links, _preflight

    def ns_facts(st):
        return {"links": dict((lk.name, dict((a, getattr(lk, a)) for a in lk.__slots__)) for lk in st.links.values()),
                "addrs": dict((st.name_of(i) or str(i), sorted(str(x) for x in v)) for i, v in st.addrs.items()),
                "routes": dict((str(f), str(g)) for f, g in st.routes.items()),
                "route_protos": dict((str(f), p) for f, p in st.route_protos.items())}

    out = {"host": ns_facts(nl.read(None))}
    for ns in ns_names:
        out["ns:" + ns] = ns_facts(nl.read(ns))
    hf = _preflight.read_host(nl)
    out["host_facts"] = {"addrs": sorted("%s %s" % (n, i) for n, i in hf.addrs),
                         "routes": sorted("%s proto %s" % (r.text(), r.proto) for r in hf.routes),
                         "uplinks": hf.uplinks()}
    out["hostgw_routes"] = dict((str(k), [str(v[0]) if v[0] else None, v[1]])
                                for k, v in sorted(_hostgw.read_routes(nl).items()))
    out["nsids"] = dict((str(k), v) for k, v in _links.VethBatchState(nl, None, False).nsid_map().items())
    return out


class RecordingNetlink(object):
    fd_names = {}

    @classmethod
    def make(cls, calls):
        from ansible_collections.netplumb.container.plugins.module_utils import _nl

        class Rec(_nl.Netlink):
            def sock(self, ns=None):
                return RecordingSock(_nl.Netlink.sock(self, ns), ns, calls)

            def with_ns_fd(self, ns, fn):
                def named(fd):
                    RecordingNetlink.fd_names[fd] = ns
                    return fn(fd)
                return _nl.Netlink.with_ns_fd(self, ns, named)
        return Rec()


def record(out_path):
    from helpers.kernel import assert_isolated
    assert_isolated()
    import pyroute2
    from importlib.metadata import version
    calls = {}
    with RecordingNetlink.make(calls) as nl:
        ns_names = nl.ns_list()
        facts = readers(nl, ns_names)
    doc = {"pyroute2": version("pyroute2"), "pyroute2_path": os.path.dirname(pyroute2.__file__),
           "python": "%d.%d" % sys.version_info[:2], "kernel": os.uname().release, "namespaces": ns_names,
           "facts": facts, "calls": calls}
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: pyroute2 %s, %d calls, %d messages" % (out_path, doc["pyroute2"], len(calls),
                                                      sum(len(c.get("messages", ())) for c in calls.values())))


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"]:
        build()
    elif sys.argv[1:2] == ["record"] and len(sys.argv) == 3:
        record(sys.argv[2])
    else:
        sys.exit(__doc__)
