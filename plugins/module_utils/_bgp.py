# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bgp_speaker: container subnets announced and learned over BGP, through BIRD 2 (Calico's way).

The module renders one BIRD 2 configuration (never a speaker of its own): a static protocol announcing this
host's fleet subnet(s) (blackhole routes, never sent to the kernel), one BGP session per peer from a template
(iBGP full mesh of the fleet, or to route reflectors; a route reflector marks its clients ``rr client``), a
``kernel`` protocol that sends the routes learned over BGP - and only those, only inside the cluster CIDR - to the
kernel's main table with BIRD's protocol number (12) and the metric 151 (``LEARNED_METRIC``): that pair is our
mark on learned routes, which the host-safety preflight (_preflight) counts as ours, never as the admin's. The
kernel protocol learns the host's other routes (and the ``direct`` protocol its connected networks) only to
resolve the peers' next hops (iBGP next hops are the hosts' underlay addresses, recursively resolved).

The config file is ours: its first line is ``MARK``. A file without it is refused unless ``adopt`` (the
package's own example, identical to /usr/share/bird2/bird.conf, counts as nobody's and is replaced). A new
config is written beside the old one, validated with ``bird -p -c``, renamed over it (atomic), then applied with
``birdc -s SOCKET configure`` (BIRD restarts only the protocols whose config changed: a peer added or removed
touches no other session). If ``configure`` fails the old file is put back, so the file always says what bird runs.

Supervision: ``systemd`` runs bird through its unit (bird.service, /etc/bird/bird.conf, socket
/run/bird/bird.ctl); ``self`` starts bird itself (``bird -c CONFIG -s SOCKET -P PIDFILE``, it daemonizes) and
finds it again by its pid file. ``auto`` picks systemd where /run/systemd/system exists and ``systemctl`` answers,
else self (containers, the lab's namespaced hosts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import signal
import socket
import subprocess
import time

from ansible_collections.netplumb.container.plugins.module_utils import _hosttools
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan
# BIRD 2 always installs its routes with protocol 12; ours carry the metric 151: (12, 151) is our mark on learned
# routes, which the preflight counts as ours
from ansible_collections.netplumb.container.plugins.module_utils._preflight import LEARNED_METRIC, RTPROT_BIRD

MARK = "# netplumb.container: managed by netplumb.container.bgp_speaker - changes here are overwritten"
DEFAULT_ASN = 64512                 # the first private 16-bit ASN (RFC 6996)
DEFAULT_CONFIG = "/etc/bird/bird.conf"
PACKAGE_CONFIG = "/usr/share/bird2/bird.conf"    # the example Debian's postinst copies to /etc/bird/bird.conf
SYSTEMD_SOCKET = "/run/bird/bird.ctl"
SELF_SOCKET = "/run/netplumb/bird.ctl"
SELF_PIDFILE = "/run/netplumb/bird.pid"
UNIT = "bird.service"
BGP_PORT = 179
RT_TABLE_MAIN = 254
WAIT_SECONDS = 20.0                 # how long a started/stopped bird may take to answer/exit


def is_learned(proto, metric):
    """A kernel route bgp_speaker's BIRD installed (learned over BGP): protocol 12 and metric 151."""
    return proto == RTPROT_BIRD and metric == LEARNED_METRIC


# --- validation ---------------------------------------------------------------------------------------------
def _asn(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967294 or value == 23456:
        raise ValidationError(field, value, "an AS number 1-4294967294 (not 23456, AS_TRANS)")
    return value


def _path(field, value):
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value or '"' in value \
            or value.endswith("/") or "/../" in value + "/":
        raise ValidationError(field, value, "an absolute file path")
    return value


_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class Peer(object):
    __slots__ = ("name", "address", "asn", "rr_client", "multihop")

    def __init__(self, name, address, asn, rr_client, multihop):
        self.name = name
        self.address = address
        self.asn = asn
        self.rr_client = rr_client
        self.multihop = multihop

    @property
    def protocol(self):
        """The BIRD protocol name: from the address, so a renamed host keeps its session."""
        return "np_" + str(self.address).replace(".", "_")


class Spec(object):
    __slots__ = ("state", "asn", "router_id", "local", "announce", "peers", "route_reflector", "cluster",
                 "config", "socket", "pidfile", "supervisor", "adopt", "extra", "hold_time", "connect_retry")


def validate(spec):
    """-> Spec. Every error names its field and value; nothing has been read or written yet."""
    s = Spec()
    s.state = spec.get("state") or "present"
    v.choice("state", s.state, ["present", "absent"])
    s.supervisor = spec.get("supervisor") or "auto"
    v.choice("supervisor", s.supervisor, ["auto", "systemd", "self"])
    s.config = _path("config", spec.get("config") or DEFAULT_CONFIG)
    s.socket = spec.get("socket")
    if s.socket is not None:
        _path("socket", s.socket)
    s.pidfile = _path("pidfile", spec.get("pidfile") or SELF_PIDFILE)
    if s.supervisor == "systemd" and s.config != DEFAULT_CONFIG:
        raise ValidationError("config", s.config, "with supervisor=systemd the unit %s reads %s; keep it"
                              % (UNIT, DEFAULT_CONFIG))
    s.adopt = bool(spec.get("adopt", False))
    s.extra = spec.get("extra_config") or ""
    if not isinstance(s.extra, str):
        raise ValidationError("extra_config", s.extra, "a string (BIRD configuration appended verbatim)")
    s.hold_time = spec.get("hold_time", 90)
    if isinstance(s.hold_time, bool) or not isinstance(s.hold_time, int) or not (s.hold_time == 0
                                                                                 or 3 <= s.hold_time <= 65535):
        raise ValidationError("hold_time", s.hold_time, "0 or 3-65535 seconds")
    s.connect_retry = spec.get("connect_retry", 5)
    if isinstance(s.connect_retry, bool) or not isinstance(s.connect_retry, int) or not 1 <= s.connect_retry <= 65535:
        raise ValidationError("connect_retry", s.connect_retry, "1-65535 seconds")
    s.route_reflector = bool(spec.get("route_reflector", False))
    s.asn = _asn("asn", spec.get("asn", DEFAULT_ASN))
    s.announce, s.peers = [], []
    s.local = s.router_id = s.cluster = None
    if s.state == "absent":
        return s
    if spec.get("local") is None:
        raise ValidationError("local", None, "required with state=present (this host's underlay address, the "
                              "source of its BGP sessions and the next hop it announces)")
    s.local = v.ipv4_unicast("local", spec.get("local"))
    s.router_id = v.ipv4_unicast("router_id", spec.get("router_id") or str(s.local))
    if spec.get("cluster_cidr") is None:
        raise ValidationError("cluster_cidr", None, "required with state=present (only routes inside it are "
                              "announced, learned and sent to the kernel)")
    s.cluster = v.ipv4_subnet("cluster_cidr", spec.get("cluster_cidr"))
    for i, value in enumerate(spec.get("announce") or []):
        net = v.ipv4_subnet("announce[%d]" % i, value)
        if not net.subnet_of(s.cluster):
            raise ValidationError("announce[%d]" % i, value, "is not inside cluster_cidr %s" % s.cluster)
        for j, other in enumerate(s.announce):
            if other.overlaps(net):
                raise ValidationError("announce[%d]" % i, value, "overlaps announce[%d] %s" % (j, other))
        s.announce.append(net)
    seen = {}
    for i, item in enumerate(spec.get("peers") or []):
        pre = "peers[%d]" % i
        if not isinstance(item, dict) or set(item) - set(["name", "address", "asn", "rr_client", "multihop"]):
            raise ValidationError(pre, item, "a mapping with address (and optionally name, asn, rr_client, multihop)")
        addr = v.ipv4_unicast(pre + ".address", item.get("address"))
        if addr == s.local:
            raise ValidationError(pre + ".address", str(addr), "is this host's own address (local)")
        if addr in seen:
            raise ValidationError(pre + ".address", str(addr), "is also peers[%d].address" % seen[addr])
        seen[addr] = i
        name = item.get("name") or str(addr)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError(pre + ".name", name, "letters, digits, _ . : - (at most 64)")
        asn = _asn(pre + ".asn", item.get("asn", s.asn) if item.get("asn") is not None else s.asn)
        rr_client = bool(item.get("rr_client", False))
        if rr_client and not s.route_reflector:
            raise ValidationError(pre + ".rr_client", True, "only a route reflector (route_reflector=true) has "
                                  "clients")
        if rr_client and asn != s.asn:
            raise ValidationError(pre + ".rr_client", True, "a route reflector client is an iBGP peer (asn %d, "
                                  "not %d)" % (s.asn, asn))
        multihop = item.get("multihop")
        if multihop is not None and (isinstance(multihop, bool) or not isinstance(multihop, int)
                                     or not 1 <= multihop <= 255):
            raise ValidationError(pre + ".multihop", multihop, "a TTL 1-255 (eBGP peers not directly connected)")
        s.peers.append(Peer(name, addr, asn, rr_client, multihop))
    s.peers.sort(key=lambda p: int(p.address))
    return s


# --- the configuration --------------------------------------------------------------------------------------
def _set(nets):
    return "[ %s ]" % ", ".join("%s+" % n for n in nets)


def render(s):
    """The whole bird.conf for a present Spec (deterministic: the same input gives the same bytes)."""
    lines = [
        MARK,
        "# Rendered from the inventory (docs/cross-host.md, BGP). Validated with bird -p before it replaces the",
        "# previous file, applied with birdc configure.",
        "",
        "router id %s;" % s.router_id,
        "log syslog all;",
        "",
        "define NETPLUMB_CLUSTER = %s;" % _set([s.cluster]),
        "define NETPLUMB_OWN = %s;" % (_set(s.announce) if s.announce else "[ 0.0.0.0/32 ]"),
        "",
        "# interfaces, and the connected networks: only to resolve the peers' next hops",
        "protocol device {",
        "  scan time 10;",
        "}",
        "",
        "protocol direct netplumb_direct {",
        "  ipv4 { import where net !~ NETPLUMB_CLUSTER; export none; };",
        "}",
        "",
        "# routes learned over BGP go to the kernel's main table with protocol 12 (bird) and metric %d (netplumb's"
        % LEARNED_METRIC,
        "# mark); the host's own routes are learned only to resolve next hops, never announced",
        "protocol kernel netplumb_kernel {",
        "  learn;",
        "  metric %d;" % LEARNED_METRIC,
        "  ipv4 {",
        "    import where net !~ NETPLUMB_CLUSTER;",
        "    export where source = RTS_BGP && net ~ NETPLUMB_CLUSTER && net !~ NETPLUMB_OWN;",
        "  };",
        "}",
        "",
        "# this host's container subnets (blackhole here, never sent to the kernel: the bridges hold them)",
        "protocol static netplumb_announce {",
        "  ipv4;",
    ]
    for net in s.announce:
        lines.append("  route %s blackhole;" % net)
    lines += [
        "}",
        "",
        "filter netplumb_import {",
        "  if net ~ NETPLUMB_CLUSTER && net !~ NETPLUMB_OWN then accept;",
        "  reject;",
        "}",
        "",
        "filter netplumb_export {",
        "  if proto = \"netplumb_announce\" then accept;",
        "  if source = RTS_BGP && net ~ NETPLUMB_CLUSTER then accept;",
        "  reject;",
        "}",
        "",
        "template bgp netplumb_peer {",
        "  local %s as %d;" % (s.local, s.asn),
        "  hold time %d;" % s.hold_time,
        "  connect delay time 1;",
        "  connect retry time %d;" % s.connect_retry,
        "  error wait time 1, %d;" % max(10, s.connect_retry),
        "  ipv4 { import filter netplumb_import; export filter netplumb_export; };",
        "}",
    ]
    if s.route_reflector:
        lines.insert(lines.index("template bgp netplumb_peer {") + 1, "  rr cluster id %s;" % s.router_id)
    for p in s.peers:
        lines += ["", "protocol bgp %s from netplumb_peer {" % p.protocol,
                  "  description \"%s\";" % p.name,
                  "  neighbor %s as %d;" % (p.address, p.asn)]
        if p.rr_client:
            lines.append("  rr client;")
        if p.asn != s.asn and p.multihop:
            lines.append("  multihop %d;" % p.multihop)
        lines.append("}")
    if s.extra.strip():
        lines += ["", "# extra_config", s.extra.rstrip("\n")]
    return "\n".join(lines) + "\n"


# --- reading the host ---------------------------------------------------------------------------------------
def _run(argv, timeout=60):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=timeout, check=False)
    except OSError as exc:
        return 127, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %ds" % timeout
    return p.returncode, p.stdout, p.stderr


class Host(object):
    """What the planner reads, and the commands it runs. Tests replace it with a fake."""

    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except (IOError, OSError):
            return None

    def exists(self, path):
        return os.path.lexists(path)

    def systemd(self):
        """True where systemd runs the host: /run/systemd/system exists and systemctl answers."""
        if not os.path.isdir("/run/systemd/system"):
            return False
        rc, out, _err = _run(["systemctl", "is-system-running"], timeout=10)
        return rc != 127 and out.strip() not in ("", "offline", "unknown")

    def unit_state(self):
        """(active, enabled) of bird.service."""
        rc, out, _err = _run(["systemctl", "is-active", UNIT], timeout=10)
        active = out.strip() == "active"
        rc, out, _err = _run(["systemctl", "is-enabled", UNIT], timeout=10)
        return active, out.strip()

    def pid_of(self, pidfile):
        """The pid in pidfile when that process is alive and is bird, else None."""
        text = self.read(pidfile)
        try:
            pid = int((text or "").strip())
        except ValueError:
            return None
        comm = self.read("/proc/%d/comm" % pid)
        if comm is None or comm.strip() != "bird":
            return None
        return pid

    def running(self, pid):
        """Process pid still runs as bird: it exists, is bird, and is no zombie (bird unlinks its pid file just
        before it exits, so a gone pid file does not yet mean a gone process)."""
        stat = self.read("/proc/%d/stat" % pid)
        if stat is None or ")" not in stat:
            return False
        comm, rest = stat[stat.find("(") + 1:stat.rfind(")")], stat[stat.rfind(")") + 1:].split()
        return comm == "bird" and bool(rest) and rest[0] not in ("Z", "X")

    def answers(self, sock):
        """bird answers on its control socket."""
        if not os.path.exists(sock):
            return False
        rc, out, _err = _run(["birdc", "-s", sock, "show", "status"], timeout=15)
        return rc == 0 and "Daemon is up and running" in out

    def listening(self, port):
        """True when some socket of this network namespace listens on TCP port (IPv4 or IPv6)."""
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            text = self.read(name) or ""
            for line in text.splitlines()[1:]:
                parts = line.split()
                if len(parts) > 3 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    return True
        return False

    def run(self, argv):
        return _run(argv)


def package_example(host):
    return host.read(PACKAGE_CONFIG)


def whose(text, host):
    """'ours', 'package' (Debian's untouched example), 'foreign', or None (no file)."""
    if text is None:
        return None
    if text.startswith(MARK + "\n"):
        return "ours"
    example = package_example(host)
    if example is not None and text == example:
        return "package"
    return "foreign"


def precheck(host, s, text):
    """bird -p on the rendered text, in a private temporary directory (nothing of the host's is written)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="netplumb-bird-")
    try:
        path = os.path.join(d, "bird.conf")
        with open(path, "w") as f:
            f.write(text)
        argv = ["bird", "-p", "-c", path]
        rc, out, err = host.run(argv)
        if rc == 127:
            raise StateError("bird is not installed (%s): needed to validate and run the configuration; install "
                             "the Debian package bird2 (the role does, unless container_bgp_install is false)"
                             % (err.strip() or "not found"))
        if rc != 0:
            raise StateError("the rendered configuration was refused by `bird -p -c %s` (exit %d): %s; %s is "
                             "unchanged" % (s.config, rc, (err or out).strip().replace(path, s.config)
                                            or "no output", s.config))
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- ops ----------------------------------------------------------------------------------------------------
def _fail(argv, rc, out, err):
    raise StateError("%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip() or "no output"))


def op_write(host, s, text, journal):
    """Write CONFIG.netplumb-new, validate it with bird -p, rename it over CONFIG. Remembers the old text in
    journal (for op_configure's roll-back)."""
    tmp = s.config + ".netplumb-new"

    def fn():
        d = os.path.dirname(s.config)
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        old_stat = None
        try:
            old_stat = os.stat(s.config)
        except OSError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if old_stat is not None:
            os.chown(tmp, old_stat.st_uid, old_stat.st_gid)
            os.chmod(tmp, old_stat.st_mode & 0o7777)
        argv = ["bird", "-p", "-c", tmp]
        rc, out, err = host.run(argv)
        if rc != 0:
            os.unlink(tmp)
            raise StateError("the rendered configuration was refused by `%s` (exit %d): %s; %s is unchanged"
                             % (" ".join(argv), rc, (err or out).strip() or "no output", s.config))
        journal["old"] = host.read(s.config)
        os.rename(tmp, s.config)
    return Action("config_write", s.config, "bird -p -c %s && mv %s %s" % (tmp, tmp, s.config), fn)


def op_configure(host, s, sock, journal):
    argv = ["birdc", "-s", sock, "configure"]

    def fn():
        rc, out, err = host.run(argv)
        if rc == 0 and ("Reconfigured" in out or "Reconfiguration in progress" in out):
            return
        # bird did not take the file: put the previous one back, so the file says what bird runs
        if "old" in journal:
            _restore(s.config, journal["old"])
        _fail(argv, rc, out, err)
    return Action("bird_configure", sock, " ".join(argv), fn)


def _restore(path, text):
    if text is None:
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    tmp = path + ".netplumb-old"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        st = os.stat(path)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
    except OSError:
        pass
    os.rename(tmp, path)


def _wait(cond, what):
    deadline = time.time() + WAIT_SECONDS
    while True:
        if cond():
            return
        if time.time() > deadline:
            raise StateError("%s: not after %d seconds" % (what, WAIT_SECONDS))
        time.sleep(0.05)


def op_start_self(host, s, sock, journal):
    argv = ["bird", "-c", s.config, "-s", sock, "-P", s.pidfile]

    def fn():
        for d in set([os.path.dirname(sock), os.path.dirname(s.pidfile)]):
            if not os.path.isdir(d):
                os.makedirs(d, 0o755)
        rc, out, err = host.run(argv)     # parses the config, then daemonizes
        if rc != 0:
            if "old" in journal:
                _restore(s.config, journal["old"])
            _fail(argv, rc, out, err)
        _wait(lambda: host.answers(sock), "bird started (%s) answers on %s" % (" ".join(argv), sock))
    return Action("bird_start", sock, " ".join(argv), fn)


def op_stop_self(host, s, pid, sock):
    def fn():
        try:
            os.kill(pid, signal.SIGTERM)      # bird withdraws its routes from the kernel as it shuts down
        except OSError:
            pass
        _wait(lambda: not host.running(pid), "bird (pid %d) exited" % pid)
        for path in (s.pidfile, sock):
            try:
                os.unlink(path)
            except OSError:
                pass
    return Action("bird_stop", str(pid), "kill -TERM %d  # bird of %s" % (pid, s.pidfile), fn)


def op_systemctl(host, verb, what):
    argv = ["systemctl", verb] + what

    def fn():
        rc, out, err = host.run(argv)
        if rc != 0:
            _fail(argv, rc, out, err)
    return Action("systemctl_" + verb, UNIT, " ".join(argv), fn)


def op_rm(path):
    def fn():
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != 2:
                raise
    return Action("config_rm", path, "rm %s" % path, fn)


def op_route_del(nl, net, gw, metric):
    def fn():
        nl.sock(None).route("del", dst=str(net.network_address), dst_len=net.prefixlen, family=socket.AF_INET,
                            table=RT_TABLE_MAIN, proto=RTPROT_BIRD, priority=metric)
    return Action("route_del", str(net), "ip route del %s proto %d metric %d" % (net, RTPROT_BIRD, metric), fn)


# --- the plan -----------------------------------------------------------------------------------------------
def supervisor_of(s, host):
    if s.supervisor != "auto":
        return s.supervisor
    return "systemd" if host.systemd() else "self"


def socket_of(s, mode):
    return s.socket or (SYSTEMD_SOCKET if mode == "systemd" else SELF_SOCKET)


def learned_routes(nl):
    """[(net, gateway, metric)] of the main table carrying our mark (protocol 12, metric 151; the host model's
    _hostmodel.main_routes)."""
    from ansible_collections.netplumb.container.plugins.module_utils._hostmodel import main_routes
    return [(net, r.gateway, LEARNED_METRIC) for net, r in main_routes(nl, socket.AF_INET, defaults=True).items()
            if r.proto == RTPROT_BIRD and r.metric == LEARNED_METRIC]


def underlay_of(state, local):
    """The interface holding the address local (the sessions' source): the fleet exemptions' underlay."""
    holders = sorted(name for name in state.links if any(i.ip == local for i in state.addresses(name)))
    if not holders:
        raise ValidationError("local", str(local), "is an address of no interface of this host (the source of its "
                              "BGP sessions and the next hop it announces)")
    return holders[0]


def plan(nl, spec, host=None):
    s = validate(spec)
    host = host or Host()
    p = Plan()
    mode = supervisor_of(s, host)
    sock = socket_of(s, mode)
    current = host.read(s.config)
    owner = whose(current, host)
    journal = {}
    if mode == "systemd":
        active, enabled = host.unit_state()
        running = active
        pid = None
    else:
        pid = host.pid_of(s.pidfile)
        running = pid is not None
        enabled = None
    p.extra.update(supervisor=mode, socket=sock, config=s.config)
    p.before = dict(config=current if owner in ("ours", "package") or current is None else "(not netplumb's)",
                    running=running)
    if s.state == "absent":
        if owner == "foreign":
            p.warn("config=%s: a BIRD configuration that is not netplumb's (no netplumb mark): left alone, and the "
                   "bird that reads it" % s.config)
            p.after = dict(p.before)
            return p
        if owner == "ours":
            if mode == "systemd":
                if running or enabled == "enabled":
                    p.add(op_systemctl(host, "disable", ["--now", UNIT]))
            elif running:
                p.add(op_stop_self(host, s, pid, sock))
            p.add(op_rm(s.config))
            _hosttools.need_place(p, s.config, "to remove our BIRD configuration")
        elif running and mode == "self":
            p.add(op_stop_self(host, s, pid, sock))     # our pid file: our bird, whatever its file says now
        if nl is not None:
            for net, gw, metric in learned_routes(nl):
                if not (running and owner == "ours"):   # a bird stopped by us takes them along
                    p.add(op_route_del(nl, net, gw, metric))
        p.after = dict(config=None, running=False)
        return p
    if owner == "foreign" and not s.adopt:
        raise NotOursError("config", s.config, "BIRD configuration", detail="its first line is not netplumb's mark "
                           "(%s)" % MARK)
    if mode == "systemd" and enabled == "masked":
        raise StateError("supervisor=systemd: %s is masked on this host; unmask it (systemctl unmask %s) or use "
                         "supervisor=self" % (UNIT, UNIT))
    if not running and host.listening(BGP_PORT):
        raise StateError("TCP port %d is already listened on in this network namespace, by another BGP speaker "
                         "than ours (no bird of ours runs, pid file %s); refusing to start a second one"
                         % (BGP_PORT, s.pidfile))
    if nl is not None:
        p.extra["underlay"] = underlay_of(nl.read(None), s.local)
    text = render(s)
    _hosttools.need_tool(p, "bird", "to validate the configuration (bird -p) and to run it")
    if text != current:
        precheck(host, s, text)     # in check mode too: a file bird refuses is refused before any change
    _hosttools.need_tool(p, "birdc", "to apply the configuration (birdc configure)")
    if text != current:
        p.add(op_write(host, s, text, journal))
        _hosttools.need_place(p, s.config, "to write the BIRD configuration")
    if mode == "systemd":
        if enabled not in ("enabled", "enabled-runtime", "static"):
            p.add(op_systemctl(host, "enable", [UNIT]))
        if not running:
            p.add(op_systemctl(host, "start", [UNIT]))
        elif text != current:
            p.add(op_configure(host, s, sock, journal))
    else:
        if not running:
            p.add(op_start_self(host, s, sock, journal))
            _hosttools.need_place(p, s.pidfile, "for bird's pid file")
        elif text != current:
            p.add(op_configure(host, s, sock, journal))
    p.after = dict(config=text, running=True)
    p.extra.update(peers=[dict(name=x.name, address=str(x.address), asn=x.asn, protocol=x.protocol,
                               rr_client=x.rr_client) for x in s.peers],
                   announce=[str(n) for n in s.announce], asn=s.asn, router_id=str(s.router_id),
                   config_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
    return p


# --- reading bird's view (for tests, the role's verify and diagnose) ------------------------------------------
def protocols(host, sock):
    """{protocol name: (info, since)} of bird's BGP sessions, from `birdc show protocols` (info: Established,
    Active, Connect...)."""
    rc, out, _err = host.run(["birdc", "-s", sock, "show", "protocols"])
    res = {}
    if rc != 0:
        return res
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "BGP":
            res[parts[0]] = (" ".join(parts[5:]), parts[4] if len(parts) > 4 else "")
    return res
