# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet-wide container subnets: one subnet per host out of a cluster CIDR, stable, never overlapping.

The rule (docs/fleet-subnets.md):

* the cluster CIDR (e.g. 10.244.0.0/16) is cut into slots of the per-host prefix (e.g. /24): 256 slots,
  slot i is the i-th subnet (10.244.i.0/24);
* a host with ``container_host_index: i`` gets slot i - stable by construction;
* a host without one gets slot ``sha256(inventory name) mod slots`` - it depends on its own name only, so it
  does not move when hosts are added, removed or reordered;
* a collision (two hosts on one slot, however they got it) is never resolved by moving someone silently: it
  fails, naming both hosts and both subnets, and asks for an explicit index on one of them;
* a host's allocated subnet overlapping another host's literal subnet (a network with ``subnet:``) or a
  route of the host that is not ours fails the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError


def _net(field, value):
    try:
        return ipaddress.ip_network(u"%s" % value, strict=True)
    except ValueError as exc:
        raise ValidationError(field, value, "not a subnet in CIDR form with host bits zero (%s)" % exc)


def slot_of(name, slots):
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % slots


def allocate(cluster_cidr, prefix, hosts):
    """hosts: [{name, index (optional), subnets (literal subnets of the host's networks), routes (destinations
    of routes on the host that are not ours)}] -> {name: {subnet, index, source}}; raises ValidationError with
    every problem at once."""
    cidr = _net("container_cluster_cidr", cluster_cidr)
    if cidr.version != 4:
        raise ValidationError("container_cluster_cidr", cluster_cidr, "IPv4 only for now")
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not cidr.prefixlen < prefix <= 30:
        raise ValidationError("container_host_prefix", prefix, "an integer between %d and 30 (longer than the "
                              "cluster CIDR's /%d)" % (cidr.prefixlen + 1, cidr.prefixlen))
    slots = 2 ** (prefix - cidr.prefixlen)
    out = {}
    problems = []
    owner = {}
    for h in sorted(hosts, key=lambda x: x["name"]):
        name = h["name"]
        idx = h.get("index")
        if idx is not None:
            if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < slots:
                problems.append("%s: container_host_index=%r: must be an integer 0-%d (%d slots of /%d in %s)"
                                % (name, idx, slots - 1, slots, prefix, cidr))
                continue
            source = "index"
        else:
            idx, source = slot_of(name, slots), "name"
        subnet = ipaddress.ip_network((int(cidr.network_address) + idx * 2 ** (32 - prefix), prefix))
        if idx in owner:
            other = owner[idx]
            problems.append("%s: subnet %s (slot %d, from its %s) collides with %s's subnet %s (from its %s): set "
                            "container_host_index on one of them" % (name, subnet, idx, source, other, subnet,
                                                                     out[other]["source"]))
            continue
        owner[idx] = name
        out[name] = dict(subnet=str(subnet), index=idx, source=source)
    for h in hosts:
        for field, nets in (("subnet", h.get("subnets") or []), ("route", h.get("routes") or [])):
            for value in nets:
                net = _net("%s of %s" % (field, h["name"]), value)
                for other, alloc in sorted(out.items()):
                    mine = ipaddress.ip_network(u"%s" % alloc["subnet"])
                    if net.overlaps(mine) and not (field == "subnet" and other == h["name"] and net == mine):
                        problems.append("%s: %s %s overlaps %s's allocated subnet %s" % (
                            h["name"], "network subnet" if field == "subnet" else "route", net, other, mine))
    if problems:
        raise ValidationError("container_cluster_cidr", str(cidr), "; ".join(problems))
    return out


def swarm_peers(nodes, extra=()):
    """The Swarm peers of a node, resolved and validated on the controller before any host is written to.

    nodes: [{host, value, source}] - every member of the Swarm groups (from the inventory, not the play), value
    its swarm_prerequisites_address, else ansible_host, else its inventory name, and source which one it is;
    extra: swarm_prerequisites_extra_peers. -> {"peers": [values, in order], "problems": [messages naming the
    host and the value]}; the validation is swarm_firewall's own (_swarm._peer), so the module cannot refuse a
    peer the role accepted."""
    from ansible_collections.netplumb.container.plugins.module_utils._swarm import _peer

    peers, problems = [], []
    for node in nodes:
        host, value, source = node["host"], node.get("value"), node.get("source") or "ansible_host"
        try:
            _peer("%s: %s" % (host, source), value)
        except ValidationError as exc:
            if source == "inventory name":
                problems.append("%s: no Swarm address - neither swarm_prerequisites_address nor ansible_host is "
                                "set, and the inventory name %r is no IPv4 address (%s)" % (host, value, exc.reason))
            else:
                problems.append(str(exc))
            continue
        peers.append(value.strip())
    for i, value in enumerate(extra or []):
        try:
            _peer("swarm_prerequisites_extra_peers[%d]" % i, value)
        except ValidationError as exc:
            problems.append(str(exc))
            continue
        peers.append(value.strip())
    return dict(peers=peers, problems=problems)
