# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-packet helpers for the molecule testinfra verifiers.

The host under test is reached by testinfra (ssh through the lab's ssh_config); "another host" and the lab's
internet are entered with `netlab.py exec` (nsenter into that lab host, no socket from the machine's namespace).
"""
import os
import shlex
import subprocess
import time

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NETLAB = os.path.join(ROOT, "tests", "lab", "netlab.py")
ECHO_URL = "http://198.51.100.1/"


def lab_dir():
    scenario = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
    return os.path.join(ROOT, ".build", "lab-mol-" + scenario)


def lab_exec(where, *argv, timeout=20):
    """Run argv inside lab host WHERE (h1.., internet); returns CompletedProcess (text)."""
    cmd = ["/usr/bin/python3", NETLAB, "--state-dir", lab_dir(), "exec", where, "--"] + list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def ping(host, netns, address):
    # one reply within 10 s, pinging every 0.2 s: a slow first ARP exchange on a loaded machine is no failure
    return host.run("ip netns exec %s ping -c 1 -w 10 -i 0.2 %s", netns, address).rc == 0


def egress_seen_as(host, netns):
    out = host.run("ip netns exec %s curl -s -m 20 %s", netns, ECHO_URL)
    return out.stdout.strip() if out.rc == 0 else None


def answer_cmd(answer, proto="tcp"):
    """socat's SYSTEM command of a listener answering ANSWER. TCP: the asker's data is read to its EOF first (every
    asker here half-closes): an `echo` that exits before socat hands it the asker's data makes socat's write fail
    (EPIPE) and the connection close with no answer (7 of 200 asks beside stress-ng --cpu 4, none with the read).
    UDP: no EOF comes; answered at once."""
    return ("cat >/dev/null; echo %s" if proto == "tcp" else "echo %s") % answer


def serve(host, netns, port, answer, proto="tcp", seconds=120):
    """Start a listener inside NETNS on PORT answering ANSWER, for SECONDS; wait until it listens. ``-t 30``: after
    the asker's EOF the listener waits up to 30 s for ANSWER (socat's default, 0.5 s, is shorter than its fork and
    `echo` on a loaded machine, and the connection is then closed with no answer)."""
    listen = "TCP-LISTEN:%d,reuseaddr,fork" % port if proto == "tcp" else "UDP-RECVFROM:%d,reuseaddr,fork" % port
    host.run("setsid -f timeout %d ip netns exec %s socat -t 30 %s SYSTEM:'%s' </dev/null >/dev/null 2>&1"
             % (seconds, netns, listen, answer_cmd(answer, proto)))
    flag = "-tln" if proto == "tcp" else "-uln"
    deadline = time.monotonic() + 30     # a condition wait, bounded: a loaded machine starts socat slowly
    while time.monotonic() < deadline:
        if (":%d " % port) in host.run("ip netns exec %s ss -H %s" % (netns, flag)).stdout:
            return True
        time.sleep(0.1)
    return False


def serve_peer_address(where, netns, port=7070, seconds=120):
    """Start a TCP listener inside NETNS on lab host WHERE (entered with lab_exec) answering each asker with the
    address it sees it come from, for SECONDS (``-t 30`` as in serve()); wait until it listens. Each look is a
    lab_exec round trip: a bounded condition wait."""
    lab_exec(where, "sh", "-c", "setsid -f timeout %d ip netns exec %s socat -t 30 TCP-LISTEN:%d,reuseaddr,"
             "fork SYSTEM:'%s' </dev/null >/dev/null 2>&1" % (seconds, netns, port, answer_cmd("$SOCAT_PEERADDR")))
    for dummy in range(50):
        if ":%d " % port in lab_exec(where, "ip", "netns", "exec", netns, "ss", "-H", "-tln").stdout:
            return
    raise AssertionError("no listener in %s on %s" % (netns, where))


# A client that waits for the answer itself, up to a deadline (socat's client gives up 0.5 s after its stdin's
# EOF, its -t default, however long -T is: on a loaded machine the listener's fork and `echo` take longer). UDP: the
# probe is sent again every second until an answer comes; TCP: one connection, read until the server closes it.
ASK = r"""
import socket, sys, time
addr, port, proto, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + limit
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while time.monotonic() < deadline:
        s.sendto(b"probe\n", (addr, port))
        s.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
        try:
            sys.stdout.write(s.recv(4096).decode())
            break
        except socket.timeout:
            continue
else:
    s = socket.create_connection((addr, port), timeout=limit)
    s.sendall(b"probe\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    sys.stdout.write(data.decode())
"""


def ask(host, address, port, proto="tcp", limit=20, netns=None):
    """The first line of the answer of ADDRESS:PORT asked from the host under test (testinfra), inside its
    namespace NETNS if given, or None."""
    out = host.run("%spython3 -c %s %s %d %s %d" % ("" if netns is None else "ip netns exec %s " % netns,
                                                    shlex.quote(ASK), address, port, proto, limit))
    return out.stdout.strip().splitlines()[0] if out.rc == 0 and out.stdout.strip() else None


def probe_from(where, address, port, proto="tcp", expect_answer=True):
    """Connect from lab host WHERE (or 'internet') to ADDRESS:PORT and return the first line of the answer.
    A probe that expects an answer waits for it (ASK: up to 20 s, a UDP probe sent again each second) and tries
    again (up to 3 times): on a loaded machine the listener's fork may take seconds; a probe that expects none
    tries once, briefly."""
    if expect_answer:
        for dummy in range(3):
            out = lab_exec(where, "python3", "-c", ASK, address, str(port), proto, "20", timeout=60)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        return None
    target = "TCP:%s:%d" % (address, port) if proto == "tcp" else "UDP:%s:%d" % (address, port)
    out = lab_exec(where, "sh", "-c", "echo probe | socat -T 3 - %s" % target, timeout=40)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip().splitlines()[0]
    return None
