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


def role(networks, *extra):
    """ansible-playbook -c local of the container_network role in this sandbox: (rc, stats, {task: result})."""
    import json
    import sys
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    build = os.path.join(root, ".build")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(root, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(build, "ansible-home"), ANSIBLE_LOCAL_TEMP=os.path.join(build, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(build, "ansible-remote-tmp"), ANSIBLE_STDOUT_CALLBACK="record_json",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(root, "tests", "integration", "playbooks", "callback_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=build, delete=False) as f:
        json.dump(dict(container_networks=networks), f)
    try:
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@" + f.name,
               os.path.join(root, "tests", "integration", "playbooks", "role.yml")] + list(extra)
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    tasks = dict((name.split(" : ", 1)[-1], hosts["localhost"]) for name, hosts in out["tasks"].items())
    return proc.returncode, out["stats"]["localhost"], tasks
