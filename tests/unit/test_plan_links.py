"""The bridge and veth planners on recorded states: exact command lists, no kernel."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _links
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError

from fakes import FakeNetlink, link, state

LO = link(1, "lo", kind="loopback")
NSLO = link(1, "lo", kind="loopback", alias="netplumb")    # the lo of a namespace of ours


def bridge(spec):
    return _links.validate_bridge(dict(dict(state="present", stp=False, adopt=False), **spec))


def br(index=2, name="br0", **kw):
    kw.setdefault("alias", "netplumb")
    kw.setdefault("stp", 0)
    return link(index, name, kind="bridge", **kw)


def with_protos(st, protos):
    st.route_protos = protos
    return st


def test_bridge_create_then_noop():
    nl = FakeNetlink({None: state(None, [LO])})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"])))
    assert p.commands == ["ip link add br0 type bridge stp_state 0", "ip link set br0 alias netplumb",
                          "ip addr add 172.18.0.1/16 dev br0", "ip link set br0 up"]
    assert p.before == {"state": "absent"} and p.after["addresses"] == ["172.18.0.1/16"]
    assert p.after["alias"] == "netplumb"
    nl = FakeNetlink({None: state(None, [LO, br()], {2: ["172.18.0.1/16"]})})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"])))
    assert p.commands == [] and not p.changed and p.before == p.after


def test_bridge_converges_exact_addresses_mtu_stp():
    nl = FakeNetlink({None: state(None, [LO, br(up=False)],
                                  {2: ["172.18.0.1/16", "10.9.0.1/24"]})})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", addresses=["172.18.0.1/16"], mtu=9000, stp=True)))
    assert p.commands == ["ip link set br0 type bridge stp_state 1", "ip link set br0 mtu 9000",
                          "ip addr del 10.9.0.1/24 dev br0", "ip link set br0 up"]


def test_bridge_absent_refuses_foreign_ports():
    links = [LO, br(), link(3, "eth1", kind=None, master=2), link(4, "vh1", master=2, alias="netplumb"),
             link(5, "vh2", master=2, alias="netplumb2")]
    nl = FakeNetlink({None: state(None, links)})
    for adopt in (False, True):
        with pytest.raises(StateError) as err:
            _links.plan_bridge(nl, bridge(dict(name="br0", state="absent", adopt=adopt)))
        msg = str(err.value)
        assert "name=br0" in msg and "eth1, vh2" in msg and "vh1" not in msg and "adopt=true does not" in msg
    with pytest.raises(ValidationError):
        bridge(dict(name="br0", adopt="yes"))
    # only ports of ours: the kernel detaches them
    nl = FakeNetlink({None: state(None, [LO, br(), link(4, "vh1", master=2, alias="netplumb")])})
    assert _links.plan_bridge(nl, bridge(dict(name="br0", state="absent"))).commands == ["ip link del br0"]


@pytest.mark.parametrize("alias", [None, "netplumb2", "Netplumb"])
@pytest.mark.parametrize("st", ["present", "absent"])
def test_bridge_not_ours_is_refused_until_adopted(alias, st):
    nl = FakeNetlink({None: state(None, [LO, br(name="docker0", alias=alias, up=True)], {2: ["172.17.0.1/16"]})})
    with pytest.raises(NotOursError) as err:
        _links.plan_bridge(nl, bridge(dict(name="docker0", state=st, addresses=["172.17.0.1/16"])))
    assert err.value.field == "name" and err.value.kind == "bridge" and "adopt=true" in str(err.value)
    p = _links.plan_bridge(nl, bridge(dict(name="docker0", state=st, addresses=["172.17.0.1/16"], adopt=True)))
    if st == "present":
        assert p.commands == ["ip link set docker0 alias netplumb"]
        assert p.before["alias"] == alias and p.after["alias"] == "netplumb"
    else:
        assert p.commands == ["ip link del docker0"]


def test_bridge_with_a_foreign_port_is_never_changed():
    """br-up carries the uplink eth0 and the host's address: ours or not, adopt or not, any change is refused."""
    for alias in ("netplumb", None):
        links = [LO, br(name="br-up", alias=alias, up=True), link(3, "eth0", master=2, peer_netnsid=7)]
        nl = FakeNetlink({None: state(None, links, {2: ["192.0.2.10/24"]})})
        for adopt in (False, True):
            for spec in (dict(addresses=["172.30.0.1/16"]), dict(mtu=1400), dict(stp=True), dict(state="absent"),
                         dict()):
                if alias is not None and spec == {}:
                    continue
                with pytest.raises(StateError) as err:
                    _links.plan_bridge(nl, bridge(dict(name="br-up", adopt=adopt, **spec)))
                assert "eth0" in str(err.value) and "name=br-up" in str(err.value), spec
        if alias is not None:   # ours, nothing to change: no error
            p = _links.plan_bridge(nl, bridge(dict(name="br-up", addresses=["192.0.2.10/24"])))
            assert p.commands == []


def pairs(*items):
    return _links.validate_pairs([dict(x) for x in items], "pairs")


PAIR = dict(name="veth0", peer="ceth0", peer_netns="netns0", bridge="br0", peer_addresses=["172.18.0.10/16"],
            peer_gateway="172.18.0.1")


def test_veth_create_in_check_mode_on_fresh_host_warns():
    nl = FakeNetlink({None: state(None, [LO])})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=True)
    assert p.commands == [
        "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0",
        "ip link set veth0 type bridge_slave hairpin on", "ip link set veth0 alias netplumb",
        "ip -n netns0 addr add 172.18.0.10/16 dev ceth0",
        "ip -n netns0 link set ceth0 up", "ip -n netns0 route replace default via 172.18.0.1 proto 151"]
    assert len(p.warnings) == 2
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert "bridge=br0" in str(err.value)


def converged():
    veth0 = link(3, "veth0", master=2, alias="netplumb", peer_index=2, peer_netnsid=0)
    host = state(None, [LO, br(), veth0])
    ns0 = with_protos(state("netns0", [NSLO, link(2, "ceth0", peer_index=3, peer_netnsid=0)], {2: ["172.18.0.10/16"]},
                            {4: "172.18.0.1"}), {4: 151})
    return host, ns0


def test_veth_noop_reads_each_namespace_once():
    host, ns0 = converged()
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == [] and p.before == p.after
    assert sorted(nl.reads, key=str) == [None, "netns0"]


def test_veth_moves_peer_and_fixes_route():
    veth0 = link(3, "veth0", master=2, alias="netplumb", peer_index=4, peer_netnsid=1)
    host = state(None, [LO, br(), veth0])
    other = state("other", [NSLO, link(4, "ceth0", peer_index=3, peer_netnsid=0)], {4: ["172.18.0.10/16"]})
    ns0 = state("netns0", [NSLO], {}, {4: "172.18.9.9"})
    nl = FakeNetlink({None: host, "netns0": ns0, "other": other}, nsids={"netns0": 0, "other": 1})
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert p.commands == ["ip -n other link set ceth0 netns netns0", "ip -n netns0 addr add 172.18.0.10/16 dev ceth0",
                          "ip -n netns0 link set ceth0 up", "ip -n netns0 route replace default via 172.18.0.1 proto 151"]
    assert p.before["veth0"]["peer_netns"] == "other" and p.after["veth0"]["peer_netns"] == "netns0"


def test_veth_refuses_foreign_kinds_and_taken_peer_names():
    host = state(None, [LO, br(), link(3, "veth0", kind="macvlan")])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [NSLO])})
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=False)
    assert "macvlan" in str(err.value)
    host = state(None, [LO, br()])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [NSLO, link(2, "ceth0", kind="bridge")])})
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
    host.links["br1"] = host.by_index[9] = br(9, "br1")
    p = _links.plan_pairs(nl, pairs(dict(PAIR, bridge="br1")), check_mode=False)
    assert p.commands == ["ip link set veth0 master br1", "ip link set veth0 type bridge_slave hairpin on"]


def test_veth_absent():
    host, ns0 = converged()
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=False)
    assert p.commands == ["ip link del veth0"] and p.after == {"veth0": {"state": "absent"}}
    # host end gone, orphan-named peer still in the namespace (made by hand): deleted there
    nl = FakeNetlink({None: state(None, [LO]), "netns0": state("netns0", [NSLO, link(2, "ceth0")])})
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=False)
    assert p.commands == ["ip -n netns0 link del ceth0"]
    # ... but never in a namespace that is not ours, unless adopted
    nl = FakeNetlink({None: state(None, [LO]), "netns0": state("netns0", [LO, link(2, "ceth0")])})
    with pytest.raises(NotOursError) as err:
        _links.plan_pairs(nl, pairs(dict(PAIR, state="absent")), check_mode=True)
    assert err.value.field == "pairs[0].peer_netns" and err.value.kind == "network namespace"
    p = _links.plan_pairs(nl, pairs(dict(PAIR, state="absent", adopt=True)), check_mode=False)
    assert p.commands == ["ip -n netns0 link set lo alias netplumb", "ip -n netns0 link del ceth0"]
    # a veth named like the peer in this namespace, whose twin is something else: not ours
    nl = FakeNetlink({None: state(None, [LO, link(2, "ceth0", peer_index=3, peer_netnsid=5)])})
    with pytest.raises(NotOursError) as err:
        _links.plan_pairs(nl, pairs(dict(name="veth0", peer="ceth0", state="absent")), check_mode=False)
    assert err.value.field == "pairs[0].peer" and err.value.name == "ceth0"


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
    host = state(None, [LO, br(), br(9, "br1"),
                        link(3, "veth0", master=2, alias="netplumb", peer_index=2, peer_netnsid=0),
                        link(5, "vh-old", master=2, alias="netplumb", peer_index=2, peer_netnsid=1),
                        link(6, "vh-foreign", master=2, peer_index=2, peer_netnsid=1),
                        link(7, "vh-br1", master=9, alias="netplumb", peer_index=3, peer_netnsid=1),
                        link(8, "vh-hp", master=2, alias="netplumb", peer_index=10),
                        link(10, "hp", peer_index=8),
                        link(11, "vh-loose", alias="netplumb", peer_index=12), link(12, "loose", peer_index=11)])
    ns0 = with_protos(state("netns0", [NSLO, link(2, "ceth0", peer_index=3, peer_netnsid=0)], {2: ["172.18.0.10/16"]},
                            {4: "172.18.0.1"}), {4: 151})
    old = state("old", [NSLO, link(2, "eth0", peer_index=5, peer_netnsid=0), link(3, "eth1", peer_index=7)])
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
    # a new port on br0 while the foreign vh-foreign is one of its ports: refused, naming it
    with pytest.raises(StateError) as err:
        _links.plan_pairs(nl, pairs(PAIR, new), check_mode=False, prune=True)
    assert "pairs[1].bridge=br0" in str(err.value) and "vh-foreign" in str(err.value)
    host = nl.states[None]
    del host.by_index[host.links.pop("vh-foreign").index]
    with pytest.raises(StateError):
        _links.plan_pairs(nl, pairs(PAIR, new), check_mode=False)
    p = _links.plan_pairs(nl, pairs(PAIR, new), check_mode=False, prune=True)
    assert p.commands[:3] == ["ip link del vh-hp", "ip link del vh-old",
                              "ip link add vh-new master br0 up type veth peer name eth0 netns old"]


def test_veth_prune_extra_bridges_with_an_empty_batch():
    p = _links.plan_pairs(pruning_host(), pairs(), check_mode=False, prune=True, prune_bridges=["br1"])
    assert p.commands == ["ip link del vh-br1"] and p.extra["pruned"] == [dict(name="vh-br1", peer_netns="old")]


def test_batch_takes_top_level_defaults():
    from ansible_collections.netplumb.container.plugins.modules import veth_pair
    params = dict((k, None) for k in veth_pair.PAIR_OPTIONS)
    params.update(state="absent", hairpin=False, bridge="br9", pairs=[
        dict(name="a", peer="b"), dict(name="c", peer="d", bridge="br1", state="present", hairpin=True)])
    items, field, prune_bridges = _links.veth_batch(params)
    assert field == "pairs" and prune_bridges == []
    params.update(adopt=False, isolated=True, prune=True)
    params["pairs"][1]["adopt"] = True
    items, field, prune_bridges = _links.veth_batch(params)
    assert items[0] == dict(name="a", peer="b", state="absent", hairpin=False, bridge="br9", adopt=False, isolated=True)
    assert items[1] == dict(name="c", peer="d", bridge="br1", state="present", hairpin=True, adopt=True, isolated=True)
    assert prune_bridges == ["br9"]
    one, field, dummy = _links.veth_batch(dict(params, pairs=None, name="x", peer="y"))
    want = dict((k, params.get(k)) for k in veth_pair.PAIR_OPTIONS)
    want.update(name="x", peer="y", state="absent")
    assert field == "" and one == [want]


# --- ownership ------------------------------------------------------------------------------------------
def uplink_host(alias=None):
    """eth0: a veth whose peer is in a namespace without a name (nsid 7 maps to no /run/netns entry)."""
    host = state(None, [LO, br(), link(3, "eth0", alias=alias, peer_index=2, peer_netnsid=7)], {3: ["192.0.2.10/24"]})
    return FakeNetlink({None: host, "netns0": state("netns0", [NSLO])}, nsids={"netns0": 0})


@pytest.mark.parametrize("alias", [None, "netplumb2", "Netplumb", "netplumb "])
@pytest.mark.parametrize("st", ["present", "absent"])
@pytest.mark.parametrize("check", [True, False])
def test_veth_not_ours_is_refused(alias, st, check):
    item = dict(name="eth0", peer="ceth9", peer_netns="netns0", state=st)
    with pytest.raises(NotOursError) as err:
        _links.plan_pairs(uplink_host(alias), pairs(item), check_mode=check)
    msg = str(err.value)
    assert err.value.field == "pairs[0].name" and err.value.kind == "veth" and err.value.name == "eth0"
    assert "no name under /run/netns" in msg and "adopt=true" in msg
    with pytest.raises(NotOursError) as err:
        _links.plan_pairs(uplink_host(alias), _links.validate_pairs([dict(item)], ""), check_mode=check, field="")
    assert str(err.value).startswith("name=eth0: veth eth0")


def test_veth_ours_with_peer_in_unnamed_namespace_is_recreated_with_a_warning():
    p = _links.plan_pairs(uplink_host("netplumb"), pairs(dict(name="eth0", peer="ceth9", peer_netns="netns0")),
                          check_mode=False)
    assert p.commands[:2] == ["ip link del eth0", "ip link add eth0 up type veth peer name ceth9 netns netns0"]
    assert "no name" in p.warnings[0]


def test_veth_adopt_sets_the_mark_then_converges():
    host = state(None, [LO, br(), link(3, "veth0", master=2, peer_index=2, peer_netnsid=0)])
    ns0 = with_protos(state("netns0", [LO, link(2, "ceth0", peer_index=3, peer_netnsid=0)], {2: ["172.18.0.10/16"]},
                            {4: "172.18.0.1"}), {4: 4})
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    with pytest.raises(NotOursError) as err:
        _links.plan_pairs(nl, pairs(PAIR), check_mode=True)
    assert "pairs[0].name=veth0" in str(err.value) and "its peer is ceth0 in namespace netns0" in str(err.value)
    p = _links.plan_pairs(nl, pairs(dict(PAIR, adopt=True)), check_mode=True)
    # the namespace first, then the link; the route via the right gateway gets our protocol once
    assert p.commands == ["ip -n netns0 link set lo alias netplumb", "ip link set veth0 alias netplumb",
                          "ip -n netns0 route replace default via 172.18.0.1 proto 151"]
    assert p.before["veth0"]["alias"] is None and p.after["veth0"]["alias"] == "netplumb"
    p = _links.plan_pairs(nl, pairs(dict(PAIR, adopt=True), dict(name="veth1", peer="ceth1", peer_netns="netns0",
                                                                 adopt=True)), check_mode=True)
    assert p.commands.count("ip -n netns0 link set lo alias netplumb") == 1


def test_veth_into_a_namespace_not_ours_is_refused():
    host = state(None, [LO, br()])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [link(1, "lo", kind="loopback", alias="netplumb2")])})
    for check in (True, False):
        with pytest.raises(NotOursError) as err:
            _links.plan_pairs(nl, pairs(PAIR), check_mode=check)
        assert err.value.field == "pairs[0].peer_netns" and err.value.name == "netns0"
    # a namespace missing in check mode comes from an earlier netns task: no refusal
    p = _links.plan_pairs(FakeNetlink({None: host}), pairs(PAIR), check_mode=True)
    assert p.commands[0].startswith("ip link add veth0")


def test_route_proto_is_our_mark():
    host, ns0 = converged()
    nl = FakeNetlink({None: host, "netns0": ns0}, nsids={"netns0": 0})
    assert _links.plan_pairs(nl, pairs(PAIR), check_mode=False).commands == []
    ns0.route_protos = {4: 3}     # boot: same gateway, set by someone else
    assert _links.plan_pairs(nl, pairs(PAIR), check_mode=False).commands == [
        "ip -n netns0 route replace default via 172.18.0.1 proto 151"]


def test_new_port_only_on_a_bridge_of_ours_without_foreign_ports():
    ns0 = state("netns0", [NSLO])
    for host, needle in ((state(None, [LO, br(alias=None)]), "not netplumb's"),
                         (state(None, [LO, br(alias="netplumb2")]), "not netplumb's"),
                         (state(None, [LO, br(), link(5, "eth0", master=2)]), "eth0")):
        nl = FakeNetlink({None: host, "netns0": ns0})
        with pytest.raises(StateError) as err:
            _links.plan_pairs(nl, pairs(PAIR), check_mode=True)
        assert "pairs[0].bridge=br0" in str(err.value) and needle in str(err.value)
        assert "adopt" in str(err.value)
    # a port the same batch adopts is ours by the time the new one joins
    host = state(None, [LO, br(), link(5, "vold", master=2, peer_index=2, peer_netnsid=0)])
    nl = FakeNetlink({None: host, "netns0": state("netns0", [NSLO, link(2, "cold", peer_index=5, peer_netnsid=0)])},
                     nsids={"netns0": 0})
    p = _links.plan_pairs(nl, pairs(PAIR, dict(name="vold", peer="cold", peer_netns="netns0", adopt=True)),
                          check_mode=True)
    assert "ip link add veth0 master br0 up type veth peer name ceth0 netns netns0" in p.commands
    assert "ip link set vold alias netplumb" in p.commands


def test_prune_never_touches_look_alikes():
    looks = [link(3 + i, "vh%d" % i, master=2, alias=a, peer_index=9)
             for i, a in enumerate(["netplumb2", "Netplumb", "netplumb ", None])]
    host = state(None, [LO, br()] + looks)
    p = _links.plan_pairs(FakeNetlink({None: host}), pairs(), check_mode=False, prune=True, prune_bridges=["br0"])
    assert p.commands == [] and p.extra["pruned"] == []


def test_bridge_absent_for_a_whole_network_keeps_a_bridge_with_a_foreign_port():
    """container_network's absent (keep_foreign): a foreign port keeps the bridge, with a warning naming it;
    the standalone module says which of our ports stay detached."""
    links = [LO, br(), link(3, "eth1", kind=None, master=2), link(4, "vh1", master=2, alias="netplumb")]
    nl = FakeNetlink({None: state(None, links, {2: ["172.18.0.1/24"]})})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", state="absent")), keep_foreign=True)
    assert p.commands == [] and p.kept and p.before == p.after and p.after["addresses"] == ["172.18.0.1/24"]
    assert len(p.warnings) == 1 and "bridge br0 is kept" in p.warnings[0] and "eth1" in p.warnings[0]
    nl = FakeNetlink({None: state(None, [LO, br(), link(4, "vh1", master=2, alias="netplumb")])})
    p = _links.plan_bridge(nl, bridge(dict(name="br0", state="absent")))
    assert p.commands == ["ip link del br0"] and "vh1" in p.warnings[0] and "state=absent" in p.warnings[0]
    p = _links.plan_bridge(nl, bridge(dict(name="br0", state="absent")), keep_foreign=True)
    assert p.commands == ["ip link del br0"] and p.warnings == [] and not getattr(p, "kept", False)


def test_prune_leaves_a_namespace_without_our_mark_with_a_warning():
    nl = pruning_host()
    old = nl.states["old"]
    old.links["lo"] = old.by_index[1] = link(1, "lo", kind="loopback")     # someone took the mark away
    p = _links.plan_pairs(nl, pairs(PAIR), check_mode=False, prune=True)
    assert p.commands == ["ip link del vh-hp", "ip link del vh-old"] and p.foreign_ns == ["old"]
    assert any("namespace old" in w and "not netplumb's" in w for w in p.warnings)
    from ansible_collections.netplumb.container.plugins.module_utils import _engine, _steps
    step = _steps.VethStep(dict(pairs=[], prune=True), label="networks[0] (web)")
    assert step.follow(_engine.RunContext(nl, False), p) == []


def orphan_host(proto=151, address="172.18.0.10/24", gateway="172.18.0.1"):
    """Our vh-gone on no bridge (its bridge deleted by an older netplumb), peer eth0 in our namespace c0."""
    host = state(None, [LO, link(3, "vh-gone", alias="netplumb", peer_index=2, peer_netnsid=0),
                        link(4, "vh-hand", alias="netplumb", peer_index=5), link(5, "hand", peer_index=4)])
    c0 = with_protos(state("c0", [NSLO, link(2, "eth0", peer_index=3, peer_netnsid=0)], {2: [address]},
                           {4: gateway}), {4: proto})
    return FakeNetlink({None: host, "c0": c0}, nsids={"c0": 0})


@pytest.mark.parametrize("kw, found", [({}, True), (dict(proto=4), False), (dict(address="172.19.0.10/24"), False),
                                       (dict(gateway="172.19.0.1"), False)])
def test_absent_network_finds_our_detached_veths_by_subnet_and_our_route(kw, found):
    import ipaddress
    net = ipaddress.ip_network(u"172.18.0.0/24")
    p = _links.plan_pairs(orphan_host(**kw), pairs(), check_mode=True, prune=True, prune_bridges=["br-web"],
                          orphans=net)
    assert p.commands == (["ip link del vh-gone"] if found else [])
    assert p.extra["pruned"] == ([dict(name="vh-gone", peer_netns="c0")] if found else [])
    # without orphans (veth_pair's own prune) a veth on no bridge is never pruned
    p = _links.plan_pairs(orphan_host(**kw), pairs(), check_mode=True, prune=True, prune_bridges=["br-web"])
    assert p.commands == []
