"""README keeps its promises to a newcomer: its test table lists every suite `make test` runs, its content table
every module, filter, role and playbook, and its quick example is playbooks/example.yml (which `make example` runs
against the lab)."""
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


def shipped_content():
    """(kind, FQCN) of every module, filter, role and playbook of the checkout."""
    def names(pattern):
        return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, pattern)))
    modules = [n for n in names("plugins/modules/*.py") if n != "__init__"]
    filters = [n for n in names("plugins/filter/*.py") if n != "__init__"]
    roles = [n for n in names("roles/*") if os.path.isdir(os.path.join(ROOT, "roles", n))]
    playbooks = names("playbooks/*.yml")
    return ([("module", "netplumb.container." + n) for n in modules]
            + [("filter", "netplumb.container." + n) for n in filters]
            + [("role", "netplumb.container." + n) for n in sorted(roles)]
            + [("playbook", "netplumb.container." + n) for n in playbooks])


def test_readme_content_table_lists_every_module_filter_role_and_playbook():
    content = shipped_content()
    kinds = {entry[0] for entry in content}
    assert kinds == {"module", "filter", "role", "playbook"}, content
    assert ("module", "netplumb.container.container_network") in content
    readme = read("README.md")
    table = readme[readme.index("| Name | What it does | Docs |"):]
    table = table[:table.index("\n\n")]
    listed = set()
    for row in table.splitlines()[2:]:
        m = re.match(r"^\| (?:(filter|role|playbook) )?`([\w.]+)` \|", row)
        assert m, "README content row not of the form | [filter|role|playbook] `FQCN` | ...: %s" % row
        listed.add((m.group(1) or "module", m.group(2)))
    assert [c for c in content if c not in listed] == []
    # and nothing listed that does not exist
    assert sorted(listed - set(content)) == []
    for link in re.findall(r"\]\(([^)]+)\)", table):
        assert os.path.exists(os.path.join(ROOT, link)), link


def test_readme_own_hosts_runs_playbooks_by_collection_name():
    """Outside the checkout there is no playbooks/ directory: the section names the collection's playbooks
    (playbooks/NAME.yml is netplumb.container.NAME), each of which exists, and shows a role inventory."""
    readme = read("README.md")
    section = readme[readme.index("## Use it on your own hosts"):]
    section = section[:section.index("\n## ")]
    assert "playbooks/example.yml` is `netplumb.container.example`" in section
    commands = re.findall(r"^\s*ansible-playbook .*$", section, re.M)
    assert commands
    for command in commands:
        assert "playbooks/" not in command, command
        names = re.findall(r"\bnetplumb\.container\.(\w+)\b", command)
        assert len(names) == 1, command
        assert os.path.exists(os.path.join(ROOT, "playbooks", names[0] + ".yml")), command
    assert "container_networks:" in section and "group_vars/" in section
