"""The netns planner with a fake netlink (state read from records)."""
from ansible_collections.netplumb.container.plugins.module_utils import _netns


class Sock:
    def __init__(self, up):
        self.up = up

    def get_links(self, index):
        return [{"flags": 1 if self.up else 0}]


class NL:
    run_dir = "/run/netns"

    def __init__(self, present):
        self.present = present  # name -> lo up?

    def ns_exists(self, name):
        return name in self.present

    def sock(self, name):
        return Sock(self.present[name])

    def ns_create(self, name):
        raise AssertionError("planning must not write")

    ns_delete = ns_create

    def ns_pids(self, name):
        return [4242] if name == "busy" else []


def test_plan_create_and_lo(tmp_path):
    p = _netns.plan(NL({"n1": False, "n2": True}), ["n0", "n1", "n2"], etc_dir=str(tmp_path))
    assert p.commands == ["ip netns add n0", "ip -n n0 link set lo up", "ip -n n1 link set lo up"]
    assert p.before["n0"] == {"state": "absent"} and p.after["n2"]["loopback"] is True


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
