"""The role's pyroute2 decision (roles/container_network/templates/pyroute2.json.j2): which way a managed host
gets pyroute2, or a clear refusal. Pure: rendered here with ansible's own to_json, no host, no download."""
import json
import os

import jinja2
import pytest
from ansible.plugins.filter.core import to_json

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "container_network",
                         "templates")


def decide(found=False, pip=True, enabled=True, os_family="Debian", pkg_mgr="apt"):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = to_json
    text = env.get_template("pyroute2.json.j2").render(
        found=found, pip=pip, enabled=enabled, os_family=os_family, pkg_mgr=pkg_mgr, python="/usr/bin/python3",
        host="h9")
    return json.loads(text)


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("os_family,pkg_mgr", [("Debian", "apt"), ("RedHat", "dnf"), ("Alpine", "apk")])
def test_importable_means_nothing_to_do(enabled, os_family, pkg_mgr):
    assert decide(found=True, enabled=enabled, os_family=os_family, pkg_mgr=pkg_mgr)["action"] == "none"


@pytest.mark.parametrize("os_family,pkg_mgr", [("Debian", "apt"), ("RedHat", "dnf"), ("RedHat", "dnf5"),
                                               ("RedHat", "yum")])
@pytest.mark.parametrize("pip", [True, False])
def test_debian_ubuntu_rhel_fedora_use_the_package_pip_as_fallback(os_family, pkg_mgr, pip):
    d = decide(os_family=os_family, pkg_mgr=pkg_mgr, pip=pip)
    assert d["action"] == "package" and d["package"] == "python3-pyroute2" and d["pip"] is pip
    assert pkg_mgr in d["msg"] and (("pip as the fallback" in d["msg"]) is pip)


@pytest.mark.parametrize("os_family,pkg_mgr", [("Alpine", "apk"), ("Suse", "zypper"), ("Debian", "unknown"),
                                               ("unknown", "unknown")])
def test_other_systems_use_pip(os_family, pkg_mgr):
    d = decide(os_family=os_family, pkg_mgr=pkg_mgr)
    assert d["action"] == "pip" and os_family in d["msg"] and pkg_mgr in d["msg"]


def test_no_package_and_no_pip_is_a_clear_failure():
    d = decide(os_family="Alpine", pkg_mgr="apk", pip=False)
    assert d["action"] == "fail"
    assert "h9" in d["msg"] and "/usr/bin/python3" in d["msg"] and "Alpine" in d["msg"] and "no pip" in d["msg"]
    assert "python3-pyroute2" in d["msg"] and "pyroute2>=0.7.2" in d["msg"]


@pytest.mark.parametrize("os_family,pkg_mgr", [("Debian", "apt"), ("Alpine", "apk")])
def test_opt_out_only_checks_and_names_the_variable(os_family, pkg_mgr):
    d = decide(enabled=False, os_family=os_family, pkg_mgr=pkg_mgr)
    assert d["action"] == "fail"
    assert "container_network_install_pyroute2 is false" in d["msg"] and "h9" in d["msg"]
    assert "python3-pyroute2" in d["msg"]


def test_role_wires_the_decision_before_its_first_module():
    """The role plans on the controller first (invalid input installs nothing), then calls container_network;
    only when that call reports missing_pyroute2 does it include pyroute2.yml and call again - no rescue, so a
    refusal is the first call's own failure, shown once. The default is to install, and the argument spec
    documents the opt-out."""
    role = os.path.join(TEMPLATES, "..")
    with open(os.path.join(role, "tasks", "main.yml")) as f:
        main = f.read()
    first = main.index("netplumb.container.container_network:")
    assert "rescue:" not in main
    assert main.index("import_tasks: plan.yml") < first < main.index("failed_when:") < \
        main.index("missing_pyroute2") < main.index("include_tasks: pyroute2.yml")
    assert main.count("netplumb.container.container_network:") == 1
    with open(os.path.join(role, "tasks", "pyroute2.yml")) as f:
        included = f.read()
    # the same call again, at the end of the included file (after the install and its checks)
    assert included.rindex("ansible.builtin.fail:") < included.index("netplumb.container.container_network:")
    assert "register: container_network_result_after_pyroute2" in included
    with open(os.path.join(role, "defaults", "main.yml")) as f:
        assert "container_network_install_pyroute2: true" in f.read()
    with open(os.path.join(role, "meta", "argument_specs.yml")) as f:
        assert "container_network_install_pyroute2:" in f.read()
