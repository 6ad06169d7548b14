"""_hosttools: which tools and writable places a plan needs (declared and derived from its actions), how a
missing one is told, and the places decided on a real directory tree (read-only mounts are the hostile
suite's: tests/hostile/test_host_tools.py)."""
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools as ht
from ansible_collections.netplumb.container.plugins.module_utils import _kprereq, _netns
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError
from ansible_collections.netplumb.container.plugins.module_utils._iptables import IptablesDriver
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

from fakes import FakeNetlink, link, state
from test_firewall_iptables import FakeRunner


def act(kind, target, command):
    return Action(kind, target, command, lambda: None)


def which_none_of(*missing):
    return lambda tool: None if tool in missing else "/usr/sbin/" + tool


def no_problem(path, in_place=False):
    return None


def test_needs_derived_from_action_kinds_once_each_with_every_reason():
    p = Plan()
    p.add(act("sysctl", "net.ipv4.ip_forward", "sysctl -w net.ipv4.ip_forward=1"))
    p.add(act("conntrack_flush", "udp/53", "conntrack -D -p udp --orig-port-dst 53"))
    p.add(act("conntrack_flush", "udp/54", "conntrack -D -p udp --orig-port-dst 54"))
    p.add(act("netns_add", "c1", "ip netns add c1"))
    p.add(act("link_add", "v1", "ip link add v1 type veth peer name eth0"))
    p.add(act("link_set", "v1", "ip link set v1 up"))        # needs nothing of its own
    p.add(act("modprobe", "ip_vs", "modprobe ip_vs"))
    got = ht.needs(p)
    assert got == [
        (ht.IN_PLACE, "/proc/sys/net/ipv4/ip_forward", ["by `sysctl -w net.ipv4.ip_forward=1`"]),
        (ht.TOOL, "conntrack", ["by `conntrack -D -p udp --orig-port-dst 53`",
                                "by `conntrack -D -p udp --orig-port-dst 54`"]),
        (ht.PLACE, "/run/netns/c1", ["by `ip netns add c1`"]),
        (ht.PLACE, "/run/netplumb/pending", ["by `ip netns add c1`", "by `ip link add v1 type veth peer name eth0`"]),
        (ht.TOOL, "modprobe", ["by `modprobe ip_vs`"]),
    ]


def test_an_empty_plan_needs_nothing():
    assert ht.needs(Plan()) == [] and ht.check(Plan(), which_none_of("conntrack")) is not None


def test_missing_tool_names_it_what_needs_it_and_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nowhere")
    p = Plan()
    p.add(act("conntrack_flush", "udp/53", "conntrack -D -p udp --orig-port-dst 53"))
    p.add(act("conntrack_flush", "udp/54", "conntrack -D -p udp --orig-port-dst 54"))
    ht.need_tool(p, "iptables-nft-restore", "to apply the rule changes of table nat")
    ht.need_tool(p, "nft", "to apply the ruleset")
    with pytest.raises(StateError) as exc:
        ht.check(p, which=which_none_of("conntrack", "iptables-nft-restore", "nft"), probe=no_problem)
    msg = str(exc.value)
    assert exc.value.problems == [      # the declared needs first, then those of the actions
        "iptables-nft-restore is not installed (not found on PATH=/nowhere): needed to apply the rule changes of "
        "table nat; install the Debian package iptables",
        "nft is not installed (not found on PATH=/nowhere): needed to apply the ruleset; install the Debian "
        "package nftables",
        "conntrack is not installed (not found on PATH=/nowhere): needed by `conntrack -D -p udp --orig-port-dst "
        "53` (and 1 more); install the Debian package conntrack",
    ]
    assert msg.endswith("refusing before any change (see docs/safety.md, Tools and writable places)")
    assert ht.check(p, which=which_none_of(), probe=no_problem) is p


@pytest.mark.parametrize("tool, package", [
    ("iptables", "iptables"), ("iptables-legacy-save", "iptables"), ("ip6tables-nft-restore", "iptables"),
    ("conntrack", "conntrack"), ("nft", "nftables"), ("modprobe", "kmod"), ("frobnicate", None)])
def test_package_of(tool, package):
    assert ht.package_of(tool) == package


def test_places_probed_once_per_directory_and_named():
    calls = []

    def probe(path, in_place=False):
        calls.append((path, in_place))
        return "%s is on a read-only mount (statvfs: ST_RDONLY)" % os.path.dirname(path)
    p = Plan()
    for i in range(3):
        p.add(act("netns_add", "c%d" % i, "ip netns add c%d" % i))
    lines = ht.problems(p, which=which_none_of(), probe=probe)
    assert calls == [("/run/netns/c0", False), ("/run/netplumb/pending", False)]
    assert lines[0] == ("cannot create, replace or remove /run/netns/c0: /run/netns is on a read-only mount "
                        "(statvfs: ST_RDONLY); needed by `ip netns add c0`")
    assert len(lines) == 4      # each namespace named, the journal once


# --- place_problem on a real tree ---------------------------------------------------------------------------
def test_place_in_a_writable_directory(tmp_path):
    assert ht.place_problem(str(tmp_path / "f.conf")) is None
    # the directory is made too: its nearest existing ancestor decides
    assert ht.place_problem(str(tmp_path / "a" / "b" / "f.conf")) is None


def test_place_under_a_file_is_no_directory(tmp_path):
    (tmp_path / "sysctl.d").write_text("")
    assert ht.place_problem(str(tmp_path / "sysctl.d" / "90.conf")) == "%s is not a directory" % (
        tmp_path / "sysctl.d")


def test_place_immutable_or_unwritable_directory_by_access(tmp_path, monkeypatch):
    monkeypatch.setattr(ht.os, "access", lambda path, mode: path != str(tmp_path))
    assert ht.place_problem(str(tmp_path / "f")) == (
        "%s is not writable (access W_OK refused: permissions or the immutable attribute)" % tmp_path)


def test_place_on_a_readonly_mount_by_statvfs(tmp_path, monkeypatch):
    real = os.statvfs

    class Ro:
        f_flag = os.ST_RDONLY
    monkeypatch.setattr(ht.os, "statvfs", lambda path: Ro() if path == str(tmp_path) else real(path))
    assert ht.place_problem(str(tmp_path / "new" / "f")) == (
        "%s is on a read-only mount (statvfs: ST_RDONLY)" % tmp_path)


def test_in_place_file_missing_needs_only_a_writable_mount(tmp_path, monkeypatch):
    """A sysctl that appears later (net.bridge.* once br_netfilter loads): /proc/sys directories refuse
    access(W_OK) even to root, so only the mount decides."""
    monkeypatch.setattr(ht.os, "access", lambda path, mode: False)
    assert ht.place_problem(str(tmp_path / "net" / "bridge" / "x"), in_place=True) is None
    (tmp_path / "x").write_text("0\n")
    assert "not writable" in ht.place_problem(str(tmp_path / "x"), in_place=True)


# --- what the planners declare ------------------------------------------------------------------------------
SAVE_EMPTY = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"


def test_iptables_plan_needs_its_restore_tool_only_when_it_writes():
    from ansible_collections.netplumb.container.plugins.module_utils._firewall import Rule
    d = IptablesDriver("legacy", FakeRunner({"iptables-legacy-save": (0, SAVE_EMPTY, "")}))
    wanted = [Rule("nat", "POSTROUTING", ["-s", "10.1.0.0/16", "-j", "MASQUERADE"], "netplumb:br9")]
    p = Plan()
    d.plan(p, d.read(), lambda o: o == "netplumb:br9", wanted)
    assert [(k, t) for k, t, w in ht.needs(p)] == [(ht.TOOL, "iptables-legacy-restore")]
    assert "table nat (firewall backend iptables-legacy)" in ht.needs(p)[0][2][0]
    p = Plan()
    d.plan(p, d.read(), lambda o: o == "netplumb:br9", [])
    assert p.actions == [] and ht.needs(p) == []


@pytest.mark.parametrize("version, tool", [("iptables v1.8.9 (nf_tables)", "iptables-nft-save"),
                                           ("iptables v1.8.9 (legacy)", "iptables-legacy-save")])
def test_detect_refuses_a_backend_without_its_save_tool(version, tool):
    run = FakeRunner({"iptables": (0, version, ""), tool: (127, "", "[Errno 2] No such file or directory")})
    with pytest.raises(StateError) as exc:
        IptablesDriver.detect(run)
    assert "firewall_backend=auto: %s is not installed" % tool in str(exc.value)
    assert "install the Debian package iptables" in str(exc.value)


def test_detect_without_iptables():
    run = FakeRunner({"iptables": (127, "", "[Errno 2] No such file or directory: 'iptables'")})
    with pytest.raises(StateError) as exc:
        IptablesDriver.detect(run, explicit=True)
    assert str(exc.value).startswith("firewall_backend=iptables: iptables is not installed")


def test_kernel_prerequisites_declares_the_files_it_writes_or_removes(tmp_path):
    procsys = tmp_path / "procsys" / "net" / "ipv4"
    procsys.mkdir(parents=True)
    (procsys / "ip_forward").write_text("0\n")
    sfile = str(tmp_path / "etc" / "sysctl.d" / "90-netplumb.conf")
    spec = dict(required=[], optional=[], sysctls={"net.ipv4.ip_forward": 1}, modules_file=str(tmp_path / "m.conf"),
                sysctl_file=sfile, state="present")
    p = _kprereq.plan(spec, proc_sys=str(tmp_path / "procsys"))
    assert (ht.PLACE, sfile, ["to write sysctl_file=%s" % sfile]) in ht.needs(p)
    assert (ht.IN_PLACE, "/proc/sys/net/ipv4/ip_forward", ["by `sysctl -w net.ipv4.ip_forward=1`"]) in ht.needs(p)
    p.apply(False)
    p = _kprereq.plan(dict(spec, state="absent"), proc_sys=str(tmp_path / "procsys"))
    assert ht.needs(p) == [(ht.PLACE, sfile, ["to remove sysctl_file=%s" % sfile])]


# --- /run/netns/NAME that is no namespace ------------------------------------------------------------------
@pytest.fixture
def nl(tmp_path):
    fake = FakeNetlink({None: state(None, [link(1, "lo", kind=None)])})
    fake.run_dir = str(tmp_path / "netns")
    fake.ns_create = lambda name: None     # planned, never run here
    os.mkdir(fake.run_dir)
    return fake


@pytest.mark.parametrize("make, what", [
    (lambda p: open(p, "w").close(), "a plain file"), (os.mkdir, "a directory"),
    (lambda p: os.symlink("/proc/1/ns/net", p), "a symlink")])
def test_leftover_at_run_netns_refused_naming_the_path(nl, make, what):
    path = os.path.join(nl.run_dir, "c1")
    make(path)
    with pytest.raises(StateError) as exc:
        _netns.plan(nl, ["web0", "c1"])
    assert str(exc.value).startswith("name[1]=c1: %s exists and is %s, not a network namespace" % (path, what))
    assert "rm %s" % path in str(exc.value)
    # state=absent has nothing to remove there and leaves it alone
    assert _netns.plan(nl, ["c1"], state="absent").actions == []


def test_free_name_plans_the_namespace(nl):
    p = _netns.plan(nl, ["c1"])
    assert p.commands[0] == "ip netns add c1"
