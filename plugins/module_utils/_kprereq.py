# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kernel_prerequisites: kernel features (load what is loadable, persist it), sysctls (apply, persist), with
the two files of ours; one plan for check mode and real mode.

Order of the plan: ``modprobe`` of every loadable feature (br_netfilter must be loaded before its sysctls
exist), the modules-load.d file, the sysctl writes, the sysctl.d file. ``state=absent`` removes the two files
(only when they carry our header) and leaves the running kernel alone: other software may rely on the values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import tempfile

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils import _kfeatures as kf
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

HEADER = "# Managed by netplumb.container (%s): do not edit; state=absent removes this file."
_SYSCTL_RE = re.compile(r"^[a-z0-9_][a-z0-9_-]*(\.[a-z0-9_][a-z0-9_-]*)+$")
# a sysctl that appears once this module is loaded
SYSCTL_MODULE = {"net.bridge.": "br_netfilter", "net.ipv4.vs.": "ip_vs"}


def validate(spec):
    v_state = spec["state"]
    if v_state not in ("present", "absent"):
        raise ValidationError("state", v_state, "must be one of present, absent")
    required = kf.feature_names("required", spec.get("required"))
    optional = kf.feature_names("optional", spec.get("optional"))
    sysctls = []
    for name, value in (spec.get("sysctls") or {}).items():
        if not isinstance(name, str) or not _SYSCTL_RE.match(name):
            raise ValidationError("sysctls", name, "not a sysctl name (e.g. net.ipv4.ip_forward)")
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, str)) or not str(value).strip() or "\n" in str(value):
            raise ValidationError("sysctls.%s" % name, value, "a sysctl value is a number or one line of text")
        sysctls.append((name, " ".join(str(value).split())))
    for field in ("modules_file", "sysctl_file"):
        path = spec.get(field)
        if not isinstance(path, str) or not os.path.isabs(path) or os.path.normpath(path) != path:
            raise ValidationError(field, path, "an absolute, normalized path")
    if spec.get("modules_file") == spec.get("sysctl_file"):
        raise ValidationError("sysctl_file", spec.get("sysctl_file"), "must differ from modules_file")
    return required, optional, sysctls


def sysctl_path(name, proc_sys):
    return os.path.join(proc_sys, *name.split("."))


def read_sysctl(name, proc_sys):
    try:
        with open(sysctl_path(name, proc_sys)) as f:
            return " ".join(f.read().split())
    except (IOError, OSError):
        return None


def read_ours(field, path, role):
    """The file's text, None when absent; refuse a file that does not carry our header."""
    try:
        with open(path) as f:
            text = f.read()
    except (IOError, OSError):
        if os.path.lexists(path):
            raise StateError("%s=%s: exists but cannot be read" % (field, path))
        return None
    if not text.startswith(HEADER % role):
        raise StateError("%s=%s: the file exists and is not netplumb's (its first line is not %r); refusing to "
                         "change or remove it: move it away or name another file" % (field, path, HEADER % role))
    return text


def modprobe_dry(module):
    try:
        proc = subprocess.run(["modprobe", "-n", "-q", module], capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def op_modprobe(module):
    def fn():
        proc = subprocess.run(["modprobe", module], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise OSError("modprobe %s exited %d: %s" % (module, proc.returncode, (proc.stderr or "").strip()))
    return Action("modprobe", module, "modprobe %s" % module, fn)


def write_atomic(path, text, mode=0o644):
    """path holds text with mode, or is left as it was: written to a temporary file beside it, synced, renamed."""
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d, 0o755)
    fd, tmp = tempfile.mkstemp(prefix=".netplumb-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def op_write(path, text):
    return Action("file_write", path, "write %s (%d lines)" % (path, text.count("\n")),
                  lambda: write_atomic(path, text))


def op_remove(path):
    return Action("file_remove", path, "rm %s" % path, lambda: os.unlink(path))


def op_sysctl(name, value, proc_sys):
    def fn():
        with open(sysctl_path(name, proc_sys), "w") as f:
            f.write("%s\n" % value)
    return Action("sysctl", name, "sysctl -w %s=%s" % (name, value), fn)


def _file_op(p, field, path, text):
    """Write (text) or remove (None) one of our two files; its directory must be writable (_hosttools checks
    that before the plan's first write: a read-only /etc/sysctl.d must not leave /proc/sys half applied)."""
    p.add(op_write(path, text) if text is not None else op_remove(path))
    _hosttools.need_place(p, path, "to %s %s=%s" % ("write" if text is not None else "remove", field, path))


def plan(spec, roots=None, modprobe=None, proc_sys="/proc/sys"):
    required, optional, sysctls = validate(spec)
    role = spec.get("owner_label") or "kernel_prerequisites"
    roots = roots or kf.Roots()
    modprobe = modprobe or modprobe_dry
    p = Plan()
    mfile, sfile = spec["modules_file"], spec["sysctl_file"]
    mcur = read_ours("modules_file", mfile, role)
    scur = read_ours("sysctl_file", sfile, role)
    if spec["state"] == "absent":
        for field, path, cur in (("modules_file", mfile, mcur), ("sysctl_file", sfile, scur)):
            if cur is not None:
                _file_op(p, field, path, None)
        p.before = dict(modules_file=mcur, sysctl_file=scur)
        p.after = dict(modules_file=None, sysctl_file=None)
        return p
    names = required + [n for n in optional if n not in required]
    features = kf.detect_all(names, roots, modprobe)
    errors, warnings = kf.verdict(features, required, optional)
    if errors:
        raise StateError("required kernel features missing: %s. Make them available (a kernel with the option "
                         "built in or as a module), or move them to the optional list" % "; ".join(errors))
    for w in warnings:
        p.warn(w)
    loads = [features[n]["module"] for n in names if features[n]["status"] == kf.LOADABLE]
    for m in loads:
        p.add(op_modprobe(m))
    modular = [features[n]["module"] for n in names if features[n]["status"] in (kf.LOADABLE, kf.LOADED)]
    mwant = "%s\n%s" % (HEADER % role, "".join("%s\n" % m for m in modular)) if modular else None
    if mwant != mcur:
        _file_op(p, "modules_file", mfile, mwant)
    before, after = {}, {}
    for name, value in sysctls:
        cur = read_sysctl(name, proc_sys)
        before[name] = cur
        after[name] = value
        if cur is None:
            prefix = [k for k in SYSCTL_MODULE if name.startswith(k)]
            if not (prefix and SYSCTL_MODULE[prefix[0]] in loads):
                raise StateError("sysctls.%s: %s does not exist on this host (is the feature that provides it "
                                 "available?)" % (name, sysctl_path(name, proc_sys)))
        if cur != value:
            p.add(op_sysctl(name, value, proc_sys))
    swant = "%s\n%s" % (HEADER % role, "".join("%s = %s\n" % (k, v) for k, v in sysctls)) if sysctls else None
    if swant != scur:
        _file_op(p, "sysctl_file", sfile, swant)
    p.before = dict(modules_file=mcur, sysctl_file=scur, sysctls=before)
    p.after = dict(modules_file=mwant, sysctl_file=swant, sysctls=after)
    p.extra["features"] = features
    return p


# --- swarm_facts: what the role's preflight compares across hosts (read only) ---------------------------
def udp_users(port, proc_net="/proc/thread-self/net"):
    """Local addresses of userspace UDP sockets bound to port (kernel sockets, e.g. a VXLAN device's, have
    inode 0 and are not counted: the Swarm's own VXLAN port is no conflict)."""
    from ansible_collections.netplumb.container.plugins.module_utils._fwnet import _hex_addr
    out = []
    for name in ("udp", "udp6"):
        try:
            with open(os.path.join(proc_net, name)) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 10:
                        continue
                    addr, hport = parts[1].split(":")
                    if int(hport, 16) == port and parts[9] != "0":
                        out.append("%s:%d" % (_hex_addr(addr), port))
        except (IOError, OSError):
            continue
    return sorted(set(out))


def underlay(host, address):
    """(interface, mtu) of the link holding address, else of the link with the default route, else (None,
    None). host is an _nl.NsState."""
    import ipaddress
    want = None
    if address:
        try:
            want = ipaddress.ip_address(u"%s" % address)
        except ValueError:
            raise ValidationError("address", address, "not an IP address")
    if want is not None:
        for name, lk in sorted(host.links.items()):
            if any(i.ip == want for i in host.addresses(name)):
                return name, lk.mtu
    gws = [g for g in (host.routes or {}).values() if g is not None and g.version == 4]
    for name, lk in sorted(host.links.items()):
        if gws and any(gws[0] in i.network for i in host.addresses(name)):
            return name, lk.mtu
    return None, None
