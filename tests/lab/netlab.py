"""netlab: a lab of namespaced "hosts" on this one machine, reached by Ansible over SSH.

Everything lives inside one top-level isolated world: a long-lived process started with
``unshare --net --mount --propagation private`` (the "top").  Inside it:

* ``lab0``: a bridge, 192.0.2.1/24, routing between the underlay and the "internet";
  with ``--topology routed`` (``up --topology routed``) there is no shared segment: each host sits on a
  point-to-point link of its own to the top, which is then the router between the hosts' L3 segments
  (host ``eth0`` 192.0.2.(10+i)/32 peer 192.0.2.1; top ``v<host>`` 192.0.2.1/32 peer 192.0.2.(10+i)), so
  hosts never share a link (host-gw cannot work there, an overlay must). The router counts what it forwards
  between hosts in nft table ``inet netlab``: named counters ``vxlan`` (UDP to VXLAN_PORT) and ``other``;
  with ``--bgp`` too (``NETLAB_BGP=1``), the router runs BIRD 2 as the hosts' top-of-rack iBGP peer (AS
  BGP_ASN, 192.0.2.1): it learns every host's container subnet and routes it, never reflects (ROUTER_BIRD);
* ``internet``: its own netns, 198.51.100.1/24 behind a veth (top side 198.51.100.254/24),
  running an HTTP echo server on port 80 that answers with the client's source address;
* ``h1..hN``: each its own net+mount+uts+pid namespaces, a copy-on-write root (overlay of /
  with a tmpfs upper, pivot_root), private /run, /sys, /dev, hostname, resolv.conf and hosts,
  ``eth0`` 192.0.2.(10+i)/24 via 192.0.2.1, and sshd (key-only root login) on eth0.

Nothing is ever done in the machine's own network namespace: the machine reaches the hosts
only through ``netlab.py proxy`` (an ssh ProxyCommand that enters the top netns, and refuses
when the lab is down).  Standard library only; run with /usr/bin/python3 as root.
"""

import argparse
import ctypes
import ctypes.util
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))  # tests/lab/netlab.py -> repo root
SELF = os.path.abspath(__file__)
PY = "/usr/bin/python3"
DEFAULT_STATE = os.path.join(REPO, ".build", "lab")

UNDERLAY_GW = "192.0.2.1"
UNDERLAY_PREFIX = 24
INET_ADDR = "198.51.100.1"
INET_GW = "198.51.100.254"
INET_PREFIX = 24
MAX_HOSTS = 200
TOPOLOGIES = ("l2", "routed")
VXLAN_PORT = 8472   # what the routed lab's router counts apart (netplumb's vxlan_overlay default)
ROUTER_NFT = """table inet netlab {
    counter vxlan { }
    counter other { }
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 192.0.2.0/24 ip daddr 192.0.2.0/24 udp dport %d counter name "vxlan" accept
        ip saddr 192.0.2.0/24 ip daddr 192.0.2.0/24 counter name "other"
    }
}
""" % VXLAN_PORT
SSHD = "/usr/sbin/sshd"
BGP_ASN = 64512     # netplumb's bgp_speaker default (container_bgp_asn)
# The routed lab's router as a top-of-rack BGP peer of every host (iBGP, not a route reflector: what one host
# announces reaches the router only, so a host that leaves the inventory is withdrawn by the others on their next
# run). Learned routes go to the router's kernel, next hops (the hosts' addresses) resolved through its /32 peer
# routes. Runs in the foreground as a child of the top (dies with the lab); socket and config on the top's /run.
ROUTER_BIRD = """router id %s;
protocol device { scan time 10; }
protocol direct { ipv4; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
template bgp host { local %s as %d; connect delay time 1; connect retry time 2; error wait time 1, 5;
  ipv4 { import all; export none; }; }
"""

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(src, target, fstype, flags=0, data=None):
    _check(libc().mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                        ctypes.c_ulong(flags), data.encode() if data else None),
           "mount %s on %s" % (fstype or src, target))


def umount_detach(target):
    _check(libc().umount2(target.encode(), MNT_DETACH), "umount " + target)


def pivot_root(new, old):
    nr = SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:  # unknown arch: util-linux's pivot_root does the same syscall
        subprocess.run(["pivot_root", new, old], check=True)
        return
    _check(libc().syscall(ctypes.c_long(nr), new.encode(), old.encode()), "pivot_root")


def setns(fd, nstype):
    _check(libc().setns(fd, nstype), "setns")


def pdeathsig():
    """preexec_fn: die with our parent (the top), so nothing can outlive the lab."""
    libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def log(*a):
    print("netlab:", *a, file=sys.stderr, flush=True)


def die(msg, code=1):
    log(msg)
    sys.exit(code)


def host_addr(i):
    return "192.0.2.%d" % (10 + i)


def host_names(n):
    return ["h%d" % i for i in range(1, n + 1)]


# ---------------------------------------------------------------- process identity helpers

def ns_id(pid, ns):
    try:
        return os.readlink("/proc/%s/ns/%s" % (pid, ns))
    except OSError:
        return None


def starttime(pid):
    """Start time of a live (non-zombie) process, or None: guards against PID reuse."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid, start=None):
    st = starttime(pid) if pid else None
    return st is not None and (start is None or st == start)


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        if int(data[data.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


def not_root_netns_or_die():
    """Safety net: never configure anything in the machine's own network/mount namespace.
    `up` records the caller's namespaces in the environment; the top also compares with init's."""
    bad = {os.environ.get("NETLAB_CALLER_NETNS"), os.environ.get("NETLAB_CALLER_MNTNS")}
    if os.getpid() != 1:  # in a host's pid namespace, /proc/1 is ourselves
        bad |= {ns_id(1, "net"), ns_id(1, "mnt")}
    bad.discard(None)
    if not os.environ.get("NETLAB_CALLER_NETNS") or ns_id("self", "net") in bad \
            or ns_id("self", "mnt") in bad:
        die("refusing to configure the machine's own namespaces", 2)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def ip_batch(lines):
    run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True)


def wait_for(pred, timeout, step=0.005):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


# ---------------------------------------------------------------- state

class State:
    def __init__(self, d):
        self.dir = os.path.abspath(d)
        self.file = os.path.join(self.dir, "state.json")
        self.inventory = os.path.join(self.dir, "inventory.ini")
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.client_key = os.path.join(self.dir, "id_ed25519")
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.data = None

    def load(self):
        try:
            with open(self.file) as f:
                self.data = json.load(f)
        except (OSError, ValueError):
            self.data = None
        return self.data

    def save(self, data):
        self.data = data
        tmp = self.file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.file)

    def procs(self):
        """Every recorded (name, pid, starttime), top last."""
        d = self.data or {}
        out = []
        for name, h in sorted((d.get("hosts") or {}).items()):
            out.append((name, h.get("init_pid"), h.get("init_start")))
            out.append((name + "/unshare", h.get("pid"), h.get("start")))
        if d.get("internet"):
            out.append(("internet", d["internet"].get("pid"), d["internet"].get("start")))
        if d.get("top"):
            out.append(("top", d["top"].get("pid"), d["top"].get("start")))
        return [p for p in out if p[1]]

    def healthy(self):
        """(ok, reason): every recorded process alive and namespaces are the recorded ones."""
        d = self.data
        if not d:
            return False, "no state"
        top = d.get("top") or {}
        if not alive(top.get("pid"), top.get("start")):
            return False, "top process %s is gone" % top.get("pid")
        if ns_id(top["pid"], "net") != top.get("netns"):
            return False, "top namespace changed"
        if top.get("netns") == ns_id(1, "net"):
            return False, "top namespace is the machine's own (refusing)"
        for name, pid, start in self.procs():
            if not alive(pid, start):
                return False, "%s (pid %s) is gone" % (name, pid)
        for name, h in (d.get("hosts") or {}).items():
            if ns_id(h.get("init_pid"), "net") != h.get("netns"):
                return False, "%s namespace changed" % name
        return True, "up"


# ---------------------------------------------------------------- in the top namespace

def cmd_top(args):
    """Long-lived process of the top-level world.  Started by `up` under
    `unshare --net --mount --propagation private`; reports readiness as one JSON line on
    --ready-fd, then reaps its children until told to stop."""
    not_root_netns_or_die()
    t0 = time.monotonic()
    st = State(args.state_dir)
    n = args.hosts
    ready = os.fdopen(args.ready_fd, "w")

    def mark(what):
        log("top: %-28s %.3fs" % (what, time.monotonic() - t0))
    children = []

    def stop(signum, frame):
        for p in children:
            try:
                p.kill()
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # private /run: the xtables lock, `ip netns` and our scratch dirs stay in here
    mount("netlab-top-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    for d in ("/run/netns", "/run/lock", "/run/netlab"):
        os.makedirs(d, exist_ok=True)
    # the machine's resolver is unreachable from here (and lookups would hang): give the top
    # (and the internet, which shares its mount namespace) their own, by private bind mounts
    for path, text in (("/etc/resolv.conf", "nameserver 127.0.0.1\n"),
                       ("/etc/hosts", "127.0.0.1\tlocalhost\n%s\tinternet\n" % INET_ADDR)):
        if os.path.isfile(path) and not os.path.islink(path):
            src = "/run/netlab/" + os.path.basename(path)
            with open(src, "w") as f:
                f.write(text)
            mount(src, path, None, MS_BIND)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # the top's own netns only
        f.write("1\n")
    routed = args.topology == "routed"
    ip_batch(["link set lo up",
              "link add lab0 type bridge"]
             + ([] if routed else ["addr add %s/%d dev lab0" % (UNDERLAY_GW, UNDERLAY_PREFIX)])
             + ["link set lab0 up"])
    if routed:
        run(["nft", "-f", "-"], input=ROUTER_NFT.encode())
    if routed and args.bgp:
        conf = ROUTER_BIRD % (UNDERLAY_GW, UNDERLAY_GW, BGP_ASN) + "".join(
            "protocol bgp %s from host { neighbor %s as %d; }\n" % (h, host_addr(i), BGP_ASN)
            for i, h in enumerate(host_names(n), 1))
        with open("/run/netlab/bird.conf", "w") as f:
            f.write(conf)

    def spawn(cmd, logname):
        logf = open(os.path.join(st.dir, logname), "ab")
        r, w = os.pipe()
        cmd = cmd + ["--ready-fd", str(w)]  # pass_fds keeps the number
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             pass_fds=(w,), preexec_fn=pdeathsig, close_fds=True)
        os.close(w)
        logf.close()
        children.append(p)
        return p, r

    def read_line(r, what, timeout=10):
        sel = selectors.DefaultSelector()
        sel.register(r, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError("%s: no readiness signal" % what)
        line = os.read(r, 256).decode()
        if not line.startswith("ok"):
            raise RuntimeError("%s failed to start (see logs in %s)" % (what, st.dir))
        return line

    try:
        # the internet: its own netns + uts, the echo server is the process itself
        inet, inet_r = spawn(["unshare", "--net", "--uts", "--", PY, SELF, "_internet"],
                             "internet.log")
        hosts = {}
        for i, name in enumerate(host_names(n), 1):
            os.makedirs("/run/netlab/" + name)
            cmd = ["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--kill-child",
                   "--mount-proc", "--", PY, SELF, "_host", "--name", name,
                   "--index", str(i), "--hosts", str(n), "--state-dir", st.dir,
                   "--topology", args.topology]
            p, r = spawn(cmd, name + ".log")
            hosts[name] = (i, p, r)

        mark("spawned")
        read_line(inet_r, "internet")
        mark("internet ns")
        ip_batch(["link add inet0 type veth peer name eth0 netns %d" % inet.pid,
                  "addr add %s/%d dev inet0" % (INET_GW, INET_PREFIX),
                  "link set inet0 up"])
        batch = []
        for name, (i, p, r) in hosts.items():
            read_line(r, name)  # its namespaces exist now
            batch += ["link add v%s type veth peer name eth0 netns %d" % (name, p.pid)]
            if routed:      # a segment of its own, routed by the top
                batch += ["addr add %s/32 peer %s dev v%s" % (UNDERLAY_GW, host_addr(i), name),
                          "link set v%s up" % name]
            else:
                batch += ["link set v%s master lab0 up" % name]
        ip_batch(batch)
        mark("links")
        if routed and args.bgp:
            logf = open(os.path.join(st.dir, "router-bird.log"), "ab")
            children.append(subprocess.Popen(
                ["bird", "-f", "-c", "/run/netlab/bird.conf", "-s", "/run/netlab/bird.ctl"], stdin=subprocess.DEVNULL,
                stdout=logf, stderr=logf, preexec_fn=pdeathsig, close_fds=True))
            logf.close()
            mark("router bird")

        def ssh_up(addr):
            try:
                with socket.create_connection((addr, 22), timeout=0.5) as s:
                    s.settimeout(2)
                    return s.recv(4).startswith(b"SSH-")
            except OSError:
                return False

        def http_up():
            try:
                with socket.create_connection((INET_ADDR, 80), timeout=0.5) as s:
                    s.settimeout(2)
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    return b"\r\n\r\n" + INET_GW.encode() in s.recv(4096)
            except OSError:
                return False

        for name, (i, p, r) in hosts.items():
            line = read_line(r, name, timeout=20)  # network configured, sshd started
            mark(name + " configured")
            if not wait_for(lambda: ssh_up(host_addr(i)), 15, 0.01):
                raise RuntimeError("%s: sshd does not answer on %s:22" % (name, host_addr(i)))
            mark(name + " sshd answers")
        if not wait_for(http_up, 10, 0.01):
            raise RuntimeError("internet echo server does not answer")
        mark("echo answers")

        info = {"internet": {"pid": inet.pid}, "hosts": {}}
        for name, (i, p, r) in hosts.items():
            kids = children_of(p.pid)
            if len(kids) != 1:
                raise RuntimeError("%s: cannot find the namespace's init" % name)
            info["hosts"][name] = {"pid": p.pid, "init_pid": kids[0], "addr": host_addr(i)}
            os.close(r)
        os.close(inet_r)
        ready.write("ok " + json.dumps(info) + "\n")
        ready.close()
    except Exception as e:  # noqa: BLE001 - report, then take everything down with us
        log("top: %s" % e)
        try:
            ready.write("error %s\n" % e)
            ready.close()
        except OSError:
            pass
        stop(None, None)

    # reap until stopped; if a host dies, the lab is unhealthy (status says so)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
            log("top: child %d exited with status %d" % (pid, status))
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            pass


def _notify(fd, msg):
    os.write(fd, (msg + "\n").encode())


def _has_eth0():
    try:
        return socket.if_nametoindex("eth0") > 0  # asks the kernel about *our* netns
    except OSError:
        return False


def _wait_eth0(timeout=10):
    if not wait_for(_has_eth0, timeout):
        raise RuntimeError("eth0 never appeared")


def echo_server(addr):
    """HTTP server answering with the client's source address (imported lazily: `proxy` runs
    for every ssh connection and should start fast)."""
    import http.server
    import socketserver

    class EchoServer(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

        def server_bind(self):  # HTTPServer's would call socket.getfqdn(): no DNS lookups here
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "internet", self.server_address[1]

    class EchoHandler(http.server.BaseHTTPRequestHandler):
        """Answers every request with the client's source address, plain text."""
        server_version = "netlab-echo/1"

        def _reply(self, body=True):
            data = (self.client_address[0] + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self):
            self._reply()

        do_POST = do_PUT = do_GET

        def do_HEAD(self):
            self._reply(body=False)

        def log_message(self, fmt, *a):
            pass

    return EchoServer(addr, EchoHandler)


def cmd_internet(args):
    not_root_netns_or_die()
    fd = args.ready_fd
    socket.sethostname("internet")
    _notify(fd, "ok ns")
    _wait_eth0()
    ip_batch(["link set lo up",
              "addr add %s/%d dev eth0" % (INET_ADDR, INET_PREFIX),
              "link set eth0 up",
              "route add default via %s" % INET_GW])
    os.close(fd)
    echo_server(("0.0.0.0", 80)).serve_forever()


SSHD_CONFIG = """\
# written by netlab.py for the lab host {name}
ListenAddress {addr}
Port 22
HostKey /etc/ssh/netlab_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /root/.ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 100
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
"""


def cmd_host(args):
    """PID 1 of a lab host (new net+mount+uts+pid namespaces, /proc already remounted)."""
    not_root_netns_or_die()
    # a new namespace inherits the machine's ip_forward: a lab host starts as a fresh host does, at 0
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("0\n")
    fd = args.ready_fd
    name, i, n = args.name, args.index, args.hosts
    addr = host_addr(i)
    _notify(fd, "ok ns")  # namespaces exist: the top may plug eth0 in while we build the root
    st = State(args.state_dir)
    with open(st.host_key) as f:
        host_key = f.read()
    with open(st.client_key + ".pub") as f:
        client_pub = f.read()

    # a private copy-on-write root: overlay(lower=/, upper=tmpfs), then pivot_root into it
    base = "/run/netlab/" + name  # a dir on the top's private /run tmpfs
    mount("netlab-" + name, base, "tmpfs", 0, "mode=755")
    for d in ("upper", "work", "root"):
        os.mkdir(os.path.join(base, d))
    new = base + "/root"
    mount("netlab-%s-root" % name, new, "overlay", 0,
          "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (base, base))
    mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", new + "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # our netns's view
    mount("netlab-run", new + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    # a fresh root home, like a new Debian install (not the machine's dotfiles, pyenv hooks...)
    mount("netlab-root-home", new + "/root", "tmpfs", 0, "mode=700")
    for f in (".bashrc", ".profile"):
        if os.path.isfile("/etc/skel/" + f):
            shutil.copyfile("/etc/skel/" + f, new + "/root/" + f)
    mount("netlab-dev", new + "/dev", "tmpfs", MS_NOSUID, "mode=755")
    for dev in ("null", "zero", "full", "random", "urandom", "tty"):
        open(new + "/dev/" + dev, "w").close()
        mount("/dev/" + dev, new + "/dev/" + dev, None, MS_BIND)
    os.mkdir(new + "/dev/pts")
    mount("devpts", new + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", new + "/dev/ptmx")
    os.mkdir(new + "/dev/shm")
    mount("netlab-shm", new + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, new + "/dev/" + link)
    os.mkdir(new + "/run/.oldroot")
    pivot_root(new, new + "/run/.oldroot")
    os.chdir("/")
    umount_detach("/run/.oldroot")
    os.rmdir("/run/.oldroot")
    for d in ("/run/netns", "/run/lock", "/run/sshd"):
        os.makedirs(d, exist_ok=True)

    # identity and name resolution of its own (never the machine's resolver: fqdn lookups hang)
    socket.sethostname(name)

    def write(path, text, mode=0o644):
        if os.path.islink(path) or os.path.exists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
            f.write(text)

    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "%s\tgw lab0" % UNDERLAY_GW, "%s\tinternet" % INET_ADDR]
    hosts += ["%s\t%s" % (host_addr(j), h) for j, h in enumerate(host_names(n), 1)]
    write("/etc/hosts", "\n".join(hosts) + "\n")
    write("/etc/resolv.conf", "nameserver 127.0.0.1\n")
    write("/etc/hostname", name + "\n")
    write("/etc/machine-id", os.urandom(16).hex() + "\n")
    write("/etc/ssh/netlab_host_ed25519_key", host_key, 0o600)
    write("/etc/ssh/netlab_sshd_config", SSHD_CONFIG.format(name=name, addr=addr))
    write("/root/.ssh/authorized_keys", client_pub, 0o600)

    _wait_eth0()
    if args.topology == "routed":
        own = "addr add %s/32 peer %s dev eth0" % (addr, UNDERLAY_GW)
    else:
        own = "addr add %s/%d dev eth0" % (addr, UNDERLAY_PREFIX)
    ip_batch(["link set lo up",
              own,
              "link set eth0 up",
              "route add default via %s" % UNDERLAY_GW])
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}
    subprocess.Popen([SSHD, "-D", "-e", "-f", "/etc/ssh/netlab_sshd_config"], env=env,
                     stdin=subprocess.DEVNULL, close_fds=True)
    _notify(fd, "ok up")
    os.close(fd)
    os.chdir("/")

    # PID 1: reap every zombie; SIGTERM takes the whole host down
    def stop(signum, frame):
        os.kill(-1, signal.SIGKILL)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            pass


# ---------------------------------------------------------------- from the machine

def write_client_files(st, n, top_pid):
    hosts = host_names(n)
    proxy = "%s %s --state-dir %s proxy %%h %%p" % (PY, SELF, st.dir)
    lines = ["# written by netlab.py: reach the lab hosts through the top namespace (pid %d)" % top_pid,
             "# usage: ssh -F %s h1" % st.ssh_config, ""]
    for i, h in enumerate(hosts, 1):
        lines += ["Host %s" % h, "  HostName %s" % host_addr(i), ""]
    lines += ["Host %s 192.0.2.*" % " ".join(hosts),
              "  User root",
              "  IdentityFile %s" % st.client_key,
              "  IdentitiesOnly yes",
              "  UserKnownHostsFile /dev/null",
              "  GlobalKnownHostsFile /dev/null",
              "  StrictHostKeyChecking no",
              "  LogLevel ERROR",
              "  ProxyCommand %s" % proxy,
              "  ControlMaster auto",
              "  ControlPath %s/cm-%%C" % st.dir,
              "  ControlPersist 60s",
              "  ServerAliveInterval 10",
              ""]
    with open(st.ssh_config, "w") as f:
        f.write("\n".join(lines))
    inv = ["# written by netlab.py; ssh goes through %s" % st.ssh_config, "[lab]"]
    for i, h in enumerate(hosts, 1):
        inv.append("%s ansible_host=%s" % (h, host_addr(i)))
    inv += ["", "[lab:vars]",
            "ansible_user=root",
            "ansible_python_interpreter=/usr/bin/python3",
            "ansible_ssh_private_key_file=%s" % st.client_key,
            "ansible_ssh_common_args=-F %s" % st.ssh_config,
            "ansible_control_path_dir=%s" % os.path.join(st.dir, "cp"),
            ""]
    with open(st.inventory, "w") as f:
        f.write("\n".join(inv))


def keygen(path, comment):
    if not os.path.exists(path):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
            stdin=subprocess.DEVNULL)


def cmd_up(args):
    st = State(args.state_dir)
    n = args.hosts or 3
    if not 1 <= n <= MAX_HOSTS:
        die("--hosts must be between 1 and %d" % MAX_HOSTS, 2)
    if st.load():
        ok, why = st.healthy()
        have = len(st.data.get("hosts", {}))
        topo = st.data.get("topology", "l2")
        if ok and topo != args.topology:
            die("lab is up with topology %s, not %s: run `netlab.py down` first" % (topo, args.topology), 1)
        if ok and bool(st.data.get("bgp")) != bool(args.bgp):
            die("lab is up %s the router's BGP peer: run `netlab.py down` first"
                % ("with" if st.data.get("bgp") else "without"), 1)
        if ok and (have == n or args.hosts is None):
            print("lab already up and healthy: %d hosts (%s); inventory %s"
                  % (have, ", ".join(sorted(st.data["hosts"])), st.inventory))
            return 0
        if ok:
            die("lab is up with %d hosts, not %d: run `netlab.py down` first" % (have, n), 1)
        log("stale lab state (%s): cleaning up first" % why)
        teardown(st, quiet=True)
    t0 = time.monotonic()
    os.makedirs(st.dir, exist_ok=True)
    keygen(st.client_key, "netlab-client")
    keygen(st.host_key, "netlab-host")
    r, w = os.pipe()
    logf = open(os.path.join(st.dir, "top.log"), "ab")
    env = dict(os.environ, NETLAB_CALLER_NETNS=ns_id("self", "net"),
               NETLAB_CALLER_MNTNS=ns_id("self", "mnt"))
    top = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "--",
                            PY, SELF, "_top", "--state-dir", st.dir, "--hosts", str(n), "--topology", args.topology,
                            "--ready-fd", str(w)] + (["--bgp"] if args.bgp else []),
                           stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(w,),
                           start_new_session=True, close_fds=True, env=env)
    os.close(w)
    logf.close()
    buf = b""
    sel = selectors.DefaultSelector()
    sel.register(r, selectors.EVENT_READ)
    end = time.monotonic() + 60
    try:
        while b"\n" not in buf and time.monotonic() < end:
            if sel.select(max(0.0, end - time.monotonic())):
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                buf += chunk
    except BaseException:  # interrupted: the top and everything under it go away
        top.kill()
        top.wait()
        raise
    os.close(r)
    line = buf.decode(errors="replace").strip()
    if not line.startswith("ok "):
        try:
            top.kill()
        except OSError:
            pass
        top.wait()
        with open(os.path.join(st.dir, "top.log"), errors="replace") as f:
            tail = f.read()[-2000:]
        teardown(st, quiet=True, keep_logs=True)
        die("bring-up failed: %s\n--- %s/top.log ---\n%s" % (line or "timeout", st.dir, tail))
    info = json.loads(line[3:])
    data = {"version": 1, "repo": REPO, "hosts": {}, "topology": args.topology, "bgp": bool(args.bgp),
            "top": {"pid": top.pid, "start": starttime(top.pid), "netns": ns_id(top.pid, "net"),
                    "mntns": ns_id(top.pid, "mnt")},
            "internet": {"pid": info["internet"]["pid"], "addr": INET_ADDR,
                         "start": starttime(info["internet"]["pid"]),
                         "netns": ns_id(info["internet"]["pid"], "net")},
            "keys": {"client": st.client_key, "host": st.host_key},
            "inventory": st.inventory, "ssh_config": st.ssh_config}
    for name, h in info["hosts"].items():
        data["hosts"][name] = {"pid": h["pid"], "start": starttime(h["pid"]),
                               "init_pid": h["init_pid"], "init_start": starttime(h["init_pid"]),
                               "addr": h["addr"],
                               "netns": ns_id(h["init_pid"], "net"),
                               "mntns": ns_id(h["init_pid"], "mnt"),
                               "pidns": ns_id(h["init_pid"], "pid")}
    st.save(data)
    write_client_files(st, n, top.pid)
    ok, why = st.healthy()
    if not ok:
        teardown(st, quiet=True, keep_logs=True)
        die("lab came up unhealthy: %s" % why)
    print("lab up: %d hosts in %.2fs (top pid %d, topology %s)"
          % (n, time.monotonic() - t0, top.pid, args.topology))
    for name in sorted(data["hosts"], key=lambda x: int(x[1:])):
        print("  %-4s %s  (pid %d)" % (name, data["hosts"][name]["addr"], data["hosts"][name]["init_pid"]))
    print("  internet %s (http echo on :80)" % INET_ADDR)
    print("inventory:  %s" % st.inventory)
    print("ssh:        ssh -F %s h1" % st.ssh_config)
    return 0


def our_namespaces(data):
    ids = set()
    for key in ("top", "internet"):
        if data.get(key):
            ids.add(data[key].get("netns"))
    for h in (data.get("hosts") or {}).values():
        ids.update([h.get("netns"), h.get("mntns"), h.get("pidns")])
    ids.discard(None)
    # never treat the machine's own namespaces as ours
    ids -= {ns_id(p, ns) for p in (1, "self") for ns in ("net", "mnt", "pid")}
    return ids


def procs_in(ids):
    """PIDs of processes living in any of the given namespace ids (shells, proxies, sshd...)."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        for ns in ("net", "mnt", "pid"):
            if ns_id(d, ns) in ids:
                if starttime(int(d)) is not None:
                    out.append(int(d))
                break
    return out


def hold_namespaces(procs, ids):
    """Open the namespaces in ``ids`` of the recorded processes that are still alive, so that none of them is
    freed - and its id reused by someone else's new namespace (another suite's test, beside us) - while teardown
    looks for processes inside them. Returns (the ids held, their fds). A namespace no live recorded process
    holds any more is never searched: its id may already name another namespace."""
    held, fds = set(), []
    for dummy, pid, start in procs:
        if not alive(pid, start):
            continue
        for ns in ("net", "mnt", "pid"):
            try:
                fd = os.open("/proc/%d/ns/%s" % (pid, ns), os.O_RDONLY)
            except OSError:
                continue
            nid = os.readlink("/proc/self/fd/%d" % fd)
            if nid in ids and alive(pid, start):     # still that process's: the fd holds our namespace
                held.add(nid)
                fds.append(fd)
            else:
                os.close(fd)
    return held, fds


def kill_wait(pids, timeout=5.0):
    for pid, start in pids:
        if alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return wait_for(lambda: not any(alive(p, s) for p, s in pids), timeout, 0.01)


def teardown(st, quiet=False, keep_logs=False):
    data = st.data or st.load() or {}
    ids = our_namespaces(data)
    # stop ssh control masters that point into the lab
    socks = []
    for d, prefix in ((st.dir, "cm-"), (os.path.join(st.dir, "cp"), "")):
        if os.path.isdir(d):
            socks += [os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefix)]
    for sock in socks:
        subprocess.run(["ssh", "-o", "ControlPath=" + sock, "-O", "exit", "x"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)
    procs = st.procs()
    inner = [(p, s) for name, p, s in procs if name != "top"]
    top = [(p, s) for name, p, s in procs if name == "top"]
    ids, fds = hold_namespaces(procs, ids)
    try:
        ok = kill_wait(inner)
        ok = kill_wait(top) and ok
        # anything else still inside our namespaces (interactive shells, exec'd commands, proxies)
        for dummy in range(3):
            left = procs_in(ids)
            if not left:
                break
            kill_wait([(p, starttime(p)) for p in left])
        left = procs_in(ids)
    finally:
        for fd in fds:
            os.close(fd)
    if left:
        log("warning: processes still inside the lab namespaces: %s" % left)
    if not ok and not quiet:
        log("warning: some recorded processes did not exit")
    if os.path.isdir(st.dir):
        if keep_logs:
            for f in ("state.json", "ssh_config", "inventory.ini"):
                try:
                    os.unlink(os.path.join(st.dir, f))
                except FileNotFoundError:
                    pass
        else:
            shutil.rmtree(st.dir, ignore_errors=True)
    return ok and not left


def cmd_down(args):
    st = State(args.state_dir)
    if not st.load():
        if os.path.isdir(st.dir):
            shutil.rmtree(st.dir, ignore_errors=True)
        print("lab is down")
        return 0
    t0 = time.monotonic()
    ok = teardown(st)
    print("lab down in %.2fs" % (time.monotonic() - t0))
    return 0 if ok else 1


def cmd_status(args):
    st = State(args.state_dir)
    if not st.load():
        print("lab is down")
        return 1
    ok, why = st.healthy()
    if not ok:
        print("lab is NOT healthy: %s (run `netlab.py down`)" % why)
        return 1
    d = st.data
    print("lab is up: top pid %d (%s), topology %s" % (d["top"]["pid"], d["top"]["netns"], d.get("topology", "l2")))
    for name in sorted(d["hosts"], key=lambda x: int(x[1:])):
        h = d["hosts"][name]
        print("  %-8s %-14s pid %d" % (name, h["addr"], h["init_pid"]))
    print("  %-8s %-14s pid %d" % ("internet", INET_ADDR, d["internet"]["pid"]))
    print("inventory: %s" % st.inventory)
    return 0


def require_up(st):
    if not st.load():
        die("lab is down (no %s)" % st.file, 3)
    ok, why = st.healthy()
    if not ok:
        die("lab is not healthy: %s" % why, 3)
    return st.data


def target_pid(data, name):
    if name == "top":
        return data["top"]["pid"], ["-n", "-m"]
    if name == "internet":
        return data["internet"]["pid"], ["-n", "-m", "-u"]
    if name in data["hosts"]:
        return data["hosts"][name]["init_pid"], ["-a"]
    die("unknown lab host %r (have: top, internet, %s)" % (name, ", ".join(sorted(data["hosts"]))), 2)


def cmd_exec(args):
    st = State(args.state_dir)
    data = require_up(st)
    cmd = args.cmd
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        die("usage: netlab.py exec HOST -- CMD...", 2)
    pid, flags = target_pid(data, args.host)
    # nsenter --wd resolves in *our* mount namespace: change directory inside instead
    wd = "/root" if args.host.startswith("h") else "/"
    argv = ["nsenter", "-t", str(pid)] + flags + ["--", "/bin/sh", "-c",
                                                  'cd %s 2>/dev/null; exec "$@"' % wd, "netlab"] + cmd
    env = dict(os.environ)
    if args.host.startswith("h"):  # a host gets a clean environment, as over ssh
        env = {"HOME": "/root", "LANG": "C.UTF-8", "TERM": os.environ.get("TERM", "dumb"),
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    return subprocess.run(argv, env=env, check=False).returncode


def cmd_shell(args):
    st = State(args.state_dir)
    data = require_up(st)
    pid, flags = target_pid(data, args.host)
    env = {"TERM": os.environ.get("TERM", "xterm"), "HOME": "/root", "LANG": "C.UTF-8",
           "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "PS1": "[%s] \\u@\\h:\\w\\$ " % args.host}
    argv = ["nsenter", "-t", str(pid)] + flags + ["--", "/bin/bash", "-c",
                                                  "cd /root 2>/dev/null; exec /bin/bash --norc -i"]
    return subprocess.run(argv, env=env, check=False).returncode


def cmd_inventory(args):
    st = State(args.state_dir)
    print(st.inventory)
    return 0 if os.path.exists(st.inventory) else 1


def cmd_proxy(args):
    """ssh ProxyCommand: relay stdin/stdout to HOST:PORT inside the top namespace.  Fails closed:
    refuses unless the recorded top process is alive with its recorded namespace."""
    import ipaddress
    st = State(args.state_dir)
    data = require_up(st)
    try:
        addr = ipaddress.ip_address(args.host)
    except ValueError:
        die("proxy: %r is not a lab address" % args.host, 2)
    if not any(addr in ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24")):
        die("proxy: %s is outside the lab ranges, refusing" % addr, 2)
    top = data["top"]
    fd = os.open("/proc/%d/ns/net" % top["pid"], os.O_RDONLY)
    # re-check after opening: the fd pins the namespace we verified, even if the pid is reused
    if starttime(top["pid"]) != top["start"] or \
            os.readlink("/proc/self/fd/%d" % fd) != top["netns"] or top["netns"] == ns_id(1, "net"):
        die("proxy: lab top namespace changed, refusing", 3)
    setns(fd, CLONE_NEWNET)
    os.close(fd)
    if ns_id("self", "net") != top["netns"]:
        die("proxy: failed to enter the lab namespace", 3)
    try:
        s = socket.create_connection((str(addr), args.port), timeout=10)
    except OSError as e:
        die("proxy: %s:%s: %s" % (addr, args.port, e), 1)
    s.settimeout(None)
    relay(s)
    return 0


def relay(s):
    sel = selectors.DefaultSelector()
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    sel.register(inp, selectors.EVENT_READ, "in")
    sel.register(s, selectors.EVENT_READ, "sock")
    open_dirs = 2
    while open_dirs:
        for key, dummy in sel.select():
            if key.data == "in":
                data = os.read(inp, 65536)
                if not data:
                    sel.unregister(inp)
                    try:
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    open_dirs -= 1
                else:
                    s.sendall(data)
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return  # the server side is gone: done
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS,
                        help="lab state dir (default $NETLAB_STATE_DIR or <repo>/.build/lab)")
    p = argparse.ArgumentParser(prog="netlab.py", parents=[common],
                                description="namespaced lab hosts reached over ssh")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("up", parents=[common], help="bring the lab up (idempotent)")
    s.add_argument("--hosts", type=int, default=None, help="number of hosts (default 3)")
    s.add_argument("--topology", choices=TOPOLOGIES, default=os.environ.get("NETLAB_TOPOLOGY") or "l2",
                   help="l2: every host on one bridge (default); routed: each host on its own segment behind "
                   "the top as router")
    s.add_argument("--bgp", action="store_true", default=os.environ.get("NETLAB_BGP") == "1",
                   help="routed only: the router runs BIRD 2 as every host's iBGP peer (AS %d), default $NETLAB_BGP=1"
                   % BGP_ASN)
    s.set_defaults(fn=cmd_up)
    sub.add_parser("down", parents=[common], help="take the lab down (idempotent)").set_defaults(fn=cmd_down)
    sub.add_parser("status", parents=[common], help="exit 0 if the lab is up").set_defaults(fn=cmd_status)
    s = sub.add_parser("shell", parents=[common], help="interactive shell in HOST")
    s.add_argument("host")
    s.set_defaults(fn=cmd_shell)
    s = sub.add_parser("exec", parents=[common], help="run CMD in HOST (h1.., internet, top)")
    s.add_argument("host")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_exec)
    sub.add_parser("inventory", parents=[common], help="print the inventory path").set_defaults(fn=cmd_inventory)
    s = sub.add_parser("proxy", parents=[common], help="ssh ProxyCommand: proxy HOST PORT")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.set_defaults(fn=cmd_proxy)
    # internal entry points, run inside the lab's namespaces
    s = sub.add_parser("_top", parents=[common])
    s.add_argument("--topology", choices=TOPOLOGIES, default="l2")
    s.add_argument("--hosts", type=int, required=True)
    s.add_argument("--ready-fd", type=int, required=True)
    s.add_argument("--bgp", action="store_true")
    s.set_defaults(fn=cmd_top)
    s = sub.add_parser("_internet", parents=[common])
    s.add_argument("--ready-fd", type=int, required=True)
    s.set_defaults(fn=cmd_internet)
    s = sub.add_parser("_host", parents=[common])
    s.add_argument("--name", required=True)
    s.add_argument("--index", type=int, required=True)
    s.add_argument("--topology", choices=TOPOLOGIES, default="l2")
    s.add_argument("--hosts", type=int, required=True)
    s.add_argument("--ready-fd", type=int, required=True)
    s.set_defaults(fn=cmd_host)
    args = p.parse_args(argv)
    if not args.command.startswith("_"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `netlab.py status | head` stays quiet
    if not getattr(args, "state_dir", None):
        args.state_dir = os.environ.get("NETLAB_STATE_DIR") or DEFAULT_STATE
    args.state_dir = os.path.abspath(args.state_dir)
    if os.geteuid() != 0:
        die("must run as root", 2)
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
