# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-packet helpers for the molecule testinfra verifiers.

The host under test is reached by testinfra (ssh through the lab's ssh_config); "another host" and the lab's
internet are entered with `netlab.py exec` (nsenter into that lab host, no socket from the machine's namespace).
"""
import os
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


def serve(host, netns, port, answer, proto="tcp", seconds=120):
    """Start a listener inside NETNS on PORT answering ANSWER, for SECONDS; wait until it listens."""
    listen = "TCP-LISTEN:%d,reuseaddr,fork" % port if proto == "tcp" else "UDP-RECVFROM:%d,reuseaddr,fork" % port
    host.run("setsid -f timeout %d ip netns exec %s socat %s SYSTEM:'echo %s' </dev/null >/dev/null 2>&1"
             % (seconds, netns, listen, answer))
    flag = "-tln" if proto == "tcp" else "-uln"
    deadline = time.monotonic() + 30     # a condition wait, bounded: a loaded machine starts socat slowly
    while time.monotonic() < deadline:
        if (":%d " % port) in host.run("ip netns exec %s ss -H %s" % (netns, flag)).stdout:
            return True
        time.sleep(0.1)
    return False


def probe_from(where, address, port, proto="tcp", expect_answer=True):
    """Connect from lab host WHERE (or 'internet') to ADDRESS:PORT and return the first line of the answer.
    A probe that expects an answer waits longer and tries again (up to 3 times): on a loaded machine the
    listener's fork may take seconds; a probe that expects none tries once, briefly."""
    target = "TCP:%s:%d" % (address, port) if proto == "tcp" else "UDP:%s:%d" % (address, port)
    for dummy in range(3 if expect_answer else 1):
        out = lab_exec(where, "sh", "-c", "echo probe | socat -T %d - %s" % (10 if expect_answer else 3, target),
                       timeout=40)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    return None
