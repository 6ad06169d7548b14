# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Networks of ours that the list no longer declares: found on the host, warned about, or pruned.

A network of ours is named by its bridge: a bridge carrying our mark (link alias ``netplumb``), or a bridge
named by the owner comment of a rule of ours (``netplumb:BRIDGE`` or ``netplumb:BRIDGE:PROTO/PORT`` in a
``NETPLUMB-*`` chain) - a network whose bridge was deleted by hand still has its rules. Owners with a ``/``
(``netplumb:fleet/...`` of host_gw_routes, ``netplumb:swarm/...`` of swarm_firewall) name no bridge and are
never a network. One that no entry of the list declares (present or absent) is undeclared.

Its subnet: the one its own NAT rules name (``-d SUBNET`` of its raw DROP, or ``-s SUBNET`` of its
MASQUERADE), else the network of the bridge's first IPv4 address (the gateway/prefix the network set), else
unknown (None: only its rules and its bridge's veths of ours can go then, found by owner and bridge).

Pruning one is declaring it ``state: absent`` (``absent_network`` -> _netspec.calls, the same calls): unless
its bridge exists and is not ours (unmarked, or not a bridge) - then only its rules of ours go, and the link
is left as it is, with a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._firewall import network_of
from ansible_collections.netplumb.container.plugins.module_utils._owner import is_ours, pending
from ansible_collections.netplumb.container.plugins.module_utils._validate import ifname

LABEL = "prune (%s)"


def bridge_name(owner):
    """The bridge an owner comment names, or None (``netplumb:fleet/...``, ``netplumb:swarm/...``)."""
    name = network_of(owner)
    try:
        return ifname("owner", name)
    except ValidationError:
        return None


def rule_subnet(rules, bridge):
    """The subnet the NAT rules of owner ``netplumb:BRIDGE`` name: raw ``-d`` of its DROP first, then nat
    ``-s``; None without one. ``rules``: _firewall.Rule records."""
    owner = "netplumb:" + bridge
    found = {}
    for r in rules:
        if r.owner != owner:
            continue
        args = list(r.args)
        for table, flag in (("raw", "-d"), ("nat", "-s")):
            if r.table == table and flag in args[:-1] and (table, flag) not in found:
                value = args[args.index(flag) + 1]
                if not value.startswith("127."):    # loopback guards are never the network's subnet
                    found[(table, flag)] = value
    return found.get(("raw", "-d")) or found.get(("nat", "-s"))


def link_subnet(host, bridge):
    """The network of the bridge's first IPv4 address (the kernel's order: its primary), or None."""
    nets = [str(a.network) for a in host.addresses(bridge) if a.version == 4]
    return nets[0] if nets else None


def find(host, rules, declared):
    """Networks of ours that ``declared`` (the bridges of every entry, present or absent) does not name:
    [{bridge, subnet, ours}] sorted by bridge; ``ours`` is False for a bridge named by rules only that exists
    and is not ours (its link is never touched). ``host``: _nl.NsState of the host; ``rules``: our rules."""
    rules = list(rules)
    return find_owners(host, set(r.owner for r in rules if r.owner), lambda name: rule_subnet(rules, name),
                       declared)


def find_owners(host, owners, subnet_of, declared):
    """find() from the owners of our rules and ``subnet_of(bridge)`` (the subnet our rules claim, or None)."""
    bridges = set()
    for lk in host.links.values():
        if lk.kind == "bridge" and (is_ours(lk) or pending(None, None, lk)):
            bridges.add(lk.name)
    for owner in owners:
        name = bridge_name(owner)
        if name is not None:
            bridges.add(name)
    out = []
    for name in sorted(bridges - set(declared)):
        lk = host.link(name)
        ours = lk is None or (lk.kind == "bridge" and (is_ours(lk) or pending(None, None, lk)))
        subnet = subnet_of(name) or (link_subnet(host, name) if ours else None)
        out.append(dict(bridge=name, subnet=subnet, ours=ours))
    return out


def read(nl, networks, ruleset, driver=None):
    """find() on this host, for the parsed ``networks`` (_netspec.parse()["networks"]); ``ruleset``: what the
    firewall driver read (None: no firewall could be read, bridges only), asked through ``driver``'s queries
    (owners, networks) whatever its backend; without a driver, an iptables Ruleset read rule by rule."""
    declared = [n["bridge"] for n in networks]
    if ruleset is None:
        return find(nl.read(None), [], declared)
    if driver is None:
        return find(nl.read(None), [r for r in ruleset.rules() if r.owner], declared)
    nets = driver.networks(ruleset)
    return find_owners(nl.read(None), driver.owners(ruleset),
                       lambda name: str(nets[name][0]) if nets.get(name) else None, declared)


def suggested_name(bridge):
    """What to call an undeclared network when declaring it absent: br-NAME -> NAME."""
    return bridge[3:] if bridge.startswith("br-") and len(bridge) > 3 else bridge


def absent_network(found):
    """An undeclared network as a parsed network with state absent, for _netspec.calls: removed exactly as a
    declared ``state: absent`` (rules only when its bridge is not ours)."""
    return dict(field=LABEL % found["bridge"], name=suggested_name(found["bridge"]), state="absent",
                bridge=found["bridge"], subnet=found["subnet"], gateway=None, mtu=None, adopt=False,
                masquerade=True, icc=True, isolate=True, bridge_addresses=[], containers=[], namespaces=[],
                pairs=[], ports=[], rules_only=not found["ours"])


def describe(found):
    return "%s (subnet %s)%s" % (found["bridge"], found["subnet"] or "unknown",
                                 "" if found["ours"] else ", rules only: the bridge is not ours")


def warning(found, variable="networks"):
    """The one warning of a run without prune that finds undeclared networks of ours."""
    first = found[0]
    return ("%d network%s of netplumb on this host %s declared by no entry of %s (present or absent) and left "
            "as %s: %s. To remove %s: prune=true (role: container_network_prune: true), or declare each "
            "state: absent, e.g. {name: %s, bridge: %s, subnet: %s, state: absent}"
            % (len(found), "" if len(found) == 1 else "s", "is" if len(found) == 1 else "are", variable,
               "it is" if len(found) == 1 else "they are", "; ".join(describe(f) for f in found),
               "it" if len(found) == 1 else "them", suggested_name(first["bridge"]), first["bridge"],
               first["subnet"] or "SUBNET"))


def rules_only_warning(found):
    return ("%s: bridge %s exists and is not netplumb's: only the rules of ours that name it were removed, the "
            "link is left as it is" % (LABEL % found["bridge"], found["bridge"]))
