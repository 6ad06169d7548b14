# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed steps the run path (_engine.py) runs: one class per building block, each with its own inputs.

A step has ``validate()`` (its input only, nothing read), ``plan(ctx)`` (a Plan from the host and what the
earlier steps of the run do, both in the run context ``ctx``), ``record(ctx, plan)`` (what its plan does that
later steps of a predicted run must know: the bridges it creates, removes or deletes) and ``follow(ctx, plan)``
(the steps its plan calls for: the namespaces of the pairs a prune removes). What container_network tells a
step beyond the building block's own options is a field of the step (``keep_foreign``, ``by_owner``,
``orphans``), never a key of its parameters.

``from_call`` turns a call (``{module, args, label}``: the preflight module's input, _netspec.calls' output)
into its step; it is the only place a module's name picks code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import sys

from ansible_collections.netplumb.container.plugins.module_utils import _bgp, _fwnet, _hostgw, _kprereq, _links, _netns
from ansible_collections.netplumb.container.plugins.module_utils import _diagnose, _gather, _kfeatures
from ansible_collections.netplumb.container.plugins.module_utils import _firewalld, _netspec, _options, _persist, _portmap
from ansible_collections.netplumb.container.plugins.module_utils import _schema, _swarm, _vxlan
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import NetplumbError, ValidationError, shorten
from ansible_collections.netplumb.container.plugins.module_utils._plan import Plan

# The defaults of the building blocks a call may name (the preflight module's choices), from their schema.
DEFAULTS = dict((module, _schema.defaults(module))
                for module in _options.PREFLIGHT["calls"]["suboptions"]["module"]["choices"])


class Step(object):
    """A step of a run. ``label``: the entry it comes from (None for a module's own step, whose messages are
    then its planner's own)."""

    module = None       # the building block's name, in labels and results
    netlink = True      # the step reads the host through netlink

    def __init__(self, params, label=None):
        self.params = dict(params)      # validation may normalize values in it: the caller's stay as given
        self.label = label

    def name(self, detail=None):
        """``LABEL (MODULE)`` and the detail, as the run's messages name a step."""
        if self.label is None:
            return "%s" % (self.module if detail is None else detail)
        head = "%s (%s)" % (self.label, self.module)
        return head if detail is None else "%s: %s" % (head, detail)

    def validate(self):
        """Check the step's input; nothing is read."""

    def plan(self, ctx):
        raise NotImplementedError

    def record(self, ctx, plan):
        """What this step's plan does, for the later steps of a predicted run."""

    def follow(self, ctx, plan):
        """Further steps the plan calls for, run right after this one."""
        return []

    def declared_pairs(self):
        return ()

    def declared_namespaces(self):
        return ()

    def creates(self):
        """(bridges, namespaces) this step creates: what check mode may assume of the later steps."""
        return (), ()

    def result(self, plan):
        """The module result of this step's plan (a module's one step)."""
        return plan.result()


class BridgeStep(Step):
    """linux_bridge. ``keep_foreign``: an absent network's bridge that still has ports not ours is kept
    (container_network), not refused."""

    module = "linux_bridge"

    def __init__(self, params, label=None, keep_foreign=False):
        super(BridgeStep, self).__init__(params, label)
        self.keep_foreign = keep_foreign

    def validate(self):
        _links.validate_bridge(self.params)

    def plan(self, ctx):
        return _links.plan_bridge(ctx.nl, self.params, removed=sorted(ctx.removed) if ctx.predicting else (),
                                  keep_foreign=self.keep_foreign, readers=ctx.readers)

    def record(self, ctx, plan):
        name = self.params["name"]
        if self.params.get("state", "present") == "present":
            ctx.marked.add(name)
        elif getattr(plan, "kept", False):      # kept for its foreign ports: there for the later steps
            ctx.removed.discard(name)
        else:
            ctx.removed.add(name)
            ctx.deleted.add(name)

    def creates(self):
        return ([self.params["name"]] if self.params.get("state", "present") == "present" else []), ()


def _names(value):
    return [value] if isinstance(value, str) else list(value or [])


class NetnsStep(Step):
    module = "netns"

    def validate(self):
        prm = self.params
        _netns.validate(_names(prm.get("name")), prm["state"], prm["loopback"], prm["nameservers"], prm["adopt"])

    def plan(self, ctx):
        prm = self.params
        return _netns.plan(ctx.nl, _names(prm.get("name")), prm["state"], prm["loopback"], prm["nameservers"],
                           adopt=prm["adopt"], readers=ctx.readers)

    def declared_namespaces(self):
        return _names(self.params.get("name"))

    def creates(self):
        return (), (self.declared_namespaces() if self.params.get("state", "present") == "present" else [])


class VethStep(Step):
    """veth_pair. ``orphans``: an absent network's subnet (container_network), in which our detached veths'
    peers are its containers. With ``prune``, the pairs the run's other steps declare are kept (``ctx.keep``)
    and the pruned peers' namespaces that are ours and no netns step names follow as a NetnsStep."""

    module = "veth_pair"

    def __init__(self, params, label=None, orphans=None):
        super(VethStep, self).__init__(params, label)
        self.orphans = None if orphans is None else ipaddress.ip_network(u"%s" % orphans)
        self.pairs, self.field, self.prune_bridges = None, None, ()

    def validate(self):
        """The batch (validate_pairs turns its CIDR strings into objects: validated once, then planned)."""
        try:
            self.pairs, self.field, self.prune_bridges = _links.veth_batch(self.params)
        except (TypeError, ValueError):
            raise ValidationError("pairs", self.params.get("pairs"), "must be a list of mappings")
        prune = self.params.get("prune")
        if prune and not self.field:
            raise ValidationError("prune", prune, "needs the batch form (pairs): a single pair names no whole set")
        for bridge in self.prune_bridges:
            v.ifname("bridge", bridge)
        _links.validate_pairs(self.pairs, self.field)

    def plan(self, ctx):
        prune = self.params.get("prune")
        return _links.plan_pairs(ctx.nl, self.pairs, ctx.predicting, prune, self.prune_bridges, self.field,
                                 marked_bridges=ctx.marked if ctx.predicting else (),
                                 keep=sorted(ctx.keep) if prune else (),
                                 removed_bridges=ctx.deleted if ctx.predicting else (), orphans=self.orphans)

    def follow(self, ctx, plan):
        if not self.params.get("prune") or self.label is None:
            return []
        names = set(p.get("peer_netns") for p in plan.extra.get("pruned") or () if p.get("peer_netns"))
        gone = sorted(names - set(ctx.declared_ns) - set(getattr(plan, "foreign_ns", ())))
        if not gone:
            return []
        return [NetnsStep(dict(DEFAULTS["netns"], name=gone, state="absent"), self.label)]

    def declared_pairs(self):
        state = self.params.get("state") or "present"
        return [p.get("name") for p in self.params.get("pairs") or ()
                if isinstance(p, dict) and (p.get("state") or state) == "present"]

    def result(self, plan):
        res = plan.result()
        res.setdefault("pruned", [])
        return res


class NatStep(Step):
    """container_nat. ``by_owner``: an absent network whose subnet is unknown; its rules go by owner."""

    module = "container_nat"

    def __init__(self, params, label=None, by_owner=False):
        super(NatStep, self).__init__(params, label)
        self.by_owner = by_owner

    def validate(self):
        _fwnet.validate_nat(self.params, by_owner=self.by_owner)

    def plan(self, ctx):
        return _fwnet.plan_nat(ctx.nl, self.params, ctx.driver(self.params.get("firewall_backend")),
                               check_mode=ctx.predicting, removed=sorted(ctx.removed) if ctx.predicting else (),
                               by_owner=self.by_owner, sysctl=ctx.sysctl, readers=ctx.readers)

    def record(self, ctx, plan):
        if self.params.get("state") == "absent":
            ctx.removed.add(self.params.get("bridge"))


class PublishStep(Step):
    module = "port_publish"

    def validate(self):
        _portmap.validate_mappings(self.params)

    def plan(self, ctx):
        return _fwnet.plan_publish(ctx.nl, self.params, ctx.predicting,
                                   ctx.driver(self.params.get("firewall_backend")),
                                   removed=sorted(ctx.removed) if ctx.predicting else (), sysctl=ctx.sysctl,
                                   readers=ctx.readers)


class PlannerStep(Step):
    """A building block whose planner needs nothing of the run but the netlink session: its ``validators``
    (each fn(params)) and ``planner`` (planner(nl, params), or planner(params) when not ``with_nl``)."""

    validators = ()
    with_nl = True

    @staticmethod
    def planner(*args):
        raise NotImplementedError

    def validate(self):
        for check in self.validators:
            check(self.params)

    def plan(self, ctx):
        return self.planner(ctx.nl, self.params) if self.with_nl else self.planner(self.params)


def _planner_step(module, validators, planner, with_nl=True, netlink=True):
    return type("%sStep" % module.title().replace("_", ""), (PlannerStep,), dict(
        module=module, netlink=netlink, with_nl=with_nl, validators=validators, planner=staticmethod(planner)))


HostGwStep = _planner_step("host_gw_routes", (_hostgw.validate, _hostgw.validate_exempt), _hostgw.plan)
VxlanStep = _planner_step("vxlan_overlay", (_vxlan.validate,), _vxlan.plan)
BgpStep = _planner_step("bgp_speaker", (_bgp.validate,), _bgp.plan)
SwarmFirewallStep = _planner_step("swarm_firewall", (_swarm.validate,), _swarm.plan, with_nl=False)
# kernel_prerequisites: files and /proc/sys only, no netlink
KernelStep = _planner_step("kernel_prerequisites", (_kprereq.validate,), _kprereq.plan, with_nl=False, netlink=False)


class InputErrors(NetplumbError):
    """Several input errors of one step, each a line of ``errors``."""

    def __init__(self, message, errors):
        self.errors = list(errors)
        super(InputErrors, self).__init__(message)


class PersistStep(Step):
    """container_network_persist: the boot files of ``networks``, no netlink. ``python``: the interpreter the
    launcher runs the boot engine with (this one's, by default)."""

    module = "container_network_persist"
    netlink = False

    def __init__(self, params, python=None, label=None):
        super(PersistStep, self).__init__(params, label)
        self.python = python or sys.executable
        self.present = False
        self.zone = None

    def validate(self):
        prm = self.params
        if prm["state"] == "present":
            parsed = _netspec.parse(prm["networks"], prm["firewall_backend"], root=prm["variable"])
            if parsed["errors"]:
                raise InputErrors("%s is invalid (%d errors): %s" % (prm["variable"], len(parsed["errors"]),
                                                                     shorten(parsed["errors"])), parsed["errors"])
            self.present = bool(parsed["present"]) and (prm["boot"] or prm["firewalld_reload"])
        self.zone = _firewalld.validate_zone("firewalld_zone", prm["firewalld_zone"])

    def plan(self, ctx):
        prm = self.params
        return _persist.plan(prm["networks"], self.present, prm["firewall_backend"], prm["variable"], self.python,
                             boot=prm["boot"], reload_listener=prm["firewalld_reload"], firewalld_zone=self.zone,
                             cross_host=prm.get("cross_host"))


class ReadStep(Step):
    """A read-only module's step: it plans nothing; what it reads (``read(ctx)``, a dict) travels on its empty
    plan as the result, with ``changed`` false and no commands."""

    def read(self, ctx, plan):
        """What the step reads, as result keys; warnings go on ``plan``."""
        raise NotImplementedError

    def plan(self, ctx):
        plan = Plan()
        plan.extra.update(self.read(ctx, plan))
        return plan

    def result(self, plan):
        res = dict(changed=False)
        res.update(plan.extra)
        return res

    def driver(self, ctx):
        """(the run's firewall driver of the step's firewall_backend, None) or, when none can be made, (None,
        why): the networks are then read without rules, and the gather notes why."""
        try:
            return ctx.driver(self.params.get("firewall_backend")), None
        except NetplumbError as exc:
            return None, str(exc)


class GatherStep(ReadStep):
    """container_network_info: this host's networks as container_network's input (_gather.read); the
    driver's warnings are the module's."""

    module = "container_network_info"

    def read(self, ctx, plan):
        driver, why = self.driver(ctx)
        out = _gather.read(ctx.nl, driver, why, adopt=self.params["adopt"])
        for warning in getattr(driver, "warnings", None) or ():
            plan.warn(warning)
        return out


class DiagnoseStep(ReadStep):
    """container_network_diagnose: the gather and the checks of what it read (_diagnose)."""

    module = "container_network_diagnose"

    def read(self, ctx, plan):
        driver, why = self.driver(ctx)
        info, state, ruleset, firewalls = _diagnose.read(ctx.nl, driver, why)
        res = dict(container_networks=info["container_networks"], unmanaged=info["unmanaged"], host=info["host"])
        res.update(_diagnose.summary(_diagnose.analyse(info, state, ruleset, firewalls)))
        return res


class SwarmFactsStep(ReadStep):
    """swarm_facts: the underlay, the data path port's users and the kernel features a swarm needs."""

    module = "swarm_facts"

    def __init__(self, params, label=None):
        super(SwarmFactsStep, self).__init__(params, label)
        self.names = None

    def validate(self):
        port = self.params["data_path_port"]
        if not 1 <= port <= 65535:
            raise ValidationError("data_path_port", port, "a UDP port 1-65535")
        self.names = _kfeatures.feature_names("features", self.params["features"])

    def read(self, ctx, plan):
        iface, mtu = _kprereq.underlay(ctx.nl.read(None), self.params.get("address"))
        return dict(hostname=os.uname()[1], interface=iface, mtu=mtu,
                    data_path_port_users=_kprereq.udp_users(self.params["data_path_port"]),
                    features=_kfeatures.detect_all(self.names, _kfeatures.Roots(), _kprereq.modprobe_dry))


CLASSES = dict((cls.module, cls) for cls in (BridgeStep, NetnsStep, VethStep, NatStep, PublishStep))
# what container_network tells a step beyond the module's options: a call's key outside ``args``
FIELDS = dict(linux_bridge=("keep_foreign",), container_nat=("by_owner",), veth_pair=("orphans",))


class BadCall(Step):
    """A call that names no step: its refusal, reported with the others."""

    def __init__(self, label, module, error):
        super(BadCall, self).__init__({}, label)
        self.module = module
        self.error = error

    def name(self, detail=None):
        return "%s" % self.error if self.module is None else super(BadCall, self).name(detail)

    def validate(self):
        raise self.error


def from_call(call, index=0):
    """The step of a call ``{module, args, label}`` (plus the fields of FIELDS for container_network's calls),
    its args over the module's defaults."""
    if not isinstance(call, dict):
        return BadCall("calls[%d]" % index, None, NetplumbError(
            "calls[%d]: each call is a mapping with module, args and an optional label" % index))
    module = call.get("module")
    label = call.get("label") or "calls[%d]" % index
    args = call.get("args") or {}
    if module not in CLASSES:
        return BadCall(label, module, ValidationError("module", module, "must be one of %s"
                                                      % ", ".join(sorted(DEFAULTS))))
    if not isinstance(args, dict):
        return BadCall(label, module, ValidationError("args", args, "must be a mapping of the module's options"))
    params = dict(DEFAULTS[module])
    params.update(args)
    extra = dict((k, call[k]) for k in FIELDS.get(module, ()) if k in call)
    return CLASSES[module](params, label, **extra)


def from_calls(calls):
    return [from_call(call, i) for i, call in enumerate(calls)]
