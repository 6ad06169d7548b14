"""A reboot, as seen by netplumb-networks.service: run inside `unshare --net --mount --propagation private` by
tests/integration/test_persist.py. The network namespace is fresh (only lo, ip_forward 0 as on a boot), /run
is a fresh tmpfs (no /run/netns, no lock), /etc is the test's (the saved networks, the unit, the engine).

argv[1]: JSON {"exec_start": [...], "probe": bool, "setup": [argv...], "show": {name: argv}}. Runs the setup
commands, the unit's ExecStart, the show commands (their stdout under "show"), then (probe) builds the
"internet" (namespace out, 192.0.2.2, behind the host's 192.0.2.1) and tries packets. Prints one JSON object:
rc, stdout, stderr of the ExecStart, and the probes' answers."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers_fw import Servers, http_get  # noqa: E402


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def main():
    args = json.loads(sys.argv[1])
    sh("mount", "-t", "tmpfs", "-o", "mode=755", "netplumb-boot-run", "/run")
    sh("ip", "link", "set", "lo", "up")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("0\n")
    for cmd in args.get("setup", []):      # what the host has before the unit runs (an underlay)
        sh(*cmd)
    boot = subprocess.run(args["exec_start"], capture_output=True, text=True, check=False)
    out = dict(rc=boot.returncode, stdout=boot.stdout, stderr=boot.stderr)
    out["show"] = dict((name, subprocess.run(cmd, capture_output=True, text=True, check=False).stdout)
                       for name, cmd in args.get("show", {}).items())
    if args.get("probe") and boot.returncode == 0:
        sh("ip", "netns", "add", "out")
        sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", "out")
        sh("ip", "addr", "add", "192.0.2.1/24", "dev", "up0")
        sh("ip", "link", "set", "up0", "up")
        sh("ip", "-n", "out", "addr", "add", "192.0.2.2/24", "dev", "eth0")
        sh("ip", "-n", "out", "link", "set", "eth0", "up")
        sh("ip", "-n", "out", "link", "set", "lo", "up")
        servers = Servers()
        try:
            servers.start("out", "0.0.0.0", 8000)
            servers.start("c1", "0.0.0.0", 5000)
            servers.start(None, "172.18.0.1", 7000)
            out["gateway"] = http_get("c0", "172.18.0.1", 7000)           # container -> bridge gateway
            out["internet"] = http_get("c0", "192.0.2.2", 8000)           # container -> out, masqueraded
            out["published"] = http_get("out", "192.0.2.1", 5000)         # out -> host:5000 -> c1:5000
            out["neighbour"] = http_get("c1", "172.18.0.1", 7000)
        finally:
            servers.close()
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            out["ip_forward"] = f.read().strip()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
