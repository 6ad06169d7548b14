"""Docker 29 in nftables mode (issue 15): the option docker_accept_fwmark (Docker's bridge-accept-fwmark syntax),
the mark the nftables driver sets and reads back, and the warnings from the model of Docker's table (its
"ALLOW FW MARK" rules, its filter-FORWARD policy). Real packets: tests/hostile/test_docker_nft.py."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _hostfw, _netspec, _nftables
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    NetworkIntent, format_fwmark, parse_fwmark)


@pytest.mark.parametrize("value,want", [
    (None, None), ("", None), ("1", (1, None)), ("2/3", (2, 3)), ("0x100/0x100", (0x100, 0x100)),
    ("0xffffffff", (0xffffffff, None)), ("0/1", (0, 1)),
])
def test_parse_fwmark_takes_dockers_syntax(value, want):
    assert parse_fwmark("docker_accept_fwmark", value) == want


@pytest.mark.parametrize("value,words", [
    ("x", "MARK or MARK/MASK"), ("1/", "MARK or MARK/MASK"), ("0x100000000", "32 bits"), ("1/0x1ffffffff", "32 bits"),
    ("0", "mark 0"), ("4/3", "within a non-zero mask"), ("0/0", "within a non-zero mask"), ("-1", "32 bits"),
])
def test_parse_fwmark_names_the_field_and_the_value(value, words):
    with pytest.raises(ValidationError) as exc:
        parse_fwmark("docker_accept_fwmark", value)
    assert str(exc.value).startswith("docker_accept_fwmark=%r: " % value) and words in str(exc.value)


def test_format_fwmark():
    assert format_fwmark((2, 3)) == "0x2/0x3" and format_fwmark((256, None)) == "0x100" and format_fwmark(None) is None


def test_the_mark_is_set_at_filter_minus_one_on_the_traffic_from_the_bridge_only():
    assert _nftables.CHAIN_SPEC["forward-mark"] == ("filter", "forward", -1)
    plain = _nftables.network_rules(NetworkIntent("br0", "172.18.0.0/24"))
    marked = _nftables.network_rules(NetworkIntent("br0", "172.18.0.0/24", accept_fwmark=(2, 3)))
    [extra] = [r for r in marked if r not in plain]
    assert len(marked) == len(plain) + 1
    assert (extra.chain, extra.owner) == ("forward-mark", "netplumb:br0")
    # only the mask's bits: the form nft prints back (mark bits inside the kept part)
    assert extra.text_ == 'meta nfproto ipv4 iifname "br0" meta mark set meta mark & 0xfffffffe | 0x00000002'
    whole = _nftables.network_rules(NetworkIntent("br0", "172.18.0.0/24", accept_fwmark=(0x100, None)))
    assert whole[-1].text_ == 'meta nfproto ipv4 iifname "br0" meta mark set 0x00000100'


@pytest.mark.parametrize("fwmark", [(2, 3), (0x100, 0x100), (0x100, None), (0, 0xff00), (0xffffffff, None)])
def test_the_mark_reads_back_from_what_nft_prints(fwmark):
    mark, mask = fwmark
    if mask is None:
        value = mark
    else:
        value = {"|": [{"&": [{"meta": {"key": "mark"}}, (~mask | mark) & 0xffffffff]}, mark]}
    assert _nftables.mark_read([{"mangle": {"key": {"meta": {"key": "mark"}}, "value": value}}]) == fwmark


def test_the_iptables_driver_renders_no_mark():
    from ansible_collections.netplumb.container.plugins.module_utils import _iptables
    assert _iptables.render([NetworkIntent("br0", "172.18.0.0/24", accept_fwmark=(2, 3))]) == \
        _iptables.render([NetworkIntent("br0", "172.18.0.0/24")])


def docker_json(policy="accept", fwmark=None, networks=("docker0",)):
    """Docker 29's table ip docker-bridges as nft -j lists it (the parts the model reads)."""
    objs = [{"table": {"family": "ip", "name": "docker-bridges", "handle": 3}},
            {"chain": {"family": "ip", "table": "docker-bridges", "name": "filter-FORWARD", "handle": 1,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": policy}},
            {"rule": {"family": "ip", "table": "docker-bridges", "chain": "filter-FORWARD", "handle": 9,
                      "expr": [{"vmap": {"key": {"meta": {"key": "oifname"}}, "data": "@filter-forward-in-jumps"}}]}}]
    for n in networks:
        chain = "filter-forward-in__" + n
        objs.append({"chain": {"family": "ip", "table": "docker-bridges", "name": chain, "handle": 20}})
        exprs = [[{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
                  {"counter": None}, {"accept": None}]]
        if fwmark is not None:
            mark, mask = fwmark
            left = {"meta": {"key": "mark"}} if mask is None else {"&": [{"meta": {"key": "mark"}}, mask]}
            exprs.append([{"match": {"op": "==", "left": left, "right": mark}}, {"counter": None},
                          {"accept": None}])
        exprs.append([{"counter": None}, {"drop": None}])
        for i, e in enumerate(exprs):
            objs.append({"rule": {"family": "ip", "table": "docker-bridges", "chain": chain, "handle": 30 + i,
                                  "expr": e}})
    return {"nftables": objs}


def fw(**kw):
    return _hostfw.HostFirewalls(_hostfw.parse_nft(docker_json(**kw)))


def test_dockers_accepted_mark_is_read_from_its_allow_fw_mark_rule():
    t = _hostfw.parse_nft(docker_json(fwmark=(2, 3)))[0]
    marks = [_hostfw.docker_fwmark(r.expr) for r in t.chains["filter-forward-in__docker0"].rules]
    assert marks == [None, (2, 3), None]


def test_without_the_option_the_warning_names_dockers_hook_and_ours():
    [w] = _hostfw.docker_nft_warnings(fw(fwmark=(2, 3)), "br0")
    assert "bridge-accept-fwmark" in w and "docker_accept_fwmark" in w and "br0" in w and "0x2/0x3" in w, w
    [w] = _hostfw.docker_nft_warnings(fw(), "br0")
    assert "Docker's is not set" in w, w
    assert _hostfw.docker_nft_warnings(fw(networks=()), "br0") == []      # no Docker network: nothing dropped
    assert _hostfw.docker_nft_warnings(_hostfw.HostFirewalls([]), "br0") == []


@pytest.mark.parametrize("ours,theirs,ok", [
    ((2, 3), (2, 3), True), ((2, None), (2, 3), True), ((2, None), (2, None), True), ((0x102, None), (2, 3), True),
    ((2, 3), (2, None), False), ((2, 3), (2, 7), False), ((1, 3), (2, 3), False), ((0x100, 0x100), (0x100, 0x100), True),
])
def test_the_same_mark_is_quiet_another_is_warned(ours, theirs, ok):
    out = _hostfw.docker_nft_warnings(fw(fwmark=theirs), "br0", ours, "nftables")
    assert (out == []) is ok, out
    if not ok:
        assert '"bridge-accept-fwmark": "%s"' % format_fwmark(ours) in out[0], out


def test_the_iptables_driver_says_it_does_not_set_the_mark():
    out = _hostfw.docker_nft_warnings(fw(fwmark=(2, 3)), "br0", (2, 3), "iptables-nft")
    assert len(out) == 1 and "only the nftables driver sets the mark" in out[0], out


def test_dockers_policy_drop_names_ip_forward_no_drop_not_the_mark():
    f = fw(policy="drop", fwmark=(2, 3))
    [w] = _hostfw.network_warnings(f, "br0", "172.18.0.0/24", (2, 3), "nftables")
    assert "filter-FORWARD" in w and "policy drop" in w and '"ip-forward-no-drop": true' in w, w
    assert "nft add chain ip docker-bridges filter-FORWARD '{ policy accept; }'" in w, w
    assert "bridge-accept-fwmark does not help" in w, w


def test_networks_entry_takes_the_option_and_names_its_path():
    nets = [dict(name="web", subnet="172.18.0.0/24", docker_accept_fwmark="0x100/0x100", containers=[])]
    parsed = _netspec.parse(nets)
    assert not parsed["errors"], parsed["errors"]
    [nat] = [c for c in parsed["calls"] if c["module"] == "container_nat"]
    assert nat["args"]["docker_accept_fwmark"] == "0x100/0x100"
    parsed = _netspec.parse([dict(nets[0], docker_accept_fwmark="4/3")])
    assert [e for e in parsed["errors"] if e.startswith("container_networks[0].docker_accept_fwmark='4/3': ")], parsed["errors"]
