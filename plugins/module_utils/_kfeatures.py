# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel features: built in, loaded, loadable or missing - told apart, not guessed from ``lsmod``.

Evidence, strongest first, for a feature with kernel option CONFIG_X and module ``mod``:

1. the kernel's configuration (``/proc/config.gz``, else ``/boot/config-<release>``): ``CONFIG_X=y`` is
   **builtin**; ``# CONFIG_X is not set`` (or absent from a config that exists) is **missing**;
   ``CONFIG_X=m`` is modular: step 3 decides;
2. without a configuration: ``/lib/modules/<release>/modules.builtin`` listing ``mod.ko`` is **builtin**;
3. ``/sys/module/mod/initstate`` (only loaded modules have it) is **loaded**; without a configuration,
   ``/sys/module/mod`` without ``initstate`` or the feature's own trace (``/proc/filesystems`` for a
   filesystem, ``/proc/sys/net/bridge`` for br_netfilter, ``/proc/net/ip_vs``) is **builtin**;
4. otherwise ``modprobe -n -q mod`` (resolves the module and its dependencies, loads nothing) succeeding is
   **loadable**; failing is **missing**.

Paths are relative to roots given by the caller, so unit tests run against fake trees.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

BUILTIN, LOADED, LOADABLE, MISSING = "builtin", "loaded", "loadable", "missing"
AVAILABLE = (BUILTIN, LOADED, LOADABLE)

# name -> (kernel options (any one suffices), module, filesystem, traces, what needs it)
FEATURES = {
    "vxlan": (("CONFIG_VXLAN",), "vxlan", None, (), "overlay networks (the VXLAN data path)"),
    "bridge": (("CONFIG_BRIDGE",), "bridge", None, (), "bridge networks (docker0, docker_gwbridge)"),
    "br_netfilter": (("CONFIG_BRIDGE_NETFILTER",), "br_netfilter", None, ("proc/sys/net/bridge",),
                     "iptables on bridged traffic (net.bridge.bridge-nf-call-iptables)"),
    "overlay": (("CONFIG_OVERLAY_FS",), "overlay", "overlay", (), "the overlay2 storage driver"),
    "veth": (("CONFIG_VETH",), "veth", None, (), "container interfaces (veth pairs)"),
    "ip_vs": (("CONFIG_IP_VS",), "ip_vs", None, ("proc/net/ip_vs",),
              "the ingress routing mesh and service VIP load balancing (ip_vs)"),
    "esp4": (("CONFIG_INET_ESP",), "esp4", None, (), "encrypted overlay networks (IPsec ESP, --opt encrypted)"),
    "xfrm_user": (("CONFIG_XFRM_USER",), "xfrm_user", None, (), "IPsec state setup for encrypted overlay networks"),
}


class Roots:
    """Where the trees live (real host: /proc, /sys, /boot, /lib/modules) and the kernel release."""

    def __init__(self, proc="/proc", sys="/sys", boot="/boot", modules="/lib/modules", release=None):
        self.proc = proc
        self.sys = sys
        self.boot = boot
        self.modules = modules
        self.release = release or os.uname()[2]

    def path(self, rel):
        head, dummy, tail = rel.partition("/")
        base = dict(proc=self.proc, sys=self.sys).get(head)
        return os.path.join(base, tail) if base else rel


def feature_names(field, names):
    out = []
    for i, name in enumerate(names or []):
        if name not in FEATURES:
            raise ValidationError("%s[%d]" % (field, i), name, "unknown kernel feature (known: %s)"
                                  % ", ".join(sorted(FEATURES)))
        if name not in out:
            out.append(name)
    return out


def read_config(roots):
    """(source path, {option: 'y'|'m'|'n'}) or (None, None) when the configuration cannot be read."""
    candidates = [(os.path.join(roots.proc, "config.gz"), True),
                  (os.path.join(roots.boot, "config-%s" % roots.release), False)]
    for path, gz in candidates:
        try:
            if gz:
                with gzip.open(path, "rt") as f:
                    text = f.read()
            else:
                with open(path) as f:
                    text = f.read()
        except (IOError, OSError, EOFError):
            continue
        opts = {}
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("CONFIG_") and "=" in line:
                k, dummy, val = line.partition("=")
                opts[k] = val.strip('"')
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                opts[line[2:-len(" is not set")]] = "n"
        return path, opts
    return None, None


def _builtin_list(roots):
    path = os.path.join(roots.modules, roots.release, "modules.builtin")
    try:
        with open(path) as f:
            return path, set(os.path.basename(line.strip()).split(".ko")[0].replace("-", "_")
                             for line in f if line.strip())
    except (IOError, OSError):
        return None, None


def _filesystems(roots):
    try:
        with open(os.path.join(roots.proc, "filesystems")) as f:
            return set(line.split()[-1] for line in f if line.split())
    except (IOError, OSError):
        return set()


def detect(name, roots, modprobe, config=None, builtin_list=None):
    """(status, evidence) for one feature. modprobe(module) -> (rc, message) runs ``modprobe -n -q``."""
    options, module, fs, traces, dummy = FEATURES[name]
    cpath, opts = config if config is not None else read_config(roots)
    modular = False
    if opts is not None:
        vals = [(o, opts.get(o, "n")) for o in options]
        for o, val in vals:
            if val == "y":
                return BUILTIN, "%s=y in %s" % (o, cpath)
        if not any(val == "m" for o, val in vals):
            return MISSING, "%s not set in %s" % (" / ".join(options), cpath)
        modular = True
    else:
        bpath, builtins = builtin_list if builtin_list is not None else _builtin_list(roots)
        if builtins is not None and module in builtins:
            return BUILTIN, "%s listed in %s" % (module, bpath)
    if os.path.exists(os.path.join(roots.sys, "module", module, "initstate")):
        return LOADED, "module %s loaded (%s)" % (module, os.path.join(roots.sys, "module", module))
    if not modular:
        if os.path.isdir(os.path.join(roots.sys, "module", module)):
            return BUILTIN, "%s without initstate (built in)" % os.path.join(roots.sys, "module", module)
        if fs and fs in _filesystems(roots):
            return BUILTIN, "%s in %s" % (fs, os.path.join(roots.proc, "filesystems"))
        for rel in traces:
            if os.path.exists(roots.path(rel)):
                return BUILTIN, "%s exists" % roots.path(rel)
    rc, msg = modprobe(module)
    if rc == 0:
        return LOADABLE, "modprobe -n %s succeeds%s" % (module, " (%s=m)" % options[0] if modular else "")
    return MISSING, "not built in, not loaded, and modprobe -n %s fails (%s)" % (module, msg or "rc=%d" % rc)


def detect_all(names, roots, modprobe):
    config = read_config(roots)
    blist = _builtin_list(roots) if config[1] is None else (None, None)
    out = {}
    for name in names:
        status, evidence = detect(name, roots, modprobe, config=config, builtin_list=blist)
        out[name] = dict(status=status, evidence=evidence, module=FEATURES[name][1], needed_for=FEATURES[name][4])
    return out


def verdict(features, required, optional):
    """(errors, warnings): a message per required feature missing, and per optional one missing."""
    errors = ["%s is missing (%s): needed for %s" % (n, features[n]["evidence"], features[n]["needed_for"])
              for n in required if features[n]["status"] == MISSING]
    warnings = ["optional kernel feature %s is missing (%s): %s will not work on this host"
                % (n, features[n]["evidence"], features[n]["needed_for"])
                for n in optional if n not in required and features[n]["status"] == MISSING]
    return errors, warnings
