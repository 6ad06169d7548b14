"""Hostile host shapes built inside the test's sandbox: an uplink that is a veth to an unnamed namespace
(every LXC/LXD container, kind node, Docker or Podman container), a bridge carrying the uplink, a macvlan
uplink, a default route through a nexthop object (as FRR installs it), a multipath default, static and
policy routes. Everything lives in the sandbox namespace and goes with it."""
import json
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


def macvlan_uplink(unnamed, addr="192.0.2.10/24", gateway="192.0.2.1"):
    """eth0 is a macvlan on lower0 (a veth to an unnamed namespace, standing for the NIC); default via eth0."""
    sh("ip link add lower0 type veth peer name up0 && ip link set up0 netns %d && ip link set lower0 up"
       % unnamed.proc.pid)
    sh("ip link add eth0 link lower0 type macvlan mode bridge && ip addr add %s dev eth0 && ip link set eth0 up"
       % addr)
    sh("ip route add default via %s dev eth0 onlink" % gateway)


def nexthop_uplink(unnamed, addr="192.0.2.10/24", gateway="192.0.2.1", compat=0):
    """eth0 (a veth to an unnamed namespace) carries the default route only through nexthop object 10, as FRR
    installs it; with net.ipv4.nexthop_compat_mode=0 the route dump names nothing but `nhid 10`."""
    sh("sysctl -qw net.ipv4.nexthop_compat_mode=%d" % compat)
    sh("ip link add eth0 type veth peer name up0 && ip link set up0 netns %d" % unnamed.proc.pid)
    peer_up(unnamed, "up0")     # a nexthop wants its device's carrier
    sh("ip addr add %s dev eth0 && ip link set eth0 up" % addr)
    sh("ip nexthop add id 10 via %s dev eth0 onlink && ip route add default nhid 10" % gateway)


def peer_up(unnamed, name):
    sh("nsenter -t %d -n ip link set %s up" % (unnamed.proc.pid, name))


def wait_carrier(name, timeout=30.0):
    """Until link NAME (in this namespace) has carrier (LOWER_UP). A bridge gets it only once a port forwards,
    which the kernel settles after `ip link set ... up` returns (linkwatch, later under load); a nexthop over it
    wants it. (Not /sys/class/net: the sysfs mounted here shows another namespace's links.)"""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-j", "link", "show", "dev", name], capture_output=True, text=True, check=True)
        if "LOWER_UP" in json.loads(out.stdout)[0].get("flags", []):
            return
        time.sleep(0.02)
    raise AssertionError("%s got no carrier within %.0f s" % (name, timeout))


def multipath_uplink(unnamed, gateway="192.0.2.1"):
    """Two uplinks eth0 and eth1 (veths to an unnamed namespace) sharing one multipath default route."""
    for i in (0, 1):
        sh("ip link add eth%d type veth peer name up%d && ip link set up%d netns %d && ip link set eth%d up"
           % (i, i, i, unnamed.proc.pid, i))
        peer_up(unnamed, "up%d" % i)
    sh("ip addr add 192.0.2.10/24 dev eth0 && ip addr add 198.51.100.10/24 dev eth1")
    sh("ip route add default nexthop via %s dev eth0 onlink nexthop via %s dev eth1 onlink" % (gateway, gateway))


def nexthops():
    out = subprocess.run(["ip", "-j", "nexthop", "show"], capture_output=True, text=True, check=False).stdout
    return json.loads(out or "[]")


def ruleset():
    """`nft -s list ruleset` (stateless: no counters), or None without nft."""
    try:
        return subprocess.run(["nft", "-s", "list", "ruleset"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return None


def snapshot():
    return dict(kernel=dump(), rules=save(), nexthops=nexthops(), nft=ruleset())


def role(networks, *extra, text=False):
    """ansible-playbook -c local of the container_network role in this sandbox: (rc, stats, {task: result});
    with ``text``, (rc, stdout) of ansible's default output, as a user sees it."""
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
    if text:
        env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_FORCE_COLOR="0")
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=build, delete=False) as f:
        json.dump(dict(container_networks=networks), f)
    try:
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@" + f.name,
               "-e", "container_network_firewall_backend=iptables",
               "-e", "swarm_prerequisites_firewall_backend=iptables",
               os.path.join(root, "tests", "integration", "playbooks", "role.yml")] + list(extra)
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    if text:
        return proc.returncode, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    tasks = dict((name.split(" : ", 1)[-1], hosts["localhost"]) for name, hosts in out["tasks"].items())
    return proc.returncode, out["stats"]["localhost"], tasks
