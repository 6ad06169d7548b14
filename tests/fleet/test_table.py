"""tests/fleet/table.py: the verify report printed as tables, the cross-host column, the exit status."""
import json
import os
import subprocess
import sys

import pytest

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "table.py")


def container(name, address, cross=None):
    c = {"network": "fleet", "container": name, "address": address, "gateway": "10.244.1.1",
         "gateway_ping": True, "neighbours": {}, "egress_seen_as": "192.0.2.11", "expected_egress": "192.0.2.11",
         "ports": [], "ok": True}
    if cross is not None:
        c["cross_host"] = cross
    return c


def report(cross_f1):
    return [
        {"host": "h1", "address": "192.0.2.11", "ok": all(x["ok"] for x in cross_f1),
         "containers": [container("f1", "10.244.1.10", cross_f1),
                        container("web", "172.18.0.10", [])]},
        # a report written before the cross-host check: no cross_host key at all
        {"host": "h2", "address": "192.0.2.12", "ok": True, "containers": [container("api", "10.30.0.11")]},
    ]


PASS = [{"host": "h3", "container": "f3", "address": "10.244.3.10", "seen_as": "10.244.1.10", "ok": True}]


def run_table(tmp_path, data):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    p = subprocess.run([sys.executable, TABLE, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, check=False)
    return p.returncode, p.stdout


def row(out, name):
    return next(line for line in out.splitlines() if line.startswith(name + " "))


def test_cross_host_pass(tmp_path):
    rc, out = run_table(tmp_path, report(PASS))
    assert rc == 0, out
    assert "cross-host" in out.splitlines()[2]
    assert row(out, "f1").endswith("ok 1/1 (src kept)")
    assert row(out, "web").endswith("  -")
    assert row(out, "api").endswith("  -")
    assert out.rstrip().endswith("ALL CHECKS PASSED on 2 hosts")


@pytest.mark.parametrize("seen, shown", [("192.0.2.11", "seen as 192.0.2.11"), (None, "no answer")])
def test_cross_host_fail(tmp_path, seen, shown):
    cross = PASS + [{"host": "h4", "container": "f4", "address": "10.244.4.10", "seen_as": seen, "ok": False}]
    rc, out = run_table(tmp_path, report(cross))
    assert rc == 1, out
    assert row(out, "f1").endswith("FAIL 1/2 (f4@h4 %s)" % shown)
    assert "h1 (192.0.2.11): 2 containers, SOME CHECKS FAILED" in out
    assert "h2 (192.0.2.12): 1 containers, every check passed" in out
    assert out.rstrip().endswith("SOME CHECKS FAILED")


def test_cross_host_failure_fails_even_if_the_host_says_ok(tmp_path):
    data = report([dict(PASS[0], ok=False, seen_as="192.0.2.11")])
    data[0]["ok"] = True
    rc, out = run_table(tmp_path, data)
    assert rc == 1, out
    assert row(out, "f1").endswith("FAIL 0/1 (f3@h3 seen as 192.0.2.11)")


def test_missing_report(tmp_path):
    p = subprocess.run([sys.executable, TABLE, str(tmp_path / "missing.json")], stdout=subprocess.PIPE,
                       universal_newlines=True, check=False)
    assert p.returncode == 2 and p.stdout.startswith("no verify report"), p.stdout
