# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bridges and veth pairs: validate, compare with the kernel's state, plan the `ip` steps that converge.

Each write is an Action built by one of the small op_* functions below, which hold side by side the
equivalent `ip` command line and the pyroute2 call that does it. Links are looked up by name when the
action runs, so a plan made in check mode is the plan that runs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils import _isolation
from ansible_collections.netplumb.container.plugins.module_utils import _validate as v
from ansible_collections.netplumb.container.plugins.module_utils._errors import StateError, ValidationError
from ansible_collections.netplumb.container.plugins.module_utils._nl import (
    Link, NsState, brport_linkinfo, link_msg, parse_link, veth_linkinfo)
from ansible_collections.netplumb.container.plugins.module_utils._owner import (
    OWNER_ALIAS, RTPROT_NETPLUMB, SAFETY_DOC, NotOursError, creating, is_ours, marking, ns_inode, pending, unpend)
from ansible_collections.netplumb.container.plugins.module_utils import _preflight, _ranges
from ansible_collections.netplumb.container.plugins.module_utils._plan import Action, Plan


# --- ops: one command line + one netlink call each ------------------------------------------------------
def _ip(ns):
    return "ip" if ns is None else "ip -n %s" % ns


def op_link_set(nl, ns, name, what, **kwargs):
    """`ip [-n NS] link set NAME <what>`: one RTM_NEWLINK (_nl.link_msg's keywords: up, mtu, alias, master)."""
    def fn():
        nl.writer(ns).link_set(nl.index(ns, name), **kwargs)
    return Action("link_set", name, "%s link set %s %s" % (_ip(ns), name, what), fn)


def op_up(nl, ns, name):
    return op_link_set(nl, ns, name, "up", up=True)


def op_mtu(nl, ns, name, mtu):
    return op_link_set(nl, ns, name, "mtu %d" % mtu, mtu=mtu)


def op_alias(nl, ns, name):
    action = op_link_set(nl, ns, name, "alias %s" % OWNER_ALIAS, alias=OWNER_ALIAS)
    action.fn = marking(ns, name, action.fn)
    return action


def op_master(nl, name, bridge):
    def fn():
        nl.writer(None).link_set(nl.index(None, name), master=nl.index(None, bridge))
    return Action("link_master", name, "ip link set %s master %s" % (name, bridge), fn)


def op_hairpin(nl, name, on):
    """Hairpin mode on a bridge port: frames may leave by the port they came in on, which a container needs
    to reach its own published port (the DNATed packet is bridged back to it)."""
    def fn():
        nl.writer(None).link_set(nl.index(None, name), linkinfo=brport_linkinfo(1 if on else 0))
    return Action("brport_set", name, "ip link set %s type bridge_slave hairpin %s" % (name, "on" if on else "off"), fn)


def op_link_del(nl, ns, name):
    def fn():
        try:
            nl.sock(ns).link("del", index=nl.index(ns, name))
        finally:
            nl.forget()     # a veth takes its peer along
        unpend(ns, name)
    return Action("link_del", name, "%s link del %s" % (_ip(ns), name), fn)


def op_addr(nl, ns, name, iface, verb):
    def fn():
        nl.writer(ns).addr(verb, nl.index(ns, name), iface)
    return Action("addr_" + verb, name, "%s addr %s %s dev %s" % (_ip(ns), verb, iface.with_prefixlen, name), fn)


def op_default_route(nl, ns, gateway):
    def fn():
        nl.writer(ns).default_route(gateway, RTPROT_NETPLUMB)
    return Action("route_replace", ns or "host", "%s %sroute replace default via %s proto %d" % (
        _ip(ns), "" if gateway.version == 4 else "-6 ", gateway, RTPROT_NETPLUMB), fn)


def op_bridge_add(nl, name, stp, mtu):
    extra = {} if mtu is None else dict(mtu=mtu)

    def fn(index):
        nl.sock(None).link("add", ifname=name, kind="bridge", br_stp_state=1 if stp else 0, index=index, **extra)
    cmd = "ip link add %s%s type bridge stp_state %d" % (name, "" if mtu is None else " mtu %d" % mtu, 1 if stp else 0)
    return Action("link_add", name, cmd, _creating(nl, name, "bridge", fn))


def op_bridge_stp(nl, name, stp):
    def fn():
        nl.sock(None).link("set", index=nl.index(None, name), kind="bridge", br_stp_state=1 if stp else 0)
    return Action("link_set", name, "ip link set %s type bridge stp_state %d" % (name, 1 if stp else 0), fn)


def op_veth_add(nl, name, peer, peer_ns, mtu, master=None, up=False):
    """`ip link add NAME [mtu M] [master BR] [up] type veth peer name PEER [mtu M] [netns NS]`: the host end is
    created with its final MTU, bridge and state in one request, the peer in its namespace with its name and
    MTU (not up: the kernel refuses to open a peer before the pair is linked, ENOTCONN)."""
    def fn(index):
        def add(fd=None):
            # the peer is registered first: in this namespace it gets the next ifindex, chosen too
            peer_index = _next_ifindex(nl) if peer_ns is None else 0
            peer_body = link_msg(peer_index, name=peer, mtu=mtu, ns_fd=fd)
            nl.writer(None).link_add(link_msg(index, name=name, mtu=mtu, up=True if up else None,
                                              master=None if master is None else nl.index(None, master),
                                              linkinfo=veth_linkinfo(peer_body)))
            nl.known(None, name, index)
            if peer_ns is None:
                nl.known(None, peer, peer_index)
        if peer_ns is None:
            add()
        else:
            nl.with_ns_fd(peer_ns, add)
    m = "" if mtu is None else " mtu %d" % mtu
    return Action("link_add", name, "ip link add %s%s%s%s type veth peer name %s%s%s" % (
        name, m, "" if master is None else " master %s" % master, " up" if up else "", peer, m,
        "" if peer_ns is None else " netns %s" % peer_ns), _creating(nl, name, "veth", fn))


IFINDEX_TRIES = 64


def _creating(nl, name, kind, add):
    """add(ifindex) creates host link NAME with the ifindex we choose, so that the journal (_owner.creating)
    names the link's kind, ifindex and namespace before it exists: a run killed at any point leaves either no
    link or one its entry matches exactly. An ifindex taken meanwhile (by another tool) is skipped."""
    def run():
        ino = ns_inode(nl, None)
        for attempt in range(IFINDEX_TRIES):
            index = _next_ifindex(nl)
            try:
                return creating(None, name, lambda: add(index), kind=kind, ident=(index, ino))()
            except Exception as exc:
                # EEXIST: the name or the ifindex is taken, EBUSY: the ifindex; only an ifindex is worth a retry
                if getattr(exc, "code", None) not in (16, 17) or attempt == IFINDEX_TRIES - 1 \
                        or nl.writer(None).lookup(name) is not None:
                    raise
        return None     # not reached
    return run


def _next_ifindex(nl):
    """The next ifindex of the host namespace above every one in use when the run started (one dump of the
    links, the first time)."""
    last = getattr(nl, "_netplumb_last_ifindex", None)
    if last is None:
        last = max([parse_link(m).index for m in nl.writer(None).dump_links()] + [1])
    nl._netplumb_last_ifindex = last + 1
    return last + 1


def op_move(nl, from_ns, name, to_ns):
    def fn():
        sock = nl.sock(from_ns)
        index = nl.index(from_ns, name)
        try:
            if to_ns is None:
                sock.link("set", index=index, net_ns_fd=nl._home)
            else:
                nl.with_ns_fd(to_ns, lambda fd: sock.link("set", index=index, net_ns_fd=fd))
        finally:
            nl.forget()     # the link got a new index in to_ns
    target = "1" if to_ns is None else to_ns
    return Action("link_move", name, "%s link set %s netns %s" % (_ip(from_ns), name, target), fn)


# --- helpers -------------------------------------------------------------------------------------------
def _sorted(ifaces):
    return sorted(str(i.with_prefixlen) for i in ifaces)


def _plan_addresses(p, nl, ns, name, current, wanted):
    """Exactly `wanted` global addresses on the link: remove the others, add the missing."""
    cur = set(current)
    want = set(wanted)
    for iface in sorted(cur - want, key=str):
        p.add(op_addr(nl, ns, name, iface, "del"))
    for iface in [w for w in wanted if w not in cur]:
        p.add(op_addr(nl, ns, name, iface, "add"))
    return bool(cur ^ want)


# --- bridge --------------------------------------------------------------------------------------------
def validate_bridge(spec):
    v.ifname("name", spec["name"])
    v.choice("state", spec.get("state", "present"), ("present", "absent"))
    spec["addresses"] = v.interface_cidrs("addresses", spec.get("addresses"), ranges=True)
    v.mtu("mtu", spec.get("mtu"))
    _bool("adopt", spec.get("adopt"))
    return spec


def _bool(field, value):
    if value is not None and not isinstance(value, bool):
        raise ValidationError(field, value, "must be true or false")


def bridge_view(host, name):
    lk = host.link(name)
    if lk is None:
        return dict(state="absent")
    return dict(state="present", kind=lk.kind, up=lk.up, mtu=lk.mtu, stp=bool(lk.stp),
                addresses=_sorted(host.addresses(name)), alias=lk.alias)


def foreign_ports(nl, host, lk):
    """Names of the ports of bridge lk that are not ours (alias not exactly netplumb), sorted."""
    return sorted(x.name for x in host.by_index.values() if x.master == lk.index and not is_ours(x)
                  and not pending(nl, None, x))


def _foreign_ports_error(field, name, foreign):
    return StateError("%s=%s: bridge %s has ports that are not netplumb's: %s; a bridge with a foreign port is never "
                      "netplumb's to change (adopt=true does not override this); detach them first, or leave the "
                      "bridge as it is" % (field, name, name, ", ".join(foreign)))


def plan_bridge(nl, spec, removed=(), keep_foreign=False, readers=None):
    """removed: networks (bridges) an earlier step of the same run removes (a predicted run); keep_foreign: an
    absent network's bridge with ports not ours is kept (container_network); readers: the host's file readers
    (_engine.HostReaders)."""
    name = spec["name"]
    host = nl.read(None)
    lk = host.link(name)
    p = Plan()
    p.before = bridge_view(host, name)
    if lk is not None and lk.kind != "bridge":
        raise StateError("name=%s is held by a link of kind %s, not a bridge; refusing to touch it" % (
            name, lk.kind or "unknown"))
    foreign = foreign_ports(nl, host, lk) if lk is not None else []
    facts = _preflight.read_host(nl, host, ignore=removed) if lk is not None else None
    if lk is not None and not is_ours(lk) and not spec.get("adopt") and not pending(nl, None, lk):
        if foreign:
            raise NotOursError("name", name, "bridge", adopt_hint=False, detail=(
                "it has ports that are not netplumb's: %s, so adopt=true cannot take it over either"
                % ", ".join(foreign)))
        raise NotOursError("name", name, "bridge")
    if spec.get("state", "present") == "absent":
        if lk is not None and foreign and keep_foreign:
            # container_network removing a network: everything of ours is gone, the bridge stays as it is
            p.warn("bridge %s is kept: it has ports that are not netplumb's (%s), and a bridge with a foreign port "
                   "is never netplumb's to change or delete (see %s); detach them and run again to remove it"
                   % (name, ", ".join(foreign), SAFETY_DOC))
            p.after = dict(p.before)
            p.kept = True       # not in the result: the run context does not count it as removed
            return p
        if lk is not None:
            if foreign:
                raise _foreign_ports_error("name", name, foreign)
            _preflight.check_uplink("name", name, facts, "deleted")     # whatever its mark
            mine = sorted(x.name for x in host.by_index.values() if x.master == lk.index and x.name not in foreign)
            if mine and not keep_foreign:     # container_network removes them first itself
                p.warn("bridge %s: its ports of ours (%s) stay, detached, with their namespaces and the network's "
                       "published ports: container_network state=absent removes a whole network" % (
                           name, ", ".join(mine)))
            p.add(op_link_del(nl, None, name))
        p.after = dict(state="absent")
        return p
    after = dict(p.before)
    stp = bool(spec.get("stp"))
    mtu = spec.get("mtu")
    if lk is None:
        p.add(op_bridge_add(nl, name, stp, mtu))
        p.add(op_alias(nl, None, name))
        after = dict(state="present", kind="bridge", up=False, mtu=mtu or 1500, stp=stp, addresses=[],
                     alias=OWNER_ALIAS)
    else:
        if not is_ours(lk):     # adopt=true: the mark first
            p.add(op_alias(nl, None, name))
            after["alias"] = OWNER_ALIAS
        if bool(lk.stp) != stp:
            p.add(op_bridge_stp(nl, name, stp))
            after["stp"] = stp
        if mtu is not None and lk.mtu != mtu:
            p.add(op_mtu(nl, None, name, mtu))
            after["mtu"] = mtu
    if spec.get("addresses") is not None:
        _plan_addresses(p, nl, None, name, host.addresses(name), spec["addresses"])
        after["addresses"] = _sorted(spec["addresses"])
    if readers is None:
        _isolation.plan_bridge(p, nl, spec, lk, after)
    else:
        _isolation.plan_bridge(p, nl, spec, lk, after, read=readers.proc_sys)
    if not after.get("up"):
        p.add(op_up(nl, None, name))
        after["up"] = True
    if foreign and p.actions:
        raise _foreign_ports_error("name", name, foreign)
    if p.actions:       # adopt=true included: its mark is an action
        # never cut the host off: not the uplink, and no address whose network touches the host's own
        facts = facts or _preflight.read_host(nl, host, ignore=removed)
        if lk is not None:
            _preflight.check_uplink("name", name, facts, "changed (%s)" % "; ".join(a.command for a in p.actions))
        _preflight.check_bridge("name", name, facts)
        for i, iface in enumerate(spec.get("addresses") or []):
            _preflight.check_subnet("addresses[%d]" % i, iface.network, facts, bridge=name)
            for w in _ranges.warnings("addresses[%d]" % i, iface.network, iface.with_prefixlen):
                p.warn(w)
    p.after = after
    return p


# --- veth pairs ----------------------------------------------------------------------------------------
VETH_KEYS = ("name", "peer", "peer_netns", "bridge", "hairpin", "addresses", "peer_addresses", "peer_gateway", "mtu",
             "state", "adopt", "isolated")


def veth_batch(params):
    """veth_pair's parameters -> (pairs, field prefix, bridges to prune): the single form as a batch of one, or
    the items of ``pairs`` with the top-level state, hairpin, bridge, adopt and isolated as their defaults. With
    prune, the top-level bridge names one more bridge to prune (the only one when pairs is empty)."""
    if params.get("pairs") is None:
        one = dict((k, params.get(k)) for k in VETH_KEYS if k != "state")
        one["state"] = params.get("state")
        return [one], "", []
    pairs = []
    for item in params["pairs"]:
        item = dict(item)
        for key in ("state", "hairpin", "bridge", "adopt", "isolated"):
            if item.get(key) is None and params.get(key) is not None:
                item[key] = params[key]
        pairs.append(item)
    return pairs, "pairs", [params["bridge"]] if params.get("prune") and params.get("bridge") else []


def validate_pairs(pairs, field="pairs"):
    """Validate a batch in place (CIDR strings become ip_interface objects). Raises on the first error."""
    for i, pair in enumerate(pairs):
        f = "%s[%d]." % (field, i) if field else ""
        unknown = set(pair) - set(VETH_KEYS)
        if unknown:
            raise ValidationError(f + sorted(unknown)[0], pair[sorted(unknown)[0]], "unknown key")
        for key in ("name", "peer"):
            if not pair.get(key):
                raise ValidationError(f + key, pair.get(key), "is required")
            v.ifname(f + key, pair[key])
        if pair.get("peer_netns") is not None:
            v.netns_name(f + "peer_netns", pair["peer_netns"])
        elif pair["peer"] == pair["name"]:
            raise ValidationError(f + "peer", pair["peer"], "equals name while both ends stay in this namespace")
        if pair.get("bridge") is not None:
            v.ifname(f + "bridge", pair["bridge"])
        if pair.get("hairpin") is None:
            pair["hairpin"] = True
        elif not isinstance(pair["hairpin"], bool):
            raise ValidationError(f + "hairpin", pair["hairpin"], "must be true or false")
        pair["state"] = v.choice(f + "state", pair.get("state") or "present", ("present", "absent"))
        _isolation.validate_pair(f, pair)
        _bool(f + "adopt", pair.get("adopt"))
        v.mtu(f + "mtu", pair.get("mtu"))
        pair["addresses"] = v.interface_cidrs(f + "addresses", pair.get("addresses"), ranges=True)
        pair["peer_addresses"] = v.interface_cidrs(f + "peer_addresses", pair.get("peer_addresses"))
        if pair.get("peer_gateway") is not None:
            if pair.get("peer_netns") is None:
                raise ValidationError(f + "peer_gateway", pair["peer_gateway"],
                                      "needs peer_netns (a default route is set inside the peer's namespace)")
            pair["peer_gateway"] = v.gateway_in(f + "peer_gateway", pair["peer_gateway"],
                                                pair["peer_addresses"], f + "peer_addresses")
    v.unique(field + ".name" if field else "name", pairs, lambda x: x["name"])
    v.unique(field + ".peer" if field else "peer", pairs, lambda x: (x.get("peer_netns"), x["peer"])
             if x.get("peer_netns") else None)
    host_names = set(x["name"] for x in pairs)
    for i, pair in enumerate(pairs):
        if pair.get("peer_netns") is None and pair["peer"] in host_names:
            raise ValidationError("%s[%d].peer" % (field, i) if field else "peer", pair["peer"],
                                  "is also the name of a host end in this batch")
    return pairs


class VethBatchState:
    """What planning a batch of veth pairs reads and tracks: the current state of the host namespace and of every
    namespace the batch names (each read once), the host model (read when first needed), and what the plan
    decided so far (links it deletes, ports it adopts, namespaces and bridges it marks)."""

    def __init__(self, nl, p, check_mode):
        self.nl = nl
        self.p = p
        self.check_mode = check_mode
        self.host = nl.read(None)
        self.ns = {}
        self.missing_ns = set()
        self.gone = set()       # (namespace, name) of links the plan deletes (pruned pairs' peers)
        self._nsid = None
        self.adopting = set()   # host ends the batch adopts (ports that become ours in this plan)
        self.marked_ns = set()  # namespaces the plan marks as ours (adopt=true)
        self.marked_bridges = set()     # bridges an earlier call of the same run marks (the preflight's dry run)
        self.removed_bridges = set()    # bridges an earlier call of the same run deletes (the preflight's dry run)
        self._facts = None

    def facts(self):
        """The host model (_preflight), read when first needed."""
        if self._facts is None:
            self._facts = _preflight.read_host(self.nl, self.host)
        return self._facts

    def state(self, ns):
        if ns is None:
            return self.host
        if ns not in self.ns:
            if self.nl.ns_exists(ns):
                self.ns[ns] = self.nl.read(ns)
            elif self.check_mode:
                self.p.warn("network namespace %s does not exist; assuming an earlier task creates it "
                            "(check mode)" % ns)
                self.missing_ns.add(ns)
                self.ns[ns] = NsState.empty(ns)
            else:
                raise StateError("peer_netns=%s: network namespace does not exist; create it first with "
                                 "netplumb.container.netns" % ns)
        return self.ns[ns]

    def nsid_map(self):
        """nsid (as seen from the host namespace) -> namespace name, for every named namespace (the host
        model's map, _preflight.named_nsids)."""
        if self._nsid is None:
            self._nsid = _preflight.named_nsids(self.nl)()
        return self._nsid

    def check_bridge(self, bridge):
        lk = self.host.link(bridge)
        if lk is None:
            if self.check_mode:
                self.p.warn("bridge %s does not exist; assuming an earlier task creates it (check mode)" % bridge)
                return
            raise StateError("bridge=%s: no such bridge; create it first with netplumb.container.linux_bridge" % bridge)
        if lk.kind != "bridge":
            raise StateError("bridge=%s is a link of kind %s, not a bridge" % (bridge, lk.kind or "unknown"))

    def check_new_port(self, field, bridge):
        """A new port is a change of the bridge: only on a bridge of ours without foreign ports."""
        lk = self.host.link(bridge)
        if lk is None:
            return      # check mode: an earlier task creates it (warned by check_bridge)
        if not is_ours(lk) and not pending(self.nl, None, lk) and bridge not in self.marked_bridges:
            raise NotOursError(field, bridge, "bridge", adopt_hint=False, detail=(
                "a new port would change it; take it over on purpose with netplumb.container.linux_bridge and "
                "adopt=true (see %s)" % SAFETY_DOC))
        foreign = [x for x in foreign_ports(self.nl, self.host, lk) if x not in self.adopting]
        if foreign:
            raise _foreign_ports_error(field, bridge, foreign)

    def check_ns(self, p, field, ns, adopt):
        """Writes inside named namespace ns: only in one of ours (its lo carries our alias), or adopt=true marks
        it first. A namespace missing in check mode is assumed to come from netplumb.container.netns."""
        if ns is None or ns in self.marked_ns:
            return
        lo = self.state(ns).link("lo")
        if ns in self.missing_ns or is_ours(lo):
            return
        if pending(self.nl, ns, lo):   # made by a run that died before marking it: ours, the mark comes now
            adopt = True
        if not adopt:
            raise NotOursError(field, ns, "network namespace")
        p.add(op_alias(self.nl, ns, "lo"))
        self.marked_ns.add(ns)


def _locate_peer(world, h):
    """Where the other end of host veth h is: (namespace name or None, Link) or (False, None) if unknown."""
    if h.peer_netnsid is None or h.peer_netnsid < 0:
        return None, world.host.by_index.get(h.peer_index)
    ns = world.nsid_map().get(h.peer_netnsid)
    if ns is None:
        return False, None
    lk = world.state(ns).by_index.get(h.peer_index)
    return ns, lk


def _pair_view(world, pair, h, peer_ns, pl):
    if h is None:
        return dict(state="absent")
    view = dict(state="present", peer=pl.name if pl else None, peer_netns=peer_ns if pl else None,
                bridge=world.host.name_of(h.master) if h.master else None, hairpin=h.hairpin, mtu=h.mtu, up=h.up,
                addresses=_sorted(world.host.addresses(h.name)), alias=h.alias)
    if pl is not None and peer_ns is not False:
        st = world.state(peer_ns)
        view.update(peer_up=pl.up, peer_mtu=pl.mtu, peer_addresses=_sorted(st.addrs.get(pl.index, [])))
        if peer_ns is not None:
            gws = [str(g) for g in st.routes.values()]
            view["peer_gateway"] = gws[0] if len(gws) == 1 else (sorted(gws) or None)
    return view


def plan_pairs(nl, pairs, check_mode, prune=False, prune_bridges=(), field="pairs", marked_bridges=(), keep=(),
               removed_bridges=(), orphans=None):
    """prune: also delete our veths (alias netplumb) on the bridges of the batch's present items (and on
    prune_bridges) that the batch does not name (nor ``keep``: pairs a later step of the same run declares on
    another bridge, a container moving between networks); they are listed in the result's `pruned`.
    field: how the items are named in errors (validate_pairs' field; "" for the single form).
    removed_bridges: bridges an earlier call of the same run deletes (check mode): their ports are seen detached.
    orphans: see _plan_prune."""
    p = Plan()
    world = VethBatchState(nl, p, check_mode)
    world.marked_bridges = set(marked_bridges)
    world.removed_bridges = set(removed_bridges)
    world.adopting = set(x["name"] for x in pairs if x.get("adopt") and x["state"] == "present")
    if prune:
        p.extra["pruned"] = _plan_prune(world, p, pairs, prune_bridges, keep, orphans)
    for i, pair in enumerate(pairs):
        f = "%s[%d]." % (field, i) if field else ""
        if pair["state"] == "present" and pair.get("bridge"):
            world.check_bridge(pair["bridge"])
        done = len(p.actions)
        touched = _plan_pair(world, p, pair, f)
        if len(p.actions) > done:
            # an uplink is never changed, whatever its mark: not the host end, nor the twin in this namespace
            for lname in touched:
                if world.host.link(lname) is not None:
                    _preflight.check_uplink(f + "name", lname, world.facts(), "changed (%s)" % "; ".join(
                        a.command for a in p.actions[done:]))
        if pair["state"] == "present" and (pair.get("bridge") or pair.get("addresses")):
            # never cut the host off: no uplink as bridge, no host-end address touching the host's own
            facts = world.facts()
            if pair.get("bridge"):
                _preflight.check_bridge(f + "bridge", pair["bridge"], facts)
            for j, iface in enumerate(pair.get("addresses") or []):
                _preflight.check_subnet("%saddresses[%d]" % (f, j), iface.network, facts, bridge=pair["name"])
                for w in _ranges.warnings("%saddresses[%d]" % (f, j), iface.network, iface.with_prefixlen):
                    p.warn(w)
    return p


def _orphan_of(world, h, subnet):
    """Whether our veth h, a port of no bridge, is a container's of the network ``subnet`` whose bridge is gone:
    its peer, in a named namespace, has an address in the subnet and our default route via one."""
    peer_ns, pl = _locate_peer(world, h)
    if not peer_ns or pl is None:
        return False
    st = world.state(peer_ns)
    gw = st.routes.get(4)
    return any(i.version == 4 and i.ip in subnet for i in st.addrs.get(pl.index, ())) and gw is not None and \
        gw.version == 4 and gw in subnet and st.route_protos.get(4) == RTPROT_NETPLUMB


def _plan_prune(world, p, pairs, extra_bridges=(), keep=(), orphans=None):
    """Deletes (first in the plan) every veth whose host end carries our alias, is a port of a bridge named by
    a present item (or in extra_bridges) and is not named by the batch. Returns [{name, peer_netns}].
    orphans (a subnet, container_network's absent network): also our veths of no bridge that _orphan_of
    finds to be that network's."""
    bridges = set(x["bridge"] for x in pairs if x["state"] == "present" and x.get("bridge")) | set(extra_bridges)
    names = set(x["name"] for x in pairs) | set(keep)
    out = []
    for name in sorted(world.host.links):
        h = world.host.link(name)
        if h.kind != "veth" or not (h.alias == OWNER_ALIAS or pending(world.nl, None, h)) or name in names:
            continue
        if not h.master:
            if orphans is None or not _orphan_of(world, h, orphans):
                continue
        elif world.host.name_of(h.master) not in bridges:
            continue
        peer_ns, pl = _locate_peer(world, h)
        _preflight.check_uplink("prune", name, world.facts(), "deleted (pruned from bridge %s)"
                                % world.host.name_of(h.master) if h.master else "deleted (pruned: a detached veth "
                                "of an absent network)")
        p.before[name] = _pair_view(world, None, h, peer_ns, pl)
        p.add(op_link_del(world.nl, None, name))
        p.after[name] = dict(state="absent")
        if pl is not None and peer_ns is not False:
            world.gone.add((peer_ns, pl.name))
        peer_lo = world.state(peer_ns).link("lo") if peer_ns else None
        if peer_ns and not (is_ours(peer_lo) or pending(world.nl, peer_ns, peer_lo)):
            # the namespace it led to carries no mark: it is left, whatever follows the prune
            p.warn("veth %s led to network namespace %s, which is not netplumb's (its lo carries no mark): the "
                   "namespace is left as it is" % (name, peer_ns))
            p.foreign_ns = getattr(p, "foreign_ns", []) + [peer_ns]    # VethStep.follow queues no removal of it
        out.append(dict(name=name, peer_netns=peer_ns or None))
    return out


def _detached(world, h):
    """h as the calls before this one leave it: a port of a bridge they delete is no port any more."""
    if h is None or not h.master or world.host.name_of(h.master) not in world.removed_bridges:
        return h
    return Link(h.index, h.name, h.kind, None, h.mtu, h.up, h.alias, h.peer_index, h.peer_netnsid, h.stp)


def _where(world, cur_ns, pl):
    """Where the peer of a host veth is, in words (for refusals)."""
    if cur_ns is False:
        return ("its peer is in a network namespace that has no name under %s (a container's, or this host's own "
                "uplink)" % world.nl.run_dir)
    if pl is None:
        return "its peer was not found"
    return "its peer is %s in %s" % (pl.name, "this namespace" if cur_ns is None else "namespace %s" % cur_ns)


def _plan_pair(world, p, pair, f=""):
    """One item of the batch: refuse what is not ours, then delete it (absent), or (re)create or move the pair
    and bring each end to what the item says. Returns the names of the links of this namespace it touches."""
    name, peer, peer_ns = pair["name"], pair["peer"], pair.get("peer_netns")
    h = _detached(world, world.host.link(name))
    if h is not None and h.kind != "veth":
        raise StateError("name=%s is held by a link of kind %s, not a veth; refusing to touch it" % (
            name, h.kind or "unknown"))
    cur_ns, pl = _locate_peer(world, h) if h is not None else (None, None)
    touched = [name] + ([pl.name] if pl is not None and cur_ns is None else []) + ([peer] if peer_ns is None else [])
    _refuse_unowned(world, pair, h, cur_ns, pl, f)
    p.before[name] = _pair_view(world, pair, h, cur_ns, pl)
    if pair["state"] == "absent":
        _plan_pair_absent(world, p, pair, h, f)
        return touched
    world.check_ns(p, f + "peer_netns", peer_ns, bool(pair.get("adopt")))
    target = world.state(peer_ns)
    created, moved = _plan_pair_link(world, p, pair, h, cur_ns, pl, target, f)
    h_cur, p_cur = _pair_ends_now(world, pair, h, pl, target, created, moved)
    hairpin, isolated = _plan_host_end(world, p, pair, h, h_cur, created, f)
    gw = _plan_peer_end(world.nl, p, pair, p_cur, created or moved)
    after = _pair_after(pair, h_cur, p_cur, hairpin, gw)
    _isolation.note_after(after, isolated)
    p.after[name] = after
    return touched


def _refuse_unowned(world, pair, h, cur_ns, pl, f):
    """An existing host end: an uplink is never deleted nor taken over; one not ours (nor pending) needs adopt."""
    name, adopt = pair["name"], bool(pair.get("adopt"))
    if h is not None and pair["state"] == "absent" and (is_ours(h) or adopt):   # unmarked: refused as not ours
        _preflight.check_uplink(f + "name", name, world.facts(), "deleted")
    elif h is not None and not is_ours(h) and adopt:
        _preflight.check_uplink(f + "name", name, world.facts(), "taken over (adopt=true)")
    if h is not None and not is_ours(h) and not adopt and not pending(world.nl, None, h):
        raise NotOursError(f + "name", name, "veth", detail=_where(world, cur_ns, pl))


def _plan_pair_absent(world, p, pair, h, f):
    """state=absent: the host end goes (its twin with it); without one, a veth named like the peer of ours."""
    nl, name, peer, peer_ns = world.nl, pair["name"], pair["peer"], pair.get("peer_netns")
    if h is not None:
        p.add(op_link_del(nl, None, name))
    elif peer_ns is None or nl.ns_exists(peer_ns):
        other = world.state(peer_ns).link(peer)
        if other is not None and other.kind == "veth" and (peer_ns, peer) not in world.gone:
            # a veth named like the peer whose twin is not NAME: ours only inside a namespace of ours (or,
            # in this namespace, by its own mark)
            if peer_ns is None and not is_ours(other) and not pair.get("adopt"):
                raise NotOursError(f + "peer", peer, "veth", detail="its twin is not %s" % name)
            world.check_ns(p, f + "peer_netns", peer_ns, bool(pair.get("adopt")))
            p.add(op_link_del(nl, peer_ns, peer))
    p.after[name] = dict(state="absent")


def _plan_pair_link(world, p, pair, h, cur_ns, pl, target, f):
    """The pair itself: created when missing, rebuilt when its peer is unreachable or misnamed, the peer moved
    when it is in another namespace. Returns (created, moved)."""
    nl, name, peer, peer_ns = world.nl, pair["name"], pair["peer"], pair.get("peer_netns")
    # a new host end is created as a port of its bridge, and up unless its port is to be isolated first (an
    # isolated port never forwards before isolation is on)
    new_master, new_up = pair.get("bridge"), not pair.get("isolated")
    if new_master and (h is None or pl is None or cur_ns is False or pl.name != peer):     # (re)created
        world.check_new_port(f + "bridge", new_master)
    if h is None:
        _check_peer_name_free(world, target, peer, peer_ns, None)
        p.add(op_veth_add(nl, name, peer, peer_ns, pair.get("mtu"), new_master, new_up))
        return True, False
    if pl is None or cur_ns is False or pl.name != peer:
        # the other end is in a namespace we cannot name, or carries another name: rebuild the pair
        why = "its peer carries another name (%s)" % pl.name if pl is not None and cur_ns is not False \
            else "its peer is in a namespace that has no name under %s" % nl.run_dir
        p.warn("veth %s: %s; deleting and recreating the pair" % (name, why))
        _check_peer_name_free(world, target, peer, peer_ns, None)
        p.add(op_link_del(nl, None, name))
        p.add(op_veth_add(nl, name, peer, peer_ns, pair.get("mtu"), new_master, new_up))
        return True, False
    if cur_ns != peer_ns:
        _check_peer_name_free(world, target, peer, peer_ns, pl)
        p.add(op_move(nl, cur_ns, peer, peer_ns))
        return False, True
    return False, False


def _pair_ends_now(world, pair, h, pl, target, created, moved):
    """(host end, peer end) as the plan's actions so far leave them: mtu, master, up, alias, addresses,
    hairpin; the peer's default gateways and their protocols."""
    if created:
        new_master = pair.get("bridge")
        h_cur = dict(mtu=pair.get("mtu") or 1500, master=new_master, up=not pair.get("isolated"), alias=None,
                     addresses=[], hairpin=False if new_master else None)     # a new bridge port: hairpin off
        p_cur = dict(mtu=pair.get("mtu") or 1500, up=False, addresses=[])
    else:
        h_cur = dict(mtu=h.mtu, master=world.host.name_of(h.master) if h.master else None, up=h.up,
                     alias=h.alias, addresses=world.host.addresses(pair["name"]), hairpin=h.hairpin)
        if moved:  # a link moved to another namespace arrives down and without addresses
            p_cur = dict(mtu=pl.mtu, up=False, addresses=[])
        else:
            p_cur = dict(mtu=pl.mtu, up=pl.up, addresses=target.addrs.get(pl.index, []))
    named = pair.get("peer_netns") is not None
    p_cur["gateway"] = target.routes if named else {}
    p_cur["proto"] = target.route_protos if named else {}
    return h_cur, p_cur


def _plan_host_end(world, p, pair, h, h_cur, created, f):
    """mtu, bridge port (hairpin, isolation), our mark, addresses and up of the host end. Returns (hairpin,
    isolated) as they end up."""
    nl, name, mtu = world.nl, pair["name"], pair.get("mtu")
    if mtu is not None and h_cur["mtu"] != mtu:
        p.add(op_mtu(nl, None, name, mtu))
    hairpin = h_cur["hairpin"]
    if pair.get("bridge") and h_cur["master"] != pair["bridge"]:
        world.check_new_port(f + "bridge", pair["bridge"])
        p.add(op_master(nl, name, pair["bridge"]))
        hairpin = False  # a new bridge port starts with hairpin off
    if pair.get("bridge") and hairpin != pair["hairpin"]:
        p.add(op_hairpin(nl, name, pair["hairpin"]))
        hairpin = pair["hairpin"]
    isolated = _isolation.plan_port(p, nl, pair, None if created else h,
                                    created or h_cur["master"] != pair.get("bridge"))
    if h_cur["alias"] != OWNER_ALIAS:
        p.add(op_alias(nl, None, name))
    if pair.get("addresses") is not None:
        _plan_addresses(p, nl, None, name, h_cur["addresses"], pair["addresses"])
    if not h_cur["up"]:
        p.add(op_up(nl, None, name))
    return hairpin, isolated


def _plan_peer_end(nl, p, pair, p_cur, fresh_peer):
    """mtu, addresses, up and default route of the peer end. Returns the wanted gateway (or None)."""
    peer, peer_ns, mtu = pair["peer"], pair.get("peer_netns"), pair.get("mtu")
    if mtu is not None and p_cur["mtu"] != mtu:
        p.add(op_mtu(nl, peer_ns, peer, mtu))
    addr_changed = False
    if pair.get("peer_addresses") is not None:
        addr_changed = _plan_addresses(p, nl, peer_ns, peer, p_cur["addresses"], pair["peer_addresses"])
    if not p_cur["up"]:
        p.add(op_up(nl, peer_ns, peer))
    gw = pair.get("peer_gateway")
    if gw is not None:
        current_gw = p_cur["gateway"].get(gw.version)
        # a moved or re-addressed peer may have lost the route with its addresses: set it again; a route of
        # ours carries our protocol number (one without it is replaced once, to set the mark)
        if current_gw != gw or fresh_peer or addr_changed or p_cur["proto"].get(gw.version) != RTPROT_NETPLUMB:
            p.add(op_default_route(nl, peer_ns, gw))
    return gw


def _pair_after(pair, h_cur, p_cur, hairpin, gw):
    """The pair's view once the plan ran (the result's ``after``)."""
    mtu, peer_ns = pair.get("mtu"), pair.get("peer_netns")
    after = dict(state="present", peer=pair["peer"], peer_netns=peer_ns, alias=OWNER_ALIAS,
                 bridge=pair.get("bridge") or h_cur["master"], hairpin=hairpin, mtu=mtu or h_cur["mtu"], up=True,
                 addresses=_sorted(pair["addresses"] if pair.get("addresses") is not None else h_cur["addresses"]),
                 peer_up=True, peer_mtu=mtu or p_cur["mtu"],
                 peer_addresses=_sorted(pair["peer_addresses"] if pair.get("peer_addresses") is not None
                                        else p_cur["addresses"]))
    if peer_ns is not None:
        if gw is not None:
            after["peer_gateway"] = str(gw)
        else:
            gws = sorted(str(g) for g in p_cur["gateway"].values())
            after["peer_gateway"] = gws[0] if len(gws) == 1 else (gws or None)
    return after


def _check_peer_name_free(world, target, peer, peer_ns, ours):
    other = target.link(peer)
    if (peer_ns, peer) in world.gone:
        return      # the peer of a pruned pair, deleted earlier in the plan
    if other is not None and (ours is None or other.index != ours.index):
        raise StateError("peer=%s: the name is already used%s by another link (%s); refusing to touch it" % (
            peer, "" if peer_ns is None else " in namespace %s" % peer_ns, other.kind or "unknown kind"))
