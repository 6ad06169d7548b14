"""The hostile-input and fault suite: every promise of README and docs/safety.md, attacked.

Each test carries ``@pytest.mark.category("<name>")`` (or a module-level ``pytestmark``); the summary
prints how many cases ran and passed per category, and the suite fails when fewer than MIN_CASES ran.
"""
import collections
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

# the shared fixtures
from helpers.fixtures import run, sandbox  # noqa: E402,F401  pylint: disable=unused-import
from helpers.kernel import assert_isolated  # noqa: E402

MIN_CASES = 60
_results = collections.defaultdict(lambda: [0, 0])    # category -> [ran, passed]


def pytest_configure(config):
    assert_isolated()
    config.addinivalue_line("markers", "category(name): hostile-suite category of the case")


def _category(item):
    mark = item.get_closest_marker("category")
    return mark.args[0] if mark and mark.args else "uncategorised"


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    # the category travels in user_properties: with pytest-xdist (make hostile) the report is made in a worker
    # and counted here, in the controller
    item_cat = dict(report.user_properties).get("netplumb_category") or "uncategorised"
    _results[item_cat][0] += 1
    if report.outcome == "passed":
        _results[item_cat][1] += 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not any(k == "netplumb_category" for k, _v in report.user_properties):
        report.user_properties.append(("netplumb_category", _category(item)))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _category(item) == "uncategorised":
            raise pytest.UsageError("%s has no category mark" % item.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    total = sum(r[0] for r in _results.values())
    tr.write_sep("=", "hostile suite: cases per category")
    for cat in sorted(_results):
        ran, passed = _results[cat]
        tr.write_line("%-14s %3d cases, %3d passed" % (cat, ran, passed))
    tr.write_line("%-14s %3d cases" % ("total", total))
    if total < MIN_CASES and not config.option.keyword and not config.args[1:]:
        tr.write_line("FAIL: fewer than %d hostile cases ran" % MIN_CASES)


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return      # a pytest-xdist worker ran a share of the cases: the controller counts them all
    total = sum(r[0] for r in _results.values())
    full_run = not session.config.option.keyword and not session.config.option.markexpr
    if full_run and exitstatus == 0 and total < MIN_CASES and len(session.config.args) <= 1:
        session.exitstatus = 1
