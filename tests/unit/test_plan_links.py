"""The bridge and veth planners on recorded states: exact command lists, no kernel."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _links
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError

from fakes import FakeNetlink, link, state

LO = link(1, "lo", kind="loopback")


def bridge(spec):
    return _links.validate_bridge(dict(dict(state="present", stp=False, force=False), **spec))


def test_bridge_create_then_noop():
    nl = FakeNetlink({None: state(None, [LO])})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"])))
    assert p.commands == ["ip link add br0 type bridge stp_state 0", "ip addr add 172.18.0.1/16 dev br0",
                          "ip link set br0 up"]
    assert p.before == {"state": "absent"} and p.after["addresses"] == ["172.18.0.1/16"]
    nl = FakeNetlink({None: state(None, [LO, link(2, "br0", kind="bridge", stp=0)], {2: ["172.18.0.1/16"]})})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"])))
    assert p.commands == [] and not p.changed and p.before == p.after


def test_bridge_converges_exact_addresses_mtu_stp():
    nl = FakeNetlink({None: state(None, [LO, link(2, "br0", kind="bridge", stp=0, up=False)],
                                  {2: ["172.18.0.1/16", "10.9.0.1/24"]})})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"], mtu=9000, stp=True)))
    assert p.commands == ["ip link set br0 type bridge stp_state 1", "ip link set br0 mtu 9000",
                          "ip addr del 10.9.0.1/24 dev br0", "ip link set br0 up"]


def test_bridge_absent_refuses_foreign_ports():
    links = [LO, link(2, "br0", kind="bridge"), link(3, "eth1", kind=None, master=2),
             link(4, "vh1", master=2, alias="netplumb")]
    nl = FakeNetlink({None: state(None, links)})
    with pytest.raises(StateError) as err:
        _links.plan_bridge(nl, bridge(dict(name="br0", state="absent")))
    assert "eth1" in str(err.value) and "vh1" not in str(err.value)
    p = _links.plan_bridge(nl, bridge(dict(name="br0", state="absent", force=True)))
    assert p.commands == ["ip link del br0"]


def pairs(*items):
    return _links.validate_pairs([dict(x) for x in items], "pairs")


PAIR = dict(name="veth0", peer="ceth0", peer_netns="netns0", bridge="br0", peer_addresses=["172.18.0.10/16"],
            peer_gateway="172.18.0.1")


def test_veth_create_in_check_mode_on_fresh_host_warns():
    nl = FakeNetlink({None: state(None, [LO])})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=True)
    assert p.commands == [
        "ip link add veth0 type veth peer name ceth0 netns netns0", "ip link set veth0 master br0",
        "ip link set veth0 type bridge_slave hairpin on", "ip link set veth0 alias netplumb", "ip link set veth0 up",
        "ip -n netns0 addr add 172.18.0.10/16 dev ceth0",
        "ip -n netns0 link set ceth0 up", "ip -n netns0 route replace default via 172.18.0.1"]
    assert len(p.warnings) == 2
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert "bridge=br0" in str(err.value)


def converged():
    veth0 = link(3, "veth0", master=2, alias="netplumb", peer_index=2, peer_netnsid=0)
    host = state(None, [LO, link(2, "br0", kind="bridge"), veth0])
    ns0 = state("netns0", [LO, link(2, "ceth0", peer_index=3, peer_netnsid=0)], {2: ["172.18.0.10/16"]},
                {4: "172.18.0.1"})
    return host, ns0


def test_veth_noop_reads_each_namespace_once():
    host, ns0 = converged()
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == [] and p.before == p.after
    assert sorted(nl.reads, key=str) == [None, "netns0"]


def test_veth_moves_peer_and_fixes_route():
    veth0 = link(3, "veth0", master=2, alias="netplumb", peer_index=4, peer_netnsid=1)
    host = state(None, [LO, link(2, "br0", kind="bridge"), veth0])
    other = state("other", [LO, link(4, "ceth0", peer_index=3, peer_netnsid=0)], {4: ["172.18.0.10/16"]})
    ns0 = state("netns0", [LO], {}, {4: "172.18.9.9"})
    nl = FakeNetlink({None: host, "netns0": ns0, "other": other}, nsids={"netns0": 0, "other": 1})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == ["ip -n other link set ceth0 netns netns0", "ip -n netns0 addr add 172.18.0.10/16 dev ceth0",
                          "ip -n netns0 link set ceth0 up", "ip -n netns0 route replace default via 172.18.0.1"]
    assert p.before["veth0"]["peer_netns"] == "other" and p.after["veth0"]["peer_netns"] == "netns0"


def test_veth_refuses_foreign_kinds_and_taken_peer_names():
    host = state(None, [LO, link(2, "br0", kind="bridge"), link(3, "veth0", kind="macvlan")])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [LO])})
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert "macvlan" in str(err.value)
    host = state(None, [LO, link(2, "br0", kind="bridge")])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [LO, link(2, "ceth0", kind="bridge")])})
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert "peer=ceth0" in str(err.value)


def test_veth_hairpin_follows_the_port():
    host, ns0 = converged()
    host.by_index[3].hairpin = False
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == ["ip link set veth0 type bridge_slave hairpin on"]
    p = _links.plan_pairs(nl, pairs(dict(PAIR, hairpin=False)), check_mode=False)
    assert p.commands == []
    # moved to another bridge: the new port starts with hairpin off
    host.links["br1"] = host.by_index[9] = link(9, "br1", kind="bridge", stp=0)
    p = _links.plan_pairs(nl, pairs(dict(PAIR, bridge="br1")), check_mode=False)
    assert p.commands == ["ip link set veth0 master br1", "ip link set veth0 type bridge_slave hairpin on"]


def test_veth_absent():
    host, ns0 = converged()
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=False)
    assert p.commands == ["ip link del veth0"] and p.after == {"veth0": {"state": "absent"}}
    # host end gone, orphan-named peer still in the namespace (made by hand): deleted there
    nl = FakeNetlink({None: state(None, [LO]), "netns0": state("netns0", [LO, link(2, "ceth0")])})
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=False)
    assert p.commands == ["ip -n netns0 link del ceth0"]


def test_batch_validation_names_item_and_field():
    with pytest.raises(ValidationError) as err:
        pairs(PAIR, dict(PAIR, name="veth1", peer="ceth1", peer_gateway="10.0.0.1"))
    assert str(err.value).startswith("pairs[1].peer_gateway='10.0.0.1'")
    with pytest.raises(ValidationError) as err:
        pairs(PAIR, dict(PAIR, name="veth1"))
    assert "pairs.peer" in str(err.value) and "twice" in str(err.value)
    with pytest.raises(ValidationError) as err:
        pairs(dict(name="a", peer="b", peer_gateway="172.18.0.1", peer_addresses=["172.18.0.2/16"]))
    assert "needs peer_netns" in str(err.value)
    with pytest.raises(ValidationError) as err:
        pairs(dict(name="a", peer="b", colour="red"))
    assert "pairs[0].colour" in str(err.value)


def pruning_host():
    """br0 with our veth0 (kept), our vh-old (peer in namespace old), our vh-hp (peer in the host namespace),
    a foreign veth without the alias; br1 with our vh-br1; our vh-loose on no bridge."""
    host = state(None, [LO, link(2, "br0", kind="bridge"), link(9, "br1", kind="bridge"),
                        link(3, "veth0", master=2, alias="netplumb", peer_index=2, peer_netnsid=0),
                        link(5, "vh-old", master=2, alias="netplumb", peer_index=2, peer_netnsid=1),
                        link(6, "vh-foreign", master=2, peer_index=2, peer_netnsid=1),
                        link(7, "vh-br1", master=9, alias="netplumb", peer_index=3, peer_netnsid=1),
                        link(8, "vh-hp", master=2, alias="netplumb", peer_index=10),
                        link(10, "hp", peer_index=8),
                        link(11, "vh-loose", alias="netplumb", peer_index=12), link(12, "loose", peer_index=11)])
    ns0 = state("netns0", [LO, link(2, "ceth0", peer_index=3, peer_netnsid=0)], {2: ["172.18.0.10/16"]},
                {4: "172.18.0.1"})
    old = state("old", [LO, link(2, "eth0", peer_index=5, peer_netnsid=0), link(3, "eth1", peer_index=7)])
    return FakeNetlink({None: host, "netns0": ns0, "old": old}, nsids={"netns0": 0, "old": 1})


def test_veth_prune_deletes_only_our_unlisted_veths_on_the_batch_bridges():
    nl = pruning_host()
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == [] and "pruned" not in p.extra
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=True, prune=True)
    assert p.commands == ["ip link del vh-hp", "ip link del vh-old"]
    assert p.extra["pruned"] == [dict(name="vh-hp", peer_netns=None), dict(name="vh-old", peer_netns="old")]
    assert p.before["vh-old"]["state"] == "present" and p.before["vh-old"]["peer_netns"] == "old"
    assert p.before["vh-old"]["peer"] == "eth0" and p.before["vh-old"]["bridge"] == "br0"
    assert p.after["vh-old"] == {"state": "absent"} and p.after["vh-hp"] == {"state": "absent"}
    assert p.before["veth0"] == p.after["veth0"]


def test_veth_prune_scope_is_present_items_bridges():
    nl = pruning_host()
    # an absent item names no bridge to prune; an item without bridge neither
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=False, prune=True)
    assert p.commands == ["ip link del veth0"] and p.extra["pruned"] == []
    p = _links.plan_pairs(nl, pairs(dict(PAIR, bridge=None)), check_mode=False, prune=True)
    assert p.commands == [] and p.extra["pruned"] == []
    # naming br1 too prunes vh-br1; a name in the batch is never pruned, even with state=absent
    p = _links.plan_pairs(nl, pairs(PAIR, dict(name="vh-old", peer="eth0", peer_netns="old", state="absent"),
                                    dict(name="vh-new", peer="eth9", peer_netns="old", bridge="br1")),
                          check_mode=False, prune=True)
    assert [x["name"] for x in p.extra["pruned"]] == ["vh-br1", "vh-hp"]
    assert p.commands[:3] == ["ip link del vh-br1", "ip link del vh-hp", "ip link del vh-old"]
    assert p.commands.count("ip link del vh-old") == 1


def test_veth_prune_frees_the_peer_name_for_a_new_pair():
    nl = pruning_host()
    new = dict(name="vh-new", peer="eth0", peer_netns="old", bridge="br0")
    with pytest.raises(StateError):
        _links.plan_pairs(nl, pairs(PAIR, new), check_mode=False)
    p = _links.plan_pairs(nl, pairs(PAIR, new), check_mode=False, prune=True)
    assert p.commands[:3] == ["ip link del vh-hp", "ip link del vh-old",
                              "ip link add vh-new type veth peer name eth0 netns old"]


def test_veth_prune_extra_bridges_with_an_empty_batch():
    p = _links.plan_pairs(pruning_host(), pairs(), check_mode=False, prune=True, prune_bridges=["br1"])
    assert p.commands == ["ip link del vh-br1"] and p.extra["pruned"] == [dict(name="vh-br1", peer_netns="old")]


def test_batch_takes_top_level_defaults():
    from ansible_collections.netplumb.container.plugins.modules import veth_pair
    params = dict((k, None) for k in veth_pair.PAIR_OPTIONS)
    params.update(state="absent", hairpin=False, bridge="br9", pairs=[
        dict(name="a", peer="b"), dict(name="c", peer="d", bridge="br1", state="present", hairpin=True)])
    items, field = veth_pair.batch(params)
    assert field == "pairs"
    assert items[0] == dict(name="a", peer="b", state="absent", hairpin=False, bridge="br9")
    assert items[1] == dict(name="c", peer="d", bridge="br1", state="present", hairpin=True)
