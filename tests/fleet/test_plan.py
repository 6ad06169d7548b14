"""The role's plan filter, run by ansible itself: Ansible finds the collection's filter by its full name and gets
exactly what the parser gives (the parser's own cases are pure unit tests: tests/unit/test_netspec.py)."""
import json
import os
import subprocess
import sys

from ansible_collections.netplumb.container.plugins.module_utils import _netspec

# The fleet's module processes import pyroute2 through _nl's lean import: checked here too (make fleet-unit).
from test_nl_import import (  # noqa: F401  pylint: disable=unused-import
    test_lean_import_then_full_package_on_demand, test_pyroute2_imported_first_is_used_as_is)

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", ".build")

CASES = [
    [dict(name="web", bridge="br0", subnet="172.18.0.0/16", containers=[
        dict(name="netns0", address="172.18.0.10", publish=["5000:5000/tcp", "127.0.0.1:8053:53/udp"]),
        dict(name="reverse-proxy-frontend", address="172.18.0.20", publish=["8000-8002:9000-9002"])])],
    [dict(name="a", subnet="10.1.0.0/24", state="absent"), dict(name="b", subnet="10.2.0.0/24")],
    [dict(name="x", subnet="172.18.0.5/16", colour="red", containers=[dict(name="c", address="10.0.0.1")])],
    [dict(name="s", subnet="172.18.0.0/16", containers=[
        dict(name="c%d" % i, address="172.18.%d.%d" % (i // 250, i % 250 + 2)) for i in range(300)])],
    None,
    "nope",
]


def test_ansible_runs_the_filter_and_gets_the_parser_s_result():
    os.makedirs(BUILD, exist_ok=True)
    cases, out = os.path.join(BUILD, "plan-cases.json"), os.path.join(BUILD, "plan-out.json")
    with open(cases, "w") as f:
        json.dump(dict(netplumb_cases=CASES, netplumb_out=os.path.abspath(out)), f)
    subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + cases,
                    "-e", "ansible_python_interpreter=" + sys.executable,
                    os.path.join(HERE, "plan_cases.yml")], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        plans = json.load(f)
    assert len(plans) == len(CASES)
    for case, plan in zip(CASES, plans):
        assert plan == json.loads(json.dumps(_netspec.parse(case)))
    assert plans[0]["errors"] == [] and len(plans[0]["calls"]) == 5
    assert plans[2]["errors"][0].startswith("container_networks[0].colour='red': unknown key")
    assert len(plans[3]["present"][0]["pairs"]) == 300
