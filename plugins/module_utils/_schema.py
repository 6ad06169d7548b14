# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is derived from the one definition of the options (``_options``): each module's argument_spec, the
building blocks' defaults (``_steps``), the documentation (``tools/schema.py`` writes it), and the structural
check of a value no argument_spec has seen (``check``: types, choices, unknown keys), which ``_netspec`` runs
where no Ansible validated the value before it (at boot, on what a gather returns, in the filters called on
their own).

Pure: no Ansible import, so the engine copied for boot (``_persist``) runs it as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils import _options
from ansible_collections.netplumb.container.plugins.module_utils import _validate
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

# The keys of an option that belong to the argument_spec (the rest, description above all, is documentation).
_SPEC_KEYS = ("type", "elements", "required", "default", "choices", "aliases", "no_log")
# The keys of an option in the documentation, in the order they are written.
_DOC_KEYS = ("description", "type", "elements", "required", "default", "choices", "aliases")

BOOLEANS = {"yes": True, "on": True, "true": True, "1": True, "y": True, "t": True,
            "no": False, "off": False, "false": False, "0": False, "n": False, "f": False}


def module_options(module):
    """A module's options, those of its doc fragments first (every option it takes), by name."""
    entry = _options.MODULES[module]
    out = {}
    for fragment in entry["fragments"]:
        out.update(_options.FRAGMENTS.get(fragment, {}))
    out.update(entry["options"])
    return out


def spec_of(options):
    """Options -> argument_spec (suboptions -> options, recursively; no description)."""
    out = {}
    for name, opt in options.items():
        item = dict((k, _copy(opt[k])) for k in _SPEC_KEYS if k in opt)
        if "suboptions" in opt:
            item["options"] = spec_of(opt["suboptions"])
        out[name] = item
    return out


def argspec(module):
    """The argument_spec of ``module`` (what its main() gives AnsibleModule)."""
    return spec_of(module_options(module))


def constraints(module):
    """The constraints between the options of ``module`` (mutually_exclusive, required_one_of, ...): what its
    main() gives AnsibleModule with the argument_spec."""
    return dict((kind, _copy(groups) if isinstance(groups, dict) else [list(group) for group in groups])
                for kind, groups in _options.CONSTRAINTS.get(module, {}).items())


def defaults(module):
    """The values a call of ``module`` gets for each option it may leave out (None where there is no default),
    those of its doc fragments included (firewall_backend), but not lock_timeout: the lock is the run's."""
    return dict((name, _copy(opt.get("default"))) for name, opt in module_options(module).items()
                if not opt.get("required") and name not in _options.FRAGMENTS["host_lock"])


def _copy(value):
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def doc_of(options, root=None):
    """Options -> the DOCUMENTATION form (``{root}`` in descriptions -> ``root``; suboptions recursively)."""
    out = {}
    for name, opt in options.items():
        item = {}
        for key in _DOC_KEYS:
            if key in opt:
                item[key] = _root(opt[key], root) if key == "description" else _copy(opt[key])
        if "suboptions" in opt:
            item["suboptions"] = doc_of(opt["suboptions"], root if root is not None else name)
        out[name] = item
    return out


def _root(text, root):
    if isinstance(text, list):
        return [_root(t, root) for t in text]
    return text.replace("{root}", root) if root is not None else text


def keys(options):
    """The names an option's suboptions allow, in definition order."""
    return tuple(options)


def check(options, value, field, errors, what=None):
    """The structural check of one mapping against ``options`` where no argument_spec has run: every error
    (``field.key=value: reason``) appended to ``errors``. Returns the mapping with each option present, its
    default where it is missing, a wrong-typed value replaced by its default (the error is collected), or None
    when ``value`` is no mapping. Values are checked for their kind only (bool, int, list, mapping, choices,
    unknown keys); what a string must look like is the parser's.

    ``what``: the reason given for a value that is no mapping."""
    if not isinstance(value, dict):
        errors.append(str(ValidationError(field, value, what or "must be a mapping")))
        return None
    for key in sorted(set(value) - set(options), key=str):
        errors.append(str(ValidationError("%s.%s" % (field, key), value[key],
                                          "unknown key (known: %s)" % ", ".join(options))))
    out = {}
    for name, opt in options.items():
        default = _copy(opt.get("default"))
        item = value.get(name)
        if item is None:
            out[name] = default
            continue
        ok, item = _kind(opt, item)
        if not ok:
            errors.append(_kind_error(opt, "%s.%s" % (field, name), value[name], item))
            item = default
        elif "choices" in opt and item not in opt["choices"]:
            errors.append(str(ValidationError("%s.%s" % (field, name), item,
                                              "must be one of %s" % ", ".join(opt["choices"]))))
            item = default
        out[name] = item
    return out


def _kind_error(opt, field, value, reason):
    """A wrong kind of value, told as the option's own validator (``validate``: a function of _validate) tells it
    where it has one (``mtu='big': an MTU is an integer between 68 and 65535``)."""
    if opt.get("validate"):
        try:
            getattr(_validate, opt["validate"])(field, value)
        except ValidationError as exc:
            return str(exc)
    return str(ValidationError(field, value, reason))


def _kind(opt, value):
    """(True, the value as its option's type) or (False, the reason). An int may come as a string of digits
    (a template's result); a bool must be one (a string 'yes' is refused: nothing converts it on this path)."""
    kind = opt.get("type", "str")
    if kind == "bool":
        return (True, value) if isinstance(value, bool) else (False, "must be true or false")
    if kind == "int":
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return False, "must be an integer"
        return True, value
    if kind == "list":
        if not isinstance(value, (list, tuple)):
            return False, "must be a list"
        return True, list(value)
    if kind == "dict":
        return (True, value) if isinstance(value, dict) else (False, "must be a mapping")
    return True, value


def coerce(options, value):
    """A mapping an argument_spec has validated, as that validation reads it: each option present (its default
    where it is missing), bools and ints converted the way Ansible converts them. On the controller the role's
    argument_specs validate container_networks but hand the task the value unconverted; this only reads it the
    same way (a string for a list is split at commas, as Ansible does), it reports nothing (a value it cannot
    convert stays as it is, for the parser to refuse)."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, opt in options.items():
        item = value.get(name)
        if item is None:
            out[name] = _copy(opt.get("default"))
            continue
        kind = opt.get("type", "str")
        if kind == "bool" and not isinstance(item, bool) and str(item).lower() in BOOLEANS:
            out[name] = BOOLEANS[str(item).lower()]
        elif kind == "int" and isinstance(item, str) and item.isdigit():
            out[name] = int(item)
        elif kind == "str" and isinstance(item, (int, float)) and not isinstance(item, bool):
            out[name] = str(item)
        elif kind == "list":
            if isinstance(item, str):
                item = item.split(",")
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                item = [str(item)]
            if isinstance(item, (list, tuple)) and opt.get("elements") == "str":
                item = [str(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in item]
            out[name] = item
    return out
