# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one definition of every option of the collection's modules and roles (types, defaults, choices,
elements, suboptions and description text), in the form of a module's DOCUMENTATION ``options``.

From it come (``_schema``): each module's argument_spec, ``_steps``' defaults, ``_netspec``'s keys and
defaults; and (``tools/schema.py``, ``make schema``, committed): each module's DOCUMENTATION ``options``, the
doc fragments ``host_lock`` and ``firewall_backend`` and the roles' ``meta/argument_specs.yml``.
``tests/unit/test_schema.py`` regenerates those in memory and fails on drift. To add an option: add it here,
run ``make schema``, use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT

STATES = ["present", "absent"]


def opt(kind, description, **more):
    """One option: its type, its description (a string or a list of paragraphs), and any of default, required,
    choices, elements, suboptions (a mapping of options) and validate (the _validate function that names a
    wrong kind of value in the parser's messages; not part of the argument_spec)."""
    return dict(description=description, type=kind, **more)


def present_absent(description):
    """The option state: present (the default) or absent."""
    return opt("str", description, default="present", choices=STATES)


# Options shared by modules, each documented by a doc fragment of its own (plugins/doc_fragments/).
LOCK_TIMEOUT = opt(
    "int",
    [
        ("Seconds to wait for the host lock, an exclusive C(flock) on C(/run/netplumb/lock) that every module of "
         "the collection takes before it reads any state, and holds until its changes are applied (in check mode "
         "too, so the prediction is not raced). Concurrent runs on one host are serialized."),
        ("When another run still holds the lock after this many seconds the module fails, before any change, with "
         "a message that names the lock file and the PID of the holder. V(0) tries once."),
        "A run killed with SIGKILL does not leave the host locked (the kernel drops the lock with its process).",
    ],
    default=DEFAULT_TIMEOUT,
)

FIREWALL_BACKEND = opt(
    "str",
    [
        ("V(iptables) uses the host's iptables, whichever backend it is built on (detected with C(iptables -V); the "
         "module refuses when rules exist in both C(iptables-nft-save) and C(iptables-legacy-save))."),
        ("V(nftables) uses the native nftables driver (one table C(inet netplumb), one atomic C(nft) transaction per "
         "run; python3-nftables where it imports, else the C(nft) binary)."),
        ("V(auto) keeps the backend our rules are in; else nftables when C(nft) works and no iptables rule of anyone "
         "exists (or only nf_tables-backed ones that are not ours), iptables otherwise; our rules in both is an "
         "error. An explicit backend moves the rules this call manages from the other one. See "
         "docs/firewall-backends.md."),
    ],
    default="auto", choices=["auto", "iptables", "nftables"],
)

# Docker 29 in nftables mode: the mark of its daemon option bridge-accept-fwmark (container_nat, the networks).
DOCKER_ACCEPT_FWMARK = opt(
    "str",
    [
        ("Docker 29 with its nftables firewall backend drops new connections into its networks whatever our table "
         "accepts (an accept in nftables is not final), except packets carrying the mark of its daemon option "
         "C(bridge-accept-fwmark). Set this to the same value (C(MARK) or C(MARK/MASK), decimal or C(0x) hex, e.g. "
         "V(0x100/0x100)) and the nftables driver marks the traffic from the bridge (chain C(forward-mark), "
         "priority C(filter - 1): only the mask's bits, without a mask the whole mark), so its containers reach "
         "Docker's containers, unpublished ports included."),
        ("Unset (the default) nothing is marked; where Docker's nftables table has networks, a warning names "
         "C(bridge-accept-fwmark) and this option. The iptables driver does not set the mark (a warning says so). "
         "See docs/firewall-backends.md."),
    ],
)

# Doc fragment name -> the options it documents.
FRAGMENTS = dict(host_lock=dict(lock_timeout=LOCK_TIMEOUT), firewall_backend=dict(firewall_backend=FIREWALL_BACKEND))


# The networks of the role's container_networks and of the module container_network's networks; _netspec's
# keys and defaults. Descriptions say {root} where the option's own name goes (container_networks, networks).
NETWORK = dict(
    name=opt("str", "Name of the network (letters, digits, C(.), C(_), C(-)).", required=True),
    bridge=opt("str", "Bridge name (at most 15 characters). Default C(br-NAME)."),
    subnet=opt(
        "str",
        "IPv4 subnet in CIDR form, for example V(172.18.0.0/16). Networks of a host may not overlap.",
        required=True,
    ),
    gateway=opt(
        "str",
        "Address of the bridge, the containers' default gateway. Default the first address of O({root}[].subnet).",
    ),
    masquerade=opt(
        "bool",
        "Masquerade egress traffic of the subnet leaving through another interface.",
        default=True,
    ),
    icc=opt("bool", "Containers on this bridge may talk to each other.", default=True),
    isolate=opt("bool", "Drop traffic between this bridge and other netplumb bridges.", default=True),
    docker_accept_fwmark=dict(DOCKER_ACCEPT_FWMARK, description=[
        ("Docker 29 in nftables mode: the mark of Docker's daemon option C(bridge-accept-fwmark) (C(MARK) or "
         "C(MARK/MASK)), set on the traffic from this bridge so that Docker's chains accept it, as "
         "the option C(docker_accept_fwmark) of M(netplumb.container.container_nat). Unset: nothing is "
         "marked. See docs/firewall-backends.md."),
    ]),
    adopt=opt(
        "bool",
        [
            ("Take over, on purpose, this network's bridge, namespaces and veths that exist without netplumb's "
             "mark (made by hand, or by netplumb 0.1). Run once, then drop it. Never overrides the host-safety "
             "preflight nor a bridge port that is not netplumb's. See docs/safety.md."),
        ],
        default=False,
    ),
    mtu=opt("int", "MTU of the bridge and the veth pairs. Default not managed.", validate="mtu"),
    state=present_absent(
        "V(absent) removes the whole network, its containers listed or not.",
    ),
    containers=opt(
        "list",
        [
            ("The containers of the network. Containers (and published ports) no longer listed are removed from "
             "the host on the next run."),
        ],
        elements="dict", default=[],
        suboptions=dict(
            name=opt(
                "str",
                [
                    "The container's network namespace. Unique on the host.",
                    ("The host end of its veth pair is C(vn-NAME), or C(vn-)+6 characters+C(-)+5 hex digits of a "
                     "hash of NAME when that would exceed 15 characters; the end inside is C(eth0). Both can be "
                     "named (O({root}[].containers[].veth), O({root}[].containers[].interface))."),
                ],
                required=True,
            ),
            address=opt("str", "The container's IPv4 address inside O({root}[].subnet) (no prefix).", required=True),
            publish=opt(
                "list",
                [
                    ("Published ports, C([host_ip:]host_port:container_port[/proto]), for example "
                     "V(5000:5000/tcp), V(127.0.0.1:8053:53/udp) or V(8000-8010:9000-9010). Protocol tcp "
                     "(default), udp or sctp."),
                ],
                elements="str", default=[],
            ),
            veth=opt(
                "str",
                [
                    ("Name of the host end of the container's veth pair (at most 15 characters, unique on the "
                     "host, not a bridge of the networks). Default C(vn-NAME) as above."),
                    ("What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. "
                     "V(veth0)."),
                ],
            ),
            interface=opt(
                "str",
                [
                    ("Name of the end inside the container's namespace (at most 15 characters, not C(lo)). Default "
                     "C(eth0)."),
                    ("What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. "
                     "V(ceth0)."),
                ],
            ),
        ),
    ),
)

CONTAINER_NAT = dict(
    bridge=opt("str", "The containers' bridge (as created by M(netplumb.container.linux_bridge)).", required=True),
    subnet=opt(
        "str",
        "The containers' subnet in CIDR form, for example V(172.18.0.0/16). IPv4 only for now.",
        required=True,
    ),
    masquerade=opt(
        "bool",
        "Masquerade traffic from O(subnet) that leaves through another interface than O(bridge).",
        default=True,
    ),
    ip_forward=opt(
        "bool",
        [
            ("Make sure C(net.ipv4.ip_forward) is 1 in the current network namespace. Written only when it is off; "
             "V(false) leaves the setting alone (it is never turned off, other networks may need it)."),
        ],
        default=True,
    ),
    isolate=opt(
        "bool",
        [
            "Traffic between this bridge and another netplumb bridge is dropped (in the raw table, before any NAT).",
            ("V(false) lets traffic from this bridge reach the containers of other netplumb bridges that also set "
             "V(false); traffic from outside the host to container addresses stays dropped either way."),
        ],
        default=True,
    ),
    icc=opt(
        "bool",
        [
            "Containers on this bridge may talk to each other.",
            ("V(false) turns on bridge port isolation (C(ip link set PORT type bridge_slave isolated on)) on every "
             "port of O(bridge) whose alias is exactly C(netplumb) (ports this collection made), first in the plan "
             "- no frame passes between two of them, whatever the protocol (IPv4, IPv6 link-local, self-assigned "
             "ULAs, raw frames) and whatever br_netfilter says. The gateway (the bridge's own address) stays "
             "reachable. It also drops bridge-to-bridge forwarding in iptables (C(-i BRIDGE -o BRIDGE -j DROP)), a "
             "second layer."),
            "V(true) turns isolation off on those ports. Ports without the C(netplumb) alias are never changed.",
            ("With V(false) and a port that is not netplumb's and not isolated, the iptables drop is that port's "
             "only layer, so the module refuses while br_netfilter is off for the bridge (global "
             "C(net.bridge.bridge-nf-call-iptables=0) and the bridge's C(nf_call_iptables=0)), naming the fix."),
            ("With V(false) and br_netfilter on for the bridge, containers cannot reach published ports of their "
             "own bridge through the host (the kernel bridges the DNATed packet and isolation drops it); a warning "
             "says so. Where br_netfilter is off for the bridge, that hairpin is routed and works."),
        ],
        default=True,
    ),
    docker_accept_fwmark=DOCKER_ACCEPT_FWMARK,
    state=present_absent(
        ("V(present) converges the rules of O(bridge); V(absent) removes them (and our chains and jump rules once "
         "nothing of ours remains)."),
    ),
)

CONTAINER_NETWORK = dict(
    networks=opt(
        "list",
        [
            ("The host's container networks (the schema of the role's C(container_networks)); errors name each by "
             "its path, e.g. C(networks[0].containers[3].publish[1]='70000:80': ...)."),
            "M(netplumb.container.container_network_info) returns a host's networks in this schema.",
        ],
        elements="dict", required=True,
        suboptions=NETWORK,
    ),
    variable=opt(
        "str",
        [
            ("The name errors and step labels give to the list of networks, for example V(container_networks) when "
             "it comes from that variable (the role sets it), so that C(container_networks[1].subnet) points at "
             "the user's own input, and a hint to take a foreign object over says C(container_networks[1].adopt: "
             "true)."),
        ],
        default="networks",
    ),
    prune=opt(
        "bool",
        [
            ("Remove the networks of ours on the host that no entry of O(networks) declares (present or absent), "
             "each exactly as if it were declared V(state=absent) with its bridge and subnet. An empty O(networks) "
             "then removes every network of ours."),
            ("The subnet of an undeclared network is the one its own NAT rules name (C(-d) of its raw DROP rule, "
             "else C(-s) of its MASQUERADE), else the network of its bridge's first IPv4 address, else unknown: "
             "its rules still go by their owner comment, and its veths by its bridge."),
            ("A bridge that rules of ours name but that is not ours (no mark, or not a bridge) is never touched: "
             "only those rules go, with a warning."),
            "V(false) (the default) removes nothing and warns once per run when there is anything to prune.",
        ],
        default=False,
    ),
    firewalld_zone=opt(
        "str",
        [
            ("On a host where firewalld runs: the firewalld zone the bridges of the present networks are bound to, "
             "at runtime and permanently (C(firewall-cmd [--permanent] --zone=ZONE --add-interface=BRIDGE)), so that "
             "firewalld forwards the containers' egress. V(trusted) is the usual value; the zone must exist."),
            ("A binding netplumb made (recorded in C(/etc/netplumb/firewalld.json) before it is made) goes with its "
             "network (V(state=absent), O(prune)) or when this option is unset; a binding it did not make is never "
             "changed."),
            ("Unset (the default), on a host where firewalld runs, a bridge in no zone is warned about, naming the "
             "default zone it falls into and the commands. See docs/firewalld.md."),
        ],
    ),
)

CONTAINER_NETWORK_INFO = dict(
    adopt=opt(
        "bool",
        [
            ("V(true) sets C(adopt: true) on every network of the value that holds something without netplumb's "
             "mark (a hand-made bridge, veth or namespace), so that feeding the value to the role takes those over "
             "on purpose. Rules made by hand are never taken over - delete them first (C(networks_meta[].rules) "
             "names them), and adopt the veths of a hand-made bridge first (M(netplumb.container.veth_pair) with "
             "C(adopt: true)): a bridge with ports that are not netplumb's is never netplumb's to change (see the "
             "examples)."),
            "V(false) leaves the key out; the role then refuses to change a hand-made object and says so.",
        ],
        default=False,
    ),
)

# container_network_diagnose: only the shared options (lock_timeout, firewall_backend: the driver whose rules of
# ours are read).
CONTAINER_NETWORK_DIAGNOSE = dict()

CONTAINER_NETWORK_PERSIST = dict(
    networks=opt(
        "list",
        [
            ("The host's container networks, exactly as given to M(netplumb.container.container_network) (the "
             "schema of its O(netplumb.container.container_network#module:networks)), saved as they are given and "
             "validated by the parser the boot runs."),
        ],
        elements="dict", default=[],
    ),
    variable=opt(
        "str",
        "The name errors give to the list of networks (at boot too), for example V(container_networks).",
        default="networks",
    ),
    state=present_absent(
        [
            "V(present) saves the networks and installs the unit; V(absent) removes them.",
            "V(present) with no network in state present removes them too.",
        ],
    ),
    cross_host=opt(
        "dict",
        [
            ("The host's cross-host step, saved with the networks and converged by the same boot unit (and reload "
             "listener) - V(vxlan_overlay) before the networks, as the role runs it, V(host_gw_routes) after them. "
             "Omitted: none is saved (a saved one is dropped from the file; what runs in the kernel is left)."),
            ("The role passes the arguments its own M(netplumb.container.vxlan_overlay) or "
             "M(netplumb.container.host_gw_routes) task ran with."),
        ],
        suboptions=dict(
            module=opt(
                "str",
                "The module whose step it is.",
                required=True, choices=["host_gw_routes", "vxlan_overlay"],
            ),
            args=opt(
                "dict",
                ("Its arguments, as that module takes them (omitted options take its defaults); validated by its "
                 "own validator before anything is written."),
                required=True,
            ),
        ),
    ),
    boot=opt(
        "bool",
        [("Install the boot unit C(netplumb-networks.service) (and the sysctl file). V(false) with "
          "O(firewalld_reload=true) saves the networks for the reload listener only (the role's "
          "C(container_network_persist: false) with the listener on).")],
        default=True,
    ),
    firewalld_reload=opt(
        "bool",
        [
            ("Install the listener of firewalld's reloads, C(/etc/systemd/system/netplumb-firewalld-reload.service) "
             "(C(Type=simple), C(PartOf=firewalld.service), enabled by its link in C(firewalld.service.wants)), whose "
             "C(ExecStart) runs C(netplumb-firewalld-reload.py) from C(/etc/netplumb/lib): it follows firewalld's "
             "C(Reloaded) signal on D-Bus (through C(dbus-monitor)) and converges the saved networks after every "
             "reload and restart of firewalld, so that the rules a reload flushes are back within a second, without "
             "Ansible. See docs/firewalld.md."),
            ("With a running systemd, a change of the listener's files is followed by C(systemctl try-restart) of the "
             "listener, and its start when firewalld is active."),
        ],
        default=False,
    ),
    firewalld_zone=opt(
        "str",
        [("The firewalld zone the boot and the listener bind the bridges to, as the option C(firewalld_zone) of "
          "M(netplumb.container.container_network) does.")],
    ),
)

VXLAN_OVERLAY = dict(
    device=opt("str", "Name of the vxlan device.", default="np-vxlan"),
    vni=opt("int", "The VXLAN network identifier (1-16777215). No other vxlan device of the host may use it.",
            default=151),
    port=opt("int", "The UDP port VXLAN packets are sent to and received on. V(4789) (Docker Swarm's) is refused.",
             default=8472),
    subnet=opt("str", ("This host's fleet subnet (its VTEP address and MAC are derived from it). Required with "
                       "O(state=present).")),
    local=opt("str", ("This host's underlay address (the source of its VXLAN packets, the address the peers send "
                      "to). Required with O(state=present).")),
    underlay=opt("str", ("The interface holding O(local); it is only read (its index and MTU), never changed. "
                         "Default the interface that holds O(local).")),
    peers=opt(
        "list",
        [("The other hosts of the fleet, each a mapping with C(subnet) (its fleet subnet), C(address) (its underlay "
          "address) and optionally C(name) (for messages).")],
        elements="dict", default=[],
    ),
    cluster_cidr=opt("str", ("The fleet's cluster CIDR. Peer subnets must be inside it; routes of ours inside it "
                             "that are not peers are removed; with O(networks), the fleet exemptions are written.")),
    networks=opt(
        "list",
        ("This host's container networks on its fleet subnet, mappings with C(bridge), C(subnet) and optionally "
         "C(mtu) (checked against the underlay) and C(name)."),
        elements="dict", default=[],
    ),
    firewall=opt("bool", ("Accept UDP O(port) from the peers' underlay addresses only (and drop it from everyone "
                          "else). V(false) leaves the port alone (and removes no such rules)."), default=True),
    state=present_absent("V(present) converges the overlay; V(absent) deletes our device (with its address, routes, "
                         "neighbour and FDB entries) and our rules for the port."),
)

BGP_SPEAKER = dict(
    local=opt("str", ("This host's underlay address: the source of its BGP sessions (TCP 179) and the next hop it "
                      "announces for its subnets. Required with O(state=present).")),
    router_id=opt("str", "BIRD's router id. Default O(local)."),
    asn=opt("int", "The fleet's AS number (iBGP: every host of the fleet in the same AS); a private ASN by default.",
            default=64512),
    announce=opt("list", ("This host's container subnets to announce (its fleet subnet), each inside "
                          "O(cluster_cidr). Empty on a route reflector that has no containers."),
                 elements="str", default=[]),
    cluster_cidr=opt("str", ("The fleet's cluster CIDR. Only routes inside it are announced, learned and sent to the "
                             "kernel; nothing outside it (a default route offered by a peer) is ever learned. "
                             "Required with O(state=present).")),
    peers=opt(
        "list",
        [("The BGP peers, each a mapping with C(address), and optionally C(name) (for messages and the session's "
          "description), C(asn) (default O(asn): iBGP), C(rr_client) (this host is a route reflector and the peer "
          "its client) and C(multihop) (a TTL, for an eBGP peer that is not directly connected)."),
         ("The session of a peer is the BIRD protocol C(np_) + its address with C(_) for dots, so a peer added or "
          "removed changes no other session: C(birdc configure) restarts only the protocols whose configuration "
          "changed.")],
        elements="dict", default=[],
    ),
    route_reflector=opt("bool", ("This host is a route reflector (its C(rr_client) peers are its clients; its "
                                 "cluster id is its router id)."), default=False),
    hold_time=opt("int", "The BGP hold time of every session, in seconds (0, or 3-65535).", default=90),
    connect_retry=opt("int", "Seconds between attempts to connect to a peer that does not answer.", default=5),
    config=opt("path", ("BIRD's configuration file. Ours: its first line is netplumb's mark; a file without it is "
                        "refused unless O(adopt=true) (Debian's untouched example file counts as nobody's). With "
                        "O(supervisor=systemd) it must be the unit's C(/etc/bird/bird.conf).")),
    supervisor=opt("str", [
        ("Who runs bird. V(systemd): its unit C(bird.service) (enabled and started; the socket is "
         "C(/run/bird/bird.ctl)). V(self): the module starts C(bird -c CONFIG -s SOCKET -P PIDFILE) itself and "
         "finds it again by its pid file (containers, hosts without systemd)."),
        ("V(auto) picks V(systemd) where C(/run/systemd/system) exists and C(systemctl) answers, else V(self).")],
        default="auto", choices=["auto", "systemd", "self"]),
    socket=opt("path", ("BIRD's control socket. Default C(/run/bird/bird.ctl) with systemd, C(/run/netplumb/bird.ctl) "
                        "when the module supervises bird itself.")),
    pidfile=opt("path", "The pid file of the bird the module supervises itself.", default="/run/netplumb/bird.pid"),
    extra_config=opt("str", ("BIRD configuration appended verbatim to the rendered file (BFD, timers, logging...). "
                             "It is validated with the rest by C(bird -p): a file BIRD refuses is never installed."),
                     default=""),
    adopt=opt("bool", ("Take over a BIRD configuration that does not carry netplumb's mark (it is replaced by the "
                       "rendered one)."), default=False),
    state=present_absent("V(present) writes the configuration and runs bird; V(absent) stops our bird (which "
                         "withdraws its routes), removes our configuration and any learned route left behind "
                         "(protocol 12, metric 151). A configuration that is not ours is left alone."),
)

HOST_GW_ROUTES = dict(
    routes=opt(
        "list",
        "The routes, each a mapping with C(subnet) (CIDR) and C(via) (the other host's address).",
        elements="dict", default=[],
    ),
    prune=opt(
        "bool",
        [
            ("With O(state=present), remove the routes of ours (protocol 151) that O(routes) does not list, and "
             "the exemption rules (owner C(netplumb:fleet/BRIDGE)) of networks O(networks) does not list."),
        ],
        default=False,
    ),
    cluster_cidr=opt(
        "str",
        [
            ("The fleet's cluster CIDR, for example V(10.244.0.0/16). With O(networks), traffic between a local "
             "network and the cluster CIDR over O(underlay) is exempt from masquerade (the other host's container "
             "sees the sender's own address), passes the drop of outside traffic to the containers, and is "
             "forwarded."),
            ("Rules C(-t nat -A NETPLUMB-POSTROUTING -s SUBNET -d CLUSTER -o UNDERLAY -j RETURN), C(-t raw -A "
             "NETPLUMB-PREROUTING -s CLUSTER -d SUBNET -i UNDERLAY -j RETURN) (both first in their chain) and C(-t "
             "filter -A NETPLUMB-FORWARD -s CLUSTER -d SUBNET -i UNDERLAY -o BRIDGE -j ACCEPT), each with the "
             "comment C(netplumb:fleet/BRIDGE). Isolation between the networks of one host is unchanged."),
        ],
    ),
    underlay=opt(
        "str",
        ("The interface towards the other hosts. Default the interface whose networks hold every C(via) (with no "
         "routes, the one towards the default gateway)."),
    ),
    networks=opt(
        "list",
        "The local container networks (mappings with C(bridge) and C(subnet), inside O(cluster_cidr)).",
        elements="dict", default=[],
    ),
    state=present_absent(
        "V(present) converges the routes; V(absent) removes the listed routes of ours.",
    ),
)

KERNEL_PREREQUISITES = dict(
    required=opt(
        "list",
        ("Features that must be available. Known names are V(vxlan), V(bridge), V(br_netfilter), V(overlay), "
         "V(veth), V(ip_vs), V(esp4) and V(xfrm_user)."),
        elements="str", default=[],
    ),
    optional=opt(
        "list",
        "Features used when available; missing ones are a warning. A name in both lists is required.",
        elements="str", default=[],
    ),
    sysctls=opt(
        "dict",
        "Sysctl names and values, for example C(net.ipv4.ip_forward=1) as C(net.ipv4.ip_forward) V(1).",
        default={},
    ),
    modules_file=opt(
        "path",
        "The modules-load.d file of ours (written only when a feature is modular).",
        default="/etc/modules-load.d/netplumb.conf",
    ),
    sysctl_file=opt("path", "The sysctl.d file of ours.", default="/etc/sysctl.d/90-netplumb.conf"),
    owner_label=opt(
        "str",
        "Named in the files' header (the role passes V(swarm_prerequisites)).",
        default="kernel_prerequisites",
    ),
    state=present_absent(
        [
            "V(present) loads, writes and persists.",
            ("V(absent) removes the two files (when they carry our header) and nothing else; running values and "
             "loaded modules stay (other software may rely on them)."),
        ],
    ),
)

LINUX_BRIDGE = dict(
    name=opt(
        "str",
        "Bridge name (1-15 characters, no C(/), C(:) or whitespace, not starting with C(-)).",
        required=True,
    ),
    addresses=opt(
        "list",
        [
            "Addresses with prefix, for example V(172.18.0.1/16).",
            ("When given, exactly these global addresses end up on the bridge (others are removed); an empty list "
             "removes all. When omitted, addresses are not managed."),
        ],
        elements="str",
    ),
    mtu=opt("int", "MTU of the bridge. When omitted, the MTU is not managed."),
    stp=opt("bool", "Spanning tree protocol on the bridge.", default=False),
    state=present_absent(
        [
            "V(present) creates or converges the bridge and brings it up; V(absent) deletes it.",
        ],
    ),
    adopt=opt(
        "bool",
        [
            ("Take over, on purpose, an existing bridge that does not carry the C(netplumb) alias - it is marked "
             "(C(ip link set NAME alias netplumb), listed in RV(commands)) and then converged like one of ours, or "
             "deleted with O(state=absent). A one-off - later runs need no O(adopt)."),
            "Refused all the same while the bridge has ports that are not ours.",
            ("The former option C(force) (delete despite foreign ports) is gone - a bridge with a foreign port is "
             "never deleted; detach the port first."),
        ],
        default=False,
    ),
    nf_call_iptables=opt(
        "bool",
        [
            ("The bridge's own br_netfilter switch (C(ip link set NAME type bridge nf_call_iptables 1)) - bridged "
             "IPv4 traffic of this bridge passes iptables even where the global "
             "C(net.bridge.bridge-nf-call-iptables) is 0, so the FORWARD rules of "
             "M(netplumb.container.container_nat) see traffic between its containers. It changes only this bridge; "
             "the global sysctl is never written."),
            ("V(false) clears the attribute (br_netfilter then still applies while the global sysctl is 1). With "
             "isolated ports (O(netplumb.container.container_nat#module:icc=false)), br_netfilter makes the kernel "
             "bridge DNATed packets between the ports, which isolation drops - containers then cannot reach "
             "published ports of their own bridge through the host; the role C(container_network) passes C(icc)."),
        ],
        default=True,
    ),
    ipv6=opt(
        "bool",
        [
            ("V(false) turns IPv6 off on the bridge (C(sysctl -w net.ipv6.conf.NAME.disable_ipv6=1), in the "
             "network namespace the module runs in) - the host neither answers nor routes IPv6 there, so "
             "containers cannot reach other networks over IPv6 even while C(net.ipv6.conf.all.forwarding=1). IPv6 "
             "between containers of the same bridge is governed by port isolation "
             "(O(netplumb.container.veth_pair#module:isolated))."),
            ("V(true) sets it to 0. IPv6 between networks is then not filtered by netplumb (its rules are IPv4). "
             "O(addresses) may hold IPv6 addresses only with V(true)."),
        ],
        default=False,
    ),
)

NETNS = dict(
    name=opt(
        "list",
        [
            "Name or names of the namespaces. Letters, digits, C(.), C(_) and C(-) only.",
        ],
        elements="str", required=True,
    ),
    state=present_absent(
        [
            "V(present) creates missing namespaces; V(absent) deletes them.",
            ("A namespace that still holds processes is removed from C(/run/netns) with a warning; the kernel "
             "keeps it until those processes exit."),
        ],
    ),
    loopback=opt(
        "bool",
        [
            "Bring C(lo) up inside each namespace. V(false) leaves C(lo) as it is.",
        ],
        default=True,
    ),
    adopt=opt(
        "bool",
        [
            ("Take over, on purpose, existing namespaces that do not carry the mark - each is marked (listed in "
             "RV(commands)) and then converged like one of ours, or deleted with O(state=absent)."),
            ("A one-off - later runs need no O(adopt). This is also the upgrade path for namespaces made by a "
             "release without ownership marks."),
        ],
        default=False,
    ),
    nameservers=opt(
        "list",
        [
            "When given, C(/etc/netns/NAME/resolv.conf) lists exactly these servers. An empty list removes the file.",
            "When omitted, the file is not managed.",
            "With O(state=absent) a resolv.conf written by this module is removed with the namespace.",
        ],
        elements="str",
    ),
)

PORT_PUBLISH = dict(
    host_port=opt("raw", "Host port, or a range like V(8000-8010) mapped onto an equally long container range."),
    container_ip=opt("str", "The container's IPv4 address."),
    container_port=opt("raw", "Container port or range; defaults to O(host_port)."),
    protocol=opt("str", "Protocol of the mapping.", default="tcp", choices=["tcp", "udp", "sctp"]),
    host_ip=opt(
        "str",
        [
            "Publish on this host address only. When omitted, every local address except loopback.",
            ("A loopback address (V(127.0.0.1)) publishes for the host itself only; it is never reachable from "
             "other hosts, even those that route 127.0.0.0/8 to this one. C(route_localnet) is turned on for the "
             "container's bridge only (never C(all)) while such a mapping exists, and the bridge may not address "
             "the host's loopback (raw-table drop)."),
        ],
    ),
    bridge=opt(
        "str",
        [
            "The bridge the container sits on. When omitted, the host link whose subnet holds O(container_ip).",
            ("In check mode, when no bridge holds O(container_ip)'s subnet yet (an earlier task creates it), the "
             "rules are predicted with the placeholder name C(<bridge>) and a warning says so; a real run fails "
             "then."),
            "With O(ports), the default of each item's C(bridge); with O(prune), also a network to prune.",
            ("With O(state=absent) and no mapping named (neither O(host_port) nor a non-empty O(ports)), the "
             "network whose published ports all go - every rule whose owner comment is C(netplumb:BRIDGE:...), "
             "found on the host, whoever published it."),
        ],
    ),
    ports=opt(
        "list",
        "Batch form, instead of O(host_port)/O(container_ip); all applied in one call.",
        elements="dict",
        suboptions=dict(
            host_port=opt("raw", "As O(host_port).", required=True),
            container_ip=opt("str", "As O(container_ip).", required=True),
            container_port=opt("raw", "As O(container_port)."),
            protocol=opt("str", "As O(protocol).", default="tcp", choices=["tcp", "udp", "sctp"]),
            host_ip=opt("str", "As O(host_ip)."),
            bridge=opt("str", "As O(bridge)."),
        ),
    ),
    prune=opt(
        "bool",
        [
            ("Makes the call the whole truth for the networks it names - the bridges of its mappings, and "
             "O(bridge). Mappings of those networks that the call does not name are removed, in the same single "
             "restore per table, with the same conntrack flush for UDP, as with O(state=absent). Other networks' "
             "mappings are never touched."),
            "With an empty O(ports) list, O(bridge) is required (it names the network whose mappings all go).",
            "Only with O(state=present).",
        ],
        default=False,
    ),
    state=present_absent(
        [
            "V(present) publishes the mappings; V(absent) removes them.",
            "V(absent) with only O(bridge) removes every port published into that bridge's network (see O(bridge)).",
        ],
    ),
)

PREFLIGHT = dict(
    calls=opt(
        "list",
        "The calls, in the order the play makes them.",
        elements="dict", required=True,
        suboptions=dict(
            module=opt(
                "str",
                "The module's short name.",
                required=True, choices=["container_nat", "linux_bridge", "netns", "port_publish", "veth_pair"],
            ),
            args=opt(
                "dict",
                "The module's arguments, as the task passes them (omitted options take the module's defaults).",
                required=True,
            ),
            label=opt(
                "str",
                "Prefix of this call's errors and warnings, for example V(container_networks[0] (web)).",
            ),
        ),
    ),
)

SWARM_FACTS = dict(
    address=opt("str", "The node's Swarm (underlay) address."),
    data_path_port=opt("int", "The UDP port to look for local users of.", default=4789),
    features=opt(
        "list",
        "Kernel features to detect (see M(netplumb.container.kernel_prerequisites)).",
        elements="str", default=[],
    ),
)

SWARM_FIREWALL = dict(
    peers=opt(
        "list",
        [
            ("The Swarm peers, IPv4 addresses (V(192.0.2.11)) or networks in CIDR form with host bits zero "
             "(V(10.20.0.0/24)). Duplicates and networks inside another listed network are dropped."),
            "The node itself may be listed (the role lists every member of the Swarm groups).",
            "An empty list drops the Swarm ports from everyone (a warning says so).",
        ],
        elements="str", default=[],
    ),
    manager=opt(
        "bool",
        "The node is a Swarm manager - C(2377/tcp) is accepted from the peers (else dropped from all).",
        default=False,
    ),
    data_path_port=opt(
        "int",
        "The VXLAN data-path port (C(docker swarm init --data-path-port)). Not V(7946).",
        default=4789,
    ),
    esp=opt(
        "bool",
        [
            "Accept IP protocol 50 (ESP, encrypted overlay networks) from the peers and drop it from everyone else.",
            "V(false) writes no ESP rule at all.",
        ],
        default=True,
    ),
    state=present_absent(
        ("V(present) converges the Swarm rules; V(absent) removes exactly the rules whose owner comment starts "
         "with C(netplumb:swarm/) (and our chain and its jump once nothing of ours remains in it)."),
    ),
)

VETH_PAIR = dict(
    name=opt("str", "Host end of the pair. Mutually exclusive with O(pairs)."),
    peer=opt("str", "The other end. Required with O(name)."),
    peer_netns=opt(
        "str",
        [
            ("Namespace to move the peer into. It must exist (see M(netplumb.container.netns)); it is never "
             "created implicitly. In check mode a missing namespace is assumed to come from an earlier task, with "
             "a warning."),
            "When omitted, the peer stays in the host namespace.",
        ],
    ),
    bridge=opt(
        "str",
        [
            ("Bridge to attach the host end to. It must exist (in check mode, a warning). When omitted, the master "
             "is not managed."),
            ("With O(pairs), the bridge of every item that names none (like O(state) and O(hairpin)); with "
             "O(prune) as well, a bridge to prune even when no item names it - the only one when O(pairs) is empty "
             "(every pair of ours on it goes)."),
        ],
    ),
    hairpin=opt(
        "bool",
        [
            ("Hairpin mode on the host end's bridge port, so a container can reach its own published port (the "
             "translated packet is bridged back out of the port it came in on). Applied only with O(bridge)."),
        ],
        default=True,
    ),
    addresses=opt("list", "When given, exactly these global addresses on the host end (CIDR form).", elements="str"),
    peer_addresses=opt(
        "list",
        "When given, exactly these global addresses on the peer (CIDR form), for example V(172.18.0.10/16).",
        elements="str",
    ),
    peer_gateway=opt(
        "str",
        [
            "Default route inside O(peer_netns) via this address, which must lie in a subnet of O(peer_addresses).",
            ("The route carries the protocol number 151, netplumb's mark (C(ip route replace default via GW proto "
             "151)); a default route via the same gateway without it is replaced once, to set the mark."),
        ],
    ),
    mtu=opt("int", "MTU of both ends. When omitted, the MTU is not managed."),
    state=present_absent(
        "V(present) creates or converges and sets both ends up; V(absent) deletes the pair.",
    ),
    adopt=opt(
        "bool",
        [
            ("Take over, on purpose, a veth that does not carry the C(netplumb) alias (its host end O(name), or "
             "with O(state=absent) a veth named O(peer) in the host namespace) and a O(peer_netns) that is not "
             "ours - the mark is set (C(ip link set NAME alias netplumb), C(ip -n NS link set lo alias netplumb), "
             "listed in RV(commands)) and the pair is then converged like one of ours - or deleted, with "
             "O(state=absent)."),
            ("A one-off - once adopted, the objects carry the mark and later runs need no O(adopt). Never adopts a "
             "bridge (use M(netplumb.container.linux_bridge) with O(netplumb.container.linux_bridge#module:adopt))."),
            "With O(pairs), the default of items that set none.",
        ],
        default=False,
    ),
    pairs=opt(
        "list",
        [
            ("Batch form, mutually exclusive with O(name). Each item takes the keys O(name), O(peer), "
             "O(peer_netns), O(bridge), O(hairpin), O(addresses), O(peer_addresses), O(peer_gateway), O(mtu), "
             "O(adopt) and O(state) (defaulting to the top-level O(state)), and O(isolated)."),
        ],
        elements="dict",
    ),
    prune=opt(
        "bool",
        [
            ("Batch form only. Makes the batch the whole truth for the bridges it names - every veth whose host "
             "end carries exactly the alias C(netplumb) and is a port of a bridge named by O(bridge) in a present "
             "item of O(pairs) (or by the top-level O(bridge)), but whose name is not in O(pairs), is deleted "
             "(C(ip link del NAME); the peer goes with it). The deletions come first in the plan."),
            ("Links without the alias, and links attached to other bridges, are never pruned. The namespaces of "
             "pruned peers are not deleted; they are listed in RV(pruned) (see M(netplumb.container.netns))."),
        ],
        default=False,
    ),
    isolated=opt(
        "bool",
        [
            ("Bridge port isolation on the host end's port (C(ip link set NAME type bridge_slave isolated on)) - "
             "the bridge forwards no frame between two isolated ports, whatever the protocol (IPv4, IPv6 "
             "link-local, self-assigned addresses, raw frames) and whatever br_netfilter says. Frames to the "
             "bridge itself (the gateway) still pass, so egress and published ports work."),
            ("Applied only with O(bridge). When omitted (null), isolation is not managed. With O(pairs), the "
             "default of every item that sets none (like O(hairpin)). The role C(container_network) passes C(not "
             "icc), so the ports of an O(netplumb.container.container_nat#module:icc=false) network are born "
             "isolated."),
        ],
    ),
)

# Each module: the doc fragments that document some of its options (their options belong to its argument_spec
# too) and its own options.
MODULES = dict(
    container_nat=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NAT),
    container_network=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK),
    container_network_info=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK_INFO),
    container_network_diagnose=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK_DIAGNOSE),
    container_network_persist=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK_PERSIST),
    host_gw_routes=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=HOST_GW_ROUTES),
    kernel_prerequisites=dict(fragments=('attributes', 'host_lock'), options=KERNEL_PREREQUISITES),
    linux_bridge=dict(fragments=('attributes', 'host_lock'), options=LINUX_BRIDGE),
    netns=dict(fragments=('attributes', 'host_lock'), options=NETNS),
    port_publish=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=PORT_PUBLISH),
    preflight=dict(fragments=('attributes', 'host_lock'), options=PREFLIGHT),
    swarm_facts=dict(fragments=('attributes', 'host_lock'), options=SWARM_FACTS),
    swarm_firewall=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=SWARM_FIREWALL),
    veth_pair=dict(fragments=('attributes', 'host_lock'), options=VETH_PAIR),
    vxlan_overlay=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=VXLAN_OVERLAY),
    bgp_speaker=dict(fragments=('attributes', 'host_lock'), options=BGP_SPEAKER),
)

# The role container_network's firewall driver: the modules' option (firewall_backend), passed on.
ROLE_FIREWALL_BACKEND = opt(
    "str",
    "Firewall driver of container_nat and port_publish.",
    default=FIREWALL_BACKEND["default"], choices=FIREWALL_BACKEND["choices"],
)

# The role's meta/argument_specs.yml (entry points).
CONTAINER_NETWORK_ROLE = dict(
    main=dict(
        description=[
            ("For each network in O(container_networks), converges a bridge holding the gateway "
             "address, one network namespace per container, a veth pair per container (host end on the "
             "bridge, C(eth0) inside with the container's address and a default route via the "
             "gateway), egress NAT and forwarding (as M(netplumb.container.container_nat) does) and "
             "the published ports (as M(netplumb.container.port_publish) does)."),
            ("Every network of the host is converged by one call of the module "
             "M(netplumb.container.container_network) (preflight first), so 100 containers and ten "
             "networks cost the same one invocation per host as one container; "
             "O(container_cross_host=host_gw) adds one more (M(netplumb.container.host_gw_routes)), "
             "O(container_cross_host=vxlan) one (M(netplumb.container.vxlan_overlay)) and, with fleet subnets, any "
             "mode one more to remove the other mode's objects."),
            ("A network with O(container_networks[].state=absent) is removed in reverse order - ports, "
             "NAT, veth pairs, namespaces, bridge - by ownership, whether or not its containers are "
             "listed - every rule whose owner comment names its bridge, our veths on it and our "
             "namespaces they lead to (docs/safety.md)."),
            ("For a present network the declared list is the truth - a container or published port "
             "removed from it is removed from the host (its veth pair, its namespace, its rules); "
             "other networks and veths that netplumb did not create are never touched."),
            ("The schema is validated on the controller before anything runs; every error names its "
             "field."),
        ],
        short_description="Build a host's container networks from inventory variables",
        author=["netplumb.container contributors"],
        options=dict(
            container_networks=opt(
                "list",
                "The host's container networks.",
                elements="dict", default=[],
                suboptions=NETWORK,
            ),
            container_network_firewall_backend=ROLE_FIREWALL_BACKEND,
            container_network_firewalld_zone=opt(
                "str",
                [
                    ("On a host where firewalld runs, the firewalld zone the bridges of the present networks are "
                     "bound to, at runtime and permanently, so that firewalld forwards the containers' egress "
                     "(C(trusted) is the usual value; the zone must exist). Empty (the default) binds nothing, and a "
                     "run warns about a bridge in no zone, naming the default zone it falls into and the commands."),
                    ("A binding netplumb made (recorded in C(/etc/netplumb/firewalld.json)) goes with its network "
                     "(C(state=absent), pruning) or when this variable is emptied; a binding it did not make is "
                     "never changed. See docs/firewalld.md."),
                ],
                default="",
            ),
            container_network_firewalld_reload=opt(
                "raw",
                [
                    ("Install C(netplumb-firewalld-reload.service), which listens for firewalld's reloads and "
                     "restarts on D-Bus and converges the saved networks (C(/etc/netplumb/networks.json), as "
                     "C(container_network_persist) saves them) after each, without Ansible - a reload with the "
                     "stock C(FlushAllOnReload=yes) flushes every rule of ours."),
                    ("C(auto) (the default) installs it where firewalld runs (the converge's result "
                     "C(firewalld_running)); C(true) everywhere (it starts with firewalld); C(false) nowhere (its "
                     "files are removed). See docs/firewalld.md."),
                ],
                default="auto",
            ),
            container_network_prune=opt(
                "bool",
                [
                    ("Remove the networks of ours on the host that no entry of C(container_networks) declares "
                     "(present or absent) - bridges carrying the mark C(netplumb) and the rules of ours that name "
                     "a bridge - each exactly as if it were declared C(state=absent). An empty "
                     "C(container_networks) then removes every network of ours on the host."),
                    ("C(false) removes nothing, and every run warns once, listing the undeclared networks of ours "
                     "with their bridges and subnets."),
                    ("Rules of host_gw routing and swarm_firewall (C(netplumb:fleet/...), C(netplumb:swarm/...)) "
                     "are never a network; nothing without our mark is touched."),
                ],
                default=False,
            ),
            container_network_persist=opt(
                "bool",
                [
                    ("Save the host's networks (the list the module M(netplumb.container.container_network) "
                     "converged) in C(/etc/netplumb/networks.json) (mode 0600) and install and enable the oneshot "
                     "systemd unit C(netplumb-networks.service), which converges them at every boot - after "
                     "C(network-pre.target), before C(network-online.target) - with the same engine (a copy in "
                     "C(/etc/netplumb/lib)), without Ansible and without the controller, and prints the commands "
                     "it applies."),
                    "C(net.ipv4.ip_forward = 1) is persisted in C(/etc/sysctl.d/90-netplumb-container-network.conf).",
                    ("C(false), or no network in state present, removes those files and disables the unit; "
                     "networks that exist stay until the next reboot. See docs/persist.md."),
                ],
                default=False,
            ),
            container_network_install_pyroute2=opt(
                "bool",
                [
                    ("The modules need pyroute2 >= 0.7.2 for the managed host's Python. When it is not importable, "
                     "the role installs it - Debian/Ubuntu and RHEL/Fedora through the package C(python3-pyroute2) "
                     "(pip as the fallback), other systems through pip - and fails with a clear message where it "
                     "cannot."),
                    "V(false) only checks, and fails with that message when pyroute2 is missing.",
                ],
                default=True,
            ),
            container_cluster_cidr=opt(
                "str",
                [
                    ("The fleet's cluster CIDR, for example V(10.244.0.0/16). Every host of the fleet "
                     "(O(container_fleet_group)) gets a stable subnet of O(container_host_prefix) from it "
                     "(docs/fleet-subnets.md); a network with V(cluster) as its subnet takes its host's, and its "
                     "containers' addresses may be offsets inside it (V(10) is the subnet + 10)."),
                    "Not set - no allocation, no cross-host routing.",
                ],
            ),
            container_fleet_group=opt(
                "str",
                [
                    ("The inventory group that is the fleet - its hosts get fleet subnets, are checked for "
                     "collisions and get host-gw routes. Read from the inventory through C(hostvars), never from "
                     "the hosts of the play - a C(--limit), a C(serial) batch or an unreachable host changes "
                     "nothing about the fleet."),
                    ("Every member must have this host's O(container_cluster_cidr), and this host must be a member "
                     "(else the role fails before any change, naming the host and the value)."),
                    ("Unset or empty - every inventory host (C(groups['all'])) whose O(container_cluster_cidr) is "
                     "the same string as this host's."),
                    ("Only inventory variables of the members are read (C(container_cluster_cidr), "
                     "C(container_host_index), C(container_networks), C(container_underlay_address), "
                     "C(ansible_host)); hosts outside the play have no facts, so these must not depend on gathered "
                     "facts."),
                ],
            ),
            container_host_prefix=opt(
                "int",
                "Prefix length of each host's subnet out of O(container_cluster_cidr).",
                default=24,
            ),
            container_host_index=opt(
                "int",
                "This host's explicit slot in O(container_cluster_cidr) (default sha256 of its inventory name).",
            ),
            container_cross_host=opt(
                "str",
                [
                    ("V(host_gw) adds, on each host, a route to every other host's fleet subnet via that host's "
                     "address (O(container_underlay_address), else C(ansible_host)), with protocol 151; traffic "
                     "between fleet subnets is not masqueraded. Routes and exemptions of hosts that left the fleet "
                     "(O(container_fleet_group)) are removed; hosts outside the play keep theirs."),
                    ("V(vxlan) builds an overlay instead, for hosts on different L3 segments (docs/cross-host.md) - "
                     "one vxlan device per host (M(netplumb.container.vxlan_overlay), run before the networks), for "
                     "every other host of the fleet a route to its fleet subnet through it, a permanent neighbour "
                     "and FDB entry; UDP O(container_vxlan_port) accepted from the fleet's underlay addresses only; "
                     "no masquerade between fleet subnets. Networks on the fleet subnet get the overlay's MTU (the "
                     "underlay's minus 50) unless they declare one, which must fit."),
                    ("V(bgp) announces each host's fleet subnet over BGP and learns the others' through BIRD 2 "
                     "(M(netplumb.container.bgp_speaker), Calico's way; docs/cross-host.md): an iBGP full mesh of the "
                     "fleet, or sessions to the route reflectors of O(container_bgp_route_reflectors), plus "
                     "O(container_bgp_peers); learned routes in the kernel with protocol 12 and metric 151; no "
                     "masquerade between fleet subnets (the exemptions of V(host_gw), on the interface holding "
                     "O(container_underlay_address)). The other modes stop our bird and remove our configuration."),
                    "V(none) removes them (with O(container_cluster_cidr) set).",
                ],
                default="none", choices=["none", "host_gw", "vxlan", "bgp"],
            ),
            container_underlay_address=opt(
                "str",
                ("This host's address for host-gw routes, and its VTEP's underlay address with V(vxlan), on the "
                 "other hosts. Default C(ansible_host)."),
            ),
            container_vxlan_vni=opt(
                "int",
                ("The overlay's VXLAN network identifier (the same on every host of the fleet); another vxlan device "
                 "of a host on it is refused."),
                default=151,
            ),
            container_vxlan_port=opt(
                "int", "The overlay's UDP port (the same on every host); V(4789), Docker Swarm's, is refused.",
                default=8472,
            ),
            container_vxlan_device=opt("str", "Name of the vxlan device on each host.", default="np-vxlan"),
            container_vxlan_underlay=opt(
                "str",
                ("The interface holding O(container_underlay_address) (only read - its MTU); default found from "
                 "that address."),
            ),
            container_bgp_asn=opt(
                "int", "With V(bgp): the fleet's AS number (iBGP, the same on every host); a private ASN by default.",
                default=64512,
            ),
            container_bgp_route_reflectors=opt(
                "str",
                ("With V(bgp): the inventory group of the fleet's route reflectors. Empty (the default): an iBGP "
                 "full mesh of the fleet. Set: each reflector peers with every other host of the fleet (its "
                 "clients) and the other reflectors; every other host peers with the reflectors only."),
                default="",
            ),
            container_bgp_node_mesh=opt(
                "bool",
                ("With V(bgp) and no route reflector group: peer with every other host of the fleet (full mesh). "
                 "V(false): only with O(container_bgp_peers) (a route reflector outside the inventory)."),
                default=True,
            ),
            container_bgp_peers=opt(
                "list",
                ("With V(bgp): further BGP peers of every host of the fleet, outside the inventory - a top-of-rack "
                 "router, a route reflector - each a mapping with C(address) and optionally C(name), C(asn) (default "
                 "O(container_bgp_asn)) and C(multihop) (M(netplumb.container.bgp_speaker)'s O(peers))."),
                elements="dict", default=[],
            ),
            container_bgp_install=opt(
                "bool",
                ("With V(bgp): install BIRD 2 (the package O(container_bgp_package)) on a host that lacks C(bird); "
                 "V(false) only requires it."),
                default=True,
            ),
            container_bgp_package=opt("str", "The package that brings BIRD 2.", default="bird2"),
            container_bgp_supervisor=opt(
                "str",
                ("Who runs bird: V(auto) (systemd's C(bird.service) where systemd runs the host, else the module "
                 "itself, socket C(/run/netplumb/bird.ctl), pid file C(/run/netplumb/bird.pid)), V(systemd) or "
                 "V(self)."),
                default="auto", choices=["auto", "systemd", "self"],
            ),
            container_bgp_hold_time=opt("int", "With V(bgp): the BGP hold time of every session (seconds).",
                                        default=90),
        ),
    ),
    plan=dict(
        description=[
            ("Sets C(container_network_plan) (keys C(errors), C(present), C(absent) - each network "
             "parsed, without the modules' batches) without touching the host; used by "
             "playbooks/verify.yml."),
        ],
        short_description="Only parse and validate container_networks into the fact container_network_plan",
        options=dict(
            container_networks=opt(
                "list",
                "As for the main entry point.",
                elements="dict", default=[],
                suboptions=NETWORK,
            ),
            container_network_firewall_backend=ROLE_FIREWALL_BACKEND,
        ),
    ),
)

# The role's meta/argument_specs.yml (entry points).
SWARM_PREREQUISITES_ROLE = dict(
    main=dict(
        description=[
            ("Resolves every peer (every member of the two groups, from the inventory and not from the "
             "hosts of the play, by O(swarm_prerequisites_address), else C(ansible_host), else its "
             "inventory name) and validates it with O(swarm_prerequisites_extra_peers) on the "
             "controller first - a node without an address or with an IPv6 one fails every host before "
             "anything is read or written, naming the host and the value."),
            ("Checks every node before the first write on any of them - the underlay MTU leaves room "
             "for VXLAN's 50 bytes under O(swarm_prerequisites_overlay_mtu), host names are unique "
             "across the peers, the data-path port is not bound by a local program, the required "
             "kernel features are available - each failure naming the host and the value."),
            ("Loads and persists loadable kernel features, applies and persists the sysctls "
             "(M(netplumb.container.kernel_prerequisites)); missing optional features are a warning "
             "saying what will not work."),
            ("Opens the Swarm ports and ESP to the peers only and drops them from everyone else "
             "(M(netplumb.container.swarm_firewall)); C(2377/tcp) on managers only."),
            "V(absent) removes our firewall rules and our two files, and nothing else.",
            "Installs no Docker engine.",
        ],
        short_description="Prepare Docker Swarm nodes (kernel features, sysctls, firewall to peers only, preflight)",
        author=["netplumb.container contributors"],
        options=dict(
            swarm_prerequisites_state=present_absent(
                "V(present) prepares the node; V(absent) removes our rules and our two files.",
            ),
            swarm_prerequisites_manager_group=opt(
                "str",
                "Inventory group of the Swarm managers.",
                default="swarm_managers",
            ),
            swarm_prerequisites_worker_group=opt(
                "str",
                "Inventory group of the Swarm workers.",
                default="swarm_workers",
            ),
            swarm_prerequisites_address=opt(
                "str",
                [
                    ("Per-host override of the node's Swarm (underlay) address, an IPv4 address. Default "
                     "C(ansible_host), else the inventory name (which must then be an IPv4 address)."),
                    ("Read from the inventory for every member of the groups, also those outside the play - it "
                     "must not depend on gathered facts."),
                ],
            ),
            swarm_prerequisites_extra_peers=opt(
                "list",
                "Further peers, IPv4 addresses or CIDRs (for example nodes outside this inventory).",
                elements="str", default=[],
            ),
            swarm_prerequisites_data_path_port=opt(
                "int",
                "The VXLAN data-path port (C(docker swarm init --data-path-port)).",
                default=4789,
            ),
            swarm_prerequisites_esp=opt(
                "bool",
                "Accept ESP (encrypted overlays) from the peers and drop it from everyone else.",
                default=True,
            ),
            swarm_prerequisites_firewall=opt("bool", "Manage the Swarm firewall rules at all.", default=True),
            swarm_prerequisites_overlay_mtu=opt(
                "int",
                "The overlay MTU asked for; each node's underlay MTU must be at least this plus 50.",
                default=1450,
            ),
            swarm_prerequisites_required_features=opt(
                "list",
                "Kernel features that must be available (a missing one fails the host before any change).",
                elements="str", default=["vxlan", "bridge", "br_netfilter", "overlay", "veth"],
            ),
            swarm_prerequisites_optional_features=opt(
                "list",
                "Kernel features used when available (a missing one is a warning).",
                elements="str", default=["ip_vs", "esp4", "xfrm_user"],
            ),
            swarm_prerequisites_sysctls=opt(
                "dict",
                "Sysctls applied and persisted in O(swarm_prerequisites_sysctl_file).",
                default={"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": 1},
            ),
            swarm_prerequisites_modules_file=opt(
                "str",
                "Our modules-load.d file (written only when a feature is modular).",
                default="/etc/modules-load.d/netplumb-swarm.conf",
            ),
            swarm_prerequisites_sysctl_file=opt(
                "str",
                "Our sysctl.d file.",
                default="/etc/sysctl.d/90-netplumb-swarm.conf",
            ),
            swarm_prerequisites_firewall_backend=opt(
                "str",
                "As the modules' C(firewall_backend).",
                default="auto", choices=FIREWALL_BACKEND["choices"],
            ),
            swarm_prerequisites_lock_timeout=opt(
                "int",
                "Seconds to wait for the host lock (see the modules' C(lock_timeout)).",
                default=60,
            ),
        ),
    ),
)

ROLES = dict(container_network=CONTAINER_NETWORK_ROLE, swarm_prerequisites=SWARM_PREREQUISITES_ROLE)

# Each module's constraints between its options, given to AnsibleModule with its argument_spec (_schema).
CONSTRAINTS = dict(
    port_publish=dict(
        mutually_exclusive=[("ports", "host_port"), ("ports", "container_ip")],
        required_one_of=[("ports", "host_port", "bridge")],
        required_together=[("host_port", "container_ip")],
    ),
    veth_pair=dict(
        mutually_exclusive=[("name", "pairs")],
        required_one_of=[("name", "pairs")],
        required_by=dict(name="peer"),
    ),
)
