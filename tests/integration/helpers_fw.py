"""Firewall test tools: iptables-save without counters, a converge cycle for firewall modules, HTTP echo
servers in namespaces, and small packet probes. Every command runs in the test thread's namespace (the
sandbox) or in a named namespace created by the test."""
import os
import re
import subprocess
import sys
import tempfile
import time

from helpers.converge import converge

_COUNTERS = re.compile(r"\[\d+:\d+\]")

ECHO_SERVER = r'''
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''


def save(variant="nft"):
    """iptables-save of this namespace, counters and comments-of-the-tool stripped, then the nftables driver's
    table (``nft list table inet netplumb``) when it exists: every rule of ours, whichever the backend."""
    out = subprocess.run(["iptables-%s-save" % variant], check=True, capture_output=True, text=True).stdout
    text = "\n".join(_COUNTERS.sub("", line) for line in out.splitlines() if not line.startswith("#"))
    return text + nft_table()


def nft_table():
    """``nft list table inet netplumb`` (no handles, our rules carry no counters), or "" without the table."""
    res = subprocess.run(["nft", "list", "table", "inet", "netplumb"], capture_output=True, text=True, check=False)
    return ("\n" + res.stdout.rstrip()) if res.returncode == 0 else ""


def our_lines(variant="nft"):
    return [line for line in save(variant).splitlines() if "NETPLUMB" in line or "netplumb:" in line
            or line.startswith("table inet netplumb")]


class Probe:
    """A counter for packets that reach this namespace, whatever firewall backend is in use: a table of the
    test's own (``inet probe``) with a base chain at prerouting priority -400 (before every other) counting
    the packets to ``daddr`` and tcp ``dport``."""

    def __init__(self, ns=None):
        self.ns = ns
        self.rules = 0
        sh("nft", "add table inet probe; add chain inet probe pre { type filter hook prerouting priority -400; }",
           ns=ns)

    def count_to(self, daddr, dport):
        self.rules += 1
        sh("nft", "add rule inet probe pre ip daddr %s tcp dport %d counter comment \"p%d\"" % (daddr, dport, self.rules),
           ns=self.ns)
        return "p%d" % self.rules

    def packets(self, name):
        import json
        doc = json.loads(sh("nft", "-j", "list", "chain", "inet", "probe", "pre", ns=self.ns).stdout)
        for obj in doc["nftables"]:
            rule = obj.get("rule")
            if rule and rule.get("comment") == name:
                return sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
        raise AssertionError("probe rule %s is gone" % name)


def converge_fw(run, module, args, expect_changed=True):
    """helpers.converge's cycle, plus: check mode left iptables-save unchanged, and the idempotent re-run
    left it identical (counters aside)."""
    before = save()
    check = run(module, args, check=True)
    assert not check.get("failed"), check
    assert save() == before, "check mode changed the rules"
    state = {}

    def wrapped(name, a, check=False, diff=True):
        if not check and "real" in state:
            state["again_before"] = save()
        res = run(name, a, check=check, diff=diff)
        if not check:
            state.setdefault("real", res)
        return res
    res = converge(wrapped, module, args, expect_changed=expect_changed)
    assert save() == state["again_before"], "the idempotent re-run changed the rules"
    return res


def sysctl(name):
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


class Servers:
    """Echo servers started with `ip netns exec NS python3 server.py ADDR PORT`, killed on close()."""

    def __init__(self):
        fd, self.script = tempfile.mkstemp(suffix=".py")
        with os.fdopen(fd, "w") as f:
            f.write(ECHO_SERVER)
        self.procs = []

    def start(self, ns, addr, port):
        cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [sys.executable, self.script, addr, str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        deadline = time.time() + 30     # a condition wait: a loaded machine starts python slowly
        while time.time() < deadline:
            if self._listening(ns, port):
                return proc
            time.sleep(0.05)
        raise AssertionError("echo server in %s on %s:%d did not come up" % (ns, addr, port))

    @staticmethod
    def _listening(ns, port):
        cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + ["ss", "-Hltn", "sport = :%d" % port]
        return bool(subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip())

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        os.unlink(self.script)


CLIENT = r'''
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n\r\n", 1)[1].decode())
'''


def http_get(ns, addr, port, timeout=10.0):
    """The echo server's answer (the client address it saw), or None when unreachable. A probe expected to
    fail passes a short timeout; one expected to succeed gets a long one (a loaded machine is slow)."""
    cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [sys.executable, "-c", CLIENT, addr, str(port)]
    cmd.append(str(timeout))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def sh(*cmd, ns=None, check=True):
    full = ([] if ns is None else ["ip", "netns", "exec", ns]) + list(cmd)
    return subprocess.run(full, check=check, capture_output=True, text=True)


FAKE_RESTORE = r'''#!/usr/bin/env python3
"""A fake iptables-{nft,legacy}-restore placed first in PATH: --test runs and commits go to the real tool
(found in PATH after this directory), except the commits the control file (JSON, next to this script)
says to fail: {"fail_table": "nat"} fails the commit of that table's payload, {"fail_after": 1} fails
every commit after the first one that succeeded. Every commit tried is logged to "log" beside it."""
import json, os, shutil, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
name = os.path.basename(sys.argv[0])
path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if os.path.abspath(p) != here)
real = shutil.which(name, path=path)
payload = sys.stdin.read()
if "--test" in sys.argv[1:]:
    sys.exit(subprocess.run([real] + sys.argv[1:], input=payload, text=True).returncode)
with open(os.path.join(here, "control.json")) as f:
    control = json.load(f)
table = payload.split("\n", 1)[0].lstrip("*")
log = os.path.join(here, "log")
done = open(log).read().split() if os.path.exists(log) else []
ok = [t for t in done if not t.startswith("!")]
fail = control.get("fail_table") == table or (control.get("fail_after") is not None
                                             and len(ok) >= control["fail_after"])
with open(log, "a") as f:
    f.write(("!%s" if fail else "%s") % table + "\n")
if fail:
    sys.stderr.write("%s: line 3 failed: injected commit fault (table %s)\n" % (name, table))
    sys.exit(1)
sys.exit(subprocess.run([real] + sys.argv[1:], input=payload, text=True).returncode)
'''


class FakeRestore:
    """Shadows iptables-nft-restore and iptables-legacy-restore with FAKE_RESTORE for as long as it is
    installed (monkeypatch undoes the PATH change); ``log()`` lists the commits tried, "!" marks the failed."""

    def __init__(self, tmp_path, monkeypatch, fail_table=None, fail_after=None):
        import json
        self.dir = tmp_path / "fake-restore"
        self.dir.mkdir()
        for tool in ("iptables-nft-restore", "iptables-legacy-restore"):
            (self.dir / tool).write_text(FAKE_RESTORE)
            (self.dir / tool).chmod(0o755)
        (self.dir / "control.json").write_text(json.dumps(dict(fail_table=fail_table, fail_after=fail_after)))
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PATH", "%s:%s" % (self.dir, os.environ["PATH"]))

    def log(self):
        path = self.dir / "log"
        return path.read_text().split() if path.exists() else []

    def remove(self):
        path = os.environ["PATH"].split(":")
        self.monkeypatch.setenv("PATH", ":".join(p for p in path if p != str(self.dir)))


def ipt(*args, variant="nft"):
    """iptables-<variant> ARGS in the current namespace (the sandbox), checked."""
    return subprocess.run(["iptables-%s" % variant] + list(args), check=True, capture_output=True, text=True)


def chain_rules(table, chain, variant="nft"):
    """The -A lines of one chain, in order, as token lists (without "-A CHAIN")."""
    import shlex
    out = subprocess.run(["iptables-%s-save" % variant, "-t", table], check=True, capture_output=True,
                         text=True).stdout
    return [shlex.split(line)[2:] for line in out.splitlines() if line.startswith("-A %s " % chain)]


def save_content(variant="nft"):
    """save() without the tables that hold nothing (no rule, no chain of their own, every policy ACCEPT):
    a built-in table that a failed, rolled-back attempt brought into existence empty is not a change.
    (iptables-legacy instantiates a table on its first --test; iptables-nft creates it on its first commit
    and iptables-restore cannot remove a table.)"""
    out = []
    for block in save(variant).split("COMMIT"):
        lines = [line for line in block.strip().splitlines() if line]
        if not lines:
            continue
        empty = all(line.startswith("*") or (line.startswith(":") and line.split()[1] == "ACCEPT")
                    for line in lines)
        if not empty:
            out.append("\n".join(lines) + "\nCOMMIT")
    return "\n".join(out)
