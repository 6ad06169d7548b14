"""The Swarm prerequisites on h1 (manager), h2 and h3 (workers), proven with real packets: peers reach the
Swarm ports, the lab's internet namespace (198.51.100.1) is dropped; ESP and UDP counted on the rules."""
import time

import netcheck
import pytest

HOSTS = ["h1", "h2", "h3"]
ADDR = dict((h, "192.0.2.%d" % (11 + i)) for i, h in enumerate(HOSTS))
MANAGERS = ["h1"]
SYSCTL_FILE = "/etc/sysctl.d/90-netplumb-swarm.conf"

SEND = ("import socket,sys\n"
        "p,a=sys.argv[1],sys.argv[2]\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_RAW,50) if p=='esp' else socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        "s.sendto(b'\\x00\\x00\\x10\\x01'+b'\\x00'*28,(a,int(sys.argv[3])))\n")


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


def others(name):
    return [h for h in HOSTS if h != name]


def serve(host, port, answer):
    # -t 30: after the asker's EOF socat waits up to 30 s for the answer (its 0.5 s default is shorter than the
    # fork and `echo` on a loaded machine)
    host.run("setsid -f timeout 120 socat -t 30 TCP-LISTEN:%d,reuseaddr,fork SYSTEM:'%s' "
             "</dev/null >/dev/null 2>&1" % (port, netcheck.answer_cmd(answer)))
    deadline = time.monotonic() + 30     # a condition wait, bounded: a loaded machine starts socat slowly
    while time.monotonic() < deadline:
        if (":%d " % port) in host.run("ss -H -tln").stdout:
            return True
        time.sleep(0.1)
    return False


def connect(where, address, port, expect_answer=True):
    """The first line answered to a TCP connection from WHERE, or None (dropped: no answer within the connect
    timeout). A connection that should be answered is given time and tries again (a loaded machine)."""
    if expect_answer:   # waits for the answer (socat's client gives up 0.5 s after its stdin's EOF)
        return netcheck.probe_from(where, address, port, "tcp")
    out = netcheck.lab_exec(where, "sh", "-c", "echo probe | socat -T 10 - TCP:%s:%d,connect-timeout=3"
                            % (address, port), timeout=40)
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip().splitlines()[0]
    return None


def counters(host):
    """{(target, prot, source): packets} of NETPLUMB-INPUT."""
    out = host.check_output("iptables -t filter -L NETPLUMB-INPUT -v -x -n").splitlines()[2:]
    res = {}
    for line in out:
        f = line.split()
        key = (f[2], f[3], f[7])
        res[key] = res.get(key, 0) + int(f[0])
    return res


def test_sysctls_applied_and_persisted(host):
    f = host.file(SYSCTL_FILE)
    assert f.exists and f.content_string.startswith("# Managed by netplumb.container (swarm_prerequisites)")
    assert f.content_string.splitlines()[1:] == ["net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1"]
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.bridge.bridge-nf-call-iptables") == 1
    # every feature here is built in or missing: no modules-load.d file
    assert not host.file("/etc/modules-load.d/netplumb-swarm.conf").exists


def test_only_our_rules_and_one_jump_first(host):
    save = host.check_output("iptables-save -t filter").splitlines()
    ours = [ln for ln in save if ln.startswith("-A NETPLUMB-INPUT")]
    assert ours and all('"netplumb:swarm/' in ln for ln in ours)
    assert [ln for ln in save if ln.startswith("-A INPUT")][0] == "-A INPUT -j NETPLUMB-INPUT"
    assert sum(1 for ln in save if ln == "-A INPUT -j NETPLUMB-INPUT") == 1


def test_gossip_7946_from_peers_only(host, name):
    assert serve(host, 7946, name)
    seen = dict((o, connect(o, ADDR[name], 7946)) for o in others(name))
    seen["internet"] = connect("internet", ADDR[name], 7946, expect_answer=False)
    assert seen == dict([(o, name) for o in others(name)] + [("internet", None)])


def test_2377_on_managers_only(host, name):
    assert serve(host, 2377, name)
    want = name if name in MANAGERS else None
    seen = dict((o, connect(o, ADDR[name], 2377, expect_answer=want is not None)) for o in others(name))
    seen["internet"] = connect("internet", ADDR[name], 2377, expect_answer=False)
    assert seen == dict([(o, want) for o in others(name)] + [("internet", None)])


def test_esp_and_udp_from_peer_accepted_from_stranger_dropped(host, name):
    peer = others(name)[0]
    before = counters(host)
    for where in (peer, "internet"):
        for proto, port in (("esp", 0), ("udp", 7946), ("udp", 4789)):
            res = netcheck.lab_exec(where, "python3", "-c", SEND, proto, ADDR[name], str(port))
            assert res.returncode == 0, res.stderr
    after = counters(host)
    delta = dict((k, after[k] - before.get(k, 0)) for k in after if after[k] != before.get(k, 0))
    assert delta == {
        ("ACCEPT", "50", ADDR[peer]): 1,
        ("DROP", "50", "0.0.0.0/0"): 1,
        ("ACCEPT", "17", ADDR[peer]): 2,
        ("DROP", "17", "0.0.0.0/0"): 2,
    }, delta
