#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_network
short_description: Converge a host's container networks in one call - bridges, namespaces, veths, NAT, ports
version_added: 0.3.0
description:
  - Takes the whole list of a host's container networks (the schema of the role
    M(netplumb.container.container_network)'s C(container_networks)) and converges the host to it in one
    module process, under one host lock and one netlink session, with the planners of the five building-block
    modules M(netplumb.container.linux_bridge), M(netplumb.container.netns), M(netplumb.container.veth_pair),
    M(netplumb.container.container_nat) and M(netplumb.container.port_publish) - the same refusals, marks and
    rules as those modules, without a module invocation per step.
  - "Order: networks with V(state=absent) first (the last declared first; each in reverse: published ports,
    NAT, veth pairs, namespaces, bridge), then each present network: bridge with its gateway address,
    namespaces, veth pairs (those of ours on its bridge it no longer declares are pruned, then their
    namespaces unless declared elsewhere), NAT and forwarding, published ports (undeclared ones of the network
    removed)."
  - "Every input error of every network is reported at once, each naming its path
    (C(networks[0].containers[3].publish[1]='70000:80': ...)), before anything is read or written."
  - Then every step is planned in check mode against the host as it is (the preflight of
    M(netplumb.container.preflight)), and any refusal of any step - a name held by an object that is not
    netplumb's, a subnet touching the host's addresses or routes, a bound host port... - fails the task before
    its first write.
  - In check mode those plans are the prediction. A run in which no step would change anything writes nothing.
  - "A network with V(state=absent) is removed by ownership, whether or not its containers are listed: what
    belongs to it is read from the host - every rule whose owner comment names its bridge
    (C(netplumb:BRIDGE), C(netplumb:BRIDGE:PROTO/PORT)), our veths (alias C(netplumb)) on its bridge and the
    namespaces of ours they lead to, then the bridge. Listed containers add their veths and namespaces by
    name. Namespaces (and veths) a present network of the call declares stay; a namespace without our mark
    that is not listed is left and a bridge with a port that is not ours is kept, each with a warning."
  - "Networks of ours that no entry declares (present or absent) - a bridge carrying our mark, or a bridge that
    the owner comment of a rule of ours names (C(netplumb:BRIDGE...) in a C(NETPLUMB-*) chain) - are found on
    every run. Without O(prune) they are left, and the run warns once, listing each with its bridge and subnet
    and how to remove it. With O(prune=true) each is removed exactly as if it were declared V(state=absent)
    (the same steps; in C(calls) their label is the word prune and the bridge in parentheses). Rules of C(host_gw_routes) and C(swarm_firewall)
    (C(netplumb:fleet/...), C(netplumb:swarm/...)) are no network and never pruned."
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
  - iptables (nf_tables- or legacy-backed) and conntrack on the managed host
options:
  networks:
    description:
      - 'The host''s container networks (the schema of the role''s C(container_networks)); errors name each by its
        path, e.g. C(networks[0].containers[3].publish[1]=''70000:80'': ...).'
      - M(netplumb.container.container_network_info) returns a host's networks in this schema.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the network (letters, digits, C(.), C(_), C(-)).
        type: str
        required: true
      bridge:
        description: Bridge name (at most 15 characters). Default C(br-NAME).
        type: str
      subnet:
        description: IPv4 subnet in CIDR form, for example V(172.18.0.0/16). Networks of a host may not overlap.
        type: str
        required: true
      gateway:
        description: Address of the bridge, the containers' default gateway. Default the first address of O(networks[].subnet).
        type: str
      masquerade:
        description: Masquerade egress traffic of the subnet leaving through another interface.
        type: bool
        default: true
      icc:
        description: Containers on this bridge may talk to each other.
        type: bool
        default: true
      isolate:
        description: Drop traffic between this bridge and other netplumb bridges.
        type: bool
        default: true
      docker_accept_fwmark:
        description:
          - 'Docker 29 in nftables mode: the mark of Docker''s daemon option C(bridge-accept-fwmark) (C(MARK) or
            C(MARK/MASK)), set on the traffic from this bridge so that Docker''s chains accept it, as the option
            C(docker_accept_fwmark) of M(netplumb.container.container_nat). Unset: nothing is marked. See docs/firewall-backends.md.'
        type: str
      adopt:
        description:
          - Take over, on purpose, this network's bridge, namespaces and veths that exist without netplumb's mark
            (made by hand, or by netplumb 0.1). Run once, then drop it. Never overrides the host-safety preflight
            nor a bridge port that is not netplumb's. See docs/safety.md.
        type: bool
        default: false
      mtu:
        description: MTU of the bridge and the veth pairs. Default not managed.
        type: int
      state:
        description: V(absent) removes the whole network, its containers listed or not.
        type: str
        default: present
        choices: [present, absent]
      containers:
        description:
          - The containers of the network. Containers (and published ports) no longer listed are removed from the
            host on the next run.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description:
              - The container's network namespace. Unique on the host.
              - The host end of its veth pair is C(vn-NAME), or C(vn-)+6 characters+C(-)+5 hex digits of a hash
                of NAME when that would exceed 15 characters; the end inside is C(eth0). Both can be named (O(networks[].containers[].veth),
                O(networks[].containers[].interface)).
            type: str
            required: true
          address:
            description: The container's IPv4 address inside O(networks[].subnet) (no prefix).
            type: str
            required: true
          publish:
            description:
              - Published ports, C([host_ip:]host_port:container_port[/proto]), for example V(5000:5000/tcp), V(127.0.0.1:8053:53/udp)
                or V(8000-8010:9000-9010). Protocol tcp (default), udp or sctp.
            type: list
            elements: str
            default: []
          veth:
            description:
              - Name of the host end of the container's veth pair (at most 15 characters, unique on the host, not
                a bridge of the networks). Default C(vn-NAME) as above.
              - What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. V(veth0).
            type: str
          interface:
            description:
              - Name of the end inside the container's namespace (at most 15 characters, not C(lo)). Default C(eth0).
              - What M(netplumb.container.container_network_info) returns for a hand-made container, e.g. V(ceth0).
            type: str
  variable:
    description:
      - 'The name errors and step labels give to the list of networks, for example V(container_networks) when it
        comes from that variable (the role sets it), so that C(container_networks[1].subnet) points at the user''s
        own input, and a hint to take a foreign object over says C(container_networks[1].adopt: true).'
    type: str
    default: networks
  prune:
    description:
      - Remove the networks of ours on the host that no entry of O(networks) declares (present or absent), each
        exactly as if it were declared V(state=absent) with its bridge and subnet. An empty O(networks) then removes
        every network of ours.
      - 'The subnet of an undeclared network is the one its own NAT rules name (C(-d) of its raw DROP rule, else
        C(-s) of its MASQUERADE), else the network of its bridge''s first IPv4 address, else unknown: its rules
        still go by their owner comment, and its veths by its bridge.'
      - 'A bridge that rules of ours name but that is not ours (no mark, or not a bridge) is never touched: only
        those rules go, with a warning.'
      - V(false) (the default) removes nothing and warns once per run when there is anything to prune.
    type: bool
    default: false
  firewalld_zone:
    description:
      - 'On a host where firewalld runs: the firewalld zone the bridges of the present networks are bound to, at
        runtime and permanently (C(firewall-cmd [--permanent] --zone=ZONE --add-interface=BRIDGE)), so that firewalld
        forwards the containers'' egress. V(trusted) is the usual value; the zone must exist.'
      - A binding netplumb made (recorded in C(/etc/netplumb/firewalld.json) before it is made) goes with its network
        (V(state=absent), O(prune)) or when this option is unset; a binding it did not make is never changed.
      - Unset (the default), on a host where firewalld runs, a bridge in no zone is warned about, naming the default
        zone it falls into and the commands. See docs/firewalld.md.
    type: str
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
  - netplumb.container.firewall_backend
notes:
  - Requires root on the managed host.
  - The five building-block modules stay available for plays that compose the steps themselves.
seealso:
  - module: netplumb.container.preflight
  - module: netplumb.container.veth_pair
  - module: netplumb.container.port_publish
"""

EXAMPLES = r"""
- name: The tutorial's network, two containers, one published port, in one task
  netplumb.container.container_network:
    networks:
      - name: web
        bridge: br0
        subnet: 172.18.0.0/16
        containers:
          - {name: netns0, address: 172.18.0.10, publish: ["5000:5000/tcp"]}
          - {name: netns1, address: 172.18.0.20}

- name: A thousand containers, each publishing one port, still one module invocation
  netplumb.container.container_network:
    networks:
      - name: big
        subnet: 10.20.0.0/16
        containers: "{{ containers_json | from_json }}"
  vars:
    containers_json: >-
      [{% for i in range(1000) %}{"name": "c{{ i }}", "address": "10.20.{{ 1 + i // 250 }}.{{ 1 + i % 250 }}",
      "publish": ["{{ 10000 + i }}:80"]}{{ "" if loop.last else "," }}{% endfor %}]

- name: Remove a network and everything of ours in it (its containers need not be listed)
  netplumb.container.container_network:
    networks:
      - {name: web, bridge: br0, subnet: 172.18.0.0/16, state: absent}

- name: The host has exactly these networks of ours - any other one of ours is removed
  netplumb.container.container_network:
    prune: true
    networks:
      - {name: api, bridge: br-api, subnet: 172.19.0.0/24, containers: [{name: a0, address: 172.19.0.10}]}
"""

RETURN = r"""
persisted:
  description: Whether this host holds the boot files of O(networks) saved by
    M(netplumb.container.container_network_persist) (C(/etc/netplumb/networks.json)). The role removes them, when
    C(container_network_persist) is false, only where this is true.
  returned: success
  type: bool
  sample: false
commands:
  description: The equivalent commands of every write, in order (empty when nothing changed).
  returned: always
  type: list
  elements: str
  sample: ["ip link add br0 type bridge stp_state 0", "ip netns add netns0"]
calls:
  description: Each step with its network (label), module, whether it changed anything and its commands.
  returned: always
  type: list
  elements: dict
  sample: [{"label": "networks[0] (web)", "module": "linux_bridge", "changed": true,
            "commands": ["ip link add br0 type bridge stp_state 0"]}]
pruned:
  description: Veth pairs of ours removed from the networks' bridges because no container declares them, or
    because their network is absent.
  returned: always
  type: list
  elements: dict
undeclared:
  description: The networks of ours found on the host that no entry declares, each with C(bridge), C(subnet)
    (null when unknown) and C(ours) (false when only rules of ours name a bridge that is not ours); with
    O(prune=true) these are the networks the run removed (or, in check mode, would remove).
  returned: success
  type: list
  elements: dict
  sample: [{"bridge": "br-old", "subnet": "172.20.0.0/24", "ours": true}]
errors:
  description: Every input error or refusal, one per line (on failure).
  returned: failure
  type: list
  elements: str
firewalld_running:
  description: Whether firewalld runs on the host (the role installs the reload listener there by default).
  returned: success
  type: bool
  sample: false
missing_pyroute2:
  description: True when the module's Python cannot import pyroute2 (the role then installs it and calls again).
  returned: failure
  type: bool
"""

from ansible_collections.netplumb.container.plugins.module_utils import _converge
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("container_network", _converge.NetworksJob, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
