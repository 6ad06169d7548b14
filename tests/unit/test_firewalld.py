"""_firewalld without a daemon: the zone listing parsed, the binding plan (what we bound is ours, only that), the
warning without the option, and _persist's listener files (the real daemon: tests/hostile/test_firewalld.py)."""
import io
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _firewalld, _persist
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError

# firewall-cmd --list-all-zones of firewalld 1.3.3 (two zones shown; the others have the same shape)
LISTING = """public (active)
  target: default
  icmp-block-inversion: no
  interfaces: eth0
  sources:
  services: dhcpv6-client ssh
  forward: yes

trusted
  target: ACCEPT
  icmp-block-inversion: no
  interfaces: br-a br-hand
  sources:

drop
  target: DROP
  interfaces:
"""

NETS = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[dict(name="c0", address="172.18.0.10")])]


def state(runtime=None, permanent=None, default="public"):
    st = _firewalld.State(True, default, runtime or _firewalld.parse_zones(LISTING),
                          permanent or _firewalld.parse_zones(LISTING))
    st.ledger = {}
    return st


def test_listing_parsed_to_targets_and_interfaces():
    zones = _firewalld.parse_zones(LISTING)
    assert zones == dict(public=dict(target="default", interfaces=["eth0"]),
                         trusted=dict(target="ACCEPT", interfaces=["br-a", "br-hand"]),
                         drop=dict(target="DROP", interfaces=[]))
    assert state().zone_of("br-a") == "trusted" and state().zone_of("br-x") is None


def test_zone_names_are_validated():
    assert _firewalld.validate_zone("firewalld_zone", None) is None
    assert _firewalld.validate_zone("firewalld_zone", "trusted") == "trusted"
    for bad in ("-x", "a b", "x" * 18, 5):
        with pytest.raises(ValidationError, match="firewalld_zone="):
            _firewalld.validate_zone("firewalld_zone", bad)


def test_an_unbound_bridge_is_bound_runtime_and_permanent_after_its_record():
    p = _firewalld.plan(state(), "trusted", ["br-x"], [], ledger={})
    assert p.commands == [
        "install -m 0600 /dev/stdin /etc/netplumb/firewalld.json  # the firewalld bindings netplumb made: "
        "br-x=trusted",
        "firewall-cmd --zone=trusted --add-interface=br-x",
        "firewall-cmd --permanent --zone=trusted --add-interface=br-x"]
    assert p.after == dict(firewalld_bindings={"br-x": "trusted"}) and not p.warnings


def test_bound_already_ours_or_not_writes_nothing():
    ours = {"br-a": dict(zone="trusted", runtime=True, permanent=True)}
    assert _firewalld.plan(state(), "trusted", ["br-a"], [], ledger=ours).actions == []
    # someone else's binding to the same zone: nothing to do, and not recorded as ours
    p = _firewalld.plan(state(), "trusted", ["br-hand"], [], ledger={})
    assert p.actions == [] and p.after == dict(firewalld_bindings={})


def test_a_binding_to_another_zone_we_did_not_make_is_left_with_a_warning():
    st = state()
    st.runtime["public"]["interfaces"].append("br-x")
    p = _firewalld.plan(st, "trusted", ["br-x"], [], ledger={})
    assert p.commands == [
        "install -m 0600 /dev/stdin /etc/netplumb/firewalld.json  # the firewalld bindings netplumb made: "
        "br-x=trusted",
        "firewall-cmd --permanent --zone=trusted --add-interface=br-x"]
    assert "bridge br-x is bound to firewalld zone public by someone else" in p.warnings[0]
    # ours (recorded): moved
    mine = {"br-x": dict(zone="public", runtime=True, permanent=False)}
    p = _firewalld.plan(st, "trusted", ["br-x"], [], ledger=mine)
    assert "firewall-cmd --zone=trusted --change-interface=br-x" in p.commands


def test_our_bindings_go_with_their_network_or_the_option_and_only_ours():
    ours = {"br-a": dict(zone="trusted", runtime=True, permanent=True)}
    gone = ["firewall-cmd --zone=trusted --remove-interface=br-a",
            "firewall-cmd --permanent --zone=trusted --remove-interface=br-a",
            "rm /etc/netplumb/firewalld.json  # the firewalld bindings netplumb made"]
    assert _firewalld.plan(state(), "trusted", [], ["br-a"], ledger=ours).commands == gone      # absent, pruned
    assert _firewalld.plan(state(), None, ["br-a"], [], ledger=ours).commands == gone           # option off
    assert _firewalld.plan(state(), "trusted", [], [], ledger=ours).actions == []      # undeclared, no prune
    # only the kinds we made: a permanent binding of someone else stays
    half = {"br-a": dict(zone="trusted", runtime=True, permanent=False)}
    assert _firewalld.plan(state(), None, [], ["br-a"], ledger=half).commands == [gone[0], gone[2]]
    # bindings someone else removed or changed since: nothing to remove, the record goes
    assert _firewalld.plan(state(), None, [], ["br-q"], ledger={"br-q": ours["br-a"]}).commands == [gone[2]]


def test_without_the_option_a_bridge_in_no_zone_is_warned_about_with_its_zone_and_commands():
    p = _firewalld.plan(state(), None, ["br-x", "br-a"], [], ledger={})
    assert p.actions == []
    [w] = p.warnings
    assert "bridge br-x is in no firewalld zone, so it falls into the default zone public (target default)" in w
    assert "run: firewall-cmd --zone=trusted --add-interface=br-x; firewall-cmd --permanent --zone=trusted " \
           "--add-interface=br-x" in w
    assert "drops" in _firewalld.plan(state(default="drop"), None, ["br-x"], [], ledger={}).warnings[0]
    assert _firewalld.plan(state(default="trusted"), None, ["br-x"], [], ledger={}).warnings == []


def test_not_running_binds_nothing_and_says_so():
    p = _firewalld.plan(_firewalld.State(), "trusted", ["br-x"], [], ledger={})
    assert p.actions == [] and "firewalld is not running" in p.warnings[0]
    assert _firewalld.plan(_firewalld.State(), None, ["br-x"], [], ledger={}).warnings == []


def test_an_unknown_zone_is_refused_naming_the_zones():
    with pytest.raises(StateError, match=r"firewalld_zone=dmz: firewalld has no such zone \(its zones: drop, "
                                         r"public, trusted\)"):
        _firewalld.plan(state(), "dmz", ["br-x"], [], ledger={})


def test_the_listener_converges_once_subscribed_then_on_reloads_and_restarts(tmp_path, monkeypatch):
    """dbus-monitor's output, as firewalld 1.3.3 and dbus 1.14 print it, replayed by a fake monitor."""
    calls = []
    monkeypatch.setattr(_firewalld, "_reconverge", lambda path, out, err: calls.append(path))
    fake = tmp_path / "monitor.txt"
    fake.write_text(
        "signal time=1.0 sender=org.freedesktop.DBus -> destination=:1.4 serial=2 path=/org/freedesktop/DBus; "
        "interface=org.freedesktop.DBus; member=NameAcquired\n   string \":1.4\"\n"
        "signal time=1.1 sender=:1.0 -> destination=(null destination) serial=7 path=/org/fedoraproject/FirewallD1;"
        " interface=org.fedoraproject.FirewallD1; member=Reloaded\n"
        "signal time=1.2 sender=org.freedesktop.DBus -> destination=:1.4 serial=4 path=/org/freedesktop/DBus; "
        "interface=org.freedesktop.DBus; member=NameLost\n   string \":1.4\"\n"
        "signal time=2.0 sender=:1.0 -> destination=(null destination) serial=718 path=/org/fedoraproject/FirewallD1;"
        " interface=org.fedoraproject.FirewallD1; member=Reloaded\n"
        "signal time=3.0 sender=org.freedesktop.DBus -> destination=(null destination) serial=9 "
        "path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameOwnerChanged\n"
        "   string \"org.fedoraproject.FirewallD1\"\n   string \":1.0\"\n   string \"\"\n"
        "signal time=4.0 sender=org.freedesktop.DBus -> destination=(null destination) serial=10 "
        "path=/org/freedesktop/DBus; interface=org.freedesktop.DBus; member=NameOwnerChanged\n"
        "   string \"org.fedoraproject.FirewallD1\"\n   string \"\"\n   string \":1.9\"\n")
    err = io.StringIO()
    rc = _firewalld.listen(["/x/networks.json"], io.StringIO(), err, monitor=["cat", str(fake)])
    assert rc == 1      # the monitor ended: the unit restarts the listener
    # once subscribed (NameLost: a monitor now), the reload after it, the start of a new firewalld
    assert calls == ["/x/networks.json"] * 3, (calls, err.getvalue())
    text = err.getvalue()
    assert text.index("listening") < text.index("firewalld reloaded") < text.index("firewalld started")
    assert _firewalld.listen(["a", "b"], io.StringIO(), io.StringIO()) == 2
    err = io.StringIO()
    assert _firewalld.listen([], io.StringIO(), err, monitor=[str(tmp_path / "no-such-monitor")]) == 1
    assert "cannot run" in err.getvalue() and "dbus-bin" in err.getvalue()


@pytest.fixture
def root(tmp_path, monkeypatch):
    for name in ("CONFIG_DIR", "NETWORKS_FILE", "LIB_DIR", "LAUNCHER", "UNIT_FILE", "WANTS_LINK", "SYSCTL_FILE",
                 "RELOAD_LAUNCHER", "RELOAD_UNIT_FILE", "RELOAD_WANTS_LINK"):
        monkeypatch.setattr(_persist, name, str(tmp_path) + getattr(_persist, name))
    return tmp_path


def test_persist_installs_the_listener_alone_and_removes_it(root):
    def plan(**kw):
        return _persist.plan(NETS, True, "auto", "container_networks", "/usr/bin/python3", systemd_running=False,
                             **kw)
    p = plan(boot=False, reload_listener=True, firewalld_zone="trusted")
    assert [a.target for a in p.actions] == [_persist.NETWORKS_FILE, _persist.RELOAD_UNIT_FILE,
                                             _persist.RELOAD_WANTS_LINK, _persist.LIB_DIR]
    assert p.warnings == [] and p.extra["exec_start"] is None
    assert p.extra["reload_exec_start"] == ["/usr/bin/python3", "-E", "-s", "-B", _persist.RELOAD_LAUNCHER,
                                            _persist.NETWORKS_FILE]
    p.apply(False)
    assert _persist.load_networks(_persist.NETWORKS_FILE)["firewalld_zone"] == "trusted"
    assert "_firewalld.listen(sys.argv[1:])" in open(_persist.RELOAD_LAUNCHER).read()
    unit = open(_persist.RELOAD_UNIT_FILE).read().splitlines()
    for line in ("PartOf=firewalld.service", "After=dbus.service firewalld.service", "Type=simple",
                 "Restart=on-failure", "WantedBy=firewalld.service"):
        assert line in unit
    assert plan(boot=False, reload_listener=True, firewalld_zone="trusted").actions == []
    # the boot unit joins: the listener's files stay as they are
    both = plan(boot=True, reload_listener=True, firewalld_zone="trusted")
    assert [a.target for a in both.actions] == [_persist.UNIT_FILE, _persist.SYSCTL_FILE, _persist.WANTS_LINK]
    both.apply(False)
    # the listener off: its unit, link and launcher go
    off = plan(boot=True, reload_listener=False, firewalld_zone="trusted")
    assert [a.target for a in off.actions] == [_persist.RELOAD_UNIT_FILE, _persist.RELOAD_WANTS_LINK,
                                               _persist.LIB_DIR]
    off.apply(False)
    assert not os.path.exists(_persist.RELOAD_LAUNCHER) and os.path.exists(_persist.LAUNCHER)


def test_a_running_systemd_restarts_the_listener_on_a_change(root):
    p = _persist.plan(NETS, True, "auto", "v", "/usr/bin/python3", systemd_running=True, boot=False,
                      reload_listener=True)
    unit = _persist.RELOAD_UNIT
    assert p.commands[-2:] == ["systemctl daemon-reload", "systemctl try-restart %s; systemctl is-active --quiet "
                               "firewalld.service && systemctl start %s" % (unit, unit)]


def test_a_binding_failing_halfway_reports_what_was_written(monkeypatch, tmp_path):
    """The firewalld step after a converge: the permanent binding fails after the record and the runtime binding
    were written; the error lists the converge's commands and exactly those two, nothing after."""
    from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError
    monkeypatch.setattr(_firewalld, "LEDGER", str(tmp_path / "firewalld.json"))
    calls = []

    def fake_cmd(args):
        calls.append(list(args))
        return (1, "", "Error: INVALID_ZONE") if "--permanent" in args else (0, "success", "")
    monkeypatch.setattr(_firewalld, "_cmd", fake_cmd)
    res = dict(commands=["ip link add br-x type bridge"], changed=True, warnings=[], calls=[])
    parsed = dict(present=[dict(bridge="br-x")], absent=[])
    with pytest.raises(KernelError) as err:
        _firewalld.converge(res, parsed, "trusted", False, False, state())
    assert err.value.done[0] == "ip link add br-x type bridge"
    assert err.value.done[1].startswith("install -m 0600 /dev/stdin %s" % _firewalld.LEDGER)
    assert err.value.done[2:] == ["firewall-cmd --zone=trusted --add-interface=br-x"]
    assert "--permanent" in err.value.command and calls[-1][0] == "--permanent"
    assert os.path.exists(_firewalld.LEDGER)     # the record was written before the first binding


def test_installing_the_listener_needs_dbus_monitor_before_any_write(root, monkeypatch):
    """Without dbus-monitor the listener could never run: installing it is refused before the first write,
    naming the tool and its package; a host that has it installs, and a re-run needs nothing."""
    from ansible_collections.netplumb.container.plugins.module_utils import _hosttools

    def plan(**kw):
        return _persist.plan(NETS, True, "auto", "v", "/usr/bin/python3", systemd_running=False, boot=False,
                             reload_listener=True, **kw)
    monkeypatch.setenv("PATH", str(root / "empty-bin"))
    p = plan()
    with pytest.raises(_hosttools.MissingError) as err:
        _hosttools.check(p)
    assert "dbus-monitor is not installed" in str(err.value) and "dbus-bin" in str(err.value)
    assert not os.path.exists(_persist.NETWORKS_FILE)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "dbus-monitor").write_text("#!/bin/sh\n")
    (bin_dir / "dbus-monitor").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    p = _hosttools.check(plan())
    p.apply(False)
    monkeypatch.setenv("PATH", str(root / "empty-bin"))
    assert _hosttools.check(plan()).actions == []      # nothing to write: nothing needed
