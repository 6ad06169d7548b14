"""_diagnose.analyse: findings and fixes from a recorded host (no kernel).

The host is described the way the readers see it: container_network_info's value, the link facts read() adds,
and the iptables-save text both the driver (_iptables.parse_save: our chains and their jumps) and the model of
other firewalls (_hostfw.parse_save) parse. The rules of ours are the engine's own (_fwnet.nat_rules,
publish_rules), so the text is what a converge writes.
"""
import copy
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _diagnose, _fwnet, _hostfw, _iptables
from ansible_collections.netplumb.container.plugins.module_utils._portmap import Mapping
from ansible_collections.netplumb.container.plugins.module_utils._iptables import quote_args

BR, SUBNET, GW = "br-web", "172.18.0.0/16", "172.18.0.1"
INFO = dict(
    container_networks=[dict(name="web", bridge=BR, subnet=SUBNET, gateway=GW, masquerade=True, icc=True,
                             isolate=True, containers=[
                                 dict(name="c0", address="172.18.0.10", publish=["8080:80/tcp", "5353:53/udp"]),
                                 dict(name="c1", address="172.18.0.20")])],
    networks_meta=[dict(name="web", bridge=BR, owned=True, rules=[], containers=[
        dict(name="c0", owned=True, veth="vn-c0", interface="eth0", default_route=GW),
        dict(name="c1", owned=True, veth="vn-c1", interface="eth0", default_route=GW)])],
    unmanaged=[], host=dict(uplinks=["eth0"], ip_forward=True, firewall="iptables-nft"))
STATE = dict(ip_forward=True, brnf="1", bridges={BR: dict(
    up=True, nf_call_iptables=False, addresses=["172.18.0.1/16"],
    ports={"vn-c0": dict(up=True, isolated=False), "vn-c1": dict(up=True, isolated=False)})},
    containers=dict(c0=dict(up=True, sockets=dict(tcp=[("0.0.0.0", 80)], udp=[("172.18.0.10", 53)])),
                    c1=dict(up=True, sockets={})))
JUMPS = {"raw": ["-I PREROUTING 1 -j NETPLUMB-PREROUTING"],
         "nat": ["-A PREROUTING -j NETPLUMB-PREROUTING", "-A OUTPUT -j NETPLUMB-OUTPUT",
                 "-A POSTROUTING -j NETPLUMB-POSTROUTING"],
         "filter": ["-A FORWARD -j NETPLUMB-FORWARD"]}


def ours(icc=True):
    rules = _fwnet.nat_rules(BR, ipaddress.ip_network(SUBNET), icc=icc)
    for proto, hport, cport in (("tcp", 8080, 80), ("udp", 5353, 53)):
        m = Mapping(proto, None, (hport, hport), ipaddress.ip_address("172.18.0.10"), (cport, cport), BR)
        rules += _fwnet.publish_rules(m, BR)
    return rules


def save_text(before=None, drop_jumps=(), policy=None, icc=True):
    """iptables-save of the host: the built-in chains (``before``: rules of others ahead of our jumps, per table),
    our jumps (``drop_jumps``: "table HOOK" left out), our chains with the engine's rules."""
    builtins = {"raw": ["PREROUTING", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                "filter": ["INPUT", "FORWARD", "OUTPUT"]}
    rules = ours(icc)
    out = []
    for table, chains in builtins.items():
        out.append("*%s" % table)
        out += [":%s %s [0:0]" % (c, (policy or {}).get((table, c), "ACCEPT")) for c in chains]
        out += [":NETPLUMB-%s - [0:0]" % h for h in sorted(set(r.hook for r in rules if r.table == table))]
        out += ["-A %s" % line for line in (before or {}).get(table, [])]
        for jump in JUMPS[table]:
            hook = jump.split()[1]
            if "%s %s" % (table, hook) not in drop_jumps:
                out.append("-A %s -j NETPLUMB-%s" % (hook, hook))
        out += ["-A %s %s" % (r.chain, quote_args(r.args)) for r in rules if r.table == table]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def analyse(info=None, state=None, text=None):
    info, state, text = info or INFO, state or STATE, text or save_text()
    ruleset = _iptables.parse_save(text)
    ruleset.backend = "iptables-nft"
    fw = _hostfw.HostFirewalls(_hostfw.parse_save(text, "iptables-nft"), "iptables-nft")
    return _diagnose.summary(_diagnose.analyse(info, state, ruleset, fw))


def bad(res):
    return [(f["network"], f["check"], f["status"]) for f in res["problems"]]


def test_a_healthy_network_is_all_ok_and_every_check_is_said():
    res = analyse()
    assert res["problems"] == [] and res["error_count"] == 0 and res["warn_count"] == 0
    assert [f["check"] for f in res["findings"]] == list(_diagnose.CHECKS)
    assert all(f["fix"] == [] for f in res["findings"])
    assert res["findings"][0]["network"] is None      # ip_forward is the host's


def test_ip_forward_off():
    state = dict(STATE, ip_forward=False)
    res = analyse(state=state)
    assert bad(res) == [(None, "ip_forward", "error")]
    assert res["problems"][0]["fix"][0] == "sysctl -w net.ipv4.ip_forward=1"


def test_no_networks_no_ip_forward_finding():
    info = dict(INFO, container_networks=[], networks_meta=[])
    assert analyse(info=info, state=dict(STATE, ip_forward=False))["findings"] == []


def test_a_missing_jump_names_the_hook_and_the_command_that_puts_it_back():
    res = analyse(text=save_text(drop_jumps=("nat PREROUTING", "raw PREROUTING")))
    assert bad(res) == [("web", "jumps", "error"), ("web", "jumps", "error")]
    fixes = sorted(f["fix"][0] for f in res["problems"])
    assert fixes == ["iptables -t nat -A PREROUTING -j NETPLUMB-PREROUTING",
                     "iptables -t raw -I PREROUTING 1 -j NETPLUMB-PREROUTING"]
    assert "table nat chain PREROUTING has no jump to NETPLUMB-PREROUTING" in res["problems"][0]["finding"]


def test_a_drop_before_our_jump_is_named_with_its_rule_and_fix():
    res = analyse(text=save_text(before={"filter": ["FORWARD -i br-web -j DROP"]}))
    checks = bad(res)
    assert ("web", "firewall", "error") in checks
    egress = [f for f in res["problems"] if "egress" in f["finding"]][0]
    assert "rule `-i br-web -j DROP`" in egress["finding"] and "chain FORWARD" in egress["finding"]
    assert egress["fix"] == ["iptables -I FORWARD -i br-web -j ACCEPT"]
    # br_netfilter on: the same rule drops the frames between c0 and c1
    icc = [f for f in res["problems"] if f["check"] == "isolation"]
    assert len(icc) == 1 and "cannot talk to each other" in icc[0]["finding"]
    assert icc[0]["fix"][0] == "iptables -I FORWARD -i br-web -o br-web -j ACCEPT"


def test_the_same_drop_without_br_netfilter_spares_the_neighbours():
    state = copy.deepcopy(STATE)
    state["brnf"] = "0"
    res = analyse(state=state, text=save_text(before={"filter": ["FORWARD -i br-web -j DROP"]}))
    assert "isolation" not in [f["check"] for f in res["problems"]]


def test_a_policy_drop_in_front_is_harmless_but_a_published_port_blocked_in_prerouting_is_named():
    res = analyse(text=save_text(policy={("filter", "FORWARD"): "DROP"}))
    assert res["problems"] == []      # our FORWARD chain accepts the network's traffic before the policy
    res = analyse(text=save_text(before={"nat": ["PREROUTING -p tcp -m tcp --dport 8080 -j DROP"]}))
    assert bad(res) == [("web", "firewall", "error")]
    assert "published port 8080/tcp" in res["problems"][0]["finding"]
    assert "(container c0)" in res["problems"][0]["finding"]
    # deleted, not accepted ahead of it: an ACCEPT in a nat chain would end the walk before our DNAT
    assert res["problems"][0]["fix"] == ["iptables -t nat -D PREROUTING -p tcp -m tcp --dport 8080 -j DROP"]


def test_routes_gateway_and_links():
    info = copy.deepcopy(INFO)
    info["networks_meta"][0]["containers"][1]["default_route"] = None
    info["networks_meta"][0]["containers"][0]["default_route"] = "172.18.0.99"
    state = copy.deepcopy(STATE)
    state["bridges"][BR].update(up=False, addresses=[])
    state["bridges"][BR]["ports"]["vn-c1"]["up"] = False
    state["containers"]["c0"]["up"] = False
    res = analyse(info=info, state=state)
    got = dict((f["finding"].split(":")[0], f["fix"][0]) for f in res["problems"])
    assert got["bridge br-web is down"] == "ip link set br-web up"
    assert got["bridge br-web does not hold the gateway 172.18.0.1/16 (it has"] == \
        "ip addr add 172.18.0.1/16 dev br-web"
    assert got["veth vn-c1 of container c1 is down"] == "ip link set vn-c1 up"
    assert got["interface eth0 inside c0 is down"] == "ip -n c0 link set eth0 up"
    routes = [f for f in res["problems"] if f["check"] == "route"]
    assert [f["fix"][0] for f in routes] == [
        "ip -n c0 route replace default via 172.18.0.1", "ip -n c1 route replace default via 172.18.0.1"]
    assert "via 172.18.0.99" in routes[0]["finding"] and "has no default route" in routes[1]["finding"]


def test_icc_true_with_an_isolated_port():
    state = copy.deepcopy(STATE)
    state["bridges"][BR]["ports"]["vn-c1"]["isolated"] = True
    res = analyse(state=state)
    assert bad(res) == [("web", "isolation", "error")]
    assert res["problems"][0]["fix"][0] == "ip link set vn-c1 type bridge_slave isolated off"


def test_icc_false_needs_isolated_ports_or_br_netfilter():
    info = copy.deepcopy(INFO)
    info["container_networks"][0]["icc"] = False
    text = save_text(icc=False)
    state = copy.deepcopy(STATE)
    for p in state["bridges"][BR]["ports"].values():
        p["isolated"] = True
    assert analyse(info=info, state=state, text=text)["problems"] == []
    state["bridges"][BR]["ports"]["vn-c0"]["isolated"] = False
    res = analyse(info=info, state=state, text=text)
    assert bad(res) == [("web", "isolation", "warn")]      # the FORWARD drop still holds: br_netfilter is on
    state["brnf"] = "0"
    res = analyse(info=info, state=state, text=text)
    assert bad(res) == [("web", "isolation", "error")]
    assert "those containers talk to each other" in res["problems"][0]["finding"]
    assert res["problems"][0]["fix"][0] == "ip link set vn-c0 type bridge_slave isolated on"
    state["bridges"][BR]["nf_call_iptables"] = True      # the bridge's own switch counts as well
    assert bad(analyse(info=info, state=state, text=text)) == [("web", "isolation", "warn")]


def test_listeners():
    state = copy.deepcopy(STATE)
    state["containers"]["c0"]["sockets"] = dict(tcp=[("127.0.0.1", 80)], udp=[("172.18.0.10", 5353)])
    res = analyse(state=state)
    assert bad(res) == [("web", "listener", "warn"), ("web", "listener", "warn")]
    assert res["error_count"] == 0 and res["warn_count"] == 2
    loop, udp = res["problems"]
    assert "bound to loopback only" in loop["finding"] and "8080:80/tcp" in loop["finding"]
    assert "nothing is bound on udp port 53 in container c0" in udp["finding"]
    assert udp["fix"] == ["ip netns exec c0 <service> listening on 0.0.0.0:53/udp (or 172.18.0.10)"]


def test_a_hand_made_network_on_a_docker_host():
    """The tutorial's network on a host where Docker runs: FORWARD's policy is DROP and br_netfilter is on, so
    the bridge's own traffic and its egress are dropped; the fixes go in DOCKER-USER, which Docker keeps first."""
    info = copy.deepcopy(INFO)
    info["container_networks"][0].update(bridge="br0", isolate=False)
    info["container_networks"][0]["containers"][0].pop("publish")
    info["networks_meta"][0]["bridge"] = "br0"
    state = copy.deepcopy(STATE)
    state["bridges"]["br0"] = state["bridges"].pop(BR)
    text = "\n".join(["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
                      ":DOCKER - [0:0]", ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER",
                      "-A FORWARD -o docker0 -j DOCKER", "-A DOCKER-USER -j RETURN", "COMMIT", ""])
    res = analyse(info=info, state=state, text=text)
    assert [f["check"] for f in res["findings"] if f["status"] == "ok" and f["check"] == "jumps"] == ["jumps"]
    checks = bad(res)
    assert ("web", "firewall", "error") in checks and ("web", "isolation", "error") in checks
    egress = [f for f in res["problems"] if "egress" in f["finding"]][0]
    assert "policy drop" in egress["finding"]
    assert egress["fix"] == ["iptables -I DOCKER-USER -i br0 -j ACCEPT"]
    icc = [f for f in res["problems"] if f["check"] == "isolation"][0]
    assert icc["fix"] == ["iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT"]
