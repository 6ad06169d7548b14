"""The fixtures the kernel suites share (tests/integration, tests/hostile): their conftest imports them."""
import pytest

from helpers.kernel import Sandbox
from helpers.modrun import pinned


@pytest.fixture
def sandbox():
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def run():
    """The module runner, firewall_backend pinned to iptables where a test does not name it (helpers.modrun)."""
    return pinned("iptables")
