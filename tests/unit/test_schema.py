"""One schema (plugins/module_utils/_options.py): the modules' argument_specs, the documentation, the roles'
argument_specs and the parser's keys all come from it, and a value is validated once per side."""
import importlib
import os
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netplumb.container.plugins.module_utils import _module, _netspec, _options, _schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import schema as tool  # noqa: E402  (tools/schema.py)

MODULE = "ansible_collections.netplumb.container.plugins.modules.%s"


def test_generated_documentation_is_the_definitions():
    """Each module's DOCUMENTATION options and fragments, the doc fragments of shared options and the roles'
    meta/argument_specs.yml are what tools/schema.py writes from the definition: an edit of a copy fails here."""
    assert tool.drift() == [], "run make schema: these differ from plugins/module_utils/_options.py"


def test_drift_is_seen(tmp_path):
    generated = tool.generate()
    path = "roles/container_network/meta/argument_specs.yml"
    os.makedirs(str(tmp_path / "roles/container_network/meta"))
    (tmp_path / path).write_text(generated[path].replace("default: 24", "default: 25"))
    for other in generated:
        if other.startswith("plugins/"):
            os.makedirs(str(tmp_path / os.path.dirname(other)), exist_ok=True)
            (tmp_path / other).write_text(generated[other])
    assert path in tool.drift(str(tmp_path))


class _Captured(Exception):
    pass


@pytest.mark.parametrize("name", sorted(_options.MODULES))
def test_each_module_takes_its_argument_spec_from_the_schema(name, monkeypatch):
    mod = importlib.import_module(MODULE % name)
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        raise _Captured()
    monkeypatch.setattr(_module, "AnsibleModule", fake)
    with pytest.raises(_Captured):
        mod.main()
    assert seen["argument_spec"] == _schema.argspec(name)
    # every module declares check mode in its own main() (its documented check_mode attribute: validate-modules)
    assert seen["supports_check_mode"] is True
    # the constraints between its options come from the schema too
    assert dict((k, v) for k, v in seen.items() if k not in ("argument_spec", "supports_check_mode")) \
        == _schema.constraints(name)
    # and the documentation says the same: every option with its type, default, choices, required, suboptions
    doc = yaml.safe_load(mod.DOCUMENTATION)
    documented = dict(doc["options"])
    for fragment in doc["extends_documentation_fragment"]:
        frag = importlib.import_module("ansible_collections.netplumb.container.plugins.doc_fragments.%s"
                                       % fragment.split(".")[-1])
        documented.update(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION).get("options") or {})
    assert _spec_of_doc(documented) == seen["argument_spec"]


def _spec_of_doc(options):
    out = {}
    for name, opt in options.items():
        item = dict((k, opt[k]) for k in ("type", "elements", "required", "default", "choices") if k in opt)
        if "suboptions" in opt:
            item["options"] = _spec_of_doc(opt["suboptions"])
        out[name] = item
    return out


def test_container_network_declares_the_networks_suboptions():
    spec = _schema.argspec("container_network")["networks"]
    assert spec["options"]["containers"]["options"]["publish"] == dict(type="list", elements="str", default=[])
    assert set(spec["options"]) == set(_netspec.NETWORK_KEYS)


def test_the_parsers_keys_and_defaults_are_the_schemas():
    assert _netspec.NETWORK_KEYS == tuple(_options.NETWORK)
    assert _netspec.CONTAINER_KEYS == tuple(_options.NETWORK["containers"]["suboptions"])
    assert dict(_netspec.FLAGS) == dict(masquerade=True, icc=True, isolate=True, adopt=False)
    role = yaml.safe_load(open(os.path.join(ROOT, "roles/container_network/meta/argument_specs.yml")))
    for entry in ("main", "plan"):
        nets = role["argument_specs"][entry]["options"]["container_networks"]["options"]
        assert tuple(nets) == _netspec.NETWORK_KEYS and tuple(nets["containers"]["options"]) == _netspec.CONTAINER_KEYS


NETS = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", mtu=1400, containers=[
    dict(name="c0", address="172.18.0.10", publish=["5000:5000/tcp", "8053:53/udp"]),
    dict(name="c1", address="172.18.0.11", veth="v-c1", interface="ceth0")]),
    dict(name="old", subnet="10.9.0.0/24", state="absent", masquerade=False)]


def _validated(spec, value):
    """The value as an argument_spec of the schema hands it on (Ansible's own validator)."""
    result = ArgumentSpecValidator(spec).validate(value)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_a_value_the_modules_argument_spec_validated_is_parsed_alike_and_not_checked_again(monkeypatch):
    raw = _netspec.parse(NETS, root="networks")
    params = _validated(_schema.argspec("container_network"), dict(networks=NETS))
    calls = []
    monkeypatch.setattr(_schema, "check", lambda *a: calls.append(a))
    checked = _netspec.parse(params["networks"], params["firewall_backend"], root="networks", checked=True)
    assert calls == []      # the kinds, choices and keys were the argument_spec's: validated once on the host
    assert checked == raw and not checked["errors"]


def test_the_roles_value_is_read_as_its_argument_specs_read_it():
    """On the controller the role's argument_specs validate container_networks but hand it on unconverted: the
    filter (checked=true) reads 'yes', '1400' and a lone string for a list as that validation did."""
    loose = [dict(name="web", bridge="br0", subnet="172.18.0.0/16", mtu="1400", masquerade="yes", containers=[
        dict(name="c0", address="172.18.0.10", publish="5000:5000/tcp,8053:53/udp"),
        dict(name="c1", address="172.18.0.11", veth="v-c1", interface="ceth0")]),
        dict(name="old", subnet="10.9.0.0/24", state="absent", masquerade="no")]
    role = yaml.safe_load(open(os.path.join(ROOT, "roles/container_network/meta/argument_specs.yml")))
    spec = dict(container_networks=_role_spec(role["argument_specs"]["main"]["options"]["container_networks"]))
    _validated(spec, dict(container_networks=loose))
    assert _netspec.parse(loose, checked=True) == _netspec.parse(NETS)


def _role_spec(opt):
    out = dict((k, opt[k]) for k in ("type", "elements", "required", "default", "choices") if k in opt)
    if "options" in opt:
        out["options"] = dict((k, _role_spec(v)) for k, v in opt["options"].items())
    return out


def test_unchecked_values_get_the_structural_check_with_named_fields():
    errors = _netspec.parse([dict(name="n", subnet="10.0.0.0/24", state="gone", icc="no", mtu=[1],
                                  containers=[dict(name="c", address="10.0.0.2", publish=[], colour=1), "x"])])["errors"]
    assert errors == [
        "container_networks[0].icc='no': must be true or false",
        "container_networks[0].mtu=[1]: an MTU is an integer between 68 and 65535",
        "container_networks[0].state='gone': must be one of present, absent",
        "container_networks[0].containers[0].colour=1: unknown key (known: name, address, publish, veth, interface)",
        "container_networks[0].containers[1]='x': each container is a mapping with name and address",
    ]


def test_dryrun_defaults_are_the_schemas():
    from ansible_collections.netplumb.container.plugins.module_utils import _dryrun
    assert sorted(_dryrun.DEFAULTS) == ["container_nat", "linux_bridge", "netns", "port_publish", "veth_pair"]
    assert _dryrun.DEFAULTS["linux_bridge"] == dict(addresses=None, mtu=None, stp=False, state="present", adopt=False,
                                                    nf_call_iptables=True, ipv6=False)
    assert _dryrun.DEFAULTS["container_nat"]["firewall_backend"] == "auto"


def test_the_firewall_backends_are_the_drivers():
    """The seam to the firewall layer: a backend added to its drivers is added to FIREWALL_BACKEND's choices
    (then make schema), which every module, role and filter option of that name takes."""
    from ansible_collections.netplumb.container.plugins.module_utils import _firewall
    assert _options.FIREWALL_BACKEND["choices"] == list(_firewall.BACKENDS)
