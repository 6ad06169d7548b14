# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_network_persist: the host's declared networks saved under /etc with what converges them at boot,
without Ansible and without a controller; one plan for check mode and real mode.

What a persisted host holds (all of it ours, each file with our mark; ``state=absent`` removes all of it):
- NETWORKS_FILE (0600): the networks as the module container_network gets them, as JSON;
- LIB_DIR: the engine - a copy of this collection's module_utils as the module's own run loaded them - and the
  launcher that runs ``_boot.main`` (the same converge as the module container_network);
- UNIT_FILE: a oneshot systemd unit whose ExecStart runs the launcher with the Python that ran this module,
  enabled like ``systemctl enable`` does it (the WANTS_LINK symlink), without asking a running systemd;
- SYSCTL_FILE: ``net.ipv4.ip_forward = 1`` (the tutorial's sysctl.conf line), while a network is present.

Writes are atomic (a temporary file in the same directory, then rename) and happen only when the content or
the mode differs, so check mode predicts exactly and a re-run writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import json
import os
import pkgutil
import stat
import subprocess

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools, _kprereq
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

PKG = "ansible_collections.netplumb.container.plugins.module_utils"
OWNER = "container_network_persist"
MARK = "netplumb.container"
UNIT = "netplumb-networks.service"
CONFIG_DIR = "/etc/netplumb"
NETWORKS_FILE = CONFIG_DIR + "/networks.json"
LIB_DIR = CONFIG_DIR + "/lib"
LAUNCHER = LIB_DIR + "/netplumb-networks.py"
UNIT_FILE = "/etc/systemd/system/" + UNIT
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/" + UNIT
SYSCTL_FILE = "/etc/sysctl.d/90-netplumb-container-network.conf"
RELOAD_UNIT = "netplumb-firewalld-reload.service"
RELOAD_LAUNCHER = LIB_DIR + "/netplumb-firewalld-reload.py"
RELOAD_UNIT_FILE = "/etc/systemd/system/" + RELOAD_UNIT
RELOAD_WANTS_LINK = "/etc/systemd/system/firewalld.service.wants/" + RELOAD_UNIT
SYSTEMD_RUNNING = "/run/systemd/system"     # what sd_booted() tests: systemd is this host's init
FORMAT = 1

HEADER = _kprereq.HEADER % OWNER     # the first line of every text file of ours
PY_HEADER = HEADER + "\n# -*- coding: utf-8 -*-\n"

LAUNCHER_TEXT = PY_HEADER + '''"""Converges the networks saved in the JSON file named by its argument (default %s) with the engine of
netplumb.container installed next to this file: the same plan as the module container_network, no Ansible.
Prints each command it applies, one per line. --check: prints what it would do and writes nothing."""
import sys

from ansible_collections.netplumb.container.plugins.module_utils import _boot

if __name__ == "__main__":
    sys.exit(_boot.main(sys.argv[1:]))
''' % NETWORKS_FILE

RELOAD_LAUNCHER_TEXT = PY_HEADER + '''"""Listens for firewalld's reloads and restarts on D-Bus (dbus-monitor) and converges the networks saved in
the JSON file named by its argument (default %s) after each, with the engine of netplumb.container installed
next to this file: every rule a reload flushed is back without Ansible. Prints each command it applies."""
import sys

from ansible_collections.netplumb.container.plugins.module_utils import _firewalld

if __name__ == "__main__":
    sys.exit(_firewalld.listen(sys.argv[1:]))
''' % NETWORKS_FILE

RELOAD_UNIT_TEXT = HEADER + """
# Puts the container networks declared by Ansible back after every firewalld reload or restart (a reload with
# FlushAllOnReload=yes flushes every rule of the host's ip tables): listens for firewalld's Reloaded signal on
# D-Bus and converges %(networks)s with the same engine as the boot unit netplumb-networks.service.
[Unit]
Description=netplumb.container container networks after firewalld reloads (from %(networks)s)
# Started and stopped with firewalld (its .wants link), like netavark's netavark-firewalld-reload.service.
PartOf=firewalld.service
After=dbus.service firewalld.service
ConditionPathExists=%(networks)s

[Service]
Type=simple
ExecStart=%(python)s -E -s -B %(launcher)s %(networks)s
Restart=on-failure
RestartSec=2

[Install]
WantedBy=firewalld.service
"""

UNIT_TEXT = HEADER + """
# The container networks declared by Ansible (container_network_persist: true), converged at every boot from
# %(networks)s by the same engine as the module netplumb.container.container_network, without Ansible.
[Unit]
Description=netplumb.container container networks (from %(networks)s)
# Default dependencies (after sysinit.target: filesystems mounted, sysctl.d and modules-load.d applied).
# After network-pre.target: firewall loaders that replace the whole ruleset (netfilter-persistent, firewalld)
# order themselves before it, so they do not wipe our rules; before network-online.target, so that units
# ordered after it (docker, podman, the services that use the namespaces) find the networks in place.
Wants=network-pre.target
After=network-pre.target systemd-sysctl.service systemd-modules-load.service
Before=network-online.target
ConditionPathExists=%(networks)s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%(python)s -E -s -B %(launcher)s %(networks)s

[Install]
WantedBy=multi-user.target
"""


def unit_text(python):
    return UNIT_TEXT % dict(networks=NETWORKS_FILE, python=python, launcher=LAUNCHER)


def reload_unit_text(python):
    return RELOAD_UNIT_TEXT % dict(networks=NETWORKS_FILE, python=python, launcher=RELOAD_LAUNCHER)


def exec_start(text):
    """The ExecStart command line of a unit file's text, as an argv (no quoting is used in ours)."""
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return line[len("ExecStart="):].split()
    return None


def networks_text(networks, firewall_backend, variable, firewalld_zone=None, cross_host=None):
    data = dict(managed_by=MARK, format=FORMAT, variable=variable, firewall_backend=firewall_backend,
                networks=networks)
    if firewalld_zone:
        data["firewalld_zone"] = firewalld_zone
    if cross_host:
        data["cross_host"] = cross_host
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


CROSS_HOST_MODULES = ("host_gw_routes", "vxlan_overlay")


def validate_cross_host(cross, field="cross_host"):
    """The saved cross-host step ``{module, args}`` -> the same with args completed by the module's defaults
    (None stays None). Its args are checked by that module's own validators, so a bad one fails here, before
    anything is written, naming ``cross_host.args.FIELD`` and the value (and again at boot, from the file)."""
    if cross is None:
        return None
    from ansible_collections.netplumb.container.plugins.module_utils import _hostgw, _schema, _vxlan
    if not isinstance(cross, dict):
        raise ValidationError(field, cross, "must be a mapping {module, args}")
    module, args = cross.get("module"), cross.get("args")
    if module not in CROSS_HOST_MODULES:
        raise ValidationError(field + ".module", module, "must be one of %s" % ", ".join(CROSS_HOST_MODULES))
    if not isinstance(args, dict):
        raise ValidationError(field + ".args", args, "must be a mapping of %s's options" % module)
    unknown = sorted(set(args) - set(_schema.module_options(module)))
    if unknown:
        raise ValidationError(field + ".args", unknown[0], "is not an option of %s" % module)
    params = _schema.defaults(module)
    params.update((k, v) for k, v in args.items() if k != "lock_timeout")
    try:
        if module == "vxlan_overlay":
            _vxlan.validate(params)
        else:
            _hostgw.validate(params)
            _hostgw.validate_exempt(params)
    except ValidationError as exc:
        raise ValidationError("%s.args.%s" % (field, exc.field), exc.value, exc.reason)
    return dict(module=module, args=params)


def load_networks(path):
    """The saved data (dict) of a networks file; raises StateError when it is not ours or not readable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError) as exc:
        raise StateError("%s: cannot be read: %s" % (path, exc))
    except ValueError as exc:
        raise StateError("%s: is not JSON: %s" % (path, exc))
    if not isinstance(data, dict) or data.get("managed_by") != MARK:
        raise StateError("%s: is not netplumb's (no \"managed_by\": %r)" % (path, MARK))
    if data.get("format") != FORMAT or not isinstance(data.get("networks"), list):
        raise StateError("%s: format %r is not %d (written by another version of netplumb.container?)"
                         % (path, data.get("format"), FORMAT))
    return data


def engine_files(reload_listener=False):
    """{relative path under LIB_DIR: text}: the launcher (and the reload listener's), the package __init__ files
    and the source of every module of this package the running interpreter can see (under AnsiballZ: the ones
    shipped with the module, i.e. everything the module's imports reach)."""
    pkg = importlib.import_module(PKG)
    base = PKG.replace(".", "/")
    files = {os.path.basename(LAUNCHER): LAUNCHER_TEXT}
    if reload_listener:
        files[os.path.basename(RELOAD_LAUNCHER)] = RELOAD_LAUNCHER_TEXT
    parts = base.split("/")
    for i in range(1, len(parts) + 1):
        files["/".join(parts[:i]) + "/__init__.py"] = PY_HEADER
    for info in pkgutil.iter_modules(pkg.__path__):
        name = info[1]
        if not name.startswith("_"):
            continue
        full = "%s.%s" % (PKG, name)
        mod = importlib.import_module(full)
        loader = getattr(mod, "__loader__", None)
        src = loader.get_source(full) if loader is not None and hasattr(loader, "get_source") else None
        if src is None:
            with open(mod.__file__) as f:
                src = f.read()
        files["%s/%s.py" % (base, name)] = src
    return files


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        if os.path.lexists(path):
            raise StateError("%s: exists but cannot be read" % path)
        return None


def _mode(path):
    try:
        return stat.S_IMODE(os.lstat(path).st_mode)
    except OSError:
        return None


def op_write(path, text, mode):
    return Action("file_write", path, "install -m %04o /dev/stdin %s  # %d lines" % (mode, path, text.count("\n")),
                  lambda: _kprereq.write_atomic(path, text, mode))


def op_remove(path):
    return Action("file_remove", path, "rm %s" % path, lambda: os.unlink(path))


def _ours_text(field, path):
    """A text file of ours (first line HEADER), None when absent; any other file is refused (_kprereq's rule for
    its sysctl.d and modules-load.d files)."""
    return _kprereq.read_ours(field, path, OWNER)


def _ours_networks(path):
    text = _read(path)
    if text is not None:
        load_networks(path)
    return text


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        if os.path.lexists(path):
            raise StateError("%s: exists and is not a symlink; refusing to change it" % path)
        return None


def op_link(path, target, unit=UNIT):
    def fn():
        d = os.path.dirname(path)
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        if os.path.islink(path):
            os.unlink(path)
        os.symlink(target, path)
    return Action("symlink", path, "ln -sf %s %s  # systemctl enable %s" % (target, path, unit), fn)


def op_engine(writes, removes):
    """One action for the engine's files: ``writes`` [(path, text)], ``removes`` [path]."""
    def fn():
        for path, text in writes:
            _kprereq.write_atomic(path, text, 0o644)
        for path in removes:
            os.unlink(path)
    parts = []
    if writes:
        parts.append("install -m 0644 (%d files) %s/" % (len(writes), LIB_DIR))
    if removes:
        parts.append("rm (%d files) %s/" % (len(removes), LIB_DIR))
    return Action("engine", LIB_DIR, "%s  # the engine: netplumb.container's module_utils and launcher"
                  % "; ".join(parts), fn)


def op_unlink(path, unit=UNIT):
    return Action("file_remove", path, "rm %s  # systemctl disable %s" % (path, unit), lambda: os.unlink(path))


def op_restart_listener():
    def fn():
        proc = subprocess.run(["systemctl", "try-restart", RELOAD_UNIT], capture_output=True, text=True,
                              check=False)
        if proc.returncode == 0:
            proc = subprocess.run(["systemctl", "is-active", "--quiet", "firewalld.service"], check=False)
            if proc.returncode == 0:
                proc = subprocess.run(["systemctl", "start", RELOAD_UNIT], capture_output=True, text=True,
                                      check=False)
        if proc.returncode != 0:
            raise OSError("systemctl exited %d: %s" % (proc.returncode, proc.stderr.strip()))
    return Action("systemd", RELOAD_UNIT, "systemctl try-restart %s; systemctl is-active --quiet firewalld.service "
                  "&& systemctl start %s" % (RELOAD_UNIT, RELOAD_UNIT), fn)


def op_daemon_reload():
    def fn():
        proc = subprocess.run(["systemctl", "daemon-reload"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise OSError("systemctl daemon-reload exited %d: %s" % (proc.returncode, proc.stderr.strip()))
    return Action("systemd", UNIT, "systemctl daemon-reload", fn)


def _lib_current():
    """{relative path: text} of the engine files under LIB_DIR (only .py files carry code; others are left)."""
    out = {}
    for root, dirs, names in os.walk(LIB_DIR):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                out[os.path.relpath(path, LIB_DIR)] = _read(path)
    return out


def _empty_after(top, removed):
    """The directories under top (top included), deepest first, left empty once ``removed`` is gone (files in
    __pycache__ count as removed)."""
    empty = []
    for root, dirs, names in os.walk(top, topdown=False):
        if os.path.basename(root) == "__pycache__":
            empty.append(root)
            continue
        files = [os.path.join(root, n) for n in names] + [os.path.join(root, d) for d in dirs
                                                          if os.path.islink(os.path.join(root, d))]
        if all(f in removed for f in files) and all(os.path.join(root, d) in empty for d in dirs
                                                    if not os.path.islink(os.path.join(root, d))):
            empty.append(root)
    return empty


def _remove_dirs(dirs):
    for d in dirs:
        if os.path.basename(d) == "__pycache__":     # bytecode of a run of the launcher by hand
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
        os.rmdir(d)


def plan(networks, present, firewall_backend, variable, python, systemd_running=None, boot=True,
         reload_listener=False, firewalld_zone=None, cross_host=None):
    """present: at least one network with state present is declared and boot or reload_listener is on; else
    everything of ours is removed. boot: the boot unit (and the sysctl file); reload_listener: the listener of
    firewalld's reloads (docs/firewalld.md). python: the interpreter the units run (absolute)."""
    if present and (not isinstance(python, str) or not os.path.isabs(python)):
        raise ValidationError("python", python, "must be an absolute path (the unit's ExecStart)")
    if systemd_running is None:
        systemd_running = os.path.isdir(SYSTEMD_RUNNING)
    boot = bool(present and boot)
    listener = bool(present and reload_listener)
    p = Plan()
    cur_net = _ours_networks(NETWORKS_FILE)
    cur_unit = _ours_text("unit_file", UNIT_FILE)
    cur_reload = _ours_text("reload_unit_file", RELOAD_UNIT_FILE)
    cur_sysctl = _ours_text("sysctl_file", SYSCTL_FILE)
    cur_link = _link_target(WANTS_LINK)
    cur_reload_link = _link_target(RELOAD_WANTS_LINK)
    cur_lib = _lib_current()
    lib_files = engine_files(listener) if present else {}
    want_net = networks_text(networks, firewall_backend, variable, firewalld_zone,
                             validate_cross_host(cross_host)) if present else None
    want_unit = unit_text(python) if boot else None
    want_sysctl = "%s\nnet.ipv4.ip_forward = 1\n" % HEADER if boot else None
    want_link = UNIT_FILE if boot else None
    want_reload = reload_unit_text(python) if listener else None
    want_reload_link = RELOAD_UNIT_FILE if listener else None
    unit_changed = reload_changed = False
    for path, cur, want, mode in ((NETWORKS_FILE, cur_net, want_net, 0o600), (UNIT_FILE, cur_unit, want_unit, 0o644),
                                  (RELOAD_UNIT_FILE, cur_reload, want_reload, 0o644),
                                  (SYSCTL_FILE, cur_sysctl, want_sysctl, 0o644)):
        if want is None and cur is not None:
            p.add(op_remove(path))
        elif want is not None and (want != cur or _mode(path) != mode):
            p.add(op_write(path, want, mode))
        else:
            continue
        _hosttools.need_place(p, path, "to %s %s" % ("write" if want is not None else "remove", path))
        if path == RELOAD_UNIT_FILE and want is not None:    # what the listener listens with
            _hosttools.need_tool(p, "dbus-monitor", "by %s (it listens for firewalld's reloads with it)" % RELOAD_UNIT)
        unit_changed = unit_changed or path in (UNIT_FILE, RELOAD_UNIT_FILE)
        reload_changed = reload_changed or path in (RELOAD_UNIT_FILE, NETWORKS_FILE)
    for link, cur, want, unit in ((WANTS_LINK, cur_link, want_link, UNIT),
                                  (RELOAD_WANTS_LINK, cur_reload_link, want_reload_link, RELOAD_UNIT)):
        if want is None and cur is not None:
            p.add(op_unlink(link, unit))
            unit_changed = True
        elif want is not None and cur != want:
            p.add(op_link(link, want, unit))
            unit_changed = True
    writes, removes = [], []
    for rel in sorted(set(cur_lib) | set(lib_files)):
        path = os.path.join(LIB_DIR, rel)
        if rel not in lib_files:
            if cur_lib[rel] is not None and cur_lib[rel].startswith(HEADER) or rel.endswith("__init__.py") \
                    or "/module_utils/_" in "/" + rel:
                removes.append(path)
        elif lib_files[rel] != cur_lib.get(rel) or _mode(path) != 0o644:
            writes.append((path, lib_files[rel]))
    if writes or removes:
        p.add(op_engine(writes, removes))
        _hosttools.need_place(p, LIB_DIR, "to install the engine in %s" % LIB_DIR)
    lib_changes = sorted(os.path.relpath(w[0], LIB_DIR) for w in writes) + \
        sorted(os.path.relpath(r, LIB_DIR) for r in removes)
    if not present and os.path.isdir(CONFIG_DIR):
        removed = set(a.target for a in p.actions if a.kind == "file_remove") | set(removes)
        empty = _empty_after(CONFIG_DIR, removed)
        if empty:       # our directories that nothing is left in go too (bytecode caches with them)
            p.add(Action("dir_remove", CONFIG_DIR, "rmdir %s" % " ".join(empty), lambda: _remove_dirs(empty)))
    if unit_changed and systemd_running:
        p.add(op_daemon_reload())
    if listener and systemd_running and (reload_changed or writes or removes or unit_changed):
        p.add(op_restart_listener())    # the listener runs the new engine and list now, not after a restart
    if boot and not systemd_running:
        p.warn("systemd is not this host's init (%s does not exist): %s and its link in "
               "multi-user.target.wants are written, and only a boot with systemd runs them"
               % (SYSTEMD_RUNNING, UNIT_FILE))
    p.before = dict(networks_file=cur_net, unit_file=cur_unit, sysctl_file=cur_sysctl, enabled=cur_link is not None)
    p.after = dict(networks_file=want_net, unit_file=want_unit, sysctl_file=want_sysctl,
                   enabled=want_link is not None)
    if cur_reload is not None or want_reload is not None or cur_reload_link is not None:
        p.before.update(reload_unit_file=cur_reload, reload_enabled=cur_reload_link is not None)
        p.after.update(reload_unit_file=want_reload, reload_enabled=want_reload_link is not None)
    if lib_changes:
        p.before["engine"] = sorted(r for r in lib_changes if r in cur_lib)
        p.after["engine"] = sorted(r for r in lib_changes if r in lib_files)
    p.extra["unit"] = UNIT
    p.extra["exec_start"] = exec_start(want_unit) if want_unit else None
    p.extra["reload_exec_start"] = exec_start(want_reload) if want_reload else None
    p.extra["systemd_running"] = systemd_running
    return p
