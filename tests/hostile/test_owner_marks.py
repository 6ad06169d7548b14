"""The ownership mark itself: equality only, never a prefix or a look-alike; and the journal of creations
not marked yet, which marks an object only when an entry matches it exactly (kind, ifindex, namespace)."""
import os

import pytest

from helpers.kernel import ip_json
from hosts import UnnamedNs, lxc_uplink, sh, snapshot

from ansible_collections.netplumb.container.plugins.module_utils._nl import Link
from ansible_collections.netplumb.container.plugins.module_utils._owner import PENDING_PATH, NotOursError, is_ours

pytestmark = pytest.mark.category("ownership")


def _link(alias):
    return Link(3, "br0", "bridge", None, 1500, True, alias, None, None, 0)


@pytest.mark.parametrize("alias", [None, "", "netplumb2", "netplumb ", "Netplumb", "xnetplumb", "netplumb:br0"])
def test_look_alike_aliases_are_not_ours(alias):
    assert is_ours(_link(alias)) is False


def test_exact_alias_is_ours():
    assert is_ours(_link("netplumb")) is True


def test_refusal_names_field_object_kind_and_adopt():
    msg = str(NotOursError("name", "docker0", "bridge"))
    for part in ("name=docker0", "bridge docker0", "not netplumb's", "adopt=true", "docs/safety.md"):
        assert part in msg, msg


# --- the journal of creations not marked yet (/run/netplumb/pending): exact matches only ------------------
def _journal(*lines):
    os.makedirs(os.path.dirname(PENDING_PATH), exist_ok=True)
    with open(PENDING_PATH, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def _home():
    return str(os.stat("/proc/thread-self/ns/net").st_ino)


def _ifindex(name):
    return str(ip_json("link", "show", name)[0]["ifindex"])


def _forgeries(name, kind):
    """Entries naming NAME that must mark nothing: the former format, a wrong ifindex, kind or namespace inode,
    another host namespace, an incomplete entry (a run that died inside the creating call)."""
    home, idx = _home(), _ifindex(name)
    return {
        "old-format": "%s\t\t%s" % (home, name),
        "wrong-ifindex": "\t".join(["v2", home, "", name, kind, str(int(idx) + 1000), home]),
        "wrong-kind": "\t".join(["v2", home, "", name, "dummy", idx, home]),
        "wrong-ns-inode": "\t".join(["v2", home, "", name, kind, idx, "1"]),
        "other-home": "\t".join(["v2", "1", "", name, kind, idx, home]),
        "incomplete": "\t".join(["v2", home, "", name, kind, "-", "-"]),
    }


@pytest.fixture
def docker0(sandbox):
    sh("ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up")
    yield
    if os.path.exists(PENDING_PATH):
        os.unlink(PENDING_PATH)


@pytest.mark.parametrize("forgery", ["old-format", "wrong-ifindex", "wrong-kind", "wrong-ns-inode", "other-home",
                                     "incomplete"])
def test_a_forged_entry_does_not_make_docker0_ours(docker0, run, forgery):
    _journal(_forgeries("docker0", "bridge")[forgery])
    before = snapshot()
    for check in (True, False):
        res = run("linux_bridge", dict(name="docker0", state="absent"), check=check)
        assert res.get("failed") and "not netplumb's" in res["msg"] and res["commands"] == [], res
    assert snapshot() == before


def test_an_exact_entry_for_the_uplink_still_deletes_nothing(sandbox, run):
    """Even an entry matching the uplink exactly (forged by someone who read its ifindex) cannot have it
    deleted: the uplink rule holds whatever marks it."""
    un = UnnamedNs()
    try:
        lxc_uplink(un)
        home = _home()
        _journal("\t".join(["v2", home, "", "eth0", "veth", _ifindex("eth0"), home]))
        before = snapshot()
        for check in (True, False):
            res = run("veth_pair", dict(name="eth0", peer="ceth9", state="absent"), check=check)
            assert res.get("failed") and "eth0 is the host's uplink" in res["msg"], res
        assert snapshot() == before
    finally:
        un.close()
        os.unlink(PENDING_PATH)


def test_a_stale_entry_for_a_deleted_link_does_not_mark_its_successor(sandbox, run):
    """A journal entry of ours for vk0; vk0 is deleted by hand and someone else creates vk0 again: a new
    ifindex, so the entry marks nothing."""
    sh("ip link add vk0 type veth peer name ck0")
    home = _home()
    _journal("\t".join(["v2", home, "", "vk0", "veth", _ifindex("vk0"), home]))
    res = run("veth_pair", dict(name="vk0", peer="ck0"), check=True)
    assert not res.get("failed") and "ip link set vk0 alias netplumb" in res["commands"], res   # exact: ours
    sh("ip link del vk0 && ip link add vk0 type veth peer name ck0")
    for check in (True, False):
        res = run("veth_pair", dict(name="vk0", peer="ck0", state="absent"), check=check)
        assert res.get("failed") and "not netplumb's" in res["msg"], res
    os.unlink(PENDING_PATH)


def test_journal_entries_name_kind_ifindex_and_namespace_inode(sandbox, run, monkeypatch):
    """What a creation journals before the link exists: its kind, the ifindex it is created with, and the
    inode of its namespace."""
    import ansible_collections.netplumb.container.plugins.module_utils._links as links
    seen = []

    def kill_alias(nl, ns, name):
        action = links.op_link_set(nl, ns, name, "alias netplumb", ifalias="netplumb")

        def fn():
            with open(PENDING_PATH) as f:
                seen.extend(f.read().splitlines())
            raise Died()
        action.fn = fn
        return action
    monkeypatch.setattr(links, "op_alias", kill_alias)
    with pytest.raises(Died):
        run("linux_bridge", dict(name="brj"))
    home = _home()
    assert seen == ["\t".join(["v2", home, "", "brj", "bridge", _ifindex("brj"), home])]
    monkeypatch.undo()
    res = run("linux_bridge", dict(name="brj"))
    assert res["commands"][0] == "ip link set brj alias netplumb", res      # the exact entry: ours
    os.unlink(PENDING_PATH)


class Died(BaseException):
    """Stands for the process dying: nothing after it runs."""
