# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall at the level of intent: what the planners hand a firewall driver, and what a driver answers.

Planners (container_nat, port_publish, swarm_firewall, host_gw_routes) never see rule syntax. They build
intents and hand them to a driver (``_firewall.get_driver``); each driver renders its own rules from them,
reads its own state back, plans the difference and applies it atomically (the model: netavark's
``FirewallDriver`` with setup/teardown of a network and of a port forward, CNI portmap's ``PortMapper``).

Every intent carries its owner: the comment every rule rendered from it carries (``netplumb:<bridge>``,
``netplumb:<bridge>:<proto>/[<ip>:]<ports>``, ``netplumb:swarm/<what>``, ``netplumb:fleet/<bridge>``), which is
what a driver reads back and what a call manages (``owned(owner)``).

The driver interface (``FirewallDriver``):

* ``backend`` (e.g. ``iptables-nft``, ``nftables``), ``warnings``;
* ``read()`` -> the driver's own state object (opaque to planners);
* ``plan(plan, state, owned, intents)`` -> appends the Actions that make the rules of the owners ``owned``
  exactly those of ``intents`` (others untouched), applied atomically; returns (before, after): the owned
  rules' text for the diff;
* ``predicted(state, owned, intents)`` -> the state that plan leaves (check mode across steps);
* the queries, answered from the state read: ``networks(state)`` {bridge: [subnet claimed]},
  ``published(state)`` {owner: PortForward (container side unknown: None)}, ``loopback_bridges(state)``
  ({owner: bridge} of loopback publishes), ``owners(state)`` (every owner with rules),
  ``changed_owners(state, owned, intents)`` (the owned owners whose rules the plan changes),
  ``foreign_icc(bridge)`` (another tool's accept of that bridge's bridge-to-bridge traffic, or None).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

OWNER_PREFIX = "netplumb:"
LOOPBACK = ipaddress.ip_network(u"127.0.0.0/8")
SWARM = OWNER_PREFIX + "swarm"
SWARM_LOCAL = SWARM + "/local"
SWARM_PEER = SWARM + "/peer"
SWARM_DROP = SWARM + "/drop"
MANAGER_PORT = 2377
GOSSIP_PORT = 7946
FLEET = OWNER_PREFIX + "fleet/"
NFT_FAMILY = "inet"         # the nftables driver's one table
NFT_TABLE = "netplumb"


def _ports(lo_hi, sep):
    lo, hi = lo_hi
    return "%d" % lo if lo == hi else "%d%s%d" % (lo, sep, hi)


class Intent:
    __slots__ = ()

    def _key(self):
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__,) + self._key())

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__))


class NetworkIntent(Intent):
    """A container network: its bridge and subnet; masquerade of its egress; ``isolate``: traffic from its
    bridge meets the drops of other networks' addresses (else it skips them); ``icc``: containers of the
    bridge talk to each other. Always: forwarding of its egress and replies, invalid-state drops, hairpin
    masquerade, and the early drop of traffic to its subnet that does not come from its bridge."""

    __slots__ = ("bridge", "subnet", "masquerade", "isolate", "icc", "accept_fwmark")

    def __init__(self, bridge, subnet, masquerade=True, isolate=True, icc=True, accept_fwmark=None):
        self.bridge = bridge
        self.subnet = ipaddress.ip_network(u"%s" % (subnet,))
        self.masquerade = bool(masquerade)
        self.isolate = bool(isolate)
        self.icc = bool(icc)
        # (mark, mask or None): the firewall mark Docker's nftables rules accept (its bridge-accept-fwmark),
        # set on the traffic from the bridge before Docker's forward chain sees it (nftables driver only)
        self.accept_fwmark = None if accept_fwmark is None else tuple(accept_fwmark)

    @property
    def owner(self):
        return OWNER_PREFIX + self.bridge


class PortForward(Intent):
    """A published port: protocol, host address (None: every non-loopback address of the host; a loopback
    address: reachable from the host itself only) and host port range, to the container's address and port
    range (same span) behind ``bridge``. Reached from outside, from the host and from containers (hairpin);
    loopback-addressed packets for it from the wire are dropped early."""

    __slots__ = ("bridge", "protocol", "host_ip", "host", "container_ip", "container")

    def __init__(self, bridge, protocol, host_ip, host, container_ip, container):
        self.bridge = bridge
        self.protocol = protocol
        self.host_ip = None if host_ip is None else ipaddress.ip_address(u"%s" % (host_ip,))
        self.host = tuple(host)
        self.container_ip = None if container_ip is None else ipaddress.ip_address(u"%s" % (container_ip,))
        self.container = None if container is None else tuple(container)

    @property
    def loopback(self):
        return self.host_ip is not None and self.host_ip in LOOPBACK

    def key(self):
        return "%s/%s%s" % (self.protocol, "%s:" % self.host_ip if self.host_ip else "", _ports(self.host, "-"))

    @property
    def owner(self):
        return "%s%s:%s" % (OWNER_PREFIX, self.bridge, self.key())


class SwarmAllowance(Intent):
    """A Swarm node's input: its ports (2377/tcp on managers; 7946/tcp+udp; the data-path UDP port) and ESP
    accepted from ``peers`` only (IPv4 networks, in order) and dropped from everyone else (2377/tcp on workers
    too); local traffic (``lo``) is never touched."""

    __slots__ = ("peers", "manager", "data_path_port", "esp")

    def __init__(self, peers, manager=False, data_path_port=4789, esp=True):
        self.peers = tuple(ipaddress.ip_network(u"%s" % (n,)) for n in peers)
        self.manager = bool(manager)
        self.data_path_port = int(data_path_port)
        self.esp = bool(esp)

    def open_ports(self):
        tcp = [GOSSIP_PORT] + ([MANAGER_PORT] if self.manager else [])
        return dict(tcp=sorted(tcp), udp=sorted(set([GOSSIP_PORT, self.data_path_port])))

    def dropped_ports(self):
        o = self.open_ports()
        return dict(tcp=sorted(set(o["tcp"] + [MANAGER_PORT])), udp=o["udp"])


class InputAllowance(Intent):
    """One UDP or TCP port of the host's input accepted from ``peers`` only (IPv4 addresses, in order) and dropped
    from everyone else: vxlan_overlay's port (owners ``<prefix>/peer`` and ``<prefix>/drop``)."""

    __slots__ = ("prefix", "protocol", "port", "peers")

    def __init__(self, prefix, protocol, port, peers):
        self.prefix = prefix
        self.protocol = protocol
        self.port = int(port)
        self.peers = tuple(ipaddress.ip_address(u"%s" % (a,)) for a in peers)

    @property
    def peer_owner(self):
        return self.prefix + "/peer"

    @property
    def drop_owner(self):
        return self.prefix + "/drop"


class Exemption(Intent):
    """host-gw between fleet hosts: traffic of the local network (bridge, subnet) with the cluster's other
    container subnets over ``underlay`` is not masqueraded, passes the early drop, and is forwarded."""

    __slots__ = ("bridge", "subnet", "cluster", "underlay")

    def __init__(self, bridge, subnet, cluster, underlay):
        self.bridge = bridge
        self.subnet = ipaddress.ip_network(u"%s" % (subnet,))
        self.cluster = ipaddress.ip_network(u"%s" % (cluster,))
        self.underlay = underlay

    @property
    def owner(self):
        return FLEET + self.bridge


def owners_of(intents):
    """Every owner the intents' rules carry."""
    out = set()
    for i in intents:
        if isinstance(i, SwarmAllowance):
            out.update((SWARM_LOCAL, SWARM_PEER, SWARM_DROP))
        elif isinstance(i, InputAllowance):
            out.update((i.peer_owner, i.drop_owner))
        else:
            out.add(i.owner)
    return out


MARK_BITS = 0xffffffff


def parse_fwmark(field, value):
    """``docker_accept_fwmark``: ``MARK`` or ``MARK/MASK`` (decimal or 0x hex, 32 bits), as Docker's daemon option
    ``bridge-accept-fwmark`` takes it -> (mark, mask or None); None when unset. Docker accepts a packet whose mark
    equals MARK (no mask), or whose mark AND MASK equals MARK."""
    if value is None or value == "":
        return None
    text = u"%s" % (value,)
    mark_s, sep, mask_s = text.strip().partition("/")
    try:
        mark = int(mark_s, 0)
        mask = int(mask_s, 0) if sep else None
    except ValueError:
        raise ValidationError(field, value, "a firewall mark MARK or MARK/MASK (decimal or 0x hex), the value of "
                              "Docker's bridge-accept-fwmark, e.g. 0x100/0x100")
    for what, n in (("mark", mark), ("mask", mask)):
        if n is not None and not 0 <= n <= MARK_BITS:
            raise ValidationError(field, value, "the %s must fit 32 bits (0 to 0xffffffff)" % what)
    if mask is None and mark == 0:
        raise ValidationError(field, value, "mark 0 is every unmarked packet's mark; choose a mark no one else uses")
    if mask is not None and (mask == 0 or mark & ~mask & MARK_BITS):
        raise ValidationError(field, value, "the mark must lie within a non-zero mask (mark AND mask == mark), else "
                              "Docker's match (meta mark and MASK == MARK) never matches")
    return (mark, mask)


def format_fwmark(fwmark):
    """(mark, mask) -> ``0x2/0x3`` (the form Docker's bridge-accept-fwmark takes); None -> None."""
    if fwmark is None:
        return None
    mark, mask = fwmark
    return "0x%x" % mark if mask is None else "0x%x/0x%x" % (mark, mask)


def network_of(owner):
    """``netplumb:br0:tcp/5000`` -> ``br0``."""
    if not owner or not owner.startswith(OWNER_PREFIX):
        return None
    return owner[len(OWNER_PREFIX):].split(":", 1)[0]


def parse_forward_owner(owner):
    """``netplumb:br0:tcp/127.0.0.1:5000-5010`` -> PortForward (container side None), or None."""
    if not owner or not owner.startswith(OWNER_PREFIX) or owner.count(":") < 2:
        return None
    bridge, rest = owner[len(OWNER_PREFIX):].split(":", 1)
    proto, dummy, tail = rest.partition("/")
    if ":" in tail:
        hip, ports = tail.rsplit(":", 1)
    else:
        hip, ports = None, tail
    lo, dummy, hi = ports.partition("-")
    return PortForward(bridge, proto, hip, (int(lo), int(hi or lo)), None, None)


class FirewallDriver:
    """The interface every firewall driver implements (see the module docstring). Shared defaults only."""

    name = None
    backend = None

    def read(self):
        raise NotImplementedError

    def plan(self, plan, state, owned, intents):
        raise NotImplementedError

    def predicted(self, state, owned, intents):
        raise NotImplementedError

    def networks(self, state):
        raise NotImplementedError

    def published(self, state):
        raise NotImplementedError

    def loopback_bridges(self, state):
        """{owner: bridge} of the loopback publishes of ours (a bridge they point into needs route_localnet)."""
        raise NotImplementedError

    def owners(self, state):
        raise NotImplementedError

    def changed_owners(self, state, owned, intents):
        raise NotImplementedError

    def foreign_icc(self, bridge):
        return None
