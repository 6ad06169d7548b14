"""README keeps its promises to a newcomer: its test table lists every suite `make test` runs, and its quick
example is playbooks/example.yml (which `make example` runs against the lab)."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def suites_of_make_test():
    suites = []
    for path in ["Makefile"] + sorted(glob.glob(os.path.join(ROOT, "mk", "*.mk"))):
        for m in re.finditer(r"^TEST_SUITES\s*[:+]?=\s*(.*)$", read(path), re.M):
            suites += m.group(1).split()
    return suites


def test_readme_table_lists_every_suite_of_make_test():
    suites = suites_of_make_test()
    assert {"unit", "integration", "hostile", "example", "ee"} <= set(suites), suites
    readme = read("README.md")
    table = readme[readme.index("| Target | What |"):]
    table = table[:table.index("\n\n")]
    named = set(re.findall(r"`make ([\w-]+)`", table))
    assert [s for s in suites if s not in named] == []


def test_readme_quick_example_is_the_example_playbook():
    readme = read("README.md")
    section = readme[readme.index("## Quick example"):]
    block = section[section.index("```yaml\n") + len("```yaml\n"):]
    assert block[:block.index("```")] == read("playbooks/example.yml")
    assert "\n  hosts: lab\n" in block and "lab:" in read("playbooks/inventory/hosts.yml")
