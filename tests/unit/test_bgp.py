"""bgp_speaker's pure parts: validation, the rendered bird.conf, the plan against a fake host, and the preflight's
recognition of the routes our BIRD learned."""
import ipaddress
import shutil
import subprocess

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _bgp, _hostmodel, _preflight
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError

CONF = "/etc/bird/bird.conf"
EXAMPLE = "# the package's example\nlog syslog all;\n"


def spec(**kw):
    out = dict(local="192.0.2.11", cluster_cidr="10.244.0.0/16", announce=["10.244.1.0/24"],
               peers=[dict(name="h3", address="198.51.100.13"), dict(name="h2", address="192.0.2.12")],
               supervisor="self")
    out.update(kw)
    return out


class FakeHost(_bgp.Host):
    """The host as the planner reads it; commands are recorded, bird -p accepts unless told otherwise."""

    def __init__(self, files=None, pid=None, systemd=False, unit=(False, "disabled"), listening=False, refuse=False):
        self.files = dict(files or {})
        self.files.setdefault(_bgp.PACKAGE_CONFIG, EXAMPLE)
        self.pid = pid
        self._systemd = systemd
        self.unit = unit
        self._listening = listening
        self.refuse = refuse
        self.ran = []

    def read(self, path):
        return self.files.get(path)

    def systemd(self):
        return self._systemd

    def unit_state(self):
        return self.unit

    def pid_of(self, pidfile):
        return self.pid

    def listening(self, port):
        return self._listening

    def run(self, argv):
        self.ran.append(argv)
        if argv[:2] == ["bird", "-p"] and self.refuse:
            return 1, "", "bird: /x/bird.conf:3:1 syntax error"
        return 0, "", ""


def plan(host, **kw):
    return _bgp.plan(None, spec(**kw), host=host)


# --- validation -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,field", [
    (dict(local=None), "local"),
    (dict(local="10.0.0.300"), "local"),
    (dict(local="224.0.0.1"), "local"),
    (dict(cluster_cidr=None), "cluster_cidr"),
    (dict(cluster_cidr="0.0.0.0/0"), "cluster_cidr"),
    (dict(announce=["10.99.0.0/24"]), "announce[0]"),
    (dict(announce=["10.244.1.0/24", "10.244.1.128/25"]), "announce[1]"),
    (dict(announce=["10.244.1.1/24"]), "announce[0]"),
    (dict(asn=0), "asn"),
    (dict(asn=23456), "asn"),
    (dict(asn=True), "asn"),
    (dict(router_id="fe80::1"), "router_id"),
    (dict(peers=[dict(address="192.0.2.11")]), "peers[0].address"),
    (dict(peers=[dict(address="192.0.2.12"), dict(address="192.0.2.12")]), "peers[1].address"),
    (dict(peers=[dict(address="192.0.2.12", color="red")]), "peers[0]"),
    (dict(peers=["192.0.2.12"]), "peers[0]"),
    (dict(peers=[dict(address="192.0.2.12", name="h 2")]), "peers[0].name"),
    (dict(peers=[dict(address="192.0.2.12", rr_client=True)]), "peers[0].rr_client"),
    (dict(route_reflector=True, peers=[dict(address="192.0.2.12", rr_client=True, asn=65000)]), "peers[0].rr_client"),
    (dict(peers=[dict(address="192.0.2.12", asn=65000, multihop=0)]), "peers[0].multihop"),
    (dict(hold_time=2), "hold_time"),
    (dict(connect_retry=0), "connect_retry"),
    (dict(supervisor="runit"), "supervisor"),
    (dict(supervisor="systemd", config="/etc/bird/other.conf"), "config"),
    (dict(config="relative/bird.conf"), "config"),
    (dict(extra_config=["x"]), "extra_config"),
])
def test_validation_names_the_field(kw, field):
    with pytest.raises(ValidationError) as err:
        _bgp.validate(spec(**kw))
    assert err.value.field == field


def test_absent_needs_nothing_else():
    s = _bgp.validate(dict(state="absent"))
    assert (s.state, s.config, s.pidfile, s.peers) == ("absent", CONF, _bgp.SELF_PIDFILE, [])


# --- the rendered configuration -------------------------------------------------------------------------------
def test_render_full_mesh():
    text = _bgp.render(_bgp.validate(spec()))
    assert text.startswith(_bgp.MARK + "\n")
    assert "router id 192.0.2.11;" in text
    assert "define NETPLUMB_CLUSTER = [ 10.244.0.0/16+ ];" in text
    assert "  route 10.244.1.0/24 blackhole;" in text
    assert "  metric 151;" in text and "  learn;" in text
    assert "export where source = RTS_BGP && net ~ NETPLUMB_CLUSTER && net !~ NETPLUMB_OWN;" in text
    assert "  local 192.0.2.11 as 64512;" in text
    # peers in address order, named by address (a renamed host keeps its session)
    h2 = text.index("protocol bgp np_192_0_2_12 from netplumb_peer {")
    h3 = text.index("protocol bgp np_198_51_100_13 from netplumb_peer {")
    assert h2 < h3
    assert "rr client" not in text and "rr cluster id" not in text
    # the same input renders the same bytes, whatever the order of the peers
    again = _bgp.render(_bgp.validate(spec(peers=list(reversed(spec()["peers"])))))
    assert again == text


def test_render_route_reflector_and_external_peer():
    text = _bgp.render(_bgp.validate(spec(
        announce=[], route_reflector=True, asn=64600, router_id="192.0.2.1", local="192.0.2.1",
        peers=[dict(name="h1", address="192.0.2.11", rr_client=True), dict(name="rr2", address="192.0.2.2"),
               dict(name="tor", address="203.0.113.1", asn=65000, multihop=2)],
        extra_config="protocol bfd {\n}\n")))
    assert "  rr cluster id 192.0.2.1;" in text
    assert "define NETPLUMB_OWN = [ 0.0.0.0/32 ];" in text     # nothing of its own to announce
    assert "protocol static netplumb_announce {\n  ipv4;\n}" in text
    block = text[text.index("protocol bgp np_192_0_2_11"):]
    assert block[:block.index("}")].count("rr client;") == 1
    rr2 = text[text.index("protocol bgp np_192_0_2_2 "):]
    assert "rr client" not in rr2[:rr2.index("}")]
    tor = text[text.index("protocol bgp np_203_0_113_1 "):]
    assert "neighbor 203.0.113.1 as 65000;\n  multihop 2;" in tor
    assert text.endswith("# extra_config\nprotocol bfd {\n}\n")


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed (make bird-deps)")
@pytest.mark.parametrize("kw", [dict(), dict(announce=[], route_reflector=True,
                                             peers=[dict(address="192.0.2.12", rr_client=True),
                                                    dict(address="203.0.113.1", asn=65000, multihop=3)])])
def test_bird_accepts_what_we_render(tmp_path, kw):
    path = tmp_path / "bird.conf"
    path.write_text(_bgp.render(_bgp.validate(spec(**kw))))
    res = subprocess.run(["bird", "-p", "-c", str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


# --- the plan ---------------------------------------------------------------------------------------------------
def test_fresh_host_self_supervised_writes_then_starts():
    host = FakeHost()
    p = plan(host)
    assert [a.kind for a in p.actions] == ["config_write", "bird_start"]
    assert p.commands[1] == "bird -c %s -s %s -P %s" % (CONF, _bgp.SELF_SOCKET, _bgp.SELF_PIDFILE)
    assert p.extra["supervisor"] == "self"
    assert p.before == dict(config=None, running=False) and p.after["running"] is True
    assert host.ran[0][:2] == ["bird", "-p"]            # validated while planning, in check mode too


def test_unchanged_and_running_is_a_no_op():
    text = _bgp.render(_bgp.validate(spec()))
    host = FakeHost(files={CONF: text}, pid=4242)
    p = plan(host)
    assert p.actions == [] and host.ran == []


def test_peers_changed_configure_never_restart():
    old = _bgp.render(_bgp.validate(spec(peers=[dict(address="192.0.2.12")])))
    p = plan(FakeHost(files={CONF: old}, pid=4242))
    assert [a.kind for a in p.actions] == ["config_write", "bird_configure"]
    assert p.commands[1] == "birdc -s %s configure" % _bgp.SELF_SOCKET


def test_file_ours_but_bird_not_running_starts_it():
    text = _bgp.render(_bgp.validate(spec()))
    assert [a.kind for a in plan(FakeHost(files={CONF: text})).actions] == ["bird_start"]


def test_refused_config_is_refused_while_planning():
    with pytest.raises(StateError) as err:
        plan(FakeHost(refuse=True), extra_config="nonsense")
    assert "refused by `bird -p -c %s`" % CONF in str(err.value) and "/x/bird.conf" in str(err.value)


def test_foreign_config_refused_unless_adopted_package_example_replaced():
    with pytest.raises(NotOursError) as err:
        plan(FakeHost(files={CONF: "router id 1.2.3.4;\n"}, pid=1))
    assert str(err.value).startswith("config=%s: BIRD configuration" % CONF) and "adopt=true" in str(err.value)
    p = plan(FakeHost(files={CONF: "router id 1.2.3.4;\n"}, pid=1), adopt=True)
    assert [a.kind for a in p.actions] == ["config_write", "bird_configure"]
    p = plan(FakeHost(files={CONF: EXAMPLE}))
    assert [a.kind for a in p.actions] == ["config_write", "bird_start"]


def test_another_speaker_on_179_refused():
    with pytest.raises(StateError) as err:
        plan(FakeHost(listening=True))
    assert "TCP port 179" in str(err.value)
    # our own running bird listens there: no refusal
    assert plan(FakeHost(listening=True, pid=7)).actions


def test_systemd_auto_detected_enable_start_then_configure():
    host = FakeHost(systemd=True, unit=(False, "disabled"))
    p = plan(host, supervisor="auto")
    assert p.extra["supervisor"] == "systemd" and p.extra["socket"] == _bgp.SYSTEMD_SOCKET
    assert p.commands[1:] == ["systemctl enable bird.service", "systemctl start bird.service"]
    old = _bgp.render(_bgp.validate(spec(peers=[])))
    p = plan(FakeHost(files={CONF: old}, systemd=True, unit=(True, "enabled")), supervisor="auto")
    assert p.commands[1:] == ["birdc -s /run/bird/bird.ctl configure"]
    with pytest.raises(StateError) as err:
        plan(FakeHost(systemd=True, unit=(False, "masked")), supervisor="auto")
    assert "masked" in str(err.value)


def test_absent():
    text = _bgp.render(_bgp.validate(spec()))
    p = _bgp.plan(None, dict(state="absent"), host=FakeHost(files={CONF: text}, pid=4242))
    assert p.commands == ["kill -TERM 4242  # bird of %s" % _bgp.SELF_PIDFILE, "rm %s" % CONF]
    p = _bgp.plan(None, dict(state="absent", supervisor="systemd"),
                  host=FakeHost(files={CONF: text}, unit=(True, "enabled")))
    assert p.commands == ["systemctl disable --now bird.service", "rm %s" % CONF]
    p = _bgp.plan(None, dict(state="absent"), host=FakeHost(files={CONF: "router id 1.1.1.1;\n"}, pid=4242))
    assert p.actions == [] and "not netplumb's" in p.warnings[0]
    assert _bgp.plan(None, dict(state="absent"), host=FakeHost()).actions == []


# --- the preflight: our learned routes are ours, an admin's BIRD routes are the admin's -------------------------
def _facts(route):
    class State:
        links = {}

        def link(self, name):
            return None
    return _preflight.HostFacts(State(), [], [route])


def test_preflight_counts_learned_routes_as_ours():
    net = ipaddress.ip_network(u"10.244.2.0/24")
    gw = ipaddress.ip_address(u"192.0.2.12")
    ours = _hostmodel.Route(net, "up0", gw, _bgp.RTPROT_BIRD, 254, metric=_bgp.LEARNED_METRIC)
    assert _bgp.is_learned(ours.proto, ours.metric) and _preflight.is_ours(ours)
    _preflight.check_subnet("subnet", ipaddress.ip_network(u"10.244.0.0/16"), _facts(ours))
    admins = _hostmodel.Route(net, "up0", gw, _bgp.RTPROT_BIRD, 254, metric=32)
    assert not _preflight.is_ours(admins)
    with pytest.raises(_preflight.HostSafetyError):
        _preflight.check_subnet("subnet", ipaddress.ip_network(u"10.244.0.0/16"), _facts(admins))


def test_persisted_exemptions_of_bgp_are_valid_boot_input():
    """With bgp, the role saves host_gw_routes' arguments with no route, only the fleet exemptions on the underlay
    bgp_speaker reported (roles/container_network/tasks/host_gw.yml, persist.yml): the boot accepts them."""
    from ansible_collections.netplumb.container.plugins.module_utils import _persist
    args = dict(routes=[], cluster_cidr="10.244.0.0/16", underlay="eth0", prune=True, firewall_backend="auto",
                networks=[dict(bridge="br-fleet", subnet="10.244.59.0/24")])
    out = _persist.validate_cross_host(dict(module="host_gw_routes", args=args))
    assert out["module"] == "host_gw_routes" and out["args"]["underlay"] == "eth0" and out["args"]["routes"] == []


# --- the stop waits for the process, not its pid file (bird unlinks it just before it exits) --------------------
@pytest.mark.parametrize("stat,running", [
    ("4242 (bird) S 1 4242 4242 0 -1", True),
    ("4242 (bird) R 1 4242 4242 0 -1", True),
    ("4242 (bird) Z 1 4242 4242 0 -1", False),     # exited, not yet reaped by its parent
    ("4242 (bird) X 1 4242 4242 0 -1", False),
    ("4242 (birdc) S 1 4242 4242 0 -1", False),    # the pid taken by another program
    ("4242 (a) b) S 1 4242 4242 0 -1", False),
    (None, False),                                 # gone
])
def test_running_reads_the_process_state(stat, running):
    class Proc(_bgp.Host):
        def read(self, path):
            assert path == "/proc/4242/stat"
            return stat
    assert Proc().running(4242) is running


def test_stop_waits_until_the_process_is_gone(monkeypatch, tmp_path):
    looks = []
    pidfile, sock = tmp_path / "bird.pid", tmp_path / "bird.ctl"
    pidfile.write_text("4242\n")
    sock.write_text("")

    class Proc(_bgp.Host):
        def running(self, pid):
            looks.append(pid)
            return len(looks) < 3       # the kill is looks[0]: still there on the first look, gone on the second
    monkeypatch.setattr(_bgp.os, "kill", lambda pid, sig: looks.append(("kill", pid, sig)))
    monkeypatch.setattr(_bgp.time, "sleep", lambda s: None)
    spec = type("S", (), dict(pidfile=str(pidfile)))()
    action = _bgp.op_stop_self(Proc(), spec, 4242, str(sock))
    assert action.command == "kill -TERM 4242  # bird of %s" % pidfile
    action.fn()
    assert looks == [("kill", 4242, _bgp.signal.SIGTERM), 4242, 4242]
    assert not pidfile.exists() and not sock.exists()
