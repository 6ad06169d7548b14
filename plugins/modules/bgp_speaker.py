#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bgp_speaker
short_description: Announce this host's container subnets over BGP and learn the others', through BIRD 2 (Calico's way)
version_added: 0.3.0
description:
  - Renders one BIRD 2 configuration (Debian's C(bird2); never a speaker of its own) that announces O(announce)
    (this host's fleet subnet) to O(peers) and learns theirs - an iBGP full mesh of the fleet, or sessions to route
    reflectors (a host with O(route_reflector=true) marks its C(rr_client) peers as its clients). Only routes
    inside O(cluster_cidr) are announced, learned or sent to the kernel.
  - Learned routes go to the kernel's main table with BIRD's protocol number 12 and the metric 151 - netplumb's
    mark on them. The host-safety preflight counts them as netplumb's, never as the admin's routes.
  - The configuration is written beside the old one, validated with C(bird -p -c), renamed over it, then applied
    with C(birdc -s SOCKET configure) - never a restart, so a peer added or removed touches no other session. If
    bird refuses it, the previous file is put back.
  - The file is ours - its first line is netplumb's mark. A file without it is refused unless O(adopt=true).
  - With O(supervisor=auto), hosts where systemd runs get bird through its unit C(bird.service); elsewhere
    (containers, namespaced lab hosts) the module starts bird itself with its own control socket and pid file
    under C(/run/netplumb) and finds it again by its pid file.
  - Refused before any change - a configuration that is not ours; another BGP speaker already listening on TCP 179
    in the namespace when ours is not running; a masked C(bird.service) with systemd.
author:
  - netplumb.container contributors (@netplumb)
requirements:
  - pyroute2 >= 0.7.2 on the managed host
  - BIRD 2 (Debian package bird2) on the managed host
options:
  local:
    description: 'This host''s underlay address: the source of its BGP sessions (TCP 179) and the next hop it announces
      for its subnets. Required with O(state=present).'
    type: str
  router_id:
    description: BIRD's router id. Default O(local).
    type: str
  asn:
    description: 'The fleet''s AS number (iBGP: every host of the fleet in the same AS); a private ASN by default.'
    type: int
    default: 64512
  announce:
    description: This host's container subnets to announce (its fleet subnet), each inside O(cluster_cidr). Empty
      on a route reflector that has no containers.
    type: list
    elements: str
    default: []
  cluster_cidr:
    description: The fleet's cluster CIDR. Only routes inside it are announced, learned and sent to the kernel;
      nothing outside it (a default route offered by a peer) is ever learned. Required with O(state=present).
    type: str
  peers:
    description:
      - 'The BGP peers, each a mapping with C(address), and optionally C(name) (for messages and the session''s
        description), C(asn) (default O(asn): iBGP), C(rr_client) (this host is a route reflector and the peer its
        client) and C(multihop) (a TTL, for an eBGP peer that is not directly connected).'
      - 'The session of a peer is the BIRD protocol C(np_) + its address with C(_) for dots, so a peer added or
        removed changes no other session: C(birdc configure) restarts only the protocols whose configuration changed.'
    type: list
    elements: dict
    default: []
  route_reflector:
    description: This host is a route reflector (its C(rr_client) peers are its clients; its cluster id is its router
      id).
    type: bool
    default: false
  hold_time:
    description: The BGP hold time of every session, in seconds (0, or 3-65535).
    type: int
    default: 90
  connect_retry:
    description: Seconds between attempts to connect to a peer that does not answer.
    type: int
    default: 5
  config:
    description: 'BIRD''s configuration file. Ours: its first line is netplumb''s mark; a file without it is refused
      unless O(adopt=true) (Debian''s untouched example file counts as nobody''s). With O(supervisor=systemd) it
      must be the unit''s C(/etc/bird/bird.conf).'
    type: path
  supervisor:
    description:
      - 'Who runs bird. V(systemd): its unit C(bird.service) (enabled and started; the socket is C(/run/bird/bird.ctl)).
        V(self): the module starts C(bird -c CONFIG -s SOCKET -P PIDFILE) itself and finds it again by its pid file
        (containers, hosts without systemd).'
      - V(auto) picks V(systemd) where C(/run/systemd/system) exists and C(systemctl) answers, else V(self).
    type: str
    default: auto
    choices: [auto, systemd, self]
  socket:
    description: BIRD's control socket. Default C(/run/bird/bird.ctl) with systemd, C(/run/netplumb/bird.ctl) when
      the module supervises bird itself.
    type: path
  pidfile:
    description: The pid file of the bird the module supervises itself.
    type: path
    default: /run/netplumb/bird.pid
  extra_config:
    description: 'BIRD configuration appended verbatim to the rendered file (BFD, timers, logging...). It is validated
      with the rest by C(bird -p): a file BIRD refuses is never installed.'
    type: str
    default: ''
  adopt:
    description: Take over a BIRD configuration that does not carry netplumb's mark (it is replaced by the rendered
      one).
    type: bool
    default: false
  state:
    description: V(present) writes the configuration and runs bird; V(absent) stops our bird (which withdraws its
      routes), removes our configuration and any learned route left behind (protocol 12, metric 151). A configuration
      that is not ours is left alone.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - netplumb.container.attributes
  - netplumb.container.host_lock
"""

EXAMPLES = r"""
- name: h1 in an iBGP full mesh with h2 and h3
  netplumb.container.bgp_speaker:
    local: 192.0.2.11
    cluster_cidr: 10.244.0.0/16
    announce: [10.244.1.0/24]
    peers:
      - {name: h2, address: 192.0.2.12}
      - {name: h3, address: 198.51.100.13}

- name: A route reflector with no containers, its clients h1..h3
  netplumb.container.bgp_speaker:
    local: 192.0.2.1
    cluster_cidr: 10.244.0.0/16
    route_reflector: true
    peers:
      - {name: h1, address: 192.0.2.11, rr_client: true}
      - {name: h2, address: 192.0.2.12, rr_client: true}

- name: No BGP on this host any more
  netplumb.container.bgp_speaker:
    state: absent
"""

RETURN = r"""
commands:
  description: The equivalent commands of the plan (validate and install the file, birdc configure, start, stop).
  returned: always
  type: list
  elements: str
supervisor:
  description: Who runs bird on this host, C(systemd) or C(self).
  returned: always
  type: str
socket:
  description: BIRD's control socket (for C(birdc -s)).
  returned: always
  type: str
config:
  description: The configuration file.
  returned: always
  type: str
peers:
  description: The sessions, each with name, address, asn, protocol (the BIRD protocol name) and rr_client.
  returned: with state=present
  type: list
  elements: dict
announce:
  description: The subnets announced.
  returned: with state=present
  type: list
  elements: str
asn:
  description: The AS number.
  returned: with state=present
  type: int
router_id:
  description: BIRD's router id.
  returned: with state=present
  type: str
underlay:
  description: The interface holding O(local) (where the traffic to the other hosts' subnets leaves).
  returned: with state=present
  type: str
config_sha256:
  description: The SHA-256 of the rendered configuration.
  returned: with state=present
  type: str
diff:
  description: The configuration file's text and whether bird runs, before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.netplumb.container.plugins.module_utils import _steps
from ansible_collections.netplumb.container.plugins.module_utils._module import run_module


def main():
    module, result, error = run_module("bgp_speaker", _steps.BgpStep, supports_check_mode=True)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
