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
    """iptables-save of this namespace, counters and comments-of-the-tool stripped."""
    out = subprocess.run(["iptables-%s-save" % variant], check=True, capture_output=True, text=True).stdout
    return "\n".join(_COUNTERS.sub("", line) for line in out.splitlines() if not line.startswith("#"))


def our_lines(variant="nft"):
    return [line for line in save(variant).splitlines() if "NETPLUMB" in line or "netplumb:" in line]


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
        deadline = time.time() + 5
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


def http_get(ns, addr, port, timeout=1.0):
    """The echo server's answer (the client address it saw), or None when unreachable."""
    cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [sys.executable, "-c", CLIENT, addr, str(port)]
    cmd.append(str(timeout))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def sh(*cmd, ns=None, check=True):
    full = ([] if ns is None else ["ip", "netns", "exec", ns]) + list(cmd)
    return subprocess.run(full, check=check, capture_output=True, text=True)
