"""The tutorial network on one lab host, proven with real packets."""
import netcheck

HOST_ADDR = "192.0.2.11"


def test_bridge_holds_the_gateway(host):
    assert "172.18.0.1/16" in host.run("ip -br addr show dev br0").stdout


def test_namespaces_and_veths(host):
    assert {"netns0", "netns1"} <= set(line.split()[0] for line in host.run("ip netns list").stdout.splitlines())
    links = host.run("ip -br link").stdout
    assert "vn-netns0@" in links and "vn-netns1@" in links
    route = host.run("ip -n netns0 route show default").stdout
    assert "via 172.18.0.1 dev eth0" in route


def test_containers_reach_gateway_and_each_other(host):
    assert netcheck.ping(host, "netns0", "172.18.0.1")
    assert netcheck.ping(host, "netns1", "172.18.0.1")
    assert netcheck.ping(host, "netns0", "172.18.0.20")
    assert netcheck.ping(host, "netns1", "172.18.0.10")


def test_egress_is_masqueraded_to_the_host_address(host):
    assert netcheck.egress_seen_as(host, "netns0") == HOST_ADDR
    assert netcheck.egress_seen_as(host, "netns1") == HOST_ADDR


def test_published_port_answers_from_the_internet(host):
    assert netcheck.serve(host, "netns0", 5000, "netns0")
    assert netcheck.probe_from("internet", HOST_ADDR, 5000) == "netns0"


def test_unpublished_container_is_not_reachable_from_outside(host):
    assert netcheck.serve(host, "netns1", 5001, "netns1")
    assert netcheck.probe_from("internet", HOST_ADDR, 5001, expect_answer=False) is None


def test_undeclared_container_and_port_were_pruned(host):
    """prepare.yml declared netns2 (port 6000) and netns1's 6001/udp; the converge no longer does."""
    assert "netns2" not in [line.split()[0] for line in host.run("ip netns list").stdout.splitlines()]
    assert "vn-netns2" not in host.run("ip -br link").stdout
    rules = host.run("iptables-save").stdout
    assert "netplumb:br0:tcp/5000" in rules
    assert "tcp/6000" not in rules and "udp/6001" not in rules


def test_undeclared_network_was_pruned_and_the_foreign_neighbour_kept(host):
    """prepare.yml made network old (ours) and a foreign neighbour by hand; the converge, with
    container_network_prune, removed old (after predicting it in check mode) and nothing of the neighbour."""
    links = host.run("ip -br link").stdout
    namespaces = [line.split()[0] for line in host.run("ip netns list").stdout.splitlines()]
    assert "br-old" not in links and "vn-old0" not in links and "old0" not in namespaces
    assert "br-foreign" in links and "vforeign0@" in links and "foreign0" in namespaces
    assert "10.99.0.1/24" in host.run("ip -br addr show dev br-foreign").stdout
    rules = host.run("iptables-save").stdout
    assert "netplumb:br-old" not in rules and "7000" not in rules
    assert "-A POSTROUTING -s 10.99.0.0/24 ! -o br-foreign -j MASQUERADE" in rules
