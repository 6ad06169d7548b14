"""container_network_info on the real kernel, in the test's own namespace (the sandbox is the host).

The round trip: the tutorial's network built by hand with ip and iptables comes back in the role's schema (the
gather writes nothing); torn down by hand and fed to container_network, the same link names, addresses, routes
and working packets come back, and a second gather gives the same value. Adopting it in place (adopt: true)
works once the hand-made rules the gather names are deleted. Networks of ours come back exactly as declared:
fed back, they change nothing. What the schema cannot express is listed, never dropped.
"""
import os
import shlex
import subprocess
import time

import pytest

from helpers.converge import changes, existing_ns
from helpers.kernel import Monitor, dump, ip_json
from helpers.modrun import pinned, run_module
from helpers_fw import Servers, http_get, nft_table, save, sh

from ansible_collections.netplumb.container.plugins.module_utils import _netspec

# The tutorial (docs/tutorial-mapping.md), typed as it is, with an uplink up0 to a neighbour "out" that plays the
# internet (192.0.2.2) and host_ip 192.0.2.1 for the published port.
UPLINK_SCRIPT = """
ip netns add out
ip link add up0 type veth peer name eth0 netns out
ip addr add 192.0.2.1/24 dev up0
ip link set up0 up
ip -n out addr add 192.0.2.2/24 dev eth0
ip -n out link set eth0 up
ip -n out link set lo up
ip route add default via 192.0.2.2
"""
TUTORIAL_SCRIPT = UPLINK_SCRIPT + """
sysctl -qw net.ipv4.ip_forward=1
ip link add br0 type bridge
ip addr add 172.18.0.1/16 dev br0
ip link set br0 up
for i in 0 1; do
  ip netns add netns$i
  ip link add veth$i type veth peer name ceth$i
  ip link set ceth$i netns netns$i
  ip link set veth$i master br0
  ip link set veth$i up
  ip netns exec netns$i ip link set lo up
  ip netns exec netns$i ip link set ceth$i up
  ip netns exec netns$i ip addr add 172.18.0.$((10 + 10 * i))/16 dev ceth$i
  ip netns exec netns$i ip route add default via 172.18.0.1
done
iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE
iptables -t nat -A PREROUTING -d 192.0.2.1 -p tcp -m tcp --dport 5000 -j DNAT --to-destination 172.18.0.10:5000
iptables -t nat -A OUTPUT -d 192.0.2.1 -p tcp -m tcp --dport 5000 -j DNAT --to-destination 172.18.0.10:5000
"""

GATHERED = [dict(name="br0", bridge="br0", subnet="172.18.0.0/16", gateway="172.18.0.1", masquerade=True, icc=True,
                 isolate=False, containers=[
                     dict(name="netns0", address="172.18.0.10", veth="veth0", interface="ceth0",
                          publish=["192.0.2.1:5000:5000/tcp"]),
                     dict(name="netns1", address="172.18.0.20", veth="veth1", interface="ceth1")])]
NAMESPACES = ["netns0", "netns1", "out"]


def picture():
    """Link names (admin state, master), IPv4 addresses and routes of the host and of each namespace: what the
    round trip must bring back (not the marks, protocol numbers or bridge-port flags the role adds)."""
    out = {}
    for ns in [None] + NAMESPACES:
        links = dict((lk["ifname"], ("UP" in lk["flags"], lk.get("master"))) for lk in ip_json("link", "show", ns=ns))
        addrs = dict((a["ifname"], sorted("%s/%d" % (i["local"], i["prefixlen"]) for i in a["addr_info"]
                                          if i["family"] == "inet")) for a in ip_json("addr", "show", ns=ns))
        routes = sorted((r["dst"], r.get("gateway"), r.get("dev"), r.get("prefsrc"))
                        for r in ip_json("-4", "route", "show", ns=ns))
        out[ns or "host"] = dict(links=links, addrs=addrs, routes=routes)
    return out


def packets():
    """Between the containers, to the bridge, out masqueraded, in through the published port."""
    for ns, target in (("netns0", "172.18.0.20"), ("netns1", "172.18.0.10"), ("netns0", "172.18.0.1"),
                       ("netns1", "172.18.0.1")):
        res = sh("ping", "-c", "1", "-w", "10", "-i", "0.2", target, ns=ns, check=False)
        assert res.returncode == 0, "%s cannot ping %s: %s" % (ns, target, res.stdout + res.stderr)
    servers = Servers()
    try:
        servers.start("out", "0.0.0.0", 8000)
        servers.start("netns0", "0.0.0.0", 5000)
        assert http_get("netns1", "192.0.2.2", 8000) == "192.0.2.1"     # egress, masqueraded
        assert http_get("out", "192.0.2.1", 5000) == "192.0.2.2"        # the published port
        assert http_get(None, "192.0.2.1", 5000) == "192.0.2.1"         # from the host itself (OUTPUT)
    finally:
        servers.close()


def gather(run, **args):
    """container_network_info, in check mode and not: the same answer, changed false, not a write."""
    namespaces = existing_ns()
    state, rules = dump(namespaces), save()
    mon = Monitor(namespaces)
    try:
        res = run("container_network_info", args)
        check = run("container_network_info", args, check=True)
        assert mon.events() == 0, "the gather wrote to the kernel"
    finally:
        mon.close()
    assert not res.get("failed"), res.get("msg")
    assert res["changed"] is False and check == res
    assert dump(namespaces) == state and save() == rules and existing_ns() == namespaces
    assert _netspec.parse(res["container_networks"])["errors"] == []
    return res


def delete(rules):
    """The hand-made rules a gather names (networks_meta[].rules), deleted: each command with -A made -D."""
    for text in rules:
        argv = shlex.split(text)
        argv[argv.index("-A")] = "-D"
        sh(*argv)


def converge(run, networks):
    """container_network with the gathered value: check == real, then a re-run that changes nothing."""
    check = run("container_network", dict(networks=networks), check=True)
    assert not check.get("failed"), check.get("msg")
    real = run("container_network", dict(networks=networks))
    assert not real.get("failed"), real.get("msg")
    assert real["commands"] == check["commands"], changes(check["commands"], real["commands"])
    again = run("container_network", dict(networks=networks))
    assert (again["changed"], again["commands"]) == (False, []), again["commands"]
    return real


@pytest.mark.deb
def test_round_trip_of_the_tutorial_network_built_by_hand(sandbox, run):
    sh("bash", "-ec", TUTORIAL_SCRIPT)
    before = picture()
    packets()
    got = gather(run)
    assert got["container_networks"] == GATHERED
    meta = got["networks_meta"]
    assert [(m["name"], m["bridge"], m["owned"]) for m in meta] == [("br0", "br0", False)]
    assert [c["owned"] for c in meta[0]["containers"]] == [False, False]
    # the rules it stands for, as iptables-save spells what the tutorial typed
    assert meta[0]["rules"] == [
        "iptables -t nat -A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination "
        "172.18.0.10:5000",
        "iptables -t nat -A OUTPUT -d 192.0.2.1/32 -p tcp -m tcp --dport 5000 -j DNAT --to-destination "
        "172.18.0.10:5000",
        "iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE"]
    assert got["unmanaged"] == [dict(kind="namespace", name="out", reason="holds the twin of the host's uplink up0: "
                                     "no container of the schema")]
    assert got["host"] == dict(uplinks=["up0"], ip_forward=True, firewall="iptables-nft")

    # torn down by hand: the namespaces (their veths go with them), the bridge, the rules the gather names
    for ns in ("netns0", "netns1"):
        sh("ip", "netns", "del", ns)
    sh("ip", "link", "del", "br0")
    delete(meta[0]["rules"])
    assert sorted(existing_ns()) == ["out"] and "br0" not in [lk["ifname"] for lk in ip_json("link", "show")]
    assert "DNAT" not in save() and "MASQUERADE" not in save()

    # fed to container_network: the same names, addresses, routes, and packets
    real = converge(run, got["container_networks"])
    assert "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0" in real["commands"]
    assert picture() == before, changes(before, picture())
    packets()

    # a gather of the result is the same value, now ours; fed back it changes nothing
    again = gather(run)
    assert again["container_networks"] == GATHERED
    assert [m["owned"] for m in again["networks_meta"]] == [True]
    assert all(c["owned"] for c in again["networks_meta"][0]["containers"])
    assert again["networks_meta"][0]["rules"] == []
    assert run("container_network", dict(networks=again["container_networks"]))["changed"] is False


def test_adopting_the_tutorial_network_in_place_is_refused_and_writes_nothing(sandbox, run):
    """adopt: true takes over hand-made bridges, veths and namespaces, but not a bridge that holds ports that
    are not ours when linux_bridge runs (the foreign-port rule, docs/safety.md), nor a host port someone else's
    DNAT holds: in place, the tutorial's network is refused before any write. The way in is the round trip
    above (or adopting the veths with veth_pair first)."""
    sh("bash", "-ec", TUTORIAL_SCRIPT)
    got = gather(run, adopt=True)
    value = got["container_networks"]
    assert value == [dict(GATHERED[0], adopt=True)]
    state, rules = dump(existing_ns()), save()
    refused = run("container_network", dict(networks=value))
    assert refused.get("failed")
    assert any("(linux_bridge): name=br0: bridge br0 has ports that are not netplumb's: veth0, veth1" in e
               for e in refused["errors"]), refused["errors"]
    assert any("(port_publish)" in e and "someone else's DNAT" in e for e in refused["errors"]), refused["errors"]
    assert dump(existing_ns()) == state and save() == rules


def test_adopting_the_tutorial_network_in_place_veths_first(sandbox, run):
    """What docs/modules/container_network_info.md says works in place: the hand-made rules deleted, the veths
    adopted with veth_pair (the pairs the role's parser makes of the gathered value), then the role adopts
    the rest - nothing re-created, the same picture, the same packets, and the same value gathered again."""
    sh("bash", "-ec", TUTORIAL_SCRIPT)
    before = picture()
    got = gather(run, adopt=True)
    delete(got["networks_meta"][0]["rules"])
    pairs = _netspec.parse(got["container_networks"])["present"][0]["pairs"]
    res = run("veth_pair", dict(pairs=[dict(p, adopt=True) for p in pairs]))
    assert not res.get("failed"), res.get("msg")
    real = converge(run, got["container_networks"])
    assert "ip link set br0 alias netplumb" in real["commands"]
    created = [c for c in res["commands"] + real["commands"] if c.startswith(("ip link add", "ip link del",
                                                                              "ip netns add", "ip netns del"))]
    assert created == [], created
    assert picture() == before, changes(before, picture())
    packets()
    again = gather(run)
    assert again["container_networks"] == GATHERED
    assert again["networks_meta"][0]["owned"] is True and again["networks_meta"][0]["rules"] == []


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_networks_of_ours_come_back_exactly_as_declared(sandbox, backend):
    """Once per firewall backend: the nftables driver's table is read back into the same intents."""
    run = pinned(backend)
    sh("bash", "-ec", UPLINK_SCRIPT)
    declared = [
        dict(name="api", bridge="br-api", subnet="10.20.0.0/16", gateway="10.20.0.1", masquerade=True, icc=True,
             isolate=True, containers=[]),
        dict(name="open", bridge="br-open", subnet="172.19.0.0/24", gateway="172.19.0.1", masquerade=True,
             icc=True, isolate=False, containers=[dict(name="o1", address="172.19.0.2")]),
        dict(name="web", bridge="br-web", subnet="172.18.0.0/24", gateway="172.18.0.254", masquerade=False,
             icc=False, isolate=True, mtu=1400, containers=[
                 dict(name="c0", address="172.18.0.10",
                      publish=["192.0.2.1:80:8080/tcp", "5000:5000/tcp", "8000-8002:9000-9002/tcp",
                               "127.0.0.1:8053:53/udp"]),
                 dict(name="reverse-proxy-frontend", address="172.18.0.11", interface="ceth1", veth="front0")])]
    converge(run, declared)
    assert (nft_table() != "") == (backend == "nftables")
    assert ("NETPLUMB" in save().split("table inet netplumb")[0]) == (backend == "iptables")
    got = gather(run)
    assert got["container_networks"] == declared
    assert all(m["owned"] and m["rules"] == [] for m in got["networks_meta"])
    assert [u["name"] for u in got["unmanaged"]] == ["out"]
    assert got["host"]["firewall"] == ("nftables" if backend == "nftables" else "iptables-nft")
    assert run("container_network", dict(networks=got["container_networks"]))["changed"] is False
    # auto keeps the backend our rules are in: the gather reads the same value
    assert gather(run_module)["container_networks"] == declared


def test_a_rule_of_ours_changed_by_hand_in_the_nftables_table_is_listed_never_dropped(sandbox):
    run = pinned("nftables")
    sh("bash", "-ec", UPLINK_SCRIPT)
    declared = [dict(name="web", bridge="br-web", subnet="172.18.0.0/24", gateway="172.18.0.1", masquerade=True,
                     icc=True, isolate=True, containers=[dict(name="c0", address="172.18.0.10",
                                                              publish=["8080:80/tcp"])])]
    converge(run, declared)
    # the forward accept of the published port, its container port edited by hand, comment kept: the rules of
    # that port disagree on the container side, so none is read back; each is listed
    listed = subprocess.run(["nft", "-a", "list", "chain", "inet", "netplumb", "forward"], check=True,
                            capture_output=True, text=True).stdout
    [line] = [x for x in listed.splitlines() if "netplumb:br-web:tcp/8080" in x]
    handle = line.rsplit("# handle ", 1)[1].strip()
    stmt = line.split("# handle")[0].strip()
    sh("nft", "replace rule inet netplumb forward handle %s %s" % (handle, stmt.replace("dport 80 ", "dport 81 ")))

    def port_lost(reason):
        got = gather(run)
        web = got["container_networks"][0]
        assert web["containers"][0].get("publish", []) == [] and web["masquerade"] is True
        unmanaged = [u for u in got["unmanaged"] if u["kind"] == "rule"]
        assert len(unmanaged) == 4, unmanaged      # every rule of that owner, named with its chain and handle
        assert all(u["name"].startswith("nftables table inet netplumb chain ") for u in unmanaged)
        assert all("netplumb:br-web:tcp/8080" in u["reason"] and reason in u["reason"] for u in unmanaged)
    port_lost("disagree on the container's address or port")
    sh("nft", "replace rule inet netplumb forward handle %s %s" % (handle, stmt))
    assert gather(run)["container_networks"] == declared
    # its comment's digest changed too: not what netplumb renders, and a run rewrites it
    tampered = stmt.replace("dport 80 ", "dport 81 ")
    tampered = tampered[:tampered.rindex(":") + 1] + "00000000\""
    sh("nft", "replace rule inet netplumb forward handle %s %s" % (handle, tampered))
    port_lost("not what netplumb renders")
    # the role's run puts the rule back; the gather reads the port again
    converge(run, declared)
    assert gather(run)["container_networks"] == declared


DOCKER = """*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 5005 -j DNAT --to-destination 172.17.0.2:5000
COMMIT
*filter
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""

ODDITIES = """
ip link add docker0 type bridge
ip addr add 172.17.0.1/16 dev docker0
ip netns add gone
ip link add vethd1 type veth peer name eth0 netns gone
ip link set vethd1 master docker0
ip netns add lone
ip link add vx type veth peer name cx netns lone
ip netns add empty
ip netns exec netns1 ip route del default
iptables -t nat -A POSTROUTING -s 172.18.0.0/16 -o up0 -j MASQUERADE
iptables -t nat -A PREROUTING -i up0 -p tcp -m tcp --dport 7000 -j DNAT --to-destination 172.18.0.20:7000
"""


def _ns_inode(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return None


def test_what_the_schema_cannot_express_is_listed(sandbox, run):
    sh("bash", "-ec", TUTORIAL_SCRIPT + ODDITIES)
    subprocess.run(["iptables-restore", "--noflush"], input=DOCKER, text=True, check=True)
    # a container of "Docker": its namespace has no name any more, a process keeps it alive
    holder = subprocess.Popen(["ip", "netns", "exec", "gone", "sleep", "600"])
    try:
        inode = os.stat("/run/netns/gone").st_ino
        deadline = time.time() + 30     # until the holder is inside (ip netns exec has entered it)
        while time.time() < deadline and _ns_inode(holder.pid) != inode:
            time.sleep(0.02)
        assert _ns_inode(holder.pid) == inode
        sh("ip", "netns", "del", "gone")
        got = gather(run)
    finally:
        holder.kill()
        holder.wait()
    value = got["container_networks"]
    assert [n["bridge"] for n in value] == ["br0"]
    assert [c["name"] for c in value[0]["containers"]] == ["netns0", "netns1"]
    listed = dict(((u["kind"], u["name"]), u["reason"]) for u in got["unmanaged"])
    assert sorted(listed) == sorted([
        ("bridge", "docker0"), ("veth", "vethd1"), ("chain", "iptables-nft table nat chain DOCKER"),
        ("chain", "iptables-nft table filter chain DOCKER-USER"),
        ("veth", "vx"), ("route", "netns1"),
        ("rule", "iptables -t nat -A POSTROUTING -s 172.18.0.0/16 -o up0 -j MASQUERADE"),
        ("rule", "iptables -t nat -A PREROUTING -i up0 -p tcp -m tcp --dport 7000 -j DNAT --to-destination "
                 "172.18.0.20:7000"),
        ("namespace", "lone"), ("namespace", "empty"), ("namespace", "out")])
    assert listed[("bridge", "docker0")].startswith("Docker's network")
    assert listed[("route", "netns1")].startswith("no default route in namespace netns1")


def test_the_examples_take_the_tutorial_network_over_through_ansible_playbook(sandbox):
    """The module's EXAMPLES (adopt in place) and the role's argument spec (veth and interface) through
    ansible-playbook: the tutorial network becomes the role's, the same picture and packets."""
    from test_playbook import playbook
    sh("bash", "-ec", TUTORIAL_SCRIPT)
    before = picture()
    stats, tasks = playbook(book="info.yml")
    assert stats["failures"] == 0
    assert tasks["Gather, with adopt where something is not ours"]["container_networks"] == [
        dict(GATHERED[0], adopt=True)]
    assert tasks["Gather, with adopt where something is not ours"]["changed"] is False
    assert picture() == before, changes(before, picture())
    packets()
