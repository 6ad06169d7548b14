"""pyroute2 0.7 and 0.9 without a kernel: the collection's netlink readers fed with recorded dumps of both.

tests/unit/fixtures/netlink-pyroute2-{0.7,0.9}.json hold what each version returned for every dump that _nl,
_preflight, _hostgw and _links ask for, on one state built by tests/helpers/nlrecord.py (`make record-netlink`).
Each recording is replayed two ways through the real readers (Netlink.read, read_host, read_routes, nsid_map):

* ``decoded``: the messages as that version decoded them (its attribute names, value types and nesting), so the
  0.7 recording is exercised under the venv's 0.9 too;
* ``raw``: the kernel's bytes, decoded here by the installed pyroute2 (0.9 in `make unit`, Debian's 0.7.2 in
  `make unit-deb`), so each version's own decoder runs under the same assertions.

Every way must give the same facts, the ones the recording version gave on the live kernel.
"""
import copy
import glob
import importlib
import json
import os
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible_collections.netplumb.container.plugins.module_utils import _nl  # noqa: E402
from helpers import nlrecord  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RECORDINGS = dict((os.path.basename(p)[len("netlink-pyroute2-"):-len(".json")], json.load(open(p)))
                  for p in sorted(glob.glob(os.path.join(FIXTURES, "netlink-pyroute2-*.json"))))
NLM_F_DUMP_INTR = 0x10


def installed():
    """The installed pyroute2's version, or None."""
    try:
        from importlib.metadata import version
        return version("pyroute2")
    except Exception:
        return None


class ReplayMsg(dict):
    """A message or nested attribute set as a recording decoded it: fields by [key], attributes by get_attr and
    as (name, value) slots in ["attrs"]."""

    def __init__(self, rec):
        super(ReplayMsg, self).__init__((k, replay_value(v)) for k, v in rec["fields"].items())
        self["attrs"] = [(name, replay_value(v)) for name, v in rec["attrs"]]

    def get_attr(self, name, default=None):
        for slot in self["attrs"]:
            if slot[0] == name:
                return slot[1]
        return default


def replay_value(v):
    if isinstance(v, dict) and set(v) == {"fields", "attrs"}:
        return ReplayMsg(v)
    if isinstance(v, dict) and set(v) == {"bytes"}:
        return bytes.fromhex(v["bytes"])
    if isinstance(v, list):
        return [replay_value(x) for x in v]
    return v


def decode_raw(rec):
    """The kernel's bytes decoded by the installed pyroute2's own message class."""
    name = rec["class"]
    mod = importlib.import_module("pyroute2.netlink.rtnl.%s" % name)
    msg = getattr(mod, name)(bytes.fromhex(rec["raw"]))
    msg.decode()
    return msg


class ReplaySock(object):
    def __init__(self, doc, ns, mode, tamper=None):
        self.doc, self.ns, self.mode, self.tamper = doc, ns, mode, tamper

    def __getattr__(self, name):
        if name == "marshal":   # as when recorded: no nexthop dump (tests/helpers/nlrecord.py RecordingSock)
            raise AttributeError(name)

        def call(*args, **kwargs):
            k = nlrecord.key(self.ns, name, args, kwargs)
            if k not in self.doc["calls"]:
                raise AssertionError("%s was not recorded (the readers changed?): run `make record-netlink`" % k)
            rec = self.doc["calls"][k]
            if "value" in rec:
                return copy.deepcopy(rec["value"])
            out = []
            for m in rec["messages"]:
                m = self.tamper(m) if self.tamper else m
                out.append(decode_raw(m) if self.mode == "raw" else ReplayMsg(m["msg"]))
            return out
        return call


class ReplayWriter(object):
    """_nl.Writer's dumps answered from a recording: the kernel's bytes of the same dumps (whichever pyroute2
    recorded them), parsed by _nl's own decoder in every mode."""

    CALLS = dict(dump_links=("get_links", {}), dump_addrs=("get_addr", {}),
                 dump_routes=("get_routes", dict(table=254)))

    def addresses(self):
        return [_nl.addr_view(m) for m in self.dump_addrs()]

    def netnsid(self, fd):     # fd: the namespace's name (ReplayNetlink.with_ns_fd)
        return self.doc["calls"][nlrecord.key(self.ns, "get_netnsid", (), {"fd": fd})]["value"]["nsid"]

    def routes(self, family):
        return [_nl.route_view(m) for m in self._messages("get_routes", dict(family=family))]

    def _messages(self, method, kwargs):
        rec = self.doc["calls"][nlrecord.key(self.ns, method, (), kwargs)]
        return [bytes.fromhex((self.tamper(m) if self.tamper else m)["raw"])[16:] for m in rec["messages"]]

    def __init__(self, doc, ns, tamper=None):
        self.doc, self.ns, self.tamper = doc, ns, tamper

    def __getattr__(self, name):
        if name not in self.CALLS:
            raise AttributeError(name)
        method, kwargs = self.CALLS[name]

        return lambda: self._messages(method, kwargs)


class ReplayNetlink(_nl.Netlink):
    """_nl.Netlink whose sockets answer from a recording; namespaces are the recorded ones."""

    def __init__(self, doc, mode, tamper=None):    # no pyroute2, no socket, no namespace file
        self.run_dir = "/nonexistent"
        self._socks = {}
        self._indexes = {}
        self._memo = None
        self._home = None
        self.doc, self.mode, self.tamper = doc, mode, tamper

    def sock(self, ns=None):
        return ReplaySock(self.doc, ns, self.mode, self.tamper)

    def writer(self, ns=None):
        return ReplayWriter(self.doc, ns, self.tamper)

    def ns_list(self):
        return list(self.doc["namespaces"])

    def with_ns_fd(self, ns, fn):
        return fn(ns)


def facts_of(doc, mode):
    return json.loads(json.dumps(nlrecord.readers(ReplayNetlink(doc, mode), doc["namespaces"])))


def modes():
    out = []
    for version in sorted(RECORDINGS):
        out.append(pytest.param(version, "decoded", id="%s-decoded" % version))
        out.append(pytest.param(version, "raw", id="%s-raw-by-%s" % (version, installed()),
                                marks=pytest.mark.skipif(installed() is None, reason="no pyroute2 installed")))
    return out


def test_both_versions_are_recorded():
    assert sorted(RECORDINGS) == ["0.7", "0.9"]
    assert RECORDINGS["0.7"]["pyroute2"].startswith("0.7.") and RECORDINGS["0.9"]["pyroute2"].startswith("0.9.")
    for doc in RECORDINGS.values():
        assert doc["namespaces"] == [nlrecord.NS]


def test_versions_read_the_same_facts_live():
    """Same kernel state, both versions: the readers derived the same facts (indexes included)."""
    assert RECORDINGS["0.7"]["facts"] == RECORDINGS["0.9"]["facts"]


def test_versions_asked_the_same_dumps():
    assert sorted(RECORDINGS["0.7"]["calls"]) == sorted(RECORDINGS["0.9"]["calls"])
    for k, rec in RECORDINGS["0.9"]["calls"].items():
        other = RECORDINGS["0.7"]["calls"][k]
        assert len(rec.get("messages", ())) == len(other.get("messages", ())), k


@pytest.mark.parametrize("version,mode", modes())
def test_replay_gives_the_live_facts(version, mode):
    doc = RECORDINGS[version]
    facts = facts_of(doc, mode)
    for other in RECORDINGS.values():
        assert facts == other["facts"]


@pytest.mark.skipif(installed() is None, reason="no pyroute2 installed")
def test_installed_version_decodes_its_recording_as_recorded():
    """The ``decoded`` replay is honest: the installed pyroute2 decodes the recorded bytes of its own version's
    recording into exactly what that recording says it returned (but ``event``, which its socket adds from the
    header's type)."""
    mine = [d for d in RECORDINGS.values() if d["pyroute2"] == installed()]
    if not mine:
        pytest.skip("no recording of pyroute2 %s" % installed())
    n = 0
    for k, rec in sorted(mine[0]["calls"].items()):
        for m in rec.get("messages", ()):
            want = copy.deepcopy(m["msg"])
            want["fields"].pop("event", None)
            assert nlrecord.value(decode_raw(m)) == want, k
            n += 1
    assert n > 50


def test_recorded_state_is_the_built_one():
    """What nlrecord.build made, as the readers see it: not an empty or partial recording."""
    f = RECORDINGS["0.9"]["facts"]
    host, ns = f["host"], f["ns:" + nlrecord.NS]
    links = host["links"]
    assert (links["br0"]["kind"], links["br0"]["stp"], links["br0"]["mtu"]) == ("bridge", 0, 1400)
    vh1 = links["vh1"]
    assert (vh1["kind"], vh1["master"], vh1["alias"], vh1["hairpin"], vh1["isolated"], vh1["mtu"]) == \
        ("veth", links["br0"]["index"], "netplumb", True, True, 1400)
    assert vh1["peer_netnsid"] == int(next(iter(f["nsids"]))) and f["nsids"] == {"0": nlrecord.NS}
    assert links["mv0"]["kind"] == "macvlan" and links["lo"]["kind"] == "loopback"
    assert host["addrs"] == {"br0": ["10.77.0.1/24", "fd77::1/64"], "dum0": ["192.0.2.10/24", "2001:db8:7::10/64"],
                             "mv0": ["198.51.100.5/24"]}
    assert host["routes"] == {"4": "192.0.2.1", "6": "2001:db8:7::1"} and host["route_protos"] == {"4": 3, "6": 3}
    eth0 = ns["links"]["eth0"]
    assert (eth0["kind"], eth0["alias"], eth0["peer_index"], eth0["up"]) == ("veth", "netplumb", vh1["index"], True)
    assert ns["addrs"] == {"eth0": ["10.77.0.2/24", "fd77::2/64"]}
    assert ns["routes"] == {"4": "10.77.0.1", "6": "fd77::1"} and ns["route_protos"] == {"4": 151, "6": 151}
    routes = f["host_facts"]["routes"]
    for r in ("10.88.0.0/24 via 192.0.2.2 dev dum0 proto 151",
              "10.93.0.0/24 via 192.0.2.4 dev dum0 proto 3",          # multipath: both hops
              "10.93.0.0/24 via 198.51.100.6 dev mv0 proto 3",
              "10.94.0.0/24 via 192.0.2.5 dev dum0 table 100 proto 3",
              "10.95.0.0/24 nhid 77 via 192.0.2.7 dev dum0 proto 3",  # through nexthop object 77
              "2001:db8:99::/48 via 2001:db8:7::2 dev dum0 proto 3"):
        assert r in routes
    assert not [r for r in routes if r.startswith(("10.90.", "10.91.", "10.92."))]     # not unicast
    assert f["hostgw_routes"]["10.88.0.0/24"] == ["192.0.2.2", 151]
    assert "10.94.0.0/24" not in f["hostgw_routes"]         # table 100
    assert "dum0 192.0.2.10/24" in f["host_facts"]["addrs"] and "lo 127.0.0.1/8" in f["host_facts"]["addrs"]
    # dum0 carries the default route; its veth twin dum0p (no dummy links on this kernel) is tied to it
    assert set(f["host_facts"]["uplinks"]) == {"dum0", "dum0p"}


# --- NLM_F_DUMP_INTR: 0.7.2's socket raises NetlinkDumpInterrupted, 0.9's returns the flagged messages ---------
def flagged(rec):
    raw = bytearray.fromhex(rec["raw"])
    flags = struct.unpack_from("=H", raw, 6)[0]
    struct.pack_into("=H", raw, 6, flags | NLM_F_DUMP_INTR)
    out = dict(rec, raw=raw.hex())
    return out


@pytest.mark.skipif(installed() is None, reason="no pyroute2 installed")
@pytest.mark.parametrize("version", sorted(RECORDINGS))
def test_a_dump_the_kernel_flags_interrupted_is_taken_again(version):
    """The kernel's bytes with NLM_F_DUMP_INTR set, decoded by the installed pyroute2, as its socket would hand
    them over when it does not raise itself: dump() takes the dump again instead of returning it."""
    doc = RECORDINGS[version]
    calls = []

    def get_links():
        calls.append(1)
        sock = ReplaySock(doc, None, "raw", tamper=flagged if len(calls) == 1 else None)
        return sock.get_links()

    links = _nl.dump(get_links)
    assert len(calls) == 2
    assert not [m for m in links if m["header"]["flags"] & NLM_F_DUMP_INTR]
    assert [_nl.Link.from_msg(m).name for m in links] == sorted(doc["facts"]["host"]["links"],
                                                                key=lambda n: doc["facts"]["host"]["links"][n]["index"])


@pytest.mark.skipif(installed() is None, reason="no pyroute2 installed")
def test_the_installed_versions_interrupted_exception_is_retried():
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted
    calls = []

    def fn():
        calls.append(1)
        if len(calls) < 3:
            raise NetlinkDumpInterrupted()
        return ["ok"]
    assert _nl.dump(fn) == ["ok"] and len(calls) == 3


@pytest.mark.skipif(installed() is None, reason="no pyroute2 installed")
def test_a_dump_interrupted_every_time_is_an_error():
    doc = RECORDINGS["0.9"]
    with pytest.raises(_nl.StateError, match="interrupted %d times" % _nl.DUMP_TRIES):
        _nl.dump(ReplaySock(doc, None, "raw", tamper=flagged).get_links)
