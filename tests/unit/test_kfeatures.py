"""Kernel feature detection and the kernel_prerequisites planner, against fake /proc, /sys, /boot trees."""
import gzip
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _kfeatures as kf
from ansible_collections.netplumb.container.plugins.module_utils import _kprereq
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError

# this machine kind's kernel, as /proc/config.gz says
CONFIG = """CONFIG_VXLAN=y
CONFIG_BRIDGE=y
CONFIG_BRIDGE_NETFILTER=y
CONFIG_OVERLAY_FS=y
CONFIG_VETH=y
CONFIG_XFRM_USER=y
# CONFIG_INET_ESP is not set
# CONFIG_MODULES is not set
"""


class Modprobe:
    """modprobe -n: rc 0 for the modules listed, else 1."""

    def __init__(self, ok=()):
        self.ok = set(ok)
        self.calls = []

    def __call__(self, module):
        self.calls.append(module)
        return (0, "") if module in self.ok else (1, "modprobe: FATAL: Module %s not found" % module)


def tree(tmp_path, config=None, gz=True, boot_config=None, sys_modules=(), loaded=(), filesystems=(), paths=(),
         builtin_list=None, release="6.1.0-test"):
    proc, sys_, boot, mods = (tmp_path / d for d in ("proc", "sys", "boot", "lib-modules"))
    for d in (proc, sys_ / "module", boot, mods):
        d.mkdir(parents=True, exist_ok=True)
    if config is not None:
        if gz:
            with gzip.open(str(proc / "config.gz"), "wt") as f:
                f.write(config)
    if boot_config is not None:
        (boot / ("config-" + release)).write_text(boot_config)
    for m in sys_modules:
        (sys_ / "module" / m).mkdir()
    for m in loaded:
        (sys_ / "module" / m).mkdir(exist_ok=True)
        (sys_ / "module" / m / "initstate").write_text("live\n")
    (proc / "filesystems").write_text("".join("nodev\t%s\n" % fs for fs in filesystems))
    for rel in paths:
        p = tmp_path / rel
        p.mkdir(parents=True, exist_ok=True)
    if builtin_list is not None:
        (mods / release).mkdir()
        (mods / release / "modules.builtin").write_text("".join("kernel/%s.ko\n" % m for m in builtin_list))
    return kf.Roots(proc=str(proc), sys=str(sys_), boot=str(boot), modules=str(mods), release=release)


def statuses(roots, names, modprobe=None):
    res = kf.detect_all(names, roots, modprobe or Modprobe())
    return dict((n, r["status"]) for n, r in res.items())


def test_this_kernel_builtin_and_missing(tmp_path):
    roots = tree(tmp_path, CONFIG)
    mp = Modprobe()
    assert statuses(roots, ["vxlan", "bridge", "br_netfilter", "overlay", "xfrm_user", "ip_vs", "esp4"], mp) == dict(
        vxlan="builtin", bridge="builtin", br_netfilter="builtin", overlay="builtin", xfrm_user="builtin",
        ip_vs="missing", esp4="missing")
    # the configuration is authoritative: nothing is asked of modprobe
    assert mp.calls == []
    res = kf.detect_all(["ip_vs", "esp4"], roots, mp)
    assert res["esp4"]["evidence"].startswith("CONFIG_INET_ESP not set in ") and "config.gz" in res["esp4"]["evidence"]
    assert "CONFIG_IP_VS not set" in res["ip_vs"]["evidence"]     # absent from the config: not set either


def test_modular_loaded_loadable_and_unresolvable(tmp_path):
    cfg = "CONFIG_IP_VS=m\nCONFIG_INET_ESP=m\nCONFIG_VXLAN=m\nCONFIG_BRIDGE=y\n"
    roots = tree(tmp_path, cfg, loaded=["vxlan"])
    mp = Modprobe(ok=["ip_vs"])
    assert statuses(roots, ["vxlan", "ip_vs", "esp4", "bridge"], mp) == dict(
        vxlan="loaded", ip_vs="loadable", esp4="missing", bridge="builtin")
    assert sorted(mp.calls) == ["esp4", "ip_vs"]


def test_boot_config_when_no_proc_config(tmp_path):
    roots = tree(tmp_path, None, boot_config="CONFIG_IP_VS=m\nCONFIG_OVERLAY_FS=y\n")
    res = kf.detect_all(["ip_vs", "overlay"], roots, Modprobe(ok=["ip_vs"]))
    assert res["ip_vs"]["status"] == "loadable" and res["overlay"]["status"] == "builtin"
    assert "boot" in res["overlay"]["evidence"]


def test_no_config_at_all_uses_builtin_list_sys_module_filesystems_and_traces(tmp_path):
    roots = tree(tmp_path, None, builtin_list=["drivers/net/vxlan/vxlan"], sys_modules=["bridge"],
                 filesystems=["overlay"], paths=["proc/sys/net/bridge"])
    mp = Modprobe(ok=["esp4"])
    assert statuses(roots, ["vxlan", "bridge", "overlay", "br_netfilter", "esp4", "ip_vs"], mp) == dict(
        vxlan="builtin", bridge="builtin", overlay="builtin", br_netfilter="builtin", esp4="loadable",
        ip_vs="missing")
    assert sorted(mp.calls) == ["esp4", "ip_vs"]


def test_lsmod_alone_is_not_enough_a_modular_feature_not_loaded_is_loadable_not_missing(tmp_path):
    roots = tree(tmp_path, "CONFIG_BRIDGE_NETFILTER=m\n")
    assert statuses(roots, ["br_netfilter"], Modprobe(ok=["br_netfilter"])) == dict(br_netfilter="loadable")


def test_verdict_required_vs_optional():
    feats = dict(ip_vs=dict(status="missing", evidence="e1", needed_for="the routing mesh"),
                 vxlan=dict(status="missing", evidence="e2", needed_for="overlays"),
                 esp4=dict(status="builtin", evidence="e3", needed_for="x"))
    errors, warnings = kf.verdict(feats, ["vxlan"], ["ip_vs", "esp4", "vxlan"])
    assert errors == ["vxlan is missing (e2): needed for overlays"]
    assert warnings == ["optional kernel feature ip_vs is missing (e1): the routing mesh will not work on this host"]


def test_unknown_feature_named():
    with pytest.raises(ValidationError) as exc:
        kf.feature_names("optional", ["ip_vs", "ipvs"])
    assert exc.value.field == "optional[1]"


# --- the planner -----------------------------------------------------------------------------------------
@pytest.fixture
def host(tmp_path):
    procsys = tmp_path / "procsys"
    (procsys / "net" / "ipv4").mkdir(parents=True)
    (procsys / "net" / "ipv4" / "ip_forward").write_text("0\n")
    (procsys / "net" / "bridge").mkdir(parents=True)
    (procsys / "net" / "bridge" / "bridge-nf-call-iptables").write_text("1\n")
    etc = tmp_path / "etc"
    return dict(roots=tree(tmp_path, CONFIG), proc_sys=str(procsys), etc=etc)


def spec(host, **kw):
    out = dict(required=["vxlan", "bridge", "br_netfilter", "overlay"], optional=["ip_vs", "esp4"],
               sysctls={"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1},
               modules_file=str(host["etc"] / "modules-load.d" / "netplumb-swarm.conf"),
               sysctl_file=str(host["etc"] / "sysctl.d" / "90-netplumb-swarm.conf"),
               owner_label="swarm_prerequisites", state="present")
    out.update(kw)
    return out


def plan(host, **kw):
    return _kprereq.plan(spec(host, **kw), roots=host["roots"], modprobe=Modprobe(), proc_sys=host["proc_sys"])


def test_plan_fresh_host_then_converged(host):
    p = plan(host)
    assert p.commands == ["sysctl -w net.ipv4.ip_forward=1",
                          "write %s (3 lines)" % spec(host)["sysctl_file"]]
    assert len(p.warnings) == 2 and all("will not work" in w for w in p.warnings)
    p.apply(False)
    with open(spec(host)["sysctl_file"]) as f:
        assert f.read().splitlines()[1:] == ["net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1"]
    assert not os.path.exists(spec(host)["modules_file"])     # nothing modular: no modules-load.d file
    again = plan(host)
    assert again.commands == []
    assert again.before == again.after


def test_required_missing_fails_before_any_change_naming_each(host):
    with pytest.raises(StateError) as exc:
        plan(host, required=["vxlan", "ip_vs", "esp4"], optional=[])
    msg = str(exc.value)
    assert "ip_vs is missing" in msg and "esp4 is missing" in msg and "routing mesh" in msg
    assert not os.path.exists(str(host["etc"]))


def test_loadable_loaded_and_persisted(host, tmp_path):
    roots = tree(tmp_path / "k2", "CONFIG_IP_VS=m\nCONFIG_VXLAN=y\nCONFIG_BRIDGE_NETFILTER=m\n", loaded=["br_netfilter"])
    p = _kprereq.plan(spec(host, required=["vxlan", "br_netfilter"], optional=["ip_vs"]), roots=roots,
                      modprobe=Modprobe(ok=["ip_vs"]), proc_sys=host["proc_sys"])
    assert p.commands[0] == "modprobe ip_vs"
    assert p.after["modules_file"].splitlines()[1:] == ["br_netfilter", "ip_vs"]


def test_sysctl_that_does_not_exist_refused(host):
    with pytest.raises(StateError) as exc:
        plan(host, sysctls={"net.ipv4.nope": 1})
    assert "sysctls.net.ipv4.nope" in str(exc.value)


def test_foreign_file_never_touched(host):
    path = spec(host)["sysctl_file"]
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write("net.ipv4.ip_forward = 0\n")
    for state in ("present", "absent"):
        with pytest.raises(StateError) as exc:
            plan(host, state=state)
        assert "sysctl_file=" in str(exc.value) and "not netplumb's" in str(exc.value)
    with open(path) as f:
        assert f.read() == "net.ipv4.ip_forward = 0\n"


def test_absent_removes_our_two_files_only(host):
    plan(host).apply(False)
    mpath = spec(host)["modules_file"]
    os.makedirs(os.path.dirname(mpath))
    with open(mpath, "w") as f:
        f.write((_kprereq.HEADER % "swarm_prerequisites") + "\nip_vs\n")
    other = os.path.join(os.path.dirname(mpath), "other.conf")
    with open(other, "w") as f:
        f.write("foo\n")
    p = plan(host, state="absent")
    assert p.commands == ["rm %s" % mpath, "rm %s" % spec(host)["sysctl_file"]]
    p.apply(False)
    assert os.path.exists(other) and not os.path.exists(mpath)
    assert plan(host, state="absent").commands == []
    # running values stay
    with open(os.path.join(host["proc_sys"], "net", "ipv4", "ip_forward")) as f:
        assert f.read().strip() == "1"


@pytest.mark.parametrize("kw,field", [
    (dict(sysctls={"net/ipv4": 1}), "sysctls"),
    (dict(sysctls={"net.ipv4.ip_forward": "1\n2"}), "sysctls.net.ipv4.ip_forward"),
    (dict(required=["ipvs"]), "required[0]"),
    (dict(modules_file="relative.conf"), "modules_file"),
    (dict(sysctl_file="/etc/x/../y"), "sysctl_file"),
])
def test_validation(host, kw, field):
    with pytest.raises(ValidationError) as exc:
        plan(host, **kw)
    assert exc.value.field == field
