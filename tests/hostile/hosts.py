"""Hostile host shapes built inside the test's sandbox: an uplink that is a veth to an unnamed namespace
(every LXC/LXD container, kind node, Docker or Podman container), a bridge carrying the uplink, a default
route, static and policy routes. Everything lives in the sandbox namespace and goes with it."""
import os
import subprocess

from helpers.kernel import dump
from helpers_fw import save


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


class UnnamedNs:
    """A child process in a namespace of its own that has no name under /run/netns."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "--net", "--", "cat"], stdin=subprocess.PIPE)
        mine = os.readlink("/proc/thread-self/ns/net")
        path = "/proc/%d/ns/net" % self.proc.pid
        # wait for the condition: the child runs in another network namespace (unshare has exec'd cat)
        while True:
            try:
                if os.readlink(path) != mine and os.readlink("/proc/%d/exe" % self.proc.pid).endswith("/cat"):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("unshare exited %s" % self.proc.returncode)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def lxc_uplink(unnamed, addr="192.0.2.10/24", gateway="192.0.2.1"):
    """eth0 as in an LXC container: a veth whose peer lives in an unnamed namespace; default route via it."""
    sh("ip link add eth0 type veth peer name up0 && ip link set up0 netns %d" % unnamed.proc.pid)
    sh("ip addr add %s dev eth0 && ip link set eth0 up" % addr)
    sh("ip route add default via %s dev eth0 onlink" % gateway)


def bridged_uplink(unnamed, bridge="br-up", addr="192.0.2.10/24", gateway="192.0.2.1"):
    """eth0 is a port of a foreign bridge br-up that carries the host's address and default route."""
    sh("ip link add eth0 type veth peer name up0 && ip link set up0 netns %d" % unnamed.proc.pid)
    sh("ip link add %s type bridge && ip link set eth0 master %s && ip link set eth0 up" % (bridge, bridge))
    sh("ip addr add %s dev %s && ip link set %s up" % (addr, bridge, bridge))
    sh("ip route add default via %s dev %s onlink" % (gateway, bridge))


def snapshot():
    return dict(kernel=dump(), rules=save())
