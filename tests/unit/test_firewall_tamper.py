"""Tamper detection of the nftables driver with the comment kept (issue 15): a rule of our table whose comment
(``owner #rank:digest``) is intact but whose body was edited is found on read-back (its JSON printed back in the
renderer's syntax is not the text the digest names), replaced by the next run (check mode reports it the same)
and not read back into an intent (container_network_info lists it unread).

fixtures/nft-1.0.6-rules.json: ``nft -j list table inet netplumb`` (nft 1.0.6, Debian 12) of the rules INTENTS
render, keyed by "chain comment"; regenerate it in a scratch namespace (nft -f the rendering, nft -j list) when the
renderer changes. The real nft runs in tests/hostile/test_nft_firewall.py ("altered-body").
"""
import copy
import json
import os

import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _nftables
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import (
    Exemption, InputAllowance, NetworkIntent, PortForward, SwarmAllowance)
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan

from test_nftables import FakeNft

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "nft-1.0.6-rules.json")
NET0 = NetworkIntent("br0", "172.18.0.0/16", accept_fwmark=(2, 3))
INTENTS = [NET0, NetworkIntent("br1", "172.19.0.0/24", False, False, False, (0x100, None)),
           PortForward("br0", "tcp", None, (8080, 8080), "172.18.0.10", (80, 80)),
           PortForward("br0", "udp", "127.0.0.1", (5353, 5353), "172.18.0.11", (53, 53)),
           PortForward("br0", "tcp", "192.0.2.1", (8000, 8002), "172.18.0.10", (9000, 9002)),
           PortForward("br0", "tcp", "192.0.2.1", (7000, 7001), "172.18.0.10", (7000, 7001)),
           SwarmAllowance(["192.0.2.0/24"], manager=True),
           InputAllowance("netplumb:vxlan", "udp", 4789, ["192.0.2.5"]),
           Exemption("br0", "172.18.0.0/16", "10.0.0.0/8", "eth0")]


def real_json():
    with open(FIXTURE) as f:
        return json.load(f)


def rules_of(intents, edit=None):
    """(chain, comment, expr) as nft 1.0.6 prints them, ``edit(chain, comment, expr)`` applied."""
    exprs = real_json()
    out = []
    for r in _nftables.render(intents):
        expr = copy.deepcopy(exprs["%s %s" % (r.chain, r.comment)])
        if edit is not None:
            expr = edit(r.chain, r.comment, expr)
        out.append((r.chain, r.comment, expr))
    return out


def driver(rules):
    return _nftables.NftablesDriver(_nftables.NftTool(runner=FakeNft(rules)))


def test_every_rule_as_nft_prints_it_reads_back_as_the_text_its_digest_names():
    exprs = real_json()
    rendered = _nftables.render(INTENTS)
    assert len(exprs) == len(rendered)
    for r in rendered:
        assert _nftables.print_expr(exprs["%s %s" % (r.chain, r.comment)]) == r.text_, r


def test_untouched_table_plans_nothing():
    d = driver(rules_of(INTENTS))
    st = d.read()
    p = Plan()
    d.plan(p, st, lambda o: True, INTENTS)
    assert p.commands == [] and not p.warnings
    assert d.changed_owners(st, lambda o: True, INTENTS) == set()
    intents, unread = st.intents()
    assert NET0 in intents and not unread


def accept_to_drop(chain, comment, expr):
    if chain == "forward" and comment.startswith("netplumb:br0:tcp/8080 "):
        return [e if "accept" not in e else {"drop": None} for e in expr]
    return expr


def other_address(chain, comment, expr):
    if chain == "prerouting-nat" and comment.startswith("netplumb:br0:tcp/8080 "):
        expr[-1]["dnat"]["addr"] = "172.18.0.66"     # the DNAT now goes elsewhere, the forward accept unchanged
    return expr


def other_mark(chain, comment, expr):
    if chain == "forward-mark" and comment.startswith("netplumb:br0 "):
        expr[-1]["mangle"]["value"] = 7
    return expr


def no_early_drop(chain, comment, expr):
    if chain == "prerouting-raw" and comment.startswith("netplumb:br0 #2:"):
        return [e if "drop" not in e else {"accept": None} for e in expr]
    return expr


@pytest.mark.parametrize("edit,owner,chain", [
    (accept_to_drop, "netplumb:br0:tcp/8080", "forward"),
    (other_address, "netplumb:br0:tcp/8080", "prerouting-nat"),
    (other_mark, "netplumb:br0", "forward-mark"),
    (no_early_drop, "netplumb:br0", "prerouting-raw"),
], ids=["accept-to-drop", "dnat-elsewhere", "other-mark", "early-drop-accepts"])
def test_a_body_edited_with_its_comment_kept_is_found_replaced_and_not_read_back(edit, owner, chain):
    rules = rules_of(INTENTS, edit)
    [(handle, comment)] = [(h, c) for h, (ch, c, e) in enumerate(rules, start=10)
                           if ch == chain and c.startswith(owner + " #")
                           and e != rules_of(INTENTS)[h - 10][2]]
    d = driver(rules)
    st = d.read()
    assert d.changed_owners(st, lambda o: True, INTENTS) == {owner}
    p = Plan()
    d.plan(p, st, lambda o: True, INTENTS)
    [wanted] = [r for r in _nftables.render(INTENTS) if r.comment == comment]
    assert p.commands[0] == "nft delete rule inet netplumb %s handle %d" % (chain, handle)
    assert len(p.commands) == 2 and p.commands[1].endswith(wanted.statement()), p.commands
    assert p.commands[1].startswith(("nft insert rule inet netplumb %s index " % chain,
                                     "nft add rule inet netplumb %s " % chain)), p.commands
    [warning] = p.warnings
    assert "whose body was changed" in warning and comment in warning, warning
    # check mode: the state the plan leaves plans nothing more
    again = Plan()
    d.plan(again, d.predicted(st, lambda o: True, INTENTS), lambda o: True, INTENTS)
    assert again.commands == []
    # read back: the owner is not an intent, its rules are listed unread with the reason
    intents, unread = st.intents()
    assert not [i for i in intents if getattr(i, "owner", None) == owner]
    reasons = [u.unread[1] for u in unread if u.owner_read == owner]
    assert reasons and all("by hand" in why and "next run that manages %s" % owner in why for why in reasons), reasons


def test_an_edit_of_another_owners_rule_is_left_to_its_owner():
    rules = rules_of(INTENTS, accept_to_drop)
    d = driver(rules)
    st = d.read()
    p = Plan()
    d.plan(p, st, lambda o: o == "netplumb:br0", [NET0])
    assert p.commands == [] and not p.warnings


def test_an_expression_the_printer_does_not_know_is_never_a_rewrite():
    def counter(chain, comment, expr):
        return expr + [{"counter": {"packets": 3, "bytes": 180}}] if chain == "forward" else expr
    d = driver(rules_of(INTENTS, counter))
    p = Plan()
    d.plan(p, d.read(), lambda o: True, INTENTS)
    assert p.commands == []
