"""Issue 14 item 6: swarm_prerequisites resolves and validates every peer before its first write. A worker
without ansible_host (nor swarm_prerequisites_address), one with an IPv6 address, or a bad extra peer used to
pass the preflight: the sysctl file was written and ip_forward / bridge-nf-call-iptables changed before
swarm_firewall refused the peer. Now every host fails on the controller-side check, in --check and real runs,
and the message names the host and the value; the whole sandbox (links, addresses, routes, rules, sysctl
files and values) is unchanged, also when the bad peer is outside the play (--limit)."""
import pytest

from hosts import snapshot
from test_swarm_role import ME, node, play, state  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.category("role")

PEERS = "Every peer is an IPv4 address or CIDR, before the first write anywhere"


def bridge_nf():
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


@pytest.mark.parametrize("check", [True, False], ids=["check", "real"])
@pytest.mark.parametrize("case", ["no-address", "ipv6", "ipv6-override", "extra"])
def test_an_unusable_peer_is_refused_before_any_change(node, check, case):  # noqa: F811
    hosts, extra = list(ME), []
    if case == "no-address":
        hosts.append(("w2", "swarm_workers", ""))
        needle = ("w2: no Swarm address - neither swarm_prerequisites_address nor ansible_host is set, and the "
                  "inventory name 'w2' is no IPv4 address")
    elif case == "ipv6":
        hosts.append(("w3", "swarm_workers", "ansible_host=2001:db8::13"))
        needle = "w3: ansible_host='2001:db8::13': only IPv4 is supported"
    elif case == "ipv6-override":
        hosts.append(("w4", "swarm_workers", "ansible_host=192.0.2.14 swarm_prerequisites_address=2001:db8::14"))
        needle = "w4: swarm_prerequisites_address='2001:db8::14': only IPv4 is supported"
    else:
        extra = ["-e", '{"swarm_prerequisites_extra_peers": ["10.0.0.0/24", "0.0.0.0/0"]}']
        needle = "swarm_prerequisites_extra_peers[1]='0.0.0.0/0': 0.0.0.0/0 would accept the Swarm ports from everyone"
    if bridge_nf() is not None:  # make the change the old role made visible: the role wants 1
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables", "w") as f:
            f.write("0")
    before = (snapshot(), state(), bridge_nf())
    # --limit h1: the bad peer is in the inventory group but not in the play (a worker being repaired, or a
    # batch of serial:) - the old preflight, over the play's hosts only, let h1 write before the refusal
    rc, stats, tasks = play(hosts, "--limit", "h1", *(extra + (["--check"] if check else [])))
    assert list(stats) == ["h1"]
    assert rc != 0 and all(s["failures"] == 1 and s["changed"] == 0 for s in stats.values()), (rc, stats)
    for host in stats:
        assert needle in tasks[PEERS][host]["msg"], tasks[PEERS][host]["msg"]
    assert "swarm_facts" not in " ".join(tasks), "the peers were not checked first"
    assert (snapshot(), state(), bridge_nf()) == before, "the refused role changed the host"


def test_ip_named_node_without_address_and_valid_peers_pass_the_check(node):  # noqa: F811
    # a node whose inventory name is its address needs no ansible_host: the peers check passes, the peers are
    # the addresses (the run then stops at the preflight: both sandbox nodes have one hostname)
    hosts = list(ME) + [("192.0.2.12", "swarm_workers", "")]
    rc, stats, tasks = play(hosts, "--check")
    assert all(r.get("failed") is not True for r in tasks[PEERS].values()), tasks[PEERS]
    peers = tasks["Peers, by address"]["h1"]["ansible_facts"]["swarm_prerequisites_peers"]
    assert peers == ["192.0.2.11", "192.0.2.12"], peers
