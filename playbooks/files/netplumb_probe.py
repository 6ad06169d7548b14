# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-packet checks of container networks, run on a managed host by playbooks/verify.yml (stdlib only).

  netplumb_probe.py serve SPEC     start a listener in each container for each published port (answers its name)
  netplumb_probe.py check SPEC     per container: ping the gateway and every neighbour, fetch ECHO_URL (egress)
  netplumb_probe.py probe TARGETS  connect to ADDR:PORT (tcp/udp) and read the answer
  netplumb_probe.py stop           stop the listeners started by serve
  netplumb_probe.py serve SPEC ECHO    also an echo listener (answers "NAME PEERADDR") on tcp/ECHO_PORT in each
                                   container named in ECHO (a list of names: the fleet containers)
  netplumb_probe.py cross CROSS    from each source container, connect to the other hosts' fleet containers'
                                   echo listeners: the answer names the target and the source address it saw

SPEC and TARGETS are base64-encoded JSON. SPEC is a list of networks {name, gateway, containers: [{name,
address, publish: [{protocol, container_port, ...}]}]}; TARGETS a list of {addr, port, protocol, expect, spec};
CROSS a list of {src, src_address, host, container, address}.
Every command prints one JSON document on stdout.
"""

from __future__ import absolute_import, division, print_function

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

PIDFILE = "/run/netplumb-probe.pids"
READY_DIR = "/run/netplumb-probe"
ECHO_URL = os.environ.get("NETPLUMB_ECHO_URL", "http://198.51.100.1/")
LISTEN_SECONDS = 300
ECHO_PORT = int(os.environ.get("NETPLUMB_ECHO_PORT", "7077"))


def _load(arg):
    return json.loads(base64.b64decode(arg).decode("utf-8"))


def _first_port(value):
    return int(str(value).split("-", maxsplit=1)[0])


def _in_ns(ns, argv, timeout=10):
    try:
        p = subprocess.run(["ip", "netns", "exec", ns] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, ""
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


def listen(proto, port, answer, ready, peer=False):
    """Inside a container: answer every connection / datagram with the container's name (and, with peer, the
    source address the connection came from: "NAME PEERADDR")."""
    deadline = time.time() + LISTEN_SECONDS
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    if proto == "tcp":
        s.listen(16)
    s.settimeout(1.0)
    with open(ready, "w"):
        pass
    reply = (answer + "\n").encode()
    while time.time() < deadline:
        try:
            if proto == "tcp":
                conn, addr = s.accept()
                try:
                    conn.sendall(("%s %s\n" % (answer, addr[0])).encode() if peer else reply)
                finally:
                    conn.close()
            else:
                _data, addr = s.recvfrom(512)
                s.sendto(reply, addr)
        except socket.timeout:
            continue


def serve(spec, echo=()):
    if not os.path.isdir(READY_DIR):
        os.makedirs(READY_DIR)
    started, pids = [], []
    wanted = []
    for net in spec:
        for c in net["containers"]:
            for p in c["publish"]:
                if p["protocol"] in ("tcp", "udp"):
                    wanted.append((c["name"], p["protocol"], _first_port(p["container_port"]), []))
            if c["name"] in echo:
                wanted.append((c["name"], "tcp", ECHO_PORT, ["peer"]))
    for name, proto, port, extra in wanted:
        if (name, proto, port) in [(n, q, o) for n, q, o, _r in started]:
            continue
        ready = os.path.join(READY_DIR, "%s-%s-%d" % (name, proto, port))
        if os.path.exists(ready):
            os.unlink(ready)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, os.path.abspath(__file__), "_listen",
             proto, str(port), name, ready] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        pids.append(proc.pid)
        started.append((name, proto, port, ready))
    with open(PIDFILE, "a") as f:
        f.write("".join("%d\n" % pid for pid in pids))
    deadline = time.time() + 10
    while time.time() < deadline and not all(os.path.exists(r) for _c, _p, _port, r in started):
        time.sleep(0.05)
    listening = ["%s %s/%d" % (c, p, port) for c, p, port, r in started if os.path.exists(r)]
    return dict(listening=listening, failed=len(started) - len(listening))


def stop():
    stopped = 0
    if os.path.exists(PIDFILE):
        with open(PIDFILE) as f:
            pids = [int(line) for line in f if line.strip()]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
                stopped += 1
            except OSError:
                pass
        os.unlink(PIDFILE)
    return dict(stopped=stopped)


def check(spec):
    jobs = []
    for net in spec:
        for c in net["containers"]:
            jobs.append((c["name"], "gateway", net["gateway"]))
            for other in net["containers"]:
                if other["name"] != c["name"]:
                    jobs.append((c["name"], "neighbour", other["name"], other["address"]))
            jobs.append((c["name"], "egress"))

    def run(job):
        if job[1] == "egress":
            rc, out = _in_ns(job[0], ["curl", "-s", "-m", "4", ECHO_URL])
            return job, out if rc == 0 else None
        addr = job[-1]
        rc, _out = _in_ns(job[0], ["ping", "-c", "1", "-W", "2", addr])
        return job, rc == 0

    results = {}
    with ThreadPoolExecutor(max_workers=16) as pool:
        for job, value in pool.map(run, jobs):
            r = results.setdefault(job[0], dict(gateway=None, neighbours={}, egress=None))
            if job[1] == "gateway":
                r["gateway"] = value
            elif job[1] == "neighbour":
                r["neighbours"][job[2]] = value
            else:
                r["egress"] = value
    return results


def probe_one(t):
    kind = socket.SOCK_STREAM if t["protocol"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(3)
    try:
        if t["protocol"] == "tcp":
            s.connect((t["addr"], int(t["port"])))
            data = s.recv(512)
        else:
            s.sendto(b"probe\n", (t["addr"], int(t["port"])))
            data, _addr = s.recvfrom(512)
        reply = data.decode("utf-8", "replace").strip()
    except (OSError, socket.timeout) as exc:
        reply = None
        t = dict(t, error=str(exc))
    finally:
        s.close()
    return dict(t, reply=reply, ok=reply == t["expect"])


def probe(targets):
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(probe_one, targets))


def cross(targets):
    """From inside each source container (probe run in its namespace), connect to the echo listeners of the other
    hosts' fleet containers. ok: the answer comes from the target and names the source's own address."""
    by_src = {}
    for t in targets:
        by_src.setdefault(t["src"], []).append(dict(t, addr=t["address"], port=ECHO_PORT, protocol="tcp",
                                                    expect="%s %s" % (t["container"], t["src_address"])))

    def run(src):
        b64 = base64.b64encode(json.dumps(by_src[src]).encode()).decode()
        rc, out = _in_ns(src, [sys.executable, os.path.abspath(__file__), "probe", b64], timeout=30)
        try:
            return json.loads(out) if rc == 0 else []
        except ValueError:
            return []

    done = {}
    with ThreadPoolExecutor(max_workers=16) as pool:
        for results in pool.map(run, sorted(by_src)):
            for r in results:
                done[(r["src"], r["host"], r["container"])] = r
    out = []
    for t in targets:
        r = done.get((t["src"], t["host"], t["container"]), dict(reply=None, error="no result from the probe"))
        words = (r.get("reply") or "").split()
        seen = words[1] if len(words) == 2 and words[0] == t["container"] else None
        out.append(dict(t, reply=r.get("reply"), seen_as=seen, ok=seen == t["src_address"],
                        **({"error": r["error"]} if r.get("error") else {})))
    return out


def main(argv):
    if len(argv) >= 2 and argv[1] == "_listen":
        listen(argv[2], int(argv[3]), argv[4], argv[5], peer=argv[6:7] == ["peer"])
        return 0
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "serve":
        out = serve(_load(argv[2]), _load(argv[3]) if len(argv) > 3 else ())
    elif cmd == "check":
        out = check(_load(argv[2]))
    elif cmd == "cross":
        out = cross(_load(argv[2]))
    elif cmd == "probe":
        out = probe(_load(argv[2]))
    elif cmd == "stop":
        out = stop()
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
