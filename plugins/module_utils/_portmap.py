# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Published ports, pure: a mapping's validation (port_publish's parameters, a role's publish strings), the one
rule of two published ports colliding (``overlaps``) and its index (``PortIndex``).

No host access and no host-side import (no netlink, no firewall driver): the controller's filters
(container_network_plan through _netspec) validate with these very functions, and the planner of port_publish
(_fwnet.plan_publish) does too, so the role and the module cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._fwintent import OWNER_PREFIX, PortForward

PROTOCOLS = ("tcp", "udp", "sctp")
LOOPBACK = ipaddress.ip_network(u"127.0.0.0/8")


# --- validation -----------------------------------------------------------------------------------------
def port_range(field, value):
    """5000, "5000" or "8000-8010" -> (first, last)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(field, value, "expected a port 1-65535 or a range like 8000-8010")
    if isinstance(value, int):
        lo = hi = value
    else:
        text = u"%s" % (value,)
        parts = text.strip().split("-")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise ValidationError(field, value, "expected a port 1-65535 or a range like 8000-8010")
        lo, hi = int(parts[0]), int(parts[-1])
    for p in (lo, hi):
        if not 1 <= p <= 65535:
            raise ValidationError(field, value, "ports are 1-65535")
    if hi < lo:
        raise ValidationError(field, value, "a range goes from low to high")
    return (lo, hi)


def ipv4(field, value, allow_none=False):
    if value is None and allow_none:
        return None
    ip = v.address(field, value)
    if ip.version != 4:
        raise ValidationError(field, value, "only IPv4 is supported by the firewall drivers (iptables, nftables) for now")
    if ip.is_multicast or ip.is_unspecified:
        raise ValidationError(field, value, "a multicast or unspecified address cannot be used here")
    return ip


class Mapping:
    __slots__ = ("protocol", "host_ip", "host", "container_ip", "container", "bridge")

    def __init__(self, protocol, host_ip, host, container_ip, container, bridge):
        self.protocol = protocol
        self.host_ip = host_ip
        self.host = host
        self.container_ip = container_ip
        self.container = container
        self.bridge = bridge

    @property
    def loopback(self):
        return self.host_ip is not None and self.host_ip in LOOPBACK

    def key(self):
        """What identifies a published port: protocol, host address (or every one) and host ports."""
        ports = "%d" % self.host[0] if self.host[0] == self.host[1] else "%d-%d" % self.host
        return "%s/%s%s" % (self.protocol, "%s:" % self.host_ip if self.host_ip else "", ports)

    def owner(self, bridge=None):
        return "%s%s:%s" % (OWNER_PREFIX, bridge or self.bridge, self.key())

    def intent(self, bridge=None):
        return PortForward(bridge or self.bridge, self.protocol, self.host_ip, self.host, self.container_ip,
                           self.container)


def by_bridge(spec):
    """state=absent with bridge and no mapping named (no ports, or an empty list): every port published into
    that bridge's network goes, found by the owner comments of the rules (netplumb:BRIDGE:...)."""
    return spec.get("state") == "absent" and bool(spec.get("bridge")) and not spec.get("ports") and \
        spec.get("host_port") is None and spec.get("container_ip") is None


def validate_mappings(spec):
    """Single form or batch form -> [Mapping] (bridge may still be None: found later from the host)."""
    v.choice("state", spec["state"], ["present", "absent"])
    v.choice("firewall_backend", spec.get("firewall_backend", "auto"), ["auto", "iptables", "nftables"])
    if spec.get("prune") and spec["state"] != "present":
        raise ValidationError("prune", spec["prune"], "only with state=present (state=absent removes what it names)")
    if spec.get("prune") and spec.get("bridge") is not None:
        v.ifname("bridge", spec["bridge"])
    if by_bridge(spec):
        v.ifname("bridge", spec["bridge"])     # state=absent for a whole network: its owners are read
        return []
    if spec.get("ports") is not None:
        if spec.get("host_port") is not None or spec.get("container_ip") is not None:
            raise ValidationError("ports", spec["ports"], "use either ports or host_port/container_ip, not both")
        items = [(("ports[%d]." % i), dict(item)) for i, item in enumerate(spec["ports"])]
        if not items and not spec.get("prune"):
            raise ValidationError("ports", spec["ports"], "an empty list publishes nothing")
        if not items and not spec.get("bridge"):
            raise ValidationError("bridge", None, "required with prune=true and an empty ports list: it names the "
                                  "network whose mappings are pruned")
    else:
        for f in ("host_port", "container_ip"):
            if spec.get(f) is None:
                raise ValidationError(f, None, "required (or give a ports list)")
        items = [("", dict((k, spec.get(k)) for k in
                           ("host_port", "container_ip", "container_port", "protocol", "host_ip", "bridge")))]
    out = []
    known = ("host_port", "container_ip", "container_port", "protocol", "host_ip", "bridge")
    for pre, item in items:
        for k in item:
            if k not in known:
                raise ValidationError(pre + k, item[k], "unknown key (known: %s)" % ", ".join(known))
        host = port_range(pre + "host_port", item.get("host_port"))
        cport = item.get("container_port")
        container = host if cport is None else port_range(pre + "container_port", cport)
        if container[1] - container[0] != host[1] - host[0]:
            raise ValidationError(pre + "container_port", cport, "must span as many ports as host_port %r"
                                  % (item.get("host_port"),))
        proto = item.get("protocol") or "tcp"
        v.choice(pre + "protocol", proto, PROTOCOLS)
        cip = ipv4(pre + "container_ip", item.get("container_ip"))
        if cip in LOOPBACK:
            raise ValidationError(pre + "container_ip", item.get("container_ip"), "cannot be a loopback address")
        hip = ipv4(pre + "host_ip", item.get("host_ip"), allow_none=True)
        bridge = item.get("bridge") or spec.get("bridge")
        if bridge is not None:
            v.ifname(pre + "bridge", bridge)
        out.append(Mapping(proto, hip, host, cip, container, bridge))
    index = PortIndex()
    for i, m in enumerate(out):
        j = index.conflict(m)
        if j is not None:
            raise ValidationError("ports", m.key(), "overlaps item %d (%s) of the same batch" % (j, out[j].key()))
        index.add(m, i)
    return out


def overlaps(a, b):
    """The one definition of two published ports colliding: same protocol, host ranges that meet, and either the
    same host address, or both on every address, or one on every address and the other on a non-loopback one
    (the every-address rules exclude 127.0.0.0/8, so 127.0.0.1:80 and :80 can go to different containers)."""
    if a.protocol != b.protocol:
        return False
    if a.host[1] < b.host[0] or b.host[1] < a.host[0]:
        return False
    return _addresses_meet(a.host_ip, b.host_ip)


def _addresses_meet(a, b):
    if a is None or b is None:   # every non-loopback address vs every address or one address
        one = a or b
        return one is None or one not in LOOPBACK
    return a == b


class PortIndex:
    """Published ports indexed by (protocol, host address): ``conflict(m)`` answers what ``overlaps`` would
    against every port added, in O(log n) per address group, so a batch of K ports is checked in O(K log K)
    instead of pairwise. Only ports that conflict with nothing in the index are added, so the ranges of a group
    never overlap, and sorted by first port they are sorted by last port too."""

    def __init__(self):
        self._groups = {}       # (protocol, host_ip or None) -> ([first ports], [(first, last, tag)])

    def add(self, m, tag):
        los, items = self._groups.setdefault((m.protocol, m.host_ip), ([], []))
        at = bisect.bisect_right(los, m.host[0])
        los.insert(at, m.host[0])
        items.insert(at, (m.host[0], m.host[1], tag))

    def conflict(self, m, skip=None):
        """The tag of a port in the index that m overlaps, or None. A port tagged ``skip`` (m itself, already
        published) does not count: it covers m's very range, so nothing else of its group can overlap m."""
        for (proto, hip), (los, items) in self._groups.items():
            if proto != m.protocol or not _addresses_meet(hip, m.host_ip):
                continue
            at = bisect.bisect_right(los, m.host[1]) - 1
            if at >= 0 and items[at][1] >= m.host[0] and items[at][2] != skip:
                return items[at][2]
        return None
