# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure input validation. Every function raises ValidationError naming the field and the value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.netplumb.container.plugins.module_utils import _ranges
from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

_NETNS_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _text(value):
    try:
        return u"%s" % (value,)
    except Exception:  # pragma: no cover - defensive
        return value


def ifname(field, value):
    """Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, value, "an interface name must be a non-empty string")
    if len(value.encode("utf-8")) > 15:
        raise ValidationError(field, value, "an interface name is at most 15 characters")
    if value in (".", ".."):
        raise ValidationError(field, value, "'.' and '..' are not interface names")
    if value.startswith("-"):
        raise ValidationError(field, value, "a name may not start with '-' (commands would take it for an option)")
    for ch in value:
        if ch in "/:" or ch.isspace():
            raise ValidationError(field, value, "an interface name may not contain '/', ':' or whitespace")
    return value


def netns_name(field, value):
    """Network namespace name: letters, digits, '.', '_', '-' (it becomes a file under /run/netns)."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, value, "a namespace name must be a non-empty string")
    if value in (".", "..") or not _NETNS_RE.match(value):
        raise ValidationError(field, value, "a namespace name may only hold letters, digits, '.', '_' and '-'")
    if value.startswith("-"):
        raise ValidationError(field, value, "a name may not start with '-' (commands would take it for an option)")
    if len(value) > 200:
        raise ValidationError(field, value, "a namespace name is at most 200 characters")
    return value


def interface_cidr(field, value):
    """An address with its prefix, e.g. 172.18.0.1/16. Returns an ipaddress interface object."""
    if not isinstance(value, str) or "/" not in value:
        raise ValidationError(field, value, "expected an address with a prefix length, e.g. 172.18.0.1/16")
    try:
        iface = ipaddress.ip_interface(_text(value))
    except ValueError as exc:
        raise ValidationError(field, value, "not a valid address/prefix (%s)" % exc)
    if iface.ip.is_multicast or iface.ip.is_unspecified:
        raise ValidationError(field, value, "a multicast or unspecified address cannot be assigned")
    net = iface.network
    if iface.version == 4 and net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        raise ValidationError(field, value, "is the network or broadcast address of %s" % net)
    return iface


def interface_cidrs(field, values, ranges=False):
    """ranges: each address's network must not be (nor hold) a special-purpose range netplumb refuses
    (_ranges: the addresses of the host's own links - bridges, host ends of veths)."""
    if values is None:
        return None
    out = []
    seen = set()
    for i, value in enumerate(values):
        iface = interface_cidr("%s[%d]" % (field, i), value)
        if ranges:
            _ranges.refuse("%s[%d]" % (field, i), iface.network, value)
        if iface.ip in seen:
            raise ValidationError(field, values, "address %s is listed twice" % iface.ip)
        seen.add(iface.ip)
        out.append(iface)
    return out


def network(field, value):
    """A subnet in CIDR form, host bits zero, e.g. 172.18.0.0/16."""
    if not isinstance(value, str) or "/" not in value:
        raise ValidationError(field, value, "expected a subnet in CIDR form, e.g. 172.18.0.0/16")
    try:
        return ipaddress.ip_network(_text(value), strict=True)
    except ValueError as exc:
        raise ValidationError(field, value, "not a valid subnet (%s)" % exc)


def address(field, value):
    if not isinstance(value, str):
        raise ValidationError(field, value, "expected an IP address")
    try:
        return ipaddress.ip_address(_text(value))
    except ValueError as exc:
        raise ValidationError(field, value, "not a valid IP address (%s)" % exc)


def mtu(field, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 68 <= value <= 65535:
        raise ValidationError(field, value, "an MTU is an integer between 68 and 65535")
    return value


def gateway_in(field, gateway, ifaces, ifaces_field):
    """The gateway must lie inside one of the subnets of the given addresses (same family)."""
    gw = address(field, gateway)
    if not ifaces:
        raise ValidationError(field, gateway, "needs %s so the gateway is reachable" % ifaces_field)
    for iface in ifaces:
        if iface.version == gw.version and gw in iface.network:
            if gw == iface.ip:
                raise ValidationError(field, gateway, "is the peer's own address")
            return gw
    raise ValidationError(field, gateway, "is not inside any subnet of %s (%s)" % (
        ifaces_field, ", ".join(str(i.with_prefixlen) for i in ifaces)))


def choice(field, value, choices):
    if value not in choices:
        raise ValidationError(field, value, "must be one of %s" % ", ".join(choices))
    return value


def unique(field, items, key):
    """Raise on the first duplicate value of key within one batch."""
    seen = {}
    for i, item in enumerate(items):
        k = key(item)
        if k is None:
            continue
        if k in seen:
            raise ValidationError(field, k, "appears twice in one batch (items %d and %d)" % (seen[k], i))
        seen[k] = i


def ipv4_subnet(field, value, longest=32):
    """An IPv4 subnet in CIDR form, host bits zero, not the default route, at most /``longest``."""
    try:
        net = ipaddress.ip_network(_text(value), strict=True)
    except ValueError as exc:
        raise ValidationError(field, value, "not a subnet in CIDR form (%s)" % exc)
    if net.version != 4 or net.prefixlen == 0 or net.prefixlen > longest:
        raise ValidationError(field, value, "an IPv4 subnet (not a default route)" if longest == 32 else
                              "an IPv4 subnet between /1 and /%d" % longest)
    return net


def ipv4_unicast(field, value, why=""):
    """A unicast IPv4 address (not multicast, unspecified or loopback); ``why`` follows the error's reason."""
    try:
        addr = ipaddress.ip_address(_text(value))
    except ValueError as exc:
        raise ValidationError(field, value, "not an IP address (%s)" % exc)
    if addr.version != 4 or addr.is_multicast or addr.is_unspecified or addr.is_loopback:
        raise ValidationError(field, value, "a unicast IPv4 address" + (" (%s)" % why if why else ""))
    return addr
