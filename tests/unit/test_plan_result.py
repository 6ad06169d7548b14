"""Plan.result: the diff carries the equivalent commands as its prepared text (shown by --diff)."""
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan


def test_diff_prepared_holds_the_commands_one_per_line():
    p = Plan()
    p.before, p.after = {"br0": {"state": "absent"}}, {"br0": {"state": "present"}}
    p.add(Action("link_add", "br0", "ip link add br0 type bridge", None))
    p.add(Action("link_set", "br0", "ip link set br0 up", None))
    res = p.result()
    assert res["commands"] == ["ip link add br0 type bridge", "ip link set br0 up"]
    assert res["diff"] == {"before": {"br0": {"state": "absent"}}, "after": {"br0": {"state": "present"}},
                           "prepared": "ip link add br0 type bridge\nip link set br0 up"}


def test_no_change_no_prepared_text():
    res = Plan().result()
    assert res["changed"] is False and res["commands"] == [] and "prepared" not in res["diff"]
