# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Special-purpose address ranges: which subnets netplumb refuses, warns about or takes silently.

Pure (no pyroute2, no host access): the controller's filter (_netspec) and every module's validation use it
before anything is read or written. The table is IANA's IPv4 and IPv6 special-purpose address registries
(RFC 6890 and its updates) plus multicast, each entry with the verdict netplumb gives a subnet that lies in it
or contains it (docs/safety.md, section 2, says why for each):

* REFUSE: a container network there cannot work or takes something from the host (its loopback, its link-local
  metadata service, every multicast or limited broadcast packet, an anycast service of the internet);
* WARN: it works but collides with something common (100.64.0.0/10: carrier-grade NAT and Tailscale);
* ACCEPT: private-use, documentation and benchmarking ranges, taken without a word (they are meant for this,
  and the documentation ranges are what the tests and the lab use).

A subnet gets the verdict of the most specific entry that contains it, and of every entry it contains, the
worst one wins. A subnet in no entry is public unicast: it is taken with a warning (the host reaches such a
subnet only through its default route, which the containers' network then shadows).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

REFUSE = "refuse"
WARN = "warn"
ACCEPT = "accept"
_RANK = {ACCEPT: 0, WARN: 1, REFUSE: 2}

# (range, name in the registry, verdict, why)
TABLE = [
    # --- IPv4 (iana-ipv4-special-registry, plus multicast) ---
    ("0.0.0.0/8", "this network", REFUSE, "source-only addresses: the kernel cannot route to them"),
    ("10.0.0.0/8", "private-use", ACCEPT, "meant for private networks"),
    ("100.64.0.0/10", "shared address space", WARN,
     "carrier-grade NAT and Tailscale number hosts there: containers would shadow them"),
    ("127.0.0.0/8", "loopback", REFUSE, "the host's own loopback"),
    ("169.254.0.0/16", "link-local", REFUSE,
     "the host would lose its link-local neighbours, e.g. the cloud metadata service at 169.254.169.254"),
    ("172.16.0.0/12", "private-use", ACCEPT, "meant for private networks"),
    ("192.0.0.0/24", "IETF protocol assignments", REFUSE,
     "reserved for protocols (DS-Lite, NAT64 discovery, PCP and TURN anycast)"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", ACCEPT, "never routed on the internet"),
    ("192.31.196.0/24", "AS112-v4", REFUSE, "anycast DNS servers of the internet"),
    ("192.52.193.0/24", "AMT", REFUSE, "anycast relays of the internet"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", REFUSE, "anycast relays of the internet"),
    ("192.168.0.0/16", "private-use", ACCEPT, "meant for private networks"),
    ("192.175.48.0/24", "direct delegation AS112 service", REFUSE, "anycast DNS servers of the internet"),
    ("198.18.0.0/15", "benchmarking", ACCEPT, "never routed on the internet"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", ACCEPT, "never routed on the internet"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", ACCEPT, "never routed on the internet"),
    ("224.0.0.0/4", "multicast", REFUSE,
     "our drop rules would take every multicast packet from the host (VRRP, OSPF, mDNS)"),
    ("240.0.0.0/4", "reserved", REFUSE, "the kernel does not route it"),
    ("255.255.255.255/32", "limited broadcast", REFUSE,
     "our drop rules would take every limited broadcast from the host (DHCP)"),
    # --- IPv6 (iana-ipv6-special-registry, plus multicast) ---
    ("::/128", "unspecified address", REFUSE, "source-only address"),
    ("::1/128", "loopback", REFUSE, "the host's own loopback"),
    ("::ffff:0:0/96", "IPv4-mapped address", REFUSE, "stands for IPv4 addresses in sockets"),
    ("64:ff9b::/96", "IPv4-IPv6 translation", REFUSE, "the well-known NAT64 prefix"),
    ("64:ff9b:1::/48", "local-use IPv4-IPv6 translation", WARN, "a site's own NAT64 prefix may be there"),
    ("100::/64", "discard-only", REFUSE, "discarded by definition"),
    ("2001::/23", "IETF protocol assignments", REFUSE, "reserved for protocols (Teredo, ORCHID, anycast)"),
    ("2001:2::/48", "benchmarking", ACCEPT, "never routed on the internet"),
    ("2001:db8::/32", "documentation", ACCEPT, "never routed on the internet"),
    ("2002::/16", "6to4", REFUSE, "stands for IPv4 addresses (6to4 tunnels)"),
    ("2620:4f:8000::/48", "direct delegation AS112 service", REFUSE, "anycast DNS servers of the internet"),
    ("3fff::/20", "documentation", ACCEPT, "never routed on the internet"),
    ("5f00::/16", "segment routing (SRv6) SIDs", REFUSE, "reserved for segment routing"),
    ("fc00::/7", "unique-local", ACCEPT, "meant for private networks"),
    ("fe80::/10", "link-local", REFUSE, "every link's own addresses and neighbours"),
    ("ff00::/8", "multicast", REFUSE, "multicast"),
]

_NETS = [(ipaddress.ip_network(r), name, verdict, why) for r, name, verdict, why in TABLE]


class RangeError(ValidationError):
    """A subnet in (or containing) a special-purpose range netplumb refuses."""

    def __init__(self, field, value, reason):
        super(RangeError, self).__init__(field, value, reason)
        self.args = ("%s=%s: %s" % (field, value, reason),)


def classify(net):
    """[(range, name, verdict, why)] of the entries that decide net's verdict: every entry net contains (most
    specific first), then the most specific entry containing net (first when it is net itself). Empty: public
    unicast. Of several as bad, the first is named (255.255.255.0/24 is refused for the limited broadcast it
    holds, 240.0.0.0/4 as reserved)."""
    out = [e for e in _NETS if e[0].version == net.version and e[0] != net and e[0].subnet_of(net)]
    out.sort(key=lambda e: -e[0].prefixlen)
    holders = [e for e in _NETS if e[0].version == net.version and net.subnet_of(e[0])]
    if holders:
        best = max(holders, key=lambda e: e[0].prefixlen)
        out.insert(0 if best[0] == net else len(out), best)     # the range itself is named first
    return out


def verdict(net):
    """(verdict, decisive entry or None): the worst verdict of classify(net); ACCEPT-with-warning for public
    unicast is WARN with entry None."""
    entries = classify(net)
    worst = max(entries, key=lambda e: _RANK[e[2]]) if entries else None
    inside = any(net.subnet_of(e[0]) for e in entries)
    if worst is None or (not inside and worst[2] == ACCEPT):
        return WARN, None       # public unicast (around some ranges meant for private use, maybe)
    return worst[2], worst


def describe(entry):
    return "%s (%s)" % (entry[0], entry[1])


def refuse(field, net, value=None):
    """Raise RangeError when net lies in or holds a range refused (validation: pure, before any read)."""
    check(field, net, value)
    return net


def warnings(field, net, value=None):
    """The warnings for net (a list of text); [] for a refused net (validation raised already)."""
    try:
        return check(field, net, value)
    except RangeError:
        return []


def check(field, net, value=None):
    """Raise RangeError when net lies in or holds a range refused; return the warnings (a list of text)."""
    v, entry = verdict(net)
    value = net if value is None else value
    if v == REFUSE:
        raise RangeError(field, str(value), "%s %s the special-purpose range %s: %s; refused (see docs/safety.md, "
                         "section 2)" % (net, "is in" if net.subnet_of(entry[0]) else "holds", describe(entry),
                                         entry[3]))
    if v == WARN and entry is not None:
        return ["%s=%s: %s %s the special-purpose range %s: %s" % (
            field, value, net, "is in" if net.subnet_of(entry[0]) else "holds", describe(entry), entry[3])]
    if v == WARN:
        return ["%s=%s: %s is public address space: the host reaches it only through its default route, and "
                "the containers' network now shadows whoever holds it on the internet, for this host" %
                (field, value, net)]
    return []
