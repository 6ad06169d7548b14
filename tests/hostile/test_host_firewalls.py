"""Other firewalls, read and told, never changed (issue 14, items 4 and 5).

"other-firewalls": a firewall that is not ours drops our traffic - a hardened Debian nftables.conf (forward
policy drop), a firewalld-style forward chain ending in reject, ufw, Docker's DOCKER-USER. container_nat and
port_publish warn, naming the table, the chain and the hook, what is blocked and the fix for that firewall,
in check mode and in real mode, and again on a re-run that changes nothing. The other firewall is never
changed. A chain that accepts our bridge before its drop, and a FORWARD policy DROP that our own appended
chain gets ahead of, warn about nothing (precise, not paranoid); real packets prove both sides.
"foreign-dnat": a host port someone else already DNATs (Docker with userland-proxy off, an nft dnat) is a
bound port: port_publish refuses it before any change, in check mode and in real mode.
"""
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

from helpers.kernel import dump  # noqa: E402
from helpers_fw import Servers, http_get, save, sh  # noqa: E402

BRIDGE = "br-x"
NAT = dict(bridge=BRIDGE, subnet="172.18.0.0/24")
PUB = dict(host_port=8080, container_ip="172.18.0.10", container_port=80, bridge=BRIDGE)

HARDENED = """table inet filter {
  chain input { type filter hook input priority 0; policy accept; }
  chain forward { type filter hook forward priority 0; policy drop; }
  chain output { type filter hook output priority 0; policy accept; }
}
"""

PRECISE = """table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "br-x" accept
    ct status dnat accept
  }
}
"""

# firewalld 1.3's shape: zones dispatched from filter_FORWARD, which rejects what no zone accepted
FIREWALLD = """table inet firewalld {
  chain filter_FORWARD {
    type filter hook forward priority filter + 10; policy accept;
    ct state { established, related } accept
    ct status dnat accept
    iifname "lo" accept
    ct state invalid drop
    jump filter_FORWARD_POLICIES
    reject with icmpx admin-prohibited
  }
  chain filter_FORWARD_POLICIES {
    iifname "eth0" oifname "eth0" jump filter_FWD_public
    iifname "eth0" jump filter_FWD_public
    return
  }
  chain filter_FWD_public {
    oifname "eth0" accept
  }
}
"""

UFW_REJECT = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-before-forward - [0:0]
:ufw-after-forward - [0:0]
:ufw-reject-forward - [0:0]
:ufw-user-forward - [0:0]
-A FORWARD -j ufw-before-forward
-A FORWARD -j ufw-after-forward
-A FORWARD -j ufw-reject-forward
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-forward -p icmp -m icmp --icmp-type 3 -j ACCEPT
-A ufw-before-forward -j ufw-user-forward
-A ufw-reject-forward -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""

UFW_DROP = UFW_REJECT.replace("-A ufw-reject-forward -j REJECT --reject-with icmp-port-unreachable\n", "")

DOCKER_FILTER = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
"""

# a "default deny" DOCKER-USER from a hardening guide: Docker's own bridge and replies pass, the rest drops
DOCKER_DENY = DOCKER_FILTER.replace("-A DOCKER-USER -j RETURN\n", (
    "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n"
    "-A DOCKER-USER -i docker0 -j RETURN\n-A DOCKER-USER -j DROP\n"))

DOCKER_DNAT = """*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"""

NFT_DNAT = """table ip portfw {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local tcp dport { 8080, 8443 } dnat to 198.51.100.7
  }
}
"""


@pytest.fixture
def run(run):
    """The module runner, each result carrying only its own run's warnings (in-process runs share Ansible's
    global list of warnings)."""
    from ansible.module_utils.common import warnings

    def fresh(name, args, check=False, diff=True):
        warnings._global_warnings.clear()   # pylint: disable=protected-access
        return run(name, args, check=check, diff=diff)
    return fresh


def nft(text):
    subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)


def restore(text):
    subprocess.run(["iptables-nft-restore", "--noflush"], input=text, text=True, check=True)


def firewalls():
    """Every firewall of the sandbox, as text: iptables (both backends) and the native ruleset."""
    out = dict(nft=save("nft"), legacy=save("legacy"))
    out["ruleset"] = subprocess.run(["nft", "-s", "list", "ruleset"], capture_output=True, text=True,
                                    check=True).stdout
    return out


def foreign():
    """The firewalls without our own chains and jumps, and without the tables iptables-nft keeps (read by
    iptables-nft-save): what must never change."""
    out = {}
    for k in ("nft", "legacy"):
        tables = save(k).replace("\nCOMMIT", "\nCOMMIT\n\n").split("\n\n")
        out[k] = [[line for line in t.strip().splitlines() if "NETPLUMB" not in line] for t in tables]
        # a table of nothing but built-in chains with policy ACCEPT (iptables-nft made it for our chains)
        out[k] = [t for t in out[k] if not all(line.startswith(("*", "COMMIT")) or
                                               (line.startswith(":") and line.split()[1] == "ACCEPT") for line in t)]
    ipt = set(line[1:] for line in save("nft").splitlines() if line.startswith("*"))
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout.split("\n")
    for line in tables:
        parts = line.split()
        if len(parts) == 3 and not (parts[1] == "ip" and parts[2] in ipt):
            out[line] = subprocess.run(["nft", "-s", "list", "table", parts[1], parts[2]], capture_output=True,
                                       text=True, check=True).stdout
    return out


@pytest.fixture
def host(sandbox, run):
    res = run("linux_bridge", dict(name=BRIDGE, addresses=["172.18.0.1/24"]))
    assert res["changed"] and not res.get("failed"), res
    subprocess.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"], check=True)
    subprocess.run(["ip", "addr", "add", "192.0.2.10/24", "dev", "eth0"], check=True)
    subprocess.run(["ip", "link", "set", "eth0", "up"], check=True)
    return run


def converge(run, module, args, needles):
    """check mode (warned, nothing written), real mode (warned, changed), re-run (warned, changed=0).
    Every warning about another firewall must contain the needles; the other firewall never changes.
    Returns the firewall warnings of the re-run."""
    before = foreign()
    seen = []
    for check, changed in ((True, True), (False, True), (False, False)):
        full = firewalls()
        res = run(module, args, check=check)
        assert not res.get("failed"), res
        assert res["changed"] is changed, (check, res)
        if check:
            assert firewalls() == full, "check mode changed a firewall"
        ours = [w for w in res["warnings"] if "another firewall" in w]
        seen.append(ours)
        for needle in needles:
            assert any(needle in w for w in ours), (needle, ours)
        assert foreign() == before, "another firewall was changed"
    assert seen[0] == seen[1] == seen[2], seen
    return seen[2]


def quiet(run, module, args):
    """No firewall warning in check mode, in real mode and on the re-run."""
    for check in (True, False, False):
        res = run(module, args, check=check)
        assert not res.get("failed"), res
        assert not [w for w in res["warnings"] if "another firewall" in w], res["warnings"]


# --- warnings ----------------------------------------------------------------------------------------------
@pytest.mark.category("other-firewalls")
def test_hardened_nftables_forward_policy_drop_warns_egress_and_published_port(host):
    nft(HARDENED)
    nat = converge(host, "container_nat", NAT, [
        "nftables table inet filter, chain forward, hook forward (policy drop)",
        "the egress of network br-x (172.18.0.0/24)", "the replies to its connections (back into br-x)",
        'nft insert rule inet filter forward iifname "br-x" accept',
        'nft insert rule inet filter forward oifname "br-x" ct state established,related accept'])
    assert len(nat) == 1, nat
    pub = converge(host, "port_publish", PUB, [
        "nftables table inet filter, chain forward, hook forward (policy drop)",
        "published port 8080/tcp (to 172.18.0.10:80 on br-x)",
        'nft insert rule inet filter forward oifname "br-x" ip daddr 172.18.0.10 tcp dport 80 ct status dnat '
        'accept'])
    assert len(pub) == 1, pub


@pytest.mark.category("other-firewalls")
def test_firewalld_style_forward_reject_warns_egress_only(host):
    nft(FIREWALLD)
    nat = converge(host, "container_nat", NAT, [
        "nftables table inet firewalld, chain filter_FORWARD, hook forward (rule `reject`)",
        "the egress of network br-x", "firewall-cmd --zone=trusted --add-interface=br-x",
        "firewall-cmd --permanent --zone=trusted --add-interface=br-x"])
    assert not any("replies" in w for w in nat), nat         # ct state established accept comes first
    quiet(host, "port_publish", PUB)                         # ct status dnat accept: published ports pass


@pytest.mark.category("other-firewalls")
def test_ufw_reject_forward_warns_with_ufw_route_allow(host):
    restore(UFW_REJECT)
    converge(host, "container_nat", NAT, [
        "iptables-nft table filter, chain FORWARD, hook forward (rule `-j REJECT --reject-with "
        "icmp-port-unreachable` (in chain ufw-reject-forward))", "the egress of network br-x",
        "ufw route allow in on br-x"])
    converge(host, "port_publish", PUB, ["published port 8080/tcp",
                                         "ufw route allow out on br-x to 172.18.0.10 port 80 proto tcp"])


@pytest.mark.category("other-firewalls")
def test_docker_user_default_deny_warns_with_docker_user_fix(host):
    restore(DOCKER_DENY)
    nat = converge(host, "container_nat", NAT, [
        "iptables-nft table filter, chain FORWARD, hook forward (rule `-j DROP` (in chain DOCKER-USER))",
        "iptables -I DOCKER-USER -i br-x -j ACCEPT"])
    assert not any("replies" in w for w in nat), nat
    converge(host, "port_publish", PUB, [
        "iptables -I DOCKER-USER -o br-x -d 172.18.0.10 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT "
        "-j ACCEPT"])


@pytest.mark.category("other-firewalls")
@pytest.mark.parametrize("rules", [
    pytest.param(("nft", PRECISE), id="nft-chain-accepting-our-bridge"),
    pytest.param(("iptables", DOCKER_FILTER), id="docker-forward-policy-drop"),
    pytest.param(("iptables", UFW_DROP), id="ufw-forward-policy-drop")])
def test_no_warning_where_our_traffic_is_accepted_before_the_drop(host, rules):
    """Precise, not paranoid: the chain accepts our bridge first, or (iptables FORWARD policy DROP of Docker and
    ufw) our NETPLUMB-FORWARD, appended to the same chain, accepts our traffic before the policy applies."""
    (nft if rules[0] == "nft" else restore)(rules[1])
    before = foreign()
    quiet(host, "container_nat", NAT)
    quiet(host, "port_publish", PUB)
    assert foreign() == before


@pytest.mark.category("other-firewalls")
def test_container_network_module_warns_in_check_mode_and_on_a_quiet_rerun(sandbox, run):
    """The converge path (the role's module) carries the same warning, labelled with the step."""
    nft(HARDENED)
    nets = [dict(name="x", subnet="172.18.0.0/24", bridge=BRIDGE,
                 containers=[dict(name="cx", address="172.18.0.10", publish=["8080:80"])])]
    for check, changed in ((True, True), (False, True), (False, False)):
        res = run("container_network", dict(networks=nets), check=check)
        assert not res.get("failed") and res["changed"] is changed, res
        warned = [w for w in res["warnings"] if "another firewall" in w]
        assert any("(container_nat)" in w and "egress of network br-x" in w for w in warned), warned
        assert any("(port_publish)" in w and "published port 8080/tcp" in w for w in warned), warned


# --- foreign DNATs: a bound port ---------------------------------------------------------------------------
@pytest.mark.category("foreign-dnat")
@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("kind", ["docker-iptables", "nft-dnat"])
def test_a_port_someone_else_dnats_is_refused_like_a_bound_port(host, check, kind):
    if kind == "docker-iptables":
        restore(DOCKER_DNAT)
        needles = ["tcp/8080: port 8080 is bound by someone else's DNAT (iptables-nft table nat, chain DOCKER: "
                   "`! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80`, "
                   "to 172.17.0.2:80)"]
    else:
        nft(NFT_DNAT)
        needles = ["tcp/8080: port 8080 is bound by someone else's DNAT (nftables table ip portfw, chain "
                   "prerouting", "to 198.51.100.7)"]
    before = dict(kernel=dump(), fw=firewalls())
    res = host("port_publish", PUB, check=check)
    assert res.get("failed") and res["changed"] is False and res["commands"] == [], res
    for needle in needles:
        assert needle in res["msg"], res["msg"]
    assert dict(kernel=dump(), fw=firewalls()) == before
    # another port is not DNATed by anyone: published as usual
    res = host("port_publish", dict(PUB, host_port=8081), check=check)
    assert not res.get("failed") and res["changed"], res


# --- real packets -------------------------------------------------------------------------------------------
@pytest.fixture
def wired(sandbox, run):
    """br-x with container c0 (172.18.0.10, serving on 80) and an "internet" namespace out (198.51.100.1,
    serving on 8000) behind eth0 (192.0.2.10 - 192.0.2.1, out's address 198.51.100.1 routed through it)."""
    assert run("netns", dict(name=["out", "c0"]))["changed"]
    assert run("linux_bridge", dict(name=BRIDGE, addresses=["172.18.0.1/24"]))["changed"]
    res = run("veth_pair", dict(pairs=[
        dict(name="eth0", peer="up0", peer_netns="out", addresses=["192.0.2.10/24"],
             peer_addresses=["192.0.2.1/24"]),
        dict(name="vx0", peer="ceth0", peer_netns="c0", bridge=BRIDGE, peer_addresses=["172.18.0.10/24"],
             peer_gateway="172.18.0.1")]))
    assert res["changed"] and not res.get("failed"), res
    sh("ip", "addr", "add", "198.51.100.1/32", "dev", "lo", ns="out")
    sh("ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0")
    servers = Servers()
    try:
        servers.start("out", "0.0.0.0", 8000)
        servers.start("c0", "0.0.0.0", 80)
        yield
    finally:
        servers.close()


@pytest.mark.category("other-firewalls")
def test_packets_prove_the_warning_and_its_fix(wired, run):
    nft(HARDENED)
    res = run("container_nat", NAT)
    assert res["changed"] and not res.get("failed"), res
    [warning] = [w for w in res["warnings"] if "another firewall" in w]
    res = run("port_publish", PUB)
    assert res["changed"] and not res.get("failed"), res
    [published] = [w for w in res["warnings"] if "another firewall" in w]
    # the warning is true: no egress, and the published port is dead from outside
    assert http_get("c0", "198.51.100.1", 8000, timeout=0.5) is None
    assert http_get("out", "192.0.2.10", 8080, timeout=0.5) is None
    # the fixes it names, run as given, open exactly that
    for text in (warning, published):
        for cmd in text.split("run: ", 1)[1].split(" (see docs/safety.md")[0].split("; "):
            assert cmd.startswith("nft insert rule inet filter forward "), cmd
            subprocess.run(cmd, shell=True, check=True)
    assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"      # masqueraded egress
    assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"        # published port, client address kept
    # and the warnings are gone
    for module, args in (("container_nat", NAT), ("port_publish", PUB)):
        res = run(module, args)
        assert res["changed"] is False and not [w for w in res["warnings"] if "another firewall" in w], res


@pytest.mark.category("other-firewalls")
def test_packets_prove_docker_forward_policy_drop_does_not_drop_us(wired, run):
    """No warning is true too: Docker's FORWARD policy DROP comes after our appended NETPLUMB-FORWARD."""
    restore(DOCKER_FILTER)
    for module, args in (("container_nat", NAT), ("port_publish", PUB)):
        res = run(module, args)
        assert res["changed"] and not [w for w in res["warnings"] if "another firewall" in w], res
    assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"
    assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"


# --- the real firewalld -----------------------------------------------------------------------------------
class Firewalld:
    """firewalld (the Debian package, stock config) in the sandbox: its own system D-Bus on the private /run of
    tests/isolated.sh, its log there too, its /etc the copy-on-write one. Stopped on close, with every process
    its D-Bus started for it (polkitd), by PID."""

    def __init__(self):
        os.makedirs("/run/dbus", exist_ok=True)
        self.dbus = subprocess.Popen(["dbus-daemon", "--system", "--nofork", "--nopidfile"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.daemon = None
        self._wait(lambda: os.path.exists("/run/dbus/system_bus_socket"), "the system bus socket")
        self.daemon = subprocess.Popen(["firewalld", "--nofork", "--nopid", "--log-file", "/run/firewalld.log"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(lambda: self.cmd("--state", check=False).stdout.strip() == "running", "firewalld running")

    def _wait(self, cond, what, timeout=60.0):
        import time
        deadline = time.time() + timeout      # a condition wait: the daemon takes seconds to come up
        while time.time() < deadline:
            if cond():
                return
            for proc in (self.dbus, self.daemon):
                if proc is not None and proc.poll() is not None:
                    self.close()
                    raise AssertionError("%s exited %s waiting for %s" % (proc.args[0], proc.returncode, what))
            time.sleep(0.05)
        self.close()
        raise AssertionError("no %s after %ds" % (what, timeout))

    @staticmethod
    def cmd(*args, check=True):
        return subprocess.run(["firewall-cmd"] + list(args), capture_output=True, text=True, check=check)

    def _children(self, pid):
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            out.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return out

    def close(self):
        helpers = self._children(self.dbus.pid)
        for proc in (self.daemon, self.dbus):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait()
        for pid in helpers:
            try:
                os.kill(pid, 15)
            except OSError:
                pass


@pytest.mark.category("other-firewalls")
@pytest.mark.skipif(not shutil.which("firewalld"), reason="firewalld is not installed (make firewalld-deps)")
def test_real_firewalld_warns_and_its_fix_opens_egress(wired, run):
    daemon = Firewalld()
    try:
        table = ["nft", "-s", "list", "table", "inet", "firewalld"]
        theirs = subprocess.run(table, capture_output=True, text=True, check=True).stdout
        for check in (True, False, False):
            res = run("container_nat", NAT, check=check)
            assert not res.get("failed"), res
            [w] = [w for w in res["warnings"] if "another firewall" in w]
            assert "nftables table inet firewalld, chain filter_FORWARD, hook forward (rule `reject` (in chain " \
                   "filter_FWD_public)) drops the egress of network br-x (172.18.0.0/24)" in w, w
            assert "run: firewall-cmd --zone=trusted --add-interface=br-x; firewall-cmd --permanent " \
                   "--zone=trusted --add-interface=br-x (" in w, w
        quiet(run, "port_publish", PUB)    # firewalld accepts DNATed traffic (ct status dnat accept) first
        assert subprocess.run(table, capture_output=True, text=True, check=True).stdout == theirs
        # the warning is true, and so is the silence about the published port
        assert http_get("c0", "198.51.100.1", 8000, timeout=0.5) is None
        assert http_get("out", "192.0.2.10", 8080) == "192.0.2.1"
        # the fix it names (runtime; --permanent would write the sandbox's copy-on-write /etc only)
        assert daemon.cmd("--zone=trusted", "--add-interface=br-x").stdout.strip() == "success"
        assert http_get("c0", "198.51.100.1", 8000) == "192.0.2.10"
        quiet(run, "container_nat", NAT)
    finally:
        daemon.close()
