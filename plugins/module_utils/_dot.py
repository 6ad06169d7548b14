# -*- coding: utf-8 -*-
# Private to netplumb.container: not a public API, may change without notice.
# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's container networks as a graphviz DOT picture (the filter container_network_dot).

Pure: takes what container_network_info returns (``container_networks``, ``networks_meta``, ``host``,
``unmanaged``) and returns DOT text; graphviz's ``dot`` draws it. Left to right:

* the host's uplinks (with ``ip_forward`` and the firewall backend);
* per network a cluster: its bridge (name, gateway address, masquerade / icc / isolate marked; an icc-false
  bridge drawn dashed), and its containers (namespace, address, the veth pair ``veth - interface``), each
  joined to the bridge by its veth pair; masquerade is the edge from the bridge to the uplinks, labelled;
* published ports grouped per container, in a table right of it: ``host_ip:port/proto`` rows (``*``: every
  address of the host), an arrow from each to its container, labelled with the container port.

Node ids are generated (``n0``, ``n0c3``, ``n0p``): names never need escaping as ids; every label is escaped
as HTML. Readable at 30 containers: containers stack in one column per network, in their order, each with its ports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

FONT = "Helvetica"


def _h(text):
    return (u"%s" % text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _q(text):
    return '"%s"' % (u"%s" % text).replace("\\", "\\\\").replace('"', '\\"')


def _publish(text):
    """'[host_ip:]host_port:container_port[/proto]' -> (host side, container port, proto)."""
    spec, slash, proto = text.partition("/")
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValidationError("publish", text, "is not [host_ip:]host_port:container_port[/proto]")
    host_ip = parts[0] if len(parts) == 3 else "*"
    return "%s:%s/%s" % (host_ip, parts[-2], proto if slash else "tcp"), parts[-1]


def _onoff(on):
    return '<FONT COLOR="%s">%s</FONT>' % ("darkgreen" if on else "firebrick", "on" if on else "off")


def _flag(name, on):
    return '<FONT COLOR="%s">%s %s</FONT>' % ("darkgreen" if on else "firebrick", name, "on" if on else "off")


def _validate(info):
    if not isinstance(info, dict):
        raise ValidationError("info", info, "must be the result of container_network_info (a dict)")
    nets = info.get("container_networks")
    if not isinstance(nets, list):
        raise ValidationError("info.container_networks", nets, "must be a list (container_network_info's result)")
    meta = info.get("networks_meta") or [{} for dummy in nets]
    if not isinstance(meta, list) or len(meta) != len(nets):
        raise ValidationError("info.networks_meta", meta, "must be a list as long as container_networks")
    for i, net in enumerate(nets):
        for key in ("bridge", "subnet", "gateway"):
            if not isinstance(net, dict) or not isinstance(net.get(key), str):
                raise ValidationError("info.container_networks[%d].%s" % (i, key),
                                      net.get(key) if isinstance(net, dict) else net, "must be a string")
    return nets, meta


def render(info, title=None):
    """DOT text of container_network_info's result ``info``; ``title``: the host's name."""
    nets, metas = _validate(info)
    host = info.get("host") or {}
    uplinks = host.get("uplinks") or []
    unmanaged = info.get("unmanaged") or []
    nconts = sum(len(n.get("containers") or []) for n in nets)
    nports = sum(len(c.get("publish") or []) for n in nets for c in n.get("containers") or [])
    caption = "%s%d network%s, %d container%s, %d published port%s%s" % (
        "%s: " % title if title else "", len(nets), "" if len(nets) == 1 else "s", nconts,
        "" if nconts == 1 else "s", nports, "" if nports == 1 else "s",
        "; %d unmanaged (see container_network_info)" % len(unmanaged) if unmanaged else "")
    out = [
        "digraph netplumb {",
        "  graph [rankdir=LR, fontname=%s, fontsize=16, labelloc=t, label=%s, nodesep=0.15, ranksep=0.9, "
        "newrank=true, ordering=out];" % (_q(FONT), _q(caption)),
        "  node [fontname=%s, fontsize=11, shape=box, style=\"rounded,filled\", fillcolor=white];" % _q(FONT),
        "  edge [fontname=%s, fontsize=10];" % _q(FONT),
    ]
    fwd = host.get("ip_forward")
    up_label = ('<<B>uplink %s</B><BR/>ip_forward %s<BR/>firewall %s>'
                % (_h(", ".join(uplinks) or "none"), _onoff(bool(fwd)) if fwd is not None else "?",
                   _h(host.get("firewall") or "unread")))
    out.append("  uplink [label=%s, shape=box3d, style=filled, fillcolor=\"#eeeeee\"];" % up_label)
    for i, (net, meta) in enumerate(zip(nets, metas)):
        out.extend(_network(i, net, meta or {}))
    out.append("}")
    return "\n".join(out) + "\n"


def _network(i, net, meta):
    nid = "n%d" % i
    subnet = net["subnet"]
    try:
        plen = ipaddress.ip_network(u"%s" % subnet).prefixlen
        gw = "%s/%d" % (net["gateway"], plen)
    except ValueError:
        gw = net["gateway"]
    masq, icc, isolate = bool(net.get("masquerade")), bool(net.get("icc", True)), bool(net.get("isolate"))
    owned = meta.get("owned")
    out = ["  subgraph cluster_%s {" % nid,
           "    label=%s; fontsize=13; style=\"rounded\"; color=\"#4477aa\";"
           % _q("network %s  %s%s" % (net.get("name") or net["bridge"], subnet,
                                      "" if owned is None else ("  (netplumb)" if owned else "  (hand-made)")))]
    br_label = ('<<B>bridge %s</B><BR/>gateway %s<BR/>%s<BR/>%s<BR/>%s>'
                % (_h(net["bridge"]), _h(gw), _flag("masquerade", masq), _flag("icc", icc),
                   _flag("isolate", isolate)))
    out.append("    %s [label=%s, fillcolor=\"#ddeeff\", penwidth=2%s];"
               % (nid, br_label, ", style=\"rounded,filled,dashed\", color=firebrick" if not icc else ""))
    conts = net.get("containers") or []
    cmeta = dict((c.get("name"), c) for c in meta.get("containers") or [])
    edges, ports = [], []
    for j, c in enumerate(conts):
        cid = "%sc%d" % (nid, j)
        m = cmeta.get(c.get("name"), {})
        veth = c.get("veth") or m.get("veth") or "vn-%s" % c.get("name")
        iface = c.get("interface") or m.get("interface") or "eth0"
        route = m.get("default_route", net["gateway"]) if m else net["gateway"]
        extra = "" if route == net["gateway"] else '<BR/><FONT COLOR="firebrick">default route: %s</FONT>' % _h(
            route or "none")
        out.append("    %s [label=<<B>%s</B>  %s<BR/><FONT POINT-SIZE=\"9\">veth %s - %s</FONT>%s>];"
                   % (cid, _h(c.get("name")), _h(c.get("address")), _h(veth), _h(iface), extra))
        edges.append("    %s -> %s [dir=none, color=\"#4477aa\"%s];" % (nid, cid, ", style=dashed" if not icc else ""))
        rows = [(k,) + _publish(p) for k, p in enumerate(c.get("publish") or [])]
        if rows:
            # the container's published ports, grouped right of it: host_ip:port/proto, an arrow to the container
            cells = "".join('<TR><TD PORT="p%d" ALIGN="LEFT">%s</TD></TR>' % (k, _h(h)) for k, h, dummy in rows)
            ports.append("    %sp [shape=plain, style=\"\", label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" "
                         "CELLSPACING=\"0\" CELLPADDING=\"3\" BGCOLOR=\"#fff4dd\">%s</TABLE>>];" % (cid, cells))
            for k, dummy, cport in rows:
                ports.append("    %s -> %sp:p%d:w [dir=back, label=%s, color=darkorange3, fontcolor=darkorange3];"
                             % (cid, cid, k, _q(":%s" % cport)))
    # graphviz stacks a rank's nodes bottom to top in the order of their edges (rankdir LR): reversed, the first
    # container is drawn at the top
    out.extend(reversed(edges))
    out.extend(ports)
    out.append("  }")
    out.append("  uplink -> %s [dir=back, %s];" % (
        nid, "label=\"MASQUERADE\", color=darkgreen, fontcolor=darkgreen, penwidth=2" if masq
        else "label=\"no masquerade\", style=dashed, color=gray, fontcolor=gray"))
    return out
