"""The ownership mark itself: equality only, never a prefix or a look-alike."""
import pytest

from ansible_collections.netplumb.container.plugins.module_utils._nl import Link
from ansible_collections.netplumb.container.plugins.module_utils._owner import NotOursError, is_ours

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
