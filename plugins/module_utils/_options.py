# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one definition of every option of the collection's modules and roles (types, defaults, choices,
elements, suboptions and description text), in the form of a module's DOCUMENTATION ``options``.

From it come (``_schema``): each module's argument_spec, ``_dryrun``'s defaults, ``_netspec``'s keys and
defaults; and (``tools/schema.py``, ``make schema``, committed): each module's DOCUMENTATION ``options``, the
doc fragments ``host_lock`` and ``firewall_backend`` and the roles' ``meta/argument_specs.yml``.
``tests/unit/test_schema.py`` regenerates those in memory and fails on drift. To add an option: add it here,
run ``make schema``, use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netplumb.container.plugins.module_utils._lock import DEFAULT_TIMEOUT

# Options shared by modules, each documented by a doc fragment of its own (plugins/doc_fragments/).
LOCK_TIMEOUT = dict(
    description=[
        ("Seconds to wait for the host lock, an exclusive C(flock) on C(/run/netplumb/lock) that every module of "
            "the collection takes before it reads any state, and holds until its changes are applied (in check "
            "mode too, so the prediction is not raced). Concurrent runs on one host are serialized."),
        ("When another run still holds the lock after this many seconds the module fails, before any change, "
            "with a message that names the lock file and the PID of the holder. V(0) tries once."),
        "A run killed with SIGKILL does not leave the host locked (the kernel drops the lock with its process).",
    ],
    type="int",
    default=DEFAULT_TIMEOUT,
)

FIREWALL_BACKEND = dict(
    description=[
        "The firewall driver of the rules written or read.",
        ("V(auto) and V(iptables) use the host's iptables, whichever backend it is built on (detected with "
            "C(iptables -V); the module refuses when rules exist in both C(iptables-nft-save) and "
            "C(iptables-legacy-save))."),
        "V(nftables) is reserved for a native nftables driver that is not implemented yet (an error for now).",
    ],
    type="str",
    default="auto",
    choices=["auto", "iptables", "nftables"],
)

# Doc fragment name -> the options it documents.
FRAGMENTS = dict(host_lock=dict(lock_timeout=LOCK_TIMEOUT), firewall_backend=dict(firewall_backend=FIREWALL_BACKEND))

# The networks of the role's container_networks and of the modules container_network and
# container_network_persist (their option networks); _netspec's keys and defaults. Descriptions say
# {root} where the option's own name goes (container_networks, networks).
NETWORK = dict(
    name=dict(description='Name of the network (letters, digits, C(.), C(_), C(-)).', type='str', required=True),
    bridge=dict(description='Bridge name (at most 15 characters). Default C(br-NAME).', type='str'),
    subnet=dict(
        description='IPv4 subnet in CIDR form, for example V(172.18.0.0/16). Networks of a host may not overlap.',
        type='str',
        required=True,
    ),
    gateway=dict(
        description="Address of the bridge, the containers' default gateway. Default the first address of O({root}[].subnet).",
        type='str',
    ),
    masquerade=dict(
        description='Masquerade egress traffic of the subnet leaving through another interface.',
        type='bool',
        default=True,
    ),
    icc=dict(description='Containers on this bridge may talk to each other.', type='bool', default=True),
    isolate=dict(description='Drop traffic between this bridge and other netplumb bridges.', type='bool', default=True),
    adopt=dict(
        description=[
            ("Take over, on purpose, this network's bridge, namespaces and veths that exist without netplumb's mark "
                '(made by hand, or by netplumb 0.1). Run once, then drop it. Never overrides the host-safety preflight '
                "nor a bridge port that is not netplumb's. See docs/safety.md."),
        ],
        type='bool',
        default=False,
    ),
    mtu=dict(description='MTU of the bridge and the veth pairs. Default not managed.', type='int', validate='mtu'),
    state=dict(
        description='V(absent) removes the whole network, its containers listed or not.',
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
    containers=dict(
        description=[
            ('The containers of the network. Containers (and published ports) no longer listed are removed from the '
                'host on the next run.'),
        ],
        type='list',
        elements='dict',
        default=[],
        suboptions=dict(
            name=dict(
                description=[
                    "The container's network namespace. Unique on the host.",
                    ('The host end of its veth pair is C(vn-NAME), or C(vn-)+6 characters+C(-)+5 hex digits of a '
                        'hash of NAME when that would exceed 15 characters; the end inside is C(eth0). Both can be '
                        'named (O({root}[].containers[].veth), O({root}[].containers[].interface)).'),
                ],
                type='str',
                required=True,
            ),
            address=dict(
                description="The container's IPv4 address inside O({root}[].subnet) (no prefix).",
                type='str',
                required=True,
            ),
            publish=dict(
                description=[
                    ('Published ports, C([host_ip:]host_port:container_port[/proto]), for example V(5000:5000/tcp), '
                        'V(127.0.0.1:8053:53/udp) or V(8000-8010:9000-9010). Protocol tcp (default), udp or sctp.'),
                ],
                type='list',
                elements='str',
                default=[],
            ),
            veth=dict(
                description=[
                    ("Name of the host end of the container's veth pair (at most 15 characters, unique on the host, "
                        'not a bridge of the networks). Default C(vn-NAME) as above.'),
                    ('What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. '
                        'V(veth0).'),
                ],
                type='str',
            ),
            interface=dict(
                description=[
                    ("Name of the end inside the container's namespace (at most 15 characters, not C(lo)). Default "
                        'C(eth0).'),
                    ('What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. '
                        'V(ceth0).'),
                ],
                type='str',
            ),
        ),
    ),
)

CONTAINER_NAT = dict(
    bridge=dict(
        description="The containers' bridge (as created by M(netplumb.container.linux_bridge)).",
        type='str',
        required=True,
    ),
    subnet=dict(
        description="The containers' subnet in CIDR form, for example V(172.18.0.0/16). IPv4 only for now.",
        type='str',
        required=True,
    ),
    masquerade=dict(
        description='Masquerade traffic from O(subnet) that leaves through another interface than O(bridge).',
        type='bool',
        default=True,
    ),
    ip_forward=dict(
        description=[
            ('Make sure C(net.ipv4.ip_forward) is 1 in the current network namespace. Written only when it is off; '
                'V(false) leaves the setting alone (it is never turned off, other networks may need it).'),
        ],
        type='bool',
        default=True,
    ),
    isolate=dict(
        description=[
            'Traffic between this bridge and another netplumb bridge is dropped (in the raw table, before any NAT).',
            ('V(false) lets traffic from this bridge reach the containers of other netplumb bridges that also set '
                'V(false); traffic from outside the host to container addresses stays dropped either way.'),
        ],
        type='bool',
        default=True,
    ),
    icc=dict(
        description=[
            'Containers on this bridge may talk to each other.',
            ('V(false) turns on bridge port isolation (C(ip link set PORT type bridge_slave isolated on)) on every '
                'port of O(bridge) whose alias is exactly C(netplumb) (ports this collection made), first in the plan '
                '- no frame passes between two of them, whatever the protocol (IPv4, IPv6 link-local, self-assigned '
                "ULAs, raw frames) and whatever br_netfilter says. The gateway (the bridge's own address) stays "
                'reachable. It also drops bridge-to-bridge forwarding in iptables (C(-i BRIDGE -o BRIDGE -j DROP)), a '
                'second layer.'),
            'V(true) turns isolation off on those ports. Ports without the C(netplumb) alias are never changed.',
            ("With V(false) and a port that is not netplumb's and not isolated, the iptables drop is that port's "
                'only layer, so the module refuses while br_netfilter is off for the bridge (global '
                "C(net.bridge.bridge-nf-call-iptables=0) and the bridge's C(nf_call_iptables=0)), naming the fix."),
            ('With V(false) and br_netfilter on for the bridge, containers cannot reach published ports of their '
                'own bridge through the host (the kernel bridges the DNATed packet and isolation drops it); a warning '
                'says so. Where br_netfilter is off for the bridge, that hairpin is routed and works.'),
        ],
        type='bool',
        default=True,
    ),
    state=dict(
        description=('V(present) converges the rules of O(bridge); V(absent) removes them (and our chains and jump rules once '
            'nothing of ours remains).'),
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

CONTAINER_NETWORK = dict(
    networks=dict(
        description=[
            ("The host's container networks (the schema of the role's C(container_networks)); errors name each "
                "by its path, e.g. C(networks[0].containers[3].publish[1]='70000:80': ...)."),
            "M(netplumb.container.container_network_info) returns a host's networks in this schema.",
        ],
        type='list',
        elements='dict',
        required=True,
        suboptions=NETWORK,
    ),
    variable=dict(
        description=[
            ('The name errors and step labels give to the list of networks, for example V(container_networks) when '
                'it comes from that variable (the role sets it), so that C(container_networks[1].subnet) points at the '
                "user's own input, and a hint to take a foreign object over says C(container_networks[1].adopt: true)."),
        ],
        type='str',
        default='networks',
    ),
    prune=dict(
        description=[
            ('Remove the networks of ours on the host that no entry of O(networks) declares (present or absent), '
                'each exactly as if it were declared V(state=absent) with its bridge and subnet. An empty O(networks) '
                'then removes every network of ours.'),
            ('The subnet of an undeclared network is the one its own NAT rules name (C(-d) of its raw DROP rule, '
                "else C(-s) of its MASQUERADE), else the network of its bridge's first IPv4 address, else unknown: its "
                'rules still go by their owner comment, and its veths by its bridge.'),
            ('A bridge that rules of ours name but that is not ours (no mark, or not a bridge) is never touched: '
                'only those rules go, with a warning.'),
            'V(false) (the default) removes nothing and warns once per run when there is anything to prune.',
        ],
        type='bool',
        default=False,
    ),
)

CONTAINER_NETWORK_INFO = dict(
    adopt=dict(
        description=[
            ("V(true) sets C(adopt: true) on every network of the value that holds something without netplumb's "
                'mark (a hand-made bridge, veth or namespace), so that feeding the value to the role takes those over '
                'on purpose. Rules made by hand are never taken over - delete them first (C(networks_meta[].rules) '
                'names them), and adopt the veths of a hand-made bridge first (M(netplumb.container.veth_pair) with '
                "C(adopt: true)): a bridge with ports that are not netplumb's is never netplumb's to change (see the "
                'examples).'),
            'V(false) leaves the key out; the role then refuses to change a hand-made object and says so.',
        ],
        type='bool',
        default=False,
    ),
)

CONTAINER_NETWORK_PERSIST = dict(
    networks=dict(
        description=[
            ("The host's container networks, exactly as given to M(netplumb.container.container_network) (the "
                "schema of its O(netplumb.container.container_network#module:networks)), saved as they are given "
                "and validated by the parser the boot runs."),
        ],
        type='list',
        elements='dict',
        default=[],
    ),
    variable=dict(
        description='The name errors give to the list of networks (at boot too), for example V(container_networks).',
        type='str',
        default='networks',
    ),
    state=dict(
        description=[
            'V(present) saves the networks and installs the unit; V(absent) removes them.',
            'V(present) with no network in state present removes them too.',
        ],
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

HOST_GW_ROUTES = dict(
    routes=dict(
        description="The routes, each a mapping with C(subnet) (CIDR) and C(via) (the other host's address).",
        type='list',
        elements='dict',
        default=[],
    ),
    prune=dict(
        description=[
            ('With O(state=present), remove the routes of ours (protocol 151) that O(routes) does not list, and the '
                'exemption rules (owner C(netplumb:fleet/BRIDGE)) of networks O(networks) does not list.'),
        ],
        type='bool',
        default=False,
    ),
    cluster_cidr=dict(
        description=[
            ("The fleet's cluster CIDR, for example V(10.244.0.0/16). With O(networks), traffic between a local "
                "network and the cluster CIDR over O(underlay) is exempt from masquerade (the other host's container "
                "sees the sender's own address), passes the drop of outside traffic to the containers, and is "
                'forwarded.'),
            ('Rules C(-t nat -A NETPLUMB-POSTROUTING -s SUBNET -d CLUSTER -o UNDERLAY -j RETURN), C(-t raw -A '
                'NETPLUMB-PREROUTING -s CLUSTER -d SUBNET -i UNDERLAY -j RETURN) (both first in their chain) and C(-t '
                'filter -A NETPLUMB-FORWARD -s CLUSTER -d SUBNET -i UNDERLAY -o BRIDGE -j ACCEPT), each with the '
                'comment C(netplumb:fleet/BRIDGE). Isolation between the networks of one host is unchanged.'),
        ],
        type='str',
    ),
    underlay=dict(
        description=('The interface towards the other hosts. Default the interface whose networks hold every C(via) (with no '
            'routes, the one towards the default gateway).'),
        type='str',
    ),
    networks=dict(
        description='The local container networks (mappings with C(bridge) and C(subnet), inside O(cluster_cidr)).',
        type='list',
        elements='dict',
        default=[],
    ),
    state=dict(
        description='V(present) converges the routes; V(absent) removes the listed routes of ours.',
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

KERNEL_PREREQUISITES = dict(
    required=dict(
        description=('Features that must be available. Known names are V(vxlan), V(bridge), V(br_netfilter), V(overlay), '
            'V(veth), V(ip_vs), V(esp4) and V(xfrm_user).'),
        type='list',
        elements='str',
        default=[],
    ),
    optional=dict(
        description='Features used when available; missing ones are a warning. A name in both lists is required.',
        type='list',
        elements='str',
        default=[],
    ),
    sysctls=dict(
        description='Sysctl names and values, for example C(net.ipv4.ip_forward=1) as C(net.ipv4.ip_forward) V(1).',
        type='dict',
        default=dict(),
    ),
    modules_file=dict(
        description='The modules-load.d file of ours (written only when a feature is modular).',
        type='path',
        default='/etc/modules-load.d/netplumb.conf',
    ),
    sysctl_file=dict(description='The sysctl.d file of ours.', type='path', default='/etc/sysctl.d/90-netplumb.conf'),
    owner_label=dict(
        description="Named in the files' header (the role passes V(swarm_prerequisites)).",
        type='str',
        default='kernel_prerequisites',
    ),
    state=dict(
        description=[
            'V(present) loads, writes and persists.',
            ('V(absent) removes the two files (when they carry our header) and nothing else; running values and '
                'loaded modules stay (other software may rely on them).'),
        ],
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

LINUX_BRIDGE = dict(
    name=dict(
        description='Bridge name (1-15 characters, no C(/), C(:) or whitespace, not starting with C(-)).',
        type='str',
        required=True,
    ),
    addresses=dict(
        description=[
            'Addresses with prefix, for example V(172.18.0.1/16).',
            ('When given, exactly these global addresses end up on the bridge (others are removed); an empty list '
                'removes all. When omitted, addresses are not managed.'),
        ],
        type='list',
        elements='str',
    ),
    mtu=dict(description='MTU of the bridge. When omitted, the MTU is not managed.', type='int'),
    stp=dict(description='Spanning tree protocol on the bridge.', type='bool', default=False),
    state=dict(
        description=[
            'V(present) creates or converges the bridge and brings it up; V(absent) deletes it.',
        ],
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
    adopt=dict(
        description=[
            ('Take over, on purpose, an existing bridge that does not carry the C(netplumb) alias - it is marked '
                '(C(ip link set NAME alias netplumb), listed in RV(commands)) and then converged like one of ours, or '
                'deleted with O(state=absent). A one-off - later runs need no O(adopt).'),
            'Refused all the same while the bridge has ports that are not ours.',
            ('The former option C(force) (delete despite foreign ports) is gone - a bridge with a foreign port is '
                'never deleted; detach the port first.'),
        ],
        type='bool',
        default=False,
    ),
    nf_call_iptables=dict(
        description=[
            ("The bridge's own br_netfilter switch (C(ip link set NAME type bridge nf_call_iptables 1)) - bridged "
                'IPv4 traffic of this bridge passes iptables even where the global '
                'C(net.bridge.bridge-nf-call-iptables) is 0, so the FORWARD rules of '
                'M(netplumb.container.container_nat) see traffic between its containers. It changes only this bridge; '
                'the global sysctl is never written.'),
            ('V(false) clears the attribute (br_netfilter then still applies while the global sysctl is 1). With '
                'isolated ports (O(netplumb.container.container_nat#module:icc=false)), br_netfilter makes the kernel '
                'bridge DNATed packets between the ports, which isolation drops - containers then cannot reach '
                'published ports of their own bridge through the host; the role C(container_network) passes C(icc).'),
        ],
        type='bool',
        default=True,
    ),
    ipv6=dict(
        description=[
            ('V(false) turns IPv6 off on the bridge (C(sysctl -w net.ipv6.conf.NAME.disable_ipv6=1), in the network '
                'namespace the module runs in) - the host neither answers nor routes IPv6 there, so containers cannot '
                'reach other networks over IPv6 even while C(net.ipv6.conf.all.forwarding=1). IPv6 between containers '
                'of the same bridge is governed by port isolation (O(netplumb.container.veth_pair#module:isolated)).'),
            ('V(true) sets it to 0. IPv6 between networks is then not filtered by netplumb (its rules are IPv4). '
                'O(addresses) may hold IPv6 addresses only with V(true).'),
        ],
        type='bool',
        default=False,
    ),
)

NETNS = dict(
    name=dict(
        description=[
            'Name or names of the namespaces. Letters, digits, C(.), C(_) and C(-) only.',
        ],
        type='list',
        elements='str',
        required=True,
    ),
    state=dict(
        description=[
            'V(present) creates missing namespaces; V(absent) deletes them.',
            ('A namespace that still holds processes is removed from C(/run/netns) with a warning; the kernel keeps '
                'it until those processes exit.'),
        ],
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
    loopback=dict(
        description=[
            'Bring C(lo) up inside each namespace. V(false) leaves C(lo) as it is.',
        ],
        type='bool',
        default=True,
    ),
    adopt=dict(
        description=[
            ('Take over, on purpose, existing namespaces that do not carry the mark - each is marked (listed in '
                'RV(commands)) and then converged like one of ours, or deleted with O(state=absent).'),
            ('A one-off - later runs need no O(adopt). This is also the upgrade path for namespaces made by a '
                'release without ownership marks.'),
        ],
        type='bool',
        default=False,
    ),
    nameservers=dict(
        description=[
            ('When given, C(/etc/netns/NAME/resolv.conf) lists exactly these servers. An empty list removes the '
                'file.'),
            'When omitted, the file is not managed.',
            'With O(state=absent) a resolv.conf written by this module is removed with the namespace.',
        ],
        type='list',
        elements='str',
    ),
)

PORT_PUBLISH = dict(
    host_port=dict(
        description='Host port, or a range like V(8000-8010) mapped onto an equally long container range.',
        type='raw',
    ),
    container_ip=dict(description="The container's IPv4 address.", type='str'),
    container_port=dict(description='Container port or range; defaults to O(host_port).', type='raw'),
    protocol=dict(description='Protocol of the mapping.', type='str', default='tcp', choices=['tcp', 'udp', 'sctp']),
    host_ip=dict(
        description=[
            'Publish on this host address only. When omitted, every local address except loopback.',
            ('A loopback address (V(127.0.0.1)) publishes for the host itself only; it is never reachable from '
                'other hosts, even those that route 127.0.0.0/8 to this one. C(route_localnet) is turned on for the '
                "container's bridge only (never C(all)) while such a mapping exists, and the bridge may not address "
                "the host's loopback (raw-table drop)."),
        ],
        type='str',
    ),
    bridge=dict(
        description=[
            'The bridge the container sits on. When omitted, the host link whose subnet holds O(container_ip).',
            ("In check mode, when no bridge holds O(container_ip)'s subnet yet (an earlier task creates it), the "
                'rules are predicted with the placeholder name C(<bridge>) and a warning says so; a real run fails '
                'then.'),
            "With O(ports), the default of each item's C(bridge); with O(prune), also a network to prune.",
            ('With O(state=absent) and no mapping named (neither O(host_port) nor a non-empty O(ports)), the '
                'network whose published ports all go - every rule whose owner comment is C(netplumb:BRIDGE:...), '
                'found on the host, whoever published it.'),
        ],
        type='str',
    ),
    ports=dict(
        description='Batch form, instead of O(host_port)/O(container_ip); all applied in one call.',
        type='list',
        elements='dict',
        suboptions=dict(
            host_port=dict(description='As O(host_port).', type='raw', required=True),
            container_ip=dict(description='As O(container_ip).', type='str', required=True),
            container_port=dict(description='As O(container_port).', type='raw'),
            protocol=dict(description='As O(protocol).', type='str', default='tcp', choices=['tcp', 'udp', 'sctp']),
            host_ip=dict(description='As O(host_ip).', type='str'),
            bridge=dict(description='As O(bridge).', type='str'),
        ),
    ),
    prune=dict(
        description=[
            ('Makes the call the whole truth for the networks it names - the bridges of its mappings, and '
                'O(bridge). Mappings of those networks that the call does not name are removed, in the same single '
                "restore per table, with the same conntrack flush for UDP, as with O(state=absent). Other networks' "
                'mappings are never touched.'),
            'With an empty O(ports) list, O(bridge) is required (it names the network whose mappings all go).',
            'Only with O(state=present).',
        ],
        type='bool',
        default=False,
    ),
    state=dict(
        description=[
            'V(present) publishes the mappings; V(absent) removes them.',
            "V(absent) with only O(bridge) removes every port published into that bridge's network (see O(bridge)).",
        ],
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

PREFLIGHT = dict(
    calls=dict(
        description='The calls, in the order the play makes them.',
        type='list',
        elements='dict',
        required=True,
        suboptions=dict(
            module=dict(
                description="The module's short name.",
                type='str',
                required=True,
                choices=['container_nat', 'linux_bridge', 'netns', 'port_publish', 'veth_pair'],
            ),
            args=dict(
                description="The module's arguments, as the task passes them (omitted options take the module's defaults).",
                type='dict',
                required=True,
            ),
            label=dict(
                description="Prefix of this call's errors and warnings, for example V(container_networks[0] (web)).",
                type='str',
            ),
        ),
    ),
)

SWARM_FACTS = dict(
    address=dict(description="The node's Swarm (underlay) address.", type='str'),
    data_path_port=dict(description='The UDP port to look for local users of.', type='int', default=4789),
    features=dict(
        description='Kernel features to detect (see M(netplumb.container.kernel_prerequisites)).',
        type='list',
        elements='str',
        default=[],
    ),
)

SWARM_FIREWALL = dict(
    peers=dict(
        description=[
            ('The Swarm peers, IPv4 addresses (V(192.0.2.11)) or networks in CIDR form with host bits zero '
                '(V(10.20.0.0/24)). Duplicates and networks inside another listed network are dropped.'),
            'The node itself may be listed (the role lists every member of the Swarm groups).',
            'An empty list drops the Swarm ports from everyone (a warning says so).',
        ],
        type='list',
        elements='str',
        default=[],
    ),
    manager=dict(
        description='The node is a Swarm manager - C(2377/tcp) is accepted from the peers (else dropped from all).',
        type='bool',
        default=False,
    ),
    data_path_port=dict(
        description='The VXLAN data-path port (C(docker swarm init --data-path-port)). Not V(7946).',
        type='int',
        default=4789,
    ),
    esp=dict(
        description=[
            'Accept IP protocol 50 (ESP, encrypted overlay networks) from the peers and drop it from everyone else.',
            'V(false) writes no ESP rule at all.',
        ],
        type='bool',
        default=True,
    ),
    state=dict(
        description=('V(present) converges the Swarm rules; V(absent) removes exactly the rules whose owner comment starts with '
            'C(netplumb:swarm/) (and our chain and its jump once nothing of ours remains in it).'),
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
)

VETH_PAIR = dict(
    name=dict(description='Host end of the pair. Mutually exclusive with O(pairs).', type='str'),
    peer=dict(description='The other end. Required with O(name).', type='str'),
    peer_netns=dict(
        description=[
            ('Namespace to move the peer into. It must exist (see M(netplumb.container.netns)); it is never created '
                'implicitly. In check mode a missing namespace is assumed to come from an earlier task, with a warning.'),
            'When omitted, the peer stays in the host namespace.',
        ],
        type='str',
    ),
    bridge=dict(
        description=[
            ('Bridge to attach the host end to. It must exist (in check mode, a warning). When omitted, the master '
                'is not managed.'),
            ('With O(pairs), the bridge of every item that names none (like O(state) and O(hairpin)); with O(prune) '
                'as well, a bridge to prune even when no item names it - the only one when O(pairs) is empty (every '
                'pair of ours on it goes).'),
        ],
        type='str',
    ),
    hairpin=dict(
        description=[
            ("Hairpin mode on the host end's bridge port, so a container can reach its own published port (the "
                'translated packet is bridged back out of the port it came in on). Applied only with O(bridge).'),
        ],
        type='bool',
        default=True,
    ),
    addresses=dict(
        description='When given, exactly these global addresses on the host end (CIDR form).',
        type='list',
        elements='str',
    ),
    peer_addresses=dict(
        description='When given, exactly these global addresses on the peer (CIDR form), for example V(172.18.0.10/16).',
        type='list',
        elements='str',
    ),
    peer_gateway=dict(
        description=[
            'Default route inside O(peer_netns) via this address, which must lie in a subnet of O(peer_addresses).',
            ("The route carries the protocol number 151, netplumb's mark (C(ip route replace default via GW proto "
                '151)); a default route via the same gateway without it is replaced once, to set the mark.'),
        ],
        type='str',
    ),
    mtu=dict(description='MTU of both ends. When omitted, the MTU is not managed.', type='int'),
    state=dict(
        description='V(present) creates or converges and sets both ends up; V(absent) deletes the pair.',
        type='str',
        default='present',
        choices=['present', 'absent'],
    ),
    adopt=dict(
        description=[
            ('Take over, on purpose, a veth that does not carry the C(netplumb) alias (its host end O(name), or '
                'with O(state=absent) a veth named O(peer) in the host namespace) and a O(peer_netns) that is not ours '
                '- the mark is set (C(ip link set NAME alias netplumb), C(ip -n NS link set lo alias netplumb), listed '
                'in RV(commands)) and the pair is then converged like one of ours - or deleted, with O(state=absent).'),
            ('A one-off - once adopted, the objects carry the mark and later runs need no O(adopt). Never adopts a '
                'bridge (use M(netplumb.container.linux_bridge) with O(netplumb.container.linux_bridge#module:adopt)).'),
            'With O(pairs), the default of items that set none.',
        ],
        type='bool',
        default=False,
    ),
    pairs=dict(
        description=[
            ('Batch form, mutually exclusive with O(name). Each item takes the keys O(name), O(peer), '
                'O(peer_netns), O(bridge), O(hairpin), O(addresses), O(peer_addresses), O(peer_gateway), O(mtu), '
                'O(adopt) and O(state) (defaulting to the top-level O(state)), and O(isolated).'),
        ],
        type='list',
        elements='dict',
    ),
    prune=dict(
        description=[
            ('Batch form only. Makes the batch the whole truth for the bridges it names - every veth whose host end '
                'carries exactly the alias C(netplumb) and is a port of a bridge named by O(bridge) in a present item '
                'of O(pairs) (or by the top-level O(bridge)), but whose name is not in O(pairs), is deleted (C(ip link '
                'del NAME); the peer goes with it). The deletions come first in the plan.'),
            ('Links without the alias, and links attached to other bridges, are never pruned. The namespaces of '
                'pruned peers are not deleted; they are listed in RV(pruned) (see M(netplumb.container.netns)).'),
        ],
        type='bool',
        default=False,
    ),
    isolated=dict(
        description=[
            ("Bridge port isolation on the host end's port (C(ip link set NAME type bridge_slave isolated on)) - "
                'the bridge forwards no frame between two isolated ports, whatever the protocol (IPv4, IPv6 '
                'link-local, self-assigned addresses, raw frames) and whatever br_netfilter says. Frames to the bridge '
                'itself (the gateway) still pass, so egress and published ports work.'),
            ('Applied only with O(bridge). When omitted (null), isolation is not managed. With O(pairs), the '
                'default of every item that sets none (like O(hairpin)). The role C(container_network) passes C(not '
                'icc), so the ports of an O(netplumb.container.container_nat#module:icc=false) network are born '
                'isolated.'),
        ],
        type='bool',
    ),
)

# Each module: the doc fragments that document some of its options (their options belong to its argument_spec
# too) and its own options.
MODULES = dict(
    container_nat=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NAT),
    container_network=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK),
    container_network_info=dict(fragments=('attributes', 'host_lock', 'firewall_backend'), options=CONTAINER_NETWORK_INFO),
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
)

# The role container_network's firewall driver: the modules' option (firewall_backend), passed on.
ROLE_FIREWALL_BACKEND = dict(
    description='Firewall driver of container_nat and port_publish.',
    type='str',
    default=FIREWALL_BACKEND['default'],
    choices=FIREWALL_BACKEND['choices'],
)

# The role's meta/argument_specs.yml (entry points).
CONTAINER_NETWORK_ROLE = dict(
    main=dict(
        description=[
            ('For each network in O(container_networks), converges a bridge holding the gateway address, one '
                'network namespace per container, a veth pair per container (host end on the bridge, C(eth0) inside '
                "with the container's address and a default route via the gateway), egress NAT and forwarding (as "
                'M(netplumb.container.container_nat) does) and the published ports (as '
                'M(netplumb.container.port_publish) does).'),
            ('Every network of the host is converged by one call of the module '
                'M(netplumb.container.container_network) (preflight first), so 100 containers and ten networks cost '
                'the same one invocation per host as one container; O(container_cross_host=host_gw) adds one more '
                '(M(netplumb.container.host_gw_routes)).'),
            ('A network with O(container_networks[].state=absent) is removed in reverse order - ports, NAT, veth '
                'pairs, namespaces, bridge - by ownership, whether or not its containers are listed - every rule whose '
                'owner comment names its bridge, our veths on it and our namespaces they lead to (docs/safety.md).'),
            ('For a present network the declared list is the truth - a container or published port removed from it '
                'is removed from the host (its veth pair, its namespace, its rules); other networks and veths that '
                'netplumb did not create are never touched.'),
            'The schema is validated on the controller before anything runs; every error names its field.',
        ],
        short_description="Build a host's container networks from inventory variables",
        author=['netplumb.container contributors'],
        options=dict(
            container_networks=dict(
                description="The host's container networks.",
                type='list',
                elements='dict',
                default=[],
                suboptions=NETWORK,
            ),
            container_network_firewall_backend=ROLE_FIREWALL_BACKEND,
            container_network_prune=dict(
                description=[
                    ('Remove the networks of ours on the host that no entry of C(container_networks) declares '
                        '(present or absent) - bridges carrying the mark C(netplumb) and the rules of ours that name a '
                        'bridge - each exactly as if it were declared C(state=absent). An empty C(container_networks) '
                        'then removes every network of ours on the host.'),
                    ('C(false) removes nothing, and every run warns once, listing the undeclared networks of ours '
                        'with their bridges and subnets.'),
                    ('Rules of host_gw routing and swarm_firewall (C(netplumb:fleet/...), C(netplumb:swarm/...)) '
                        'are never a network; nothing without our mark is touched.'),
                ],
                type='bool',
                default=False,
            ),
            container_network_persist=dict(
                description=[
                    ("Save the host's networks (the list the module M(netplumb.container.container_network) "
                        'converged) in C(/etc/netplumb/networks.json) (mode 0600) and install and enable the oneshot '
                        'systemd unit C(netplumb-networks.service), which converges them at every boot - after '
                        'C(network-pre.target), before C(network-online.target) - with the same engine (a copy in '
                        'C(/etc/netplumb/lib)), without Ansible and without the controller, and prints the commands it '
                        'applies.'),
                    ('C(net.ipv4.ip_forward = 1) is persisted in '
                        'C(/etc/sysctl.d/90-netplumb-container-network.conf).'),
                    ('C(false), or no network in state present, removes those files and disables the unit; networks '
                        'that exist stay until the next reboot. See docs/persist.md.'),
                ],
                type='bool',
                default=False,
            ),
            container_network_install_pyroute2=dict(
                description=[
                    ("The modules need pyroute2 >= 0.7.2 for the managed host's Python. When it is not importable, "
                        'the role installs it - Debian/Ubuntu and RHEL/Fedora through the package C(python3-pyroute2) '
                        '(pip as the fallback), other systems through pip - and fails with a clear message where it '
                        'cannot.'),
                    'V(false) only checks, and fails with that message when pyroute2 is missing.',
                ],
                type='bool',
                default=True,
            ),
            container_cluster_cidr=dict(
                description=[
                    ("The fleet's cluster CIDR, for example V(10.244.0.0/16). Every host of the fleet "
                        '(O(container_fleet_group)) gets a stable subnet of O(container_host_prefix) from it '
                        "(docs/fleet-subnets.md); a network with V(cluster) as its subnet takes its host's, and its "
                        "containers' addresses may be offsets inside it (V(10) is the subnet + 10)."),
                    'Not set - no allocation, no cross-host routing.',
                ],
                type='str',
            ),
            container_fleet_group=dict(
                description=[
                    ('The inventory group that is the fleet - its hosts get fleet subnets, are checked for '
                        'collisions and get host-gw routes. Read from the inventory through C(hostvars), never from '
                        'the hosts of the play - a C(--limit), a C(serial) batch or an unreachable host changes '
                        'nothing about the fleet.'),
                    ("Every member must have this host's O(container_cluster_cidr), and this host must be a member "
                        '(else the role fails before any change, naming the host and the value).'),
                    ("Unset or empty - every inventory host (C(groups['all'])) whose O(container_cluster_cidr) is "
                        "the same string as this host's."),
                    ('Only inventory variables of the members are read (C(container_cluster_cidr), '
                        'C(container_host_index), C(container_networks), C(container_underlay_address), '
                        'C(ansible_host)); hosts outside the play have no facts, so these must not depend on gathered '
                        'facts.'),
                ],
                type='str',
            ),
            container_host_prefix=dict(
                description="Prefix length of each host's subnet out of O(container_cluster_cidr).",
                type='int',
                default=24,
            ),
            container_host_index=dict(
                description="This host's explicit slot in O(container_cluster_cidr) (default sha256 of its inventory name).",
                type='int',
            ),
            container_cross_host=dict(
                description=[
                    ("V(host_gw) adds, on each host, a route to every other host's fleet subnet via that host's "
                        'address (O(container_underlay_address), else C(ansible_host)), with protocol 151; traffic '
                        'between fleet subnets is not masqueraded. Routes and exemptions of hosts that left the fleet '
                        '(O(container_fleet_group)) are removed; hosts outside the play keep theirs.'),
                    'V(none) removes them (with O(container_cluster_cidr) set).',
                ],
                type='str',
                default='none',
                choices=['none', 'host_gw'],
            ),
            container_underlay_address=dict(
                description="This host's address for host-gw routes on the other hosts. Default C(ansible_host).",
                type='str',
            ),
        ),
    ),
    plan=dict(
        description=[
            ('Sets C(container_network_plan) (keys C(errors), C(present), C(absent) - each network parsed, without '
                "the modules' batches) without touching the host; used by playbooks/verify.yml."),
        ],
        short_description='Only parse and validate container_networks into the fact container_network_plan',
        options=dict(
            container_networks=dict(
                description='As for the main entry point.',
                type='list',
                elements='dict',
                default=[],
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
            ('Resolves every peer (every member of the two groups, from the inventory and not from the hosts of the '
                'play, by O(swarm_prerequisites_address), else C(ansible_host), else its inventory name) and validates '
                'it with O(swarm_prerequisites_extra_peers) on the controller first - a node without an address or '
                'with an IPv6 one fails every host before anything is read or written, naming the host and the value.'),
            ("Checks every node before the first write on any of them - the underlay MTU leaves room for VXLAN's 50 "
                'bytes under O(swarm_prerequisites_overlay_mtu), host names are unique across the peers, the data-path '
                'port is not bound by a local program, the required kernel features are available - each failure '
                'naming the host and the value.'),
            ('Loads and persists loadable kernel features, applies and persists the sysctls '
                '(M(netplumb.container.kernel_prerequisites)); missing optional features are a warning saying what '
                'will not work.'),
            ('Opens the Swarm ports and ESP to the peers only and drops them from everyone else '
                '(M(netplumb.container.swarm_firewall)); C(2377/tcp) on managers only.'),
            'V(absent) removes our firewall rules and our two files, and nothing else.',
            'Installs no Docker engine.',
        ],
        short_description='Prepare Docker Swarm nodes (kernel features, sysctls, firewall to peers only, preflight)',
        author=['netplumb.container contributors'],
        options=dict(
            swarm_prerequisites_state=dict(
                description='V(present) prepares the node; V(absent) removes our rules and our two files.',
                type='str',
                default='present',
                choices=['present', 'absent'],
            ),
            swarm_prerequisites_manager_group=dict(description='Inventory group of the Swarm managers.', type='str', default='swarm_managers'),
            swarm_prerequisites_worker_group=dict(description='Inventory group of the Swarm workers.', type='str', default='swarm_workers'),
            swarm_prerequisites_address=dict(
                description=[
                    ("Per-host override of the node's Swarm (underlay) address, an IPv4 address. Default "
                        'C(ansible_host), else the inventory name (which must then be an IPv4 address).'),
                    ('Read from the inventory for every member of the groups, also those outside the play - it must '
                        'not depend on gathered facts.'),
                ],
                type='str',
            ),
            swarm_prerequisites_extra_peers=dict(
                description='Further peers, IPv4 addresses or CIDRs (for example nodes outside this inventory).',
                type='list',
                elements='str',
                default=[],
            ),
            swarm_prerequisites_data_path_port=dict(
                description='The VXLAN data-path port (C(docker swarm init --data-path-port)).',
                type='int',
                default=4789,
            ),
            swarm_prerequisites_esp=dict(
                description='Accept ESP (encrypted overlays) from the peers and drop it from everyone else.',
                type='bool',
                default=True,
            ),
            swarm_prerequisites_firewall=dict(description='Manage the Swarm firewall rules at all.', type='bool', default=True),
            swarm_prerequisites_overlay_mtu=dict(
                description="The overlay MTU asked for; each node's underlay MTU must be at least this plus 50.",
                type='int',
                default=1450,
            ),
            swarm_prerequisites_required_features=dict(
                description='Kernel features that must be available (a missing one fails the host before any change).',
                type='list',
                elements='str',
                default=['vxlan', 'bridge', 'br_netfilter', 'overlay', 'veth'],
            ),
            swarm_prerequisites_optional_features=dict(
                description='Kernel features used when available (a missing one is a warning).',
                type='list',
                elements='str',
                default=['ip_vs', 'esp4', 'xfrm_user'],
            ),
            swarm_prerequisites_sysctls=dict(
                description='Sysctls applied and persisted in O(swarm_prerequisites_sysctl_file).',
                type='dict',
                default={
                    'net.ipv4.ip_forward': 1,
                    'net.bridge.bridge-nf-call-iptables': 1,
                },
            ),
            swarm_prerequisites_modules_file=dict(
                description='Our modules-load.d file (written only when a feature is modular).',
                type='str',
                default='/etc/modules-load.d/netplumb-swarm.conf',
            ),
            swarm_prerequisites_sysctl_file=dict(description='Our sysctl.d file.', type='str', default='/etc/sysctl.d/90-netplumb-swarm.conf'),
            swarm_prerequisites_firewall_backend=dict(
                description="As the modules' C(firewall_backend).",
                type='str',
                default='auto',
                choices=FIREWALL_BACKEND['choices'],
            ),
            swarm_prerequisites_lock_timeout=dict(
                description="Seconds to wait for the host lock (see the modules' C(lock_timeout)).",
                type='int',
                default=60,
            ),
        ),
    ),
)

ROLES = dict(container_network=CONTAINER_NETWORK_ROLE, swarm_prerequisites=SWARM_PREREQUISITES_ROLE)
