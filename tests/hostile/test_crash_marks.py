"""A run that dies between creating an object and marking it (SIGKILL, OOM, a lost ssh session) leaves an
unmarked object of ours: the journal on /run says so, and the next run marks and converges it instead of
refusing it. An unmarked object the journal does not name stays foreign."""
import pytest

from helpers.converge import converge
from helpers.kernel import ip_json
from hosts import sh

import ansible_collections.netplumb.container.plugins.module_utils._links as links
import ansible_collections.netplumb.container.plugins.module_utils._netns as netns

pytestmark = pytest.mark.category("faults")


class Died(BaseException):
    """Stands for the process dying: nothing after it runs."""


@pytest.fixture
def die_before_marking(monkeypatch):
    def kill_alias(nl, ns, name):
        action = links.op_link_set(nl, ns, name, "alias netplumb", ifalias="netplumb")

        def fn():
            raise Died()
        action.fn = fn
        return action
    monkeypatch.setattr(links, "op_alias", kill_alias)
    monkeypatch.setattr(netns, "_lo_mark", lambda nl, name: kill_alias(nl, name, "lo").fn)
    return monkeypatch


def alias(name, ns=None):
    return (ip_json("link", "show", name, ns=ns)[0]).get("ifalias")


def test_veth_created_then_died_is_ours_on_the_next_run(sandbox, run, die_before_marking):
    args = dict(pairs=[dict(name="vk0", peer="ck0")])
    with pytest.raises(Died):
        run("veth_pair", args)
    assert alias("vk0") is None            # created, not marked
    die_before_marking.undo()
    res = converge(run, "veth_pair", args)
    assert "ip link set vk0 alias netplumb" in res["commands"] and alias("vk0") == "netplumb"


def test_bridge_created_then_died_is_ours_on_the_next_run(sandbox, run, die_before_marking):
    with pytest.raises(Died):
        run("linux_bridge", dict(name="brk"))
    die_before_marking.undo()
    res = converge(run, "linux_bridge", dict(name="brk"))
    assert res["commands"][0] == "ip link set brk alias netplumb" and alias("brk") == "netplumb"


def test_namespace_created_then_died_is_ours_on_the_next_run(sandbox, run, die_before_marking):
    with pytest.raises(Died):
        run("netns", dict(name=["nk0"]))
    die_before_marking.undo()
    res = converge(run, "netns", dict(name=["nk0"]))
    assert res["commands"][0] == "ip -n nk0 link set lo alias netplumb" and alias("lo", ns="nk0") == "netplumb"


def test_the_journal_names_only_what_we_created(sandbox, run, die_before_marking):
    """A foreign veth made by hand next to a crashed run of ours is still refused."""
    with pytest.raises(Died):
        run("veth_pair", dict(pairs=[dict(name="vk0", peer="ck0")]))
    die_before_marking.undo()
    sh("ip link add vk1 type veth peer name ck1")
    for check in (True, False):
        res = run("veth_pair", dict(pairs=[dict(name="vk1", peer="ck1")]), check=check)
        assert res.get("failed") and "vk1" in res["msg"] and "adopt=true" in res["msg"], res
    assert alias("vk1") is None


def test_a_deleted_crash_leftover_leaves_no_entry(sandbox, run, die_before_marking):
    """Removing the leftover clears its entry: a foreign link made later under that name is not ours."""
    with pytest.raises(Died):
        run("veth_pair", dict(pairs=[dict(name="vk0", peer="ck0")]))
    die_before_marking.undo()
    res = run("veth_pair", dict(name="vk0", peer="ck0", state="absent"))
    assert not res.get("failed") and res["commands"] == ["ip link del vk0"], res
    sh("ip link add vk0 type veth peer name ck0")
    res = run("veth_pair", dict(name="vk0", peer="ck0", state="absent"))
    assert res.get("failed") and "not netplumb's" in res["msg"], res
