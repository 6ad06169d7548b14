"""The converge's messages in its user's terms (plugins/module_utils/_converge.py): hints that name the entry's
own option, warnings that repeat every run given only on change, and check mode's assumptions in one line."""
from ansible_collections.netplumb.container.plugins.module_utils import _converge
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError


class Plan(object):
    def __init__(self, changed, *warnings):
        self.changed = changed
        self.warnings = list(warnings)


HAIRPIN = ("icc=false on bridge br-iso: its ports are isolated, and br_netfilter processes it (net.bridge..., or "
           "the bridge attribute nf_call_iptables is 1), so ...")
FIREWALL = "another firewall drops our traffic: table filter chain FORWARD ..."


def test_an_adopt_hint_names_the_entry_option():
    exc = NotOursError("name", "br-web", "bridge")
    line = _converge.in_user_terms("container_networks[1] (web) (linux_bridge): %s" % exc)
    assert "run once with container_networks[1].adopt: true" in line and "adopt=true" not in line, line
    line = _converge.in_user_terms("networks[0] (web) (veth_pair): pairs[0].bridge=br-web: a new port would "
                                   "change it; take it over on purpose with netplumb.container.linux_bridge and "
                                   "adopt=true (see docs/safety.md)")
    assert line.endswith("take it over on purpose with networks[0].adopt: true (see docs/safety.md)"), line
    # statements about adopt name the option too; lines of no entry are left as they are
    assert "(container_networks[2].adopt: true does not override this)" in _converge.in_user_terms(
        "container_networks[2] (db) (linux_bridge): x (adopt=true does not override this)")
    assert _converge.in_user_terms("calls[0] (netns): run once with adopt=true") == \
        "calls[0] (netns): run once with adopt=true"


def test_the_hairpin_note_only_with_a_change_other_warnings_every_run():
    steps = [("container_networks[0] (iso)", "container_nat", Plan(False, HAIRPIN, FIREWALL))]
    assert _converge.step_warnings(steps, (set(), set())) == ["container_networks[0] (iso) (container_nat): "
                                                              + FIREWALL]
    steps = [("container_networks[0] (iso)", "container_nat", Plan(True, HAIRPIN, FIREWALL))]
    assert len(_converge.step_warnings(steps, (set(), set()))) == 2


def test_check_mode_assumptions_in_one_line():
    made = (set(["br-a", "br-b"]), set(["c1", "c2", "c3"]))
    steps = [("networks[0] (a)", "veth_pair", Plan(True, *(
        ["bridge br-a does not exist; assuming an earlier task creates it (check mode)"] +
        ["network namespace c%d does not exist; assuming an earlier task creates it (check mode)" % i
         for i in (1, 2)]))),
        ("networks[0] (a)", "container_nat", Plan(True, "bridge br-a does not exist (yet): rules predicted for it; "
                                                        "the real run may differ")),
        ("networks[1] (b)", "veth_pair", Plan(True, "bridge br-b does not exist; assuming an earlier task creates "
                                                    "it (check mode)",
                                              "network namespace c3 does not exist; assuming an earlier task "
                                              "creates it (check mode)",
                                              "network namespace elsewhere does not exist; assuming an earlier "
                                              "task creates it (check mode)"))]
    out = _converge.step_warnings(steps, made)
    assert out[0] == "check mode: 2 bridges, 3 namespaces assumed created by earlier steps of this run"
    # an object no step of the run creates is still named on its own
    assert out[1:] == ["networks[1] (b) (veth_pair): network namespace elsewhere does not exist; assuming an "
                       "earlier task creates it (check mode)"]
    one = [("n[0] (a)", "veth_pair", Plan(True, "bridge br-a does not exist; assuming an earlier task creates it"))]
    assert _converge.step_warnings(one, made) == ["check mode: 1 bridge assumed created by earlier steps of this run"]


def test_a_refused_converge_names_the_entry_option_in_each_refusal():
    import pytest
    from fakes import FakeNetlink, link, state
    nl = FakeNetlink({None: state(None, [link(1, "lo", kind=None), link(2, "eth0"),
                                         link(7, "br-web", kind="bridge")], {2: ["192.0.2.10/24"]})})
    calls = [dict(module="linux_bridge", label="container_networks[1] (web)", args=dict(name="br-web"))]
    with pytest.raises(_converge.RefusedError) as info:
        _converge.converge(nl, calls, False)
    assert "container_networks[1].adopt: true" in info.value.errors[0] and "adopt=true" not in str(info.value)
