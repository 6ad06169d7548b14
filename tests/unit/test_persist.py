"""_persist and _boot without a kernel: the files planned into a temporary tree (the module's paths pointed
there), their exact re-plan, refusals of files that are not ours, the unit's text, the boot entry's input
errors."""
import io
import json
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _boot, _persist
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError

NETS = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[dict(name="c0", address="172.18.0.10")])]


@pytest.fixture
def root(tmp_path, monkeypatch):
    """The module's paths under tmp_path (the integration test uses the real ones in a private /etc)."""
    for name in ("CONFIG_DIR", "NETWORKS_FILE", "LIB_DIR", "LAUNCHER", "UNIT_FILE", "WANTS_LINK", "SYSCTL_FILE"):
        monkeypatch.setattr(_persist, name, str(tmp_path) + getattr(_persist, name))
    return tmp_path


def plan(present=True, nets=None, running=False):
    return _persist.plan(NETS if nets is None else nets, present, "auto", "container_networks", "/usr/bin/python3", systemd_running=running)


def test_unit_text_orders_the_converge_between_network_pre_and_network_online():
    text = _persist.unit_text("/usr/bin/python3")
    lines = text.splitlines()
    assert lines[0] == _persist.HEADER
    for line in ("Type=oneshot", "RemainAfterExit=yes", "After=network-pre.target systemd-sysctl.service "
                 "systemd-modules-load.service", "Before=network-online.target", "WantedBy=multi-user.target"):
        assert line in lines
    assert _persist.exec_start(text) == ["/usr/bin/python3", "-E", "-s", "-B", _persist.LAUNCHER,
                                         _persist.NETWORKS_FILE]


def test_present_writes_everything_once_and_a_replan_is_empty(root):
    p = plan()
    kinds = [a.kind for a in p.actions]
    assert kinds == ["file_write", "file_write", "file_write", "symlink", "engine"]
    assert p.warnings and "systemd is not this host's init" in p.warnings[0]
    p.apply(False)
    assert oct(os.stat(_persist.NETWORKS_FILE).st_mode & 0o777) == "0o600"
    assert _persist.load_networks(_persist.NETWORKS_FILE)["networks"] == NETS
    assert os.readlink(_persist.WANTS_LINK) == _persist.UNIT_FILE
    launcher = open(_persist.LAUNCHER).read()
    assert "_boot.main(sys.argv[1:])" in launcher
    lib = os.path.join(_persist.LIB_DIR, _persist.PKG.replace(".", "/"))
    assert {"_boot.py", "_converge.py", "_netspec.py", "__init__.py"} <= set(os.listdir(lib))
    again = plan()
    assert again.actions == [] and again.before == again.after
    os.chmod(_persist.NETWORKS_FILE, 0o644)     # a mode drift is repaired
    with open(_persist.NETWORKS_FILE) as f:
        lines = f.read().count("\n")
    assert [a.command for a in plan().actions] == ["install -m 0600 /dev/stdin %s  # %d lines"
                                                   % (_persist.NETWORKS_FILE, lines)]


def test_systemd_running_reloads_after_a_unit_change_only(root):
    p = plan(running=True)
    assert p.commands[-1] == "systemctl daemon-reload" and not p.warnings
    for a in p.actions[:-1]:
        a.fn()
    assert plan(running=True).actions == []


def test_absent_removes_ours_and_the_empty_directories_only(root):
    plan().apply(False)
    p = plan(present=False)
    assert p.commands[-1].startswith("rmdir ") and p.commands[-1].endswith(" %s" % _persist.CONFIG_DIR)
    p.apply(False)
    assert not os.path.exists(_persist.CONFIG_DIR) and not os.path.lexists(_persist.WANTS_LINK)
    assert not os.path.exists(_persist.UNIT_FILE) and not os.path.exists(_persist.SYSCTL_FILE)
    assert plan(present=False).actions == []
    # something of someone else's in /etc/netplumb keeps the directory (and the re-plan stays empty)
    plan().apply(False)
    with open(os.path.join(_persist.CONFIG_DIR, "notes.txt"), "w") as f:
        f.write("mine\n")
    plan(present=False).apply(False)
    assert os.listdir(_persist.CONFIG_DIR) == ["notes.txt"]
    assert plan(present=False).actions == []


@pytest.mark.parametrize("path,text", [("UNIT_FILE", "[Unit]\n"), ("SYSCTL_FILE", "net.ipv4.ip_forward = 1\n"),
                                       ("NETWORKS_FILE", '{"networks": []}\n'), ("NETWORKS_FILE", "not json")])
def test_a_file_that_is_not_ours_is_refused(root, path, text):
    target = getattr(_persist, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as f:
        f.write(text)
    for present in (True, False):
        with pytest.raises(StateError, match=target):
            plan(present=present)


def test_python_must_be_absolute(root):
    with pytest.raises(ValidationError, match="python"):
        _persist.plan(NETS, True, "auto", "n", "python3")


def boot(argv):
    out, err = io.StringIO(), io.StringIO()
    return _boot.main(argv, out=out, err=err), out.getvalue(), err.getvalue()


def test_boot_input_errors_name_the_file_or_the_field(tmp_path):
    rc, out, err = boot([str(tmp_path / "missing.json")])
    assert (rc, out) == (2, "") and "cannot be read" in err
    bad = tmp_path / "bad.json"
    bad.write_text(_persist.networks_text([dict(name="web", subnet="172.18.0.0/33")], "auto", "container_networks"))
    rc, out, err = boot([str(bad)])
    assert (rc, out) == (2, "") and "container_networks[0].subnet" in err
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(managed_by="netplumb.container", format=99, networks=[])))
    rc, out, err = boot([str(other)])
    assert rc == 2 and "format 99" in err
    assert boot(["--bogus"])[0] == 2 and boot(["a", "b"])[0] == 2


OVERLAY = dict(subnet="10.244.1.0/24", local="192.0.2.11",
               peers=[dict(name="h2", subnet="10.244.2.0/24", address="192.0.2.12")])


def test_cross_host_is_completed_with_the_module_defaults_and_checked_by_its_validator():
    assert _persist.validate_cross_host(None) is None
    got = _persist.validate_cross_host(dict(module="vxlan_overlay", args=dict(OVERLAY, lock_timeout=5)))
    assert got["module"] == "vxlan_overlay" and "lock_timeout" not in got["args"]
    assert (got["args"]["vni"], got["args"]["port"], got["args"]["device"]) == (151, 8472, "np-vxlan")
    assert got["args"]["local"] == "192.0.2.11"
    hg = _persist.validate_cross_host(dict(module="host_gw_routes", args=dict(
        routes=[dict(subnet="10.244.2.0/24", via="192.0.2.12")], cluster_cidr="10.244.0.0/16")))
    assert hg["args"]["state"] == "present"
    for cross, field, value in (
            ("x", "cross_host", "x"),
            (dict(module="swarm_firewall", args={}), "cross_host.module", "swarm_firewall"),
            (dict(module="vxlan_overlay", args=[]), "cross_host.args", []),
            (dict(module="vxlan_overlay", args=dict(OVERLAY, vnid=3)), "cross_host.args", "vnid"),
            (dict(module="vxlan_overlay", args=dict(OVERLAY, port=4789)), "cross_host.args.port", 4789),
            (dict(module="vxlan_overlay", args=dict(OVERLAY, local="nowhere")), "cross_host.args.local", "nowhere"),
            (dict(module="host_gw_routes", args=dict(routes=[dict(subnet="10.244.2.0/24", via="x")])),
             "cross_host.args.routes[0].via", "x")):
        with pytest.raises(ValidationError) as err:
            _persist.validate_cross_host(cross)
        assert (err.value.field, err.value.value) == (field, value), err.value


def test_the_networks_file_carries_the_cross_host_step_and_the_boot_refuses_a_bad_one(tmp_path):
    text = _persist.networks_text([], "auto", "n", cross_host=dict(module="vxlan_overlay", args=OVERLAY))
    assert json.loads(text)["cross_host"]["args"] == OVERLAY
    assert "cross_host" not in json.loads(_persist.networks_text([], "auto", "n"))
    bad = tmp_path / "bad.json"
    cross = dict(module="vxlan_overlay", args=dict(OVERLAY, vni=0))
    bad.write_text(_persist.networks_text([], "auto", "n", cross_host=cross))
    rc, out, err = boot([str(bad)])
    assert (rc, out) == (2, "") and "cross_host.args.vni=0" in err, err
