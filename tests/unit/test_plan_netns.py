"""The netns planner with a fake netlink (state read from records)."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils import _netns
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError


class Lo:
    def __init__(self, up, alias):
        self.up = up
        self.alias = alias


class State:
    def __init__(self, lo):
        up, alias = lo if isinstance(lo, tuple) else (lo, "netplumb")
        self.lo = Lo(up, alias)

    def link(self, name):
        return self.lo if name == "lo" else None


class NL:
    run_dir = "/run/netns"

    def __init__(self, present):
        self.present = present  # name -> lo up? (or (up, alias of lo); the alias defaults to our mark)

    def ns_exists(self, name):
        return name in self.present

    def read(self, name):
        return State(self.present[name])

    def ns_create(self, name):
        raise AssertionError("planning must not write")

    ns_delete = ns_create

    def ns_pids(self, name):
        return [4242] if name == "busy" else []


def test_plan_create_and_lo(tmp_path):
    p = _netns.plan(NL({"n1": False, "n2": True}), ["n0", "n1", "n2"], etc_dir=str(tmp_path))
    assert p.commands == ["ip netns add n0", "ip -n n0 link set lo alias netplumb", "ip -n n0 link set lo up",
                          "ip -n n1 link set lo up"]
    assert p.before["n0"] == {"state": "absent"} and p.after["n2"]["loopback"] is True
    assert p.after["n0"]["owned"] is True and p.before["n1"]["owned"] is True


def test_plan_resolv(tmp_path):
    p = _netns.plan(NL({"n0": True}), ["n0"], nameservers=["192.0.2.53"], etc_dir=str(tmp_path))
    assert len(p.commands) == 1 and p.commands[0].startswith("printf")
    p.apply(check_mode=False)
    text = (tmp_path / "n0" / "resolv.conf").read_text()
    assert text == _netns.RESOLV_MARKER + "\nnameserver 192.0.2.53\n"
    assert _netns.plan(NL({"n0": True}), ["n0"], nameservers=["192.0.2.53"], etc_dir=str(tmp_path)).commands == []
    p = _netns.plan(NL({"n0": True}), ["n0"], nameservers=[], etc_dir=str(tmp_path))
    assert p.commands == ["rm %s" % (tmp_path / "n0" / "resolv.conf")]


def test_plan_absent_warns_about_processes(tmp_path):
    p = _netns.plan(NL({"busy": True}), ["busy", "gone"], state="absent", etc_dir=str(tmp_path))
    assert p.commands == ["ip netns delete busy"]
    assert "4242" in p.warnings[0] and "lives on" in p.warnings[0]


@pytest.mark.parametrize("alias", [None, "netplumb2", "Netplumb"])
@pytest.mark.parametrize("state", ["present", "absent"])
def test_not_ours_is_refused_for_the_whole_list_until_adopted(tmp_path, alias, state):
    nl = NL({"ours": True, "theirs": (True, alias)})
    with pytest.raises(NotOursError) as err:
        _netns.plan(nl, ["new", "ours", "theirs"], state=state, etc_dir=str(tmp_path))
    assert err.value.field == "name[2]" and err.value.name == "theirs" and err.value.kind == "network namespace"
    assert "adopt=true" in str(err.value)
    p = _netns.plan(nl, ["theirs"], state=state, etc_dir=str(tmp_path), adopt=True)
    if state == "present":
        assert p.commands == ["ip -n theirs link set lo alias netplumb"]
        assert p.before["theirs"]["owned"] is False and p.after["theirs"]["owned"] is True
    else:
        assert p.commands == ["ip netns delete theirs"]


def test_adopt_is_a_bool():
    with pytest.raises(_netns.v.ValidationError):
        _netns.validate(["a"], "present", True, None, adopt="yes")
