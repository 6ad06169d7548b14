"""_gather (container_network_info): the host's container networks read back into the role's schema, from
records - the readers' own types (_nl.NsState, the host model, iptables-save text through the driver's and
_hostfw's parsers) - with no kernel. Every value returned is asserted to parse with the role's own parser."""
import ipaddress

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _gather, _hostfw, _iptables, _netspec
from ansible_collections.netplumb.container.plugins.module_utils._firewall import Rule
from ansible_collections.netplumb.container.plugins.module_utils._fwnet import nat_rules, publish_rules
from ansible_collections.netplumb.container.plugins.module_utils._iptables import quote_args
from ansible_collections.netplumb.container.plugins.module_utils._preflight import HostFacts
from ansible_collections.netplumb.container.plugins.module_utils._hostmodel import Route

from fakes import FakeNetlink, link, state

UPLINK = (Route(ipaddress.ip_network(u"0.0.0.0/0"), "up0", ipaddress.ip_address(u"192.0.2.2"), 3, 254),
          Route(ipaddress.ip_network(u"192.0.2.0/24"), "up0", None, 2, 254))
BUILTIN = {"raw": ["PREROUTING", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
           "filter": ["INPUT", "FORWARD", "OUTPUT"]}
# The tutorial's rules, as iptables-save prints what it typed (iptables -t nat -A ...)
TUTORIAL_RULES = [
    "*nat",
    "-A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination 172.18.0.10:5000",
    "-A OUTPUT -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination 172.18.0.10:5000",
    "-A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE",
]


def save(lines=(), ours=()):
    """iptables-save text: built-in chains, our chains with their jumps and rules (Rule records), and ``lines``
    ("*table" switches the table the -A lines after it go to)."""
    by_table = {}
    table = "filter"
    for line in lines:
        if line.startswith("*"):
            table = line[1:]
        else:
            by_table.setdefault(table, []).append(line)
    our = {}
    for r in ours:
        our.setdefault(r.table, {}).setdefault(r.chain, []).append(r)
    out = []
    for table in ("raw", "nat", "filter"):
        foreign = by_table.get(table, [])
        extra = sorted(set(x.split()[1] for x in foreign if x.split()[1] not in BUILTIN[table]))
        out.append("*" + table)
        out += [":%s ACCEPT [0:0]" % c for c in BUILTIN[table]]
        out += [":%s - [0:0]" % c for c in extra + sorted(our.get(table, {}))]
        out += foreign
        for chain, rules in sorted(our.get(table, {}).items()):
            out.append("-A %s -j %s" % (chain[len("NETPLUMB-"):], chain))
            out += ["-A %s %s" % (chain, quote_args(r.args)) for r in rules]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def tutorial(extra_links=(), addrs=None):
    """The tutorial's network by hand: br0 172.18.0.1/16, netns0 (veth0/ceth0, .10) and netns1 (veth1/ceth1,
    .20) with default routes via the bridge; the uplink up0 (192.0.2.1/24), its twin in namespace out."""
    host = state(None, [link(1, "lo", kind="loopback"), link(2, "br0", kind="bridge"),
                        link(3, "veth0", master=2, peer_index=2, peer_netnsid=0),
                        link(4, "veth1", master=2, peer_index=2, peer_netnsid=1),
                        link(5, "up0", peer_index=2, peer_netnsid=2)] + list(extra_links),
                 addrs=dict([(2, ["172.18.0.1/16"]), (5, ["192.0.2.1/24"])] + list((addrs or {}).items())))
    spaces = {
        "netns0": state("netns0", [link(1, "lo", kind="loopback"), link(2, "ceth0", peer_index=3, peer_netnsid=0)],
                        addrs={2: ["172.18.0.10/16"]}, routes={4: "172.18.0.1"}),
        "netns1": state("netns1", [link(1, "lo", kind="loopback"), link(2, "ceth1", peer_index=4, peer_netnsid=0)],
                        addrs={2: ["172.18.0.20/16"]}, routes={4: "172.18.0.1"}),
        "out": state("out", [link(1, "lo", kind="loopback"), link(2, "eth0", peer_index=5, peer_netnsid=0)],
                     addrs={2: ["192.0.2.2/24"]}),
    }
    return host, spaces, {0: "netns0", 1: "netns1", 2: "out"}


def gather(host, spaces, nsids, text=None, adopt=False, routes=UPLINK):
    addrs = [(host.name_of(i), a) for i, lst in host.addrs.items() for a in lst]
    facts = HostFacts(host, addrs, list(routes), {}, lambda: dict(nsids))
    text = save() if text is None else text
    fw = _hostfw.HostFirewalls(_hostfw.parse_save(text, "iptables-nft"), "iptables-nft")
    out = _gather.Gather(host, facts, spaces, _iptables.parse_save(text), fw).run(adopt)
    assert _netspec.parse(out["container_networks"])["errors"] == []     # always a value the role takes
    return out


def unmanaged(out):
    return dict(((u["kind"], u["name"]), u["reason"]) for u in out["unmanaged"])


TUTORIAL = dict(name="br0", bridge="br0", subnet="172.18.0.0/16", gateway="172.18.0.1", masquerade=True, icc=True,
                isolate=False, containers=[
                    dict(name="netns0", address="172.18.0.10", veth="veth0", interface="ceth0",
                         publish=["192.0.2.1:5000:5000/tcp"]),
                    dict(name="netns1", address="172.18.0.20", veth="veth1", interface="ceth1")])


def test_the_tutorial_network_comes_back_in_the_role_s_schema():
    out = gather(*tutorial(), text=save(TUTORIAL_RULES))
    assert out["container_networks"] == [TUTORIAL]
    meta = out["networks_meta"]
    assert [(m["bridge"], m["owned"]) for m in meta] == [("br0", False)]
    assert meta[0]["rules"] == [
        "iptables -t nat -A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination "
        "172.18.0.10:5000",
        "iptables -t nat -A OUTPUT -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination "
        "172.18.0.10:5000",
        "iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE"]
    assert meta[0]["containers"][0] == dict(name="netns0", owned=False, veth="veth0", interface="ceth0",
                                            default_route="172.18.0.1")
    # the uplink's twin is the only thing of the kind left over, and said so
    assert unmanaged(out) == {("namespace", "out"): "holds the twin of the host's uplink up0: no container of "
                                                    "the schema"}
    # the value fed back to the role names the same links
    plan = _netspec.parse(out["container_networks"])["present"][0]
    assert [(p["name"], p["peer"], p["peer_netns"], p["peer_addresses"], p["peer_gateway"]) for p in plan["pairs"]] \
        == [("veth0", "ceth0", "netns0", ["172.18.0.10/16"], "172.18.0.1"),
            ("veth1", "ceth1", "netns1", ["172.18.0.20/16"], "172.18.0.1")]
    assert plan["bridge_addresses"] == ["172.18.0.1/16"]


def test_without_rules_a_hand_made_network_neither_masquerades_nor_publishes():
    out = gather(*tutorial())
    netns0 = dict((k, v) for k, v in TUTORIAL["containers"][0].items() if k != "publish")
    assert out["container_networks"] == [dict(TUTORIAL, masquerade=False,
                                              containers=[netns0, TUTORIAL["containers"][1]])]


@pytest.mark.parametrize("rules, publish", [
    (["-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.10:80",
      "-A OUTPUT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.10:80"], "8080:80/tcp"),
    (["-A PREROUTING -m addrtype --dst-type LOCAL -p udp -m udp --dport 53 -j DNAT --to-destination 172.18.0.10"],
     "53:53/udp"),
    (["-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 5000 -j DNAT "
      "--to-destination 172.18.0.10:5000"], "5000:5000/tcp"),
    (["-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 6000 -j DNAT --to-destination 172.18.0.10:5001"],
     "127.0.0.1:6000:5001/tcp"),
    (["-A PREROUTING -p tcp -m tcp --dport 8000:8010 -j DNAT --to-destination 172.18.0.10:8000-8010"],
     "8000-8010:8000-8010/tcp"),
    (["-A PREROUTING ! -i br0 -p sctp -m sctp --dport 7 -j DNAT --to-destination 172.18.0.10:7"], "7:7/sctp"),
])
def test_dnat_forms_the_tutorials_and_docker_write_are_published_ports(rules, publish):
    out = gather(*tutorial(), text=save(["*nat"] + rules))
    assert out["container_networks"][0]["containers"][0]["publish"] == [publish]
    assert out["networks_meta"][0]["rules"] == ["iptables -t nat -A %s" % r[3:] for r in rules]


@pytest.mark.parametrize("rule, reason", [
    ("-A PREROUTING -i up0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.10:80",
     "its condition iif up0: the schema publishes on every address or on one address of the host"),
    ("-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.99:80",
     "DNATs to 172.18.0.99, the address of no gathered container"),
    ("-A PREROUTING -d 198.51.100.7/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.10:80",
     "198.51.100.7 is no address of this host: the role would refuse it"),
    ("-A PREROUTING -p tcp -m tcp --dport 8000:8010 -j DNAT --to-destination 172.18.0.10:9000-9010",
     "a range DNATed to another range without a base port: the schema maps port by port"),
    ("-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080",
     "a DNAT or REDIRECT without an IPv4 destination the schema can name"),
    ("-A PREROUTING -j DNAT --to-destination 172.18.0.10",
     "no single protocol and destination port: the schema publishes ports of tcp, udp or sctp"),
    ("-A PREROUTING -d 127.0.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.10:80",
     "a loopback destination in PREROUTING: the schema's loopback ports are the host's own (OUTPUT)"),
    ("-A POSTROUTING -s 172.18.0.0/16 -o up0 -j MASQUERADE",
     "masquerades 172.18.0.0/16 only with oif up0: the schema's masquerade is -s 172.18.0.0/16 ! -o br0 (any "
     "interface but the bridge)"),
    ("-A POSTROUTING -s 10.99.0.0/16 ! -o br9 -j MASQUERADE",
     "masquerades 10.99.0.0/16, the subnet of no gathered network"),
    ("-A POSTROUTING -s 172.18.0.0/16 -j SNAT --to-source 192.0.2.1",
     "an SNAT: the schema's egress is MASQUERADE of a network's subnet"),
    ("-A POSTROUTING -j MASQUERADE",
     "a MASQUERADE that is not of one source subnet: the schema's masquerades a network's subnet"),
])
def test_nat_rules_the_schema_cannot_express_are_listed_with_their_reason(rule, reason):
    out = gather(*tutorial(), text=save(["*nat", rule]))
    name = "iptables -t nat -A %s" % rule[3:]
    assert unmanaged(out)[("rule", name)] == reason
    assert name not in out["networks_meta"][0]["rules"]
    assert "publish" not in out["container_networks"][0]["containers"][0]


def test_the_tutorial_s_masquerade_without_out_interface_and_forward_accepts_map_to_the_network():
    rules = ["*nat", "-A POSTROUTING -s 172.18.0.0/16 -j MASQUERADE",
             "*filter", "-A FORWARD -i br0 -j ACCEPT", "-A FORWARD -o br0 -j ACCEPT",
             "-A FORWARD -d 172.18.0.10/32 -p tcp -m tcp --dport 80 -j ACCEPT",
             "-A FORWARD -i br0 -o br0 -j DROP",
             "-A INPUT -i br0 -j DROP", "-A INPUT -i up0 -p tcp -m tcp --dport 22 -j ACCEPT"]
    out = gather(*tutorial(), text=save(rules))
    net = out["container_networks"][0]
    assert (net["masquerade"], net["icc"], net["isolate"]) == (True, False, False)
    assert len(out["networks_meta"][0]["rules"]) == 5
    # a rule naming the network that the schema does not make is listed; the host's own firewall is not
    assert unmanaged(out) == {
        ("namespace", "out"): "holds the twin of the host's uplink up0: no container of the schema",
        ("rule", "iptables -t filter -A INPUT -i br0 -j DROP"):
            "a rule naming network br0 (172.18.0.0/16) that the schema does not make"}


def ours(declared):
    """A host as container_network leaves it for ``declared``: links and namespaces with our marks, the rules
    of container_nat and port_publish with our owner comments (from _fwnet's own rule makers)."""
    plan = _netspec.parse(declared)
    assert plan["errors"] == []
    links = [link(1, "lo", kind="loopback"), link(5, "up0", peer_index=2, peer_netnsid=99)]
    addrs = {5: ["192.0.2.1/24"]}
    out = state("out", [link(1, "lo", kind="loopback"), link(2, "eth0", peer_index=5, peer_netnsid=0)])
    spaces, nsids, rules = {"out": out}, {99: "out"}, []
    index = 10
    for net in plan["present"]:
        br = index
        mtu = net["mtu"] or 1500
        links.append(link(br, net["bridge"], kind="bridge", alias="netplumb", mtu=mtu))
        addrs[br] = net["bridge_addresses"]
        for pair in net["pairs"]:
            index += 1
            nsid = len(nsids) + 100
            nsids[nsid] = pair["peer_netns"]
            port = link(index, pair["name"], master=br, alias="netplumb", peer_index=2, peer_netnsid=nsid, mtu=mtu)
            port.isolated = not net["icc"]
            links.append(port)
            spaces[pair["peer_netns"]] = state(pair["peer_netns"], [
                link(1, "lo", kind="loopback", alias="netplumb"),
                link(2, pair["peer"], peer_index=index, peer_netnsid=0, mtu=mtu)],
                addrs={2: pair["peer_addresses"]}, routes={4: pair["peer_gateway"]})
        index += 1
        rules += nat_rules(net["bridge"], net["subnet"], net["masquerade"], net["isolate"], net["icc"])
        for c in net["containers"]:
            for p in c["publish"]:
                dummy, m = _netspec.parse_publish("p", p["spec"])
                m.container_ip = ipaddress.ip_address(c["address"])
                rules += publish_rules(m, net["bridge"])
    return state(None, links, addrs=addrs), spaces, nsids, rules


@pytest.mark.parametrize("masquerade, icc, isolate", [
    (True, True, True), (False, True, True), (True, False, True), (True, True, False), (False, False, False)])
def test_networks_of_ours_come_back_as_they_were_declared(masquerade, icc, isolate):
    declared = [
        dict(name="web", bridge="br-web", subnet="172.18.0.0/24", gateway="172.18.0.254", masquerade=masquerade,
             icc=icc, isolate=isolate, mtu=1400, containers=[
                 dict(name="c0", address="172.18.0.10",
                      publish=["5000:5000/tcp", "127.0.0.1:8053:53/udp", "192.0.2.1:80:8080/tcp",
                               "8000-8002:9000-9002/tcp"]),
                 dict(name="reverse-proxy-frontend", address="172.18.0.11", interface="ceth1")]),
        dict(name="api", bridge="br-api", subnet="10.20.0.0/16", containers=[])]
    host, spaces, nsids, rules = ours(declared)
    out = gather(host, spaces, nsids, text=save(ours=rules))
    expected = [dict(name="api", bridge="br-api", subnet="10.20.0.0/16", gateway="10.20.0.1", masquerade=True,
                     icc=True, isolate=True, containers=[]),
                dict(declared[0], containers=[
                    dict(declared[0]["containers"][0], publish=["192.0.2.1:80:8080/tcp", "5000:5000/tcp",
                                                                "8000-8002:9000-9002/tcp", "127.0.0.1:8053:53/udp"]),
                    declared[0]["containers"][1]])]
    expected[1]["containers"] = sorted(expected[1]["containers"], key=lambda c: c["name"])
    assert out["container_networks"] == expected
    assert [m["owned"] for m in out["networks_meta"]] == [True, True]
    assert all(c["owned"] and m["rules"] == [] for m in out["networks_meta"] for c in m["containers"])
    assert [u for u in out["unmanaged"] if u["name"] != "out"] == []


def test_what_the_schema_cannot_express_is_listed_with_a_reason():
    host, spaces, nsids = tutorial(extra_links=[
        link(6, "vx", peer_index=2, peer_netnsid=3),                     # a veth into "lone", on no bridge
        link(7, "hx", peer_index=8), link(8, "hy", peer_index=7),        # both ends in the host
        link(9, "br9", kind="bridge"),                                   # a bridge without an address
        link(10, "vp", master=9, peer_index=2, peer_netnsid=4),          # ... and its port into "p9"
        link(11, "vq", master=2, peer_index=2, peer_netnsid=77),         # br0's port into an unnamed namespace
        link(12, "vr", master=2, peer_index=13), link(13, "vs", peer_index=12),  # br0's port, peer in the host
        link(14, "vt", master=2, peer_index=2, peer_netnsid=5),          # br0's port into "bare": no address
        link(15, "mv", kind="macvlan", master=2),                        # a port that is no veth
    ], addrs={2: ["172.18.0.1/16", "172.18.9.1/24", "fd00::1/64"]})
    spaces["netns1"].addrs[2].append(ipaddress.ip_interface(u"10.1.0.5/24"))       # a second address
    spaces["netns1"].routes.pop(4)                                                 # no default route
    spaces["netns0"].links["extra"] = link(3, "extra")                             # a second link inside
    spaces["netns0"].by_index[3] = spaces["netns0"].links["extra"]
    spaces["lone"] = state("lone", [link(1, "lo", kind="loopback"), link(2, "cx", peer_index=6, peer_netnsid=0)])
    spaces["p9"] = state("p9", [link(1, "lo", kind="loopback"), link(2, "cp", peer_index=10, peer_netnsid=0)],
                         addrs={2: ["10.9.0.2/24"]})
    spaces["bare"] = state("bare", [link(1, "lo", kind="loopback"), link(2, "ct", peer_index=14, peer_netnsid=0)])
    spaces["empty"] = state("empty", [link(1, "lo", kind="loopback")])
    nsids.update({3: "lone", 4: "p9", 5: "bare", 6: "empty"})
    out = gather(host, spaces, nsids)
    assert [c["name"] for c in out["container_networks"][0]["containers"]] == ["netns0", "netns1"]
    got = unmanaged(out)
    assert sorted(got) == sorted([
        ("address", "br0 172.18.9.1/24"), ("address", "br0 fd00::1/64"), ("address", "netns1 ceth1 10.1.0.5/24"),
        ("route", "netns1"), ("link", "netns0 extra"), ("veth", "vq"), ("veth", "vr"), ("veth", "vt"),
        ("link", "mv"), ("bridge", "br9"), ("veth", "vp"), ("veth", "vx"), ("veth", "hx"),
        ("namespace", "lone"), ("namespace", "p9"), ("namespace", "bare"), ("namespace", "empty"),
        ("namespace", "out")])
    assert got[("veth", "vx")].startswith("a veth on no bridge, its peer cx in namespace lone")
    assert got[("veth", "hx")].startswith("a veth pair with both ends (hx, hy) in the host's namespace")
    assert got[("veth", "vq")].endswith("whose peer is in a namespace with no name under /run/netns (another "
                                        "tool's container?): a container of the schema is a named namespace")
    assert got[("veth", "vt")] == ("a port of bridge br0 leading to ct in namespace bare, which has no IPv4 address "
                                   "in 172.18.0.0/16: a container has one")
    assert got[("bridge", "br9")].startswith("has no IPv4 address")
    assert got[("route", "netns1")].startswith("no default route in namespace netns1: the schema's containers have "
                                               "their default route via the gateway 172.18.0.1")
    assert got[("namespace", "lone")] == "its veth cx leads to vx, on no bridge (see it): no container of the schema"
    assert got[("namespace", "p9")] == "its veth cp leads to vp (see it): no container of the schema"
    assert got[("namespace", "empty")] == "no veth from it reaches a bridge of this host: no container of the schema"


DOCKER = [
    "*nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
    "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 5000 -j MASQUERADE",
    "-A DOCKER -i docker0 -j RETURN",
    "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 5005 -j DNAT --to-destination 172.17.0.2:5000",
    "*filter", "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
    "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A FORWARD -o docker0 -j DOCKER",
    "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT", "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
    "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 5000 -j ACCEPT",
    "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
    "-A DOCKER-ISOLATION-STAGE-1 -j RETURN", "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
    "-A DOCKER-ISOLATION-STAGE-2 -j RETURN", "-A DOCKER-USER -j RETURN"]


def docker(host, spaces, nsids):
    host.links["docker0"] = link(20, "docker0", kind="bridge")
    host.links["vethd1"] = link(21, "vethd1", master=20, peer_index=2, peer_netnsid=50)
    for lk in (host.links["docker0"], host.links["vethd1"]):
        host.by_index[lk.index] = lk
    host.addrs[20] = [ipaddress.ip_interface(u"172.17.0.1/16")]
    return host, spaces, nsids


def test_docker_s_networks_are_docker_s_and_a_hand_made_docker0_is_gathered():
    out = gather(*docker(*tutorial()), text=save(TUTORIAL_RULES + DOCKER))
    assert [n["bridge"] for n in out["container_networks"]] == ["br0"]
    assert out["container_networks"][0] == TUTORIAL
    got = unmanaged(out)
    assert got[("bridge", "docker0")] == "Docker's network (11 of its rules name it): Docker manages it, not gathered"
    assert got[("veth", "vethd1")] == "a port of Docker's bridge docker0"
    assert got[("chain", "iptables-nft table nat chain DOCKER")] == "Docker's chain (2 rules): another tool's, not " \
                                                                    "gathered"
    assert ("chain", "iptables-nft table filter chain DOCKER-ISOLATION-STAGE-2") in got
    # the tutorial that builds its own docker0 by hand (no Docker chains) gets it back as a network
    hand = ["*nat", "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
            "*filter", "-A FORWARD -i docker0 -j ACCEPT", "-A FORWARD -o docker0 -j ACCEPT"]
    out = gather(*docker(*tutorial()), text=save(hand))
    assert [(n["bridge"], n["masquerade"]) for n in out["container_networks"]] == [
        ("br0", False), ("docker0", True)]
    assert unmanaged(out)[("veth", "vethd1")].startswith("a port of bridge docker0 whose peer is in a namespace "
                                                         "with no name")


def test_what_the_role_s_parser_refuses_moves_to_unmanaged_with_its_words():
    host, spaces, nsids = tutorial(extra_links=[
        link(30, "br1", kind="bridge"), link(31, "br2", kind="bridge")], addrs={
            30: ["172.18.5.1/24"],          # overlaps br0's 172.18.0.0/16
            31: ["169.254.3.1/16"]})        # link-local: refused
    rules = ["*nat",
             "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.10:80",
             "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.18.0.20:80"]
    out = gather(host, spaces, nsids, text=save(rules))
    assert [n["bridge"] for n in out["container_networks"]] == ["br0"]
    got = unmanaged(out)
    assert got[("network", "br1")].startswith("refused by the schema: container_networks[1].subnet='172.18.5.0/24': "
                                              "overlaps 172.18.0.0/16 of network br0")
    assert got[("network", "br2")].startswith("refused by the schema: container_networks[2].subnet=169.254.0.0/16: "
                                              "169.254.0.0/16 is in the special-purpose range")
    # the same host port to two containers: the second is the parser's port conflict
    conts = out["container_networks"][0]["containers"]
    assert conts[0]["publish"] == ["80:80/tcp"] and "publish" not in conts[1]
    assert got[("publish", "netns1 80:80/tcp")].startswith(
        "refused by the schema: container_networks[0].containers[1].publish[0]='80:80/tcp': host port already "
        "published by container_networks[0].containers[0].publish[0]; made by iptables -t nat -A PREROUTING")


def test_adopt_is_set_where_something_is_not_ours():
    host, spaces, nsids, rules = ours([dict(name="web", bridge="br-web", subnet="172.19.0.0/24", containers=[
        dict(name="c0", address="172.19.0.10")])])
    out = gather(host, spaces, nsids, text=save(ours=rules), adopt=True)
    assert "adopt" not in out["container_networks"][0]
    spaces["c0"].links["lo"].alias = None       # a namespace of the network without our mark
    out = gather(host, spaces, nsids, text=save(ours=rules), adopt=True)
    assert out["container_networks"][0]["adopt"] is True
    assert out["networks_meta"][0]["owned"] is True and out["networks_meta"][0]["containers"][0]["owned"] is False
    assert gather(*tutorial(), adopt=True)["container_networks"][0]["adopt"] is True


def test_rules_of_ours_without_a_gathered_network_are_listed():
    stale = nat_rules("br-gone", "172.30.0.0/24")
    fleet = [Rule("nat", "POSTROUTING", ["-d", "10.244.2.0/24", "-m", "comment", "--comment", "netplumb:fleet/h2",
                                         "-j", "RETURN"], "netplumb:fleet/h2")]
    text = save(ours=stale + fleet).replace("-A NETPLUMB-FORWARD -o br-gone",
                                            "-A NETPLUMB-FORWARD -j ACCEPT\n-A NETPLUMB-FORWARD -o br-gone", 1)
    out = gather(*tutorial(), text=text)
    got = unmanaged(out)
    assert got[("rule", "netplumb:br-gone")] == ("8 rules of ours naming bridge br-gone, which does not exist: "
                                                 "container_network with prune=true removes them")
    assert got[("rule", "netplumb:fleet/h2")].startswith("1 rule of ours that belong to no network")
    assert got[("rule", "iptables -t filter -A NETPLUMB-FORWARD -j ACCEPT")].startswith(
        "in our chain NETPLUMB-FORWARD without our owner comment")


class FakeDriver:
    backend = "iptables-nft"
    warnings = []

    def __init__(self, text):
        self.text = text
        self.hostfw = _hostfw.HostFirewalls(_hostfw.parse_save(text, "iptables-nft"), "iptables-nft")

    def read(self):
        return _iptables.parse_save(self.text)


def test_read_asks_the_readers_once_and_says_when_there_is_no_firewall():
    host, spaces, nsids = tutorial()
    nl = FakeNetlink(dict(list(spaces.items()) + [(None, host)]), nsids=dict((v, k) for k, v in nsids.items()))
    out = _gather.read(nl, FakeDriver(save(TUTORIAL_RULES)))
    assert out["container_networks"] == [TUTORIAL]
    assert sorted(n or "" for n in nl.reads) == ["", "netns0", "netns1", "out"]
    assert out["host"]["firewall"] == "iptables-nft" and isinstance(out["host"]["ip_forward"], bool)
    out = _gather.read(nl, None, "firewall_backend=auto: iptables: not found")
    assert out["container_networks"][0]["masquerade"] is False and out["host"]["firewall"] is None
    assert out["unmanaged"][0] == dict(kind="firewall", name="iptables", reason=(
        "the rules could not be read (firewall_backend=auto: iptables: not found): networks are gathered without "
        "masquerade, isolation and published ports"))
