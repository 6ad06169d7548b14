import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the shared fixtures
from helpers.fixtures import run, sandbox  # noqa: E402,F401  pylint: disable=unused-import
from helpers.kernel import assert_isolated  # noqa: E402


def pytest_configure(config):
    assert_isolated()
    config.addinivalue_line("markers", "deb: also run by `make integration-deb` under Debian's pyroute2 0.7.2 (the "
                            "write and read paths whose netlink differs between versions; the decoding of dumps is "
                            "covered per version by tests/unit/test_nl_recorded.py)")


def pytest_report_header(config):
    import pyroute2
    return "pyroute2 %s from %s" % (getattr(pyroute2, "__version__", "?"), os.path.dirname(pyroute2.__file__))
