# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""firewalld, the running daemon: our bridges in a zone on request, and our rules back after its reloads.

* ``read()``: whether firewalld runs (its D-Bus socket, then ``firewall-cmd --state``), its default zone, and
  every zone's target and interfaces at runtime and in the permanent configuration (two listings). Where
  firewall-cmd or the system bus is absent, nothing is run: firewalld is not running.
* ``plan()``: the typed actions that bind the bridges of the present networks to the zone ``firewalld_zone``
  names, at runtime and permanently (``firewall-cmd [--permanent] --zone=Z --add-interface=BR``), and unbind
  what we bound when its network goes (state absent, prune, or the option turned off). What we bound is
  recorded in LEDGER before the binding is made (a run killed in between leaves an entry that matches
  nothing): a binding we did not make is never changed or removed. Without the option, on a host where
  firewalld runs, a bridge in no zone gets a warning naming the default zone it falls into and the commands.
* ``listen()``: the reload listener (the unit RELOAD_UNIT): ``dbus-monitor`` subscribed to firewalld's
  ``Reloaded`` signal and to its bus name changing owner (a restart); on each, the networks saved by
  container_network_persist are converged again by the boot engine (_boot.main), which puts back every rule a
  reload flushed. dbus-monitor is in the package of the D-Bus daemon that firewalld itself needs (Debian's
  dbus-bin, Fedora's dbus-tools), so no Python D-Bus binding has to be importable by the engine's Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import signal
import subprocess
import sys

from ansible_collections.netplumb.container.plugins.module_utils import _kprereq
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan

FIREWALL_CMD = "firewall-cmd"
BUS_SOCKET = "/run/dbus/system_bus_socket"
BUS_NAME = "org.fedoraproject.FirewallD1"
MARK = "netplumb.container"
LEDGER = "/etc/netplumb/firewalld.json"
_ZONE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_+-]{0,16}$")    # firewalld: at most 17 characters
ACCEPTING = ("ACCEPT",)

RELOAD_UNIT = "netplumb-firewalld-reload.service"
MATCHES = ("type='signal',interface='%s',member='Reloaded'" % BUS_NAME,
           "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
           "member='NameOwnerChanged',arg0='%s'" % BUS_NAME)
PREFIX = "netplumb-firewalld-reload: "


def validate_zone(field, zone):
    if zone is None or zone == "":
        return None
    if not isinstance(zone, str) or not _ZONE_RE.match(zone):
        raise ValidationError(field, zone, "is not a firewalld zone name (letters, digits, _, +, -; at most 17)")
    return zone


# --- reading --------------------------------------------------------------------------------------------
class State:
    """What firewalld holds: running, default zone, {zone: dict(target, interfaces)} at runtime and permanent."""

    def __init__(self, running=False, default=None, runtime=None, permanent=None):
        self.running = running
        self.default = default
        self.runtime = runtime or {}
        self.permanent = permanent or {}
        self.ledger = None

    def zone_of(self, iface, permanent=False):
        for name, zone in sorted((self.permanent if permanent else self.runtime).items()):
            if iface in zone["interfaces"]:
                return name
        return None


def _cmd(args):
    proc = subprocess.run([FIREWALL_CMD] + list(args), capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def parse_zones(text):
    """``firewall-cmd [--permanent] --list-all-zones`` -> {zone: dict(target, interfaces)}."""
    zones, cur = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            cur = zones[line.split()[0]] = dict(target="default", interfaces=[])
            continue
        if cur is None or ":" not in line:
            continue
        key, val = line.strip().split(":", 1)
        if key == "target":
            cur["target"] = val.strip()
        elif key == "interfaces":
            cur["interfaces"] = val.split()
    return zones


def read(run=_cmd, permanent=True):
    """The daemon's state, or State(running=False) where it is not running (no firewall-cmd, no system bus, or
    firewall-cmd cannot reach it). Two or three firewall-cmd calls: the default zone (which fails when firewalld
    is not running), the runtime zones and, with ``permanent``, the permanent ones."""
    if not shutil.which(FIREWALL_CMD) or not os.path.exists(BUS_SOCKET):
        return State()
    rc, out, dummy = run(["--get-default-zone"])
    if rc != 0 or not out.strip():
        return State()
    state = State(True, out.strip())
    for key, args in (("runtime", ["--list-all-zones"]), ("permanent", ["--permanent", "--list-all-zones"])):
        if key == "permanent" and not permanent:
            continue
        rc, text, err = run(args)
        if rc != 0:
            raise StateError("firewall-cmd %s exited %d: %s" % (" ".join(args), rc, err.strip()))
        setattr(state, key, parse_zones(text))
    return state


def prepare(zone, field="firewalld_zone"):
    """Before the first write of a run: the daemon's state and our ledger (``state.ledger``), the zone refused
    when firewalld runs without it."""
    ledger = read_ledger()
    state = read(permanent=bool(zone or ledger))     # the permanent zones matter only to bind or unbind
    state.ledger = ledger
    if zone and state.running and zone not in state.runtime:
        raise StateError(_no_zone(field, zone, state))
    return state


def _no_zone(field, zone, state):
    return "%s=%s: firewalld has no such zone (its zones: %s)" % (field, zone, ", ".join(sorted(state.runtime)))


def read_ledger(path=LEDGER):
    """{bridge: dict(zone, runtime, permanent)}: the bindings we made."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError):
        if os.path.lexists(path):
            raise StateError("%s: exists but cannot be read" % path)
        return {}
    except ValueError as exc:
        raise StateError("%s: is not JSON: %s" % (path, exc))
    if not isinstance(data, dict) or data.get("managed_by") != MARK or not isinstance(data.get("bindings"), dict):
        raise StateError("%s: is not netplumb's (no \"managed_by\": %r)" % (path, MARK))
    return data["bindings"]


def ledger_text(bindings):
    return json.dumps(dict(managed_by=MARK, bindings=bindings), indent=1, sort_keys=True) + "\n"


# --- planning -------------------------------------------------------------------------------------------
def _fw(args):
    def fn():
        rc, dummy, err = _cmd(args)
        if rc != 0:
            raise OSError("firewall-cmd exited %d: %s" % (rc, err.strip()))
    return fn


def _bind_cmd(op, zone, bridge, permanent):
    return ["--permanent"] * permanent + ["--zone=%s" % zone, "--%s-interface=%s" % (op, bridge)]


def op_bind(op, zone, bridge, permanent):
    args = _bind_cmd(op, zone, bridge, permanent)
    return Action("firewalld_%s" % op, bridge, " ".join([FIREWALL_CMD] + args), _fw(args))


def op_ledger(bindings):
    if not bindings:
        def gone():
            os.unlink(LEDGER)
            try:
                os.rmdir(os.path.dirname(LEDGER))       # ours; left when anything else is in it
            except OSError:
                pass
        return Action("file_remove", LEDGER, "rm %s  # the firewalld bindings netplumb made" % LEDGER, gone)
    text = ledger_text(bindings)
    return Action("file_write", LEDGER, "install -m 0600 /dev/stdin %s  # the firewalld bindings netplumb made: %s"
                  % (LEDGER, ", ".join("%s=%s" % (b, v["zone"]) for b, v in sorted(bindings.items()))),
                  lambda: _kprereq.write_atomic(LEDGER, text, 0o600))


def _warn_unbound(p, state, bridge):
    zone = state.default
    target = state.runtime.get(zone, {}).get("target", "default")
    if target in ACCEPTING:
        return
    p.warn("firewalld is running and bridge %s is in no firewalld zone, so it falls into the default zone %s "
           "(target %s): firewalld %s what the containers send out (their egress); published ports still answer "
           "(firewalld accepts DNATed traffic). Bind it with firewalld_zone: trusted (the role's "
           "container_network_firewalld_zone; docs/firewalld.md), or run: firewall-cmd --zone=trusted "
           "--add-interface=%s; firewall-cmd --permanent --zone=trusted --add-interface=%s"
           % (bridge, zone, target, "drops" if target == "DROP" else "rejects", bridge, bridge))


def plan(state, zone, present, gone, ledger=None, field="firewalld_zone"):
    """present: the bridges of the present networks; gone: the bridges whose network goes in this run (absent,
    pruned). Our bindings of present bridges go when ``zone`` is unset; those of bridges in neither list stay."""
    p = Plan()
    if ledger is None:
        ledger = state.ledger if state.ledger is not None else read_ledger()
    p.before = dict(firewalld_bindings=dict((b, v["zone"]) for b, v in ledger.items()))
    new = dict((b, dict(v)) for b, v in ledger.items())
    if not state.running:
        if zone:
            p.warn("%s=%s: firewalld is not running on this host: no bridge is bound to a zone (run again once it "
                   "runs)" % (field, zone))
        p.after = p.before
        return p
    if zone and zone not in state.runtime:
        raise StateError(_no_zone(field, zone, state))
    binds, unbinds = [], []
    for bridge in sorted(set(present)):
        mine = ledger.get(bridge)
        if not zone:
            if mine is None and state.zone_of(bridge) is None:
                _warn_unbound(p, state, bridge)
            continue
        entry = new.setdefault(bridge, dict(zone=zone, runtime=False, permanent=False))
        for perm in (False, True):
            kind = "permanent" if perm else "runtime"
            cur = state.zone_of(bridge, perm)
            if cur == zone:
                continue
            if cur is None:
                binds.append(op_bind("add", zone, bridge, perm))
            elif mine is not None and mine.get(kind) and mine["zone"] == cur:
                binds.append(op_bind("change", zone, bridge, perm))
            else:
                where = " (permanent)" if perm else ""
                p.warn("%s=%s: bridge %s is bound to firewalld zone %s%s by someone else; netplumb never changes a "
                       "binding it did not make, so it stays there" % (field, zone, bridge, cur, where))
                continue
            entry[kind] = True
        entry["zone"] = zone
        if not entry["runtime"] and not entry["permanent"]:
            del new[bridge]
    for bridge in sorted(ledger):
        if bridge in present and zone:
            continue
        if bridge not in gone and bridge not in present:
            continue    # a network no entry declares and no prune removes: it keeps its binding
        mine = ledger[bridge]
        for perm in (False, True):
            if mine.get("permanent" if perm else "runtime") and state.zone_of(bridge, perm) == mine["zone"]:
                unbinds.append(op_bind("remove", mine["zone"], bridge, perm))
        del new[bridge]
    first = None
    if binds:       # the ledger first: a binding is never made without its record
        first = _written(ledger, new)
        p.add(op_ledger(first))
        p.extend(binds)
    p.extend(unbinds)
    if new != (ledger if first is None else first):
        p.add(op_ledger(new))
    p.after = dict(firewalld_bindings=dict((b, v["zone"]) for b, v in new.items()))
    return p


def _written(ledger, new):
    return dict(ledger, **dict((b, new[b]) for b in new if b not in ledger or new[b] != ledger[b]))


def bridges(parsed, undeclared=(), prune=False):
    """(present bridges, bridges that go) of a parsed list (_netspec.parse) and the converge's undeclared."""
    present = [n["bridge"] for n in parsed["present"]]
    gone = [n["bridge"] for n in parsed["absent"]]
    if prune:
        gone += [u["bridge"] for u in undeclared or ()]
    return present, gone


def converge(res, parsed, zone, prune, check_mode, state, field="firewalld_zone"):
    """The firewalld step after a converge (_converge's result ``res``, updated in place and returned)."""
    from ansible_collections.netplumb.container.plugins.module_utils._errors import KernelError
    present, gone = bridges(parsed, res.get("undeclared"), prune)
    p = plan(state, zone, present, gone, field=field)
    try:
        p.apply(check_mode)
    except KernelError as exc:
        raise KernelError(exc.command, exc.error, res["commands"] + exc.done)
    label = "firewalld"
    res["warnings"] += ["%s: %s" % (label, w) for w in p.warnings]
    if p.changed:
        res["commands"] = res["commands"] + p.commands
        res["changed"] = True
        res["calls"].append(dict(label=label, module="firewalld", changed=True, commands=p.commands))
        if "diff" in res:
            res["diff"].append(dict(before=p.before, after=p.after, before_header=label, after_header=label,
                                    prepared="\n".join(p.commands)))
    res["firewalld_running"] = state.running
    return res


# --- the reload listener --------------------------------------------------------------------------------
def _reconverge(path, out, err):
    from ansible_collections.netplumb.container.plugins.module_utils import _boot
    rc = _boot.main([path], out, err)
    out.flush()
    err.flush()
    return rc


def listen(argv, out=None, err=None, monitor=None):
    """Run until the bus goes: converge once subscribed, then again on every reload and (re)start of firewalld.
    Exit status 1 when dbus-monitor ends (the unit restarts it), 2 on bad arguments."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = [a for a in argv if not a.startswith("-")]
    if len(args) > 1 or len(args) != len(argv):
        err.write("usage: netplumb-firewalld-reload.py [NETWORKS_JSON]\n")
        return 2
    from ansible_collections.netplumb.container.plugins.module_utils import _persist
    path = args[0] if args else _persist.NETWORKS_FILE
    cmd = monitor or ["dbus-monitor", "--system"] + list(MATCHES)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    except OSError as exc:
        err.write(PREFIX + "cannot run %s: %s (Debian: dbus-bin, Fedora: dbus-tools)\n" % (cmd[0], exc))
        return 1

    stopping = []

    def stop(signum, frame):       # the monitor ends, so does the loop below: a clean exit
        stopping.append(signum)
        proc.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready, owner = False, None
    for line in proc.stdout:
        if line.startswith("signal "):
            owner = [] if "member=NameOwnerChanged" in line else None
            if not ready and "member=NameLost" in line:     # dbus-monitor is now a monitor: nothing is missed
                ready = True
                _reconverge(path, out, err)
                err.write(PREFIX + "listening for firewalld's reloads (%s)\n" % BUS_NAME)
                err.flush()
            elif ready and "interface=%s; member=Reloaded" % BUS_NAME in line:
                err.write(PREFIX + "firewalld reloaded: converging %s\n" % path)
                _reconverge(path, out, err)
        elif owner is not None and line.strip().startswith("string "):
            owner.append(line.strip()[len("string "):].strip('"'))
            if len(owner) == 3:
                if ready and owner[0] == BUS_NAME and owner[2]:
                    err.write(PREFIX + "firewalld started: converging %s\n" % path)
                    _reconverge(path, out, err)
                owner = None
    rc = proc.wait()
    if stopping:
        return 0
    err.write(PREFIX + "dbus-monitor exited %s: %s\n" % (rc, proc.stderr.read().strip()))
    return 1
