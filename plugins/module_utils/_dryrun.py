# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole run's module calls, planned in check mode against the host as it is: the preflight.

Each call is ``{module, args, label}`` with the arguments the module itself would get. Every call is
validated and planned by the very planner its module uses (so every refusal - bad input, a name held by
something not ours, a subnet touching the host, a bound port - has one definition), nothing is written,
and every error of every call is collected. Calls that remove networks first are taken into account by the
later calls: the bridges, rule owners and published ports they remove do not collide with what follows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils import _fwnet, _links, _netns
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, ValidationError

# The modules' argument_spec defaults (tests/unit/test_dryrun.py checks them against each DOCUMENTATION).
DEFAULTS = {
    "linux_bridge": dict(addresses=None, mtu=None, stp=False, state="present", adopt=False, nf_call_iptables=True,
                         ipv6=False),
    "netns": dict(state="present", loopback=True, nameservers=None, adopt=False),
    "veth_pair": dict(name=None, peer=None, peer_netns=None, bridge=None, hairpin=True, addresses=None,
                      peer_addresses=None, peer_gateway=None, mtu=None, state="present", pairs=None, prune=False,
                      isolated=None, adopt=False),
    "container_nat": dict(masquerade=True, ip_forward=True, isolate=True, icc=True, firewall_backend="auto",
                          state="present"),
    "port_publish": dict(host_port=None, container_ip=None, container_port=None, protocol="tcp", host_ip=None,
                         bridge=None, ports=None, firewall_backend="auto", state="present", prune=False),
}


def _params(module, args):
    if module not in DEFAULTS:
        raise ValidationError("module", module, "must be one of %s" % ", ".join(sorted(DEFAULTS)))
    if not isinstance(args, dict):
        raise ValidationError("args", args, "must be a mapping of the module's options")
    params = dict(DEFAULTS[module])
    params.update(args)
    return params


def plan_call(nl, module, params, removed, marked=()):
    """Validate and plan one call in check mode; ``removed`` = bridges whose networks earlier calls remove,
    ``marked`` = bridges earlier calls create or adopt (ours by the time this call runs)."""
    if module == "linux_bridge":
        spec = _links.validate_bridge(dict(params, _removed=sorted(removed)))
        return _links.plan_bridge(nl, spec)
    if module == "netns":
        names = params.get("name")
        names = [names] if isinstance(names, str) else list(names or [])
        _netns.validate(names, params["state"], params["loopback"], params["nameservers"], params["adopt"])
        return _netns.plan(nl, names, params["state"], params["loopback"], params["nameservers"],
                           adopt=params["adopt"])
    if module == "veth_pair":
        pairs, field, prune_bridges = _links.veth_batch(params)
        if params.get("prune") and not field:
            raise ValidationError("prune", True, "needs the batch form (pairs): a single pair names no whole set")
        _links.validate_pairs(pairs, field)
        return _links.plan_pairs(nl, pairs, True, params.get("prune"), prune_bridges, field, marked_bridges=marked)
    spec = dict(params, _removed=sorted(removed))
    if module == "container_nat":
        _fwnet.validate_nat(spec)
        return _fwnet.plan_nat(nl, spec, check_mode=True)
    _fwnet.validate_mappings(spec)
    return _fwnet.plan_publish(nl, spec, True)


def removes(module, params):
    """The bridges (networks) a call takes away, as later calls of the same run will find them."""
    if params.get("state") != "absent":
        return set()
    if module in ("linux_bridge",):
        return set([params.get("name")])
    if module == "container_nat":
        return set([params.get("bridge")])
    return set()


def run_calls(nl, calls):
    """Plan every call in check mode. Returns (errors, warnings, plans): one error line per failing call,
    ``LABEL (MODULE): message``; nothing is written."""
    errors, warnings, plans = [], [], []
    removed, marked = set(), set()
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            errors.append("calls[%d]: each call is a mapping with module, args and an optional label" % i)
            continue
        module = call.get("module")
        label = call.get("label") or "calls[%d]" % i
        try:
            params = _params(module, call.get("args") or {})
            plan = plan_call(nl, module, params, removed, marked)
        except NetplumbError as exc:
            errors.append("%s (%s): %s" % (label, module, exc))
            continue
        removed |= removes(module, params)
        if module == "linux_bridge" and params.get("state") == "present":
            marked.add(params.get("name"))
        warnings += ["%s (%s): %s" % (label, module, w) for w in plan.warnings]
        plans.append(dict(label=label, module=module, changed=plan.changed, commands=plan.commands))
    return errors, warnings, plans
