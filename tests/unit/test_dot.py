"""container_network_dot (_dot): container_network_info's value as DOT text, drawn by Debian's graphviz.

Pure: no host. The text is handed to the real ``dot`` (make deps installs graphviz) and the SVG it draws is
read back: labels, arrows and the order of the containers on the page.
"""
import html
import re
import shutil
import subprocess

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.netplumb.container.plugins.filter.container_network_dot import container_network_dot

GW = "172.18.0.1"


def info(n, icc=True):
    conts = []
    for i in range(n):
        c = dict(name="c%d" % i, address="172.18.0.%d" % (10 + i))
        if i % 3 == 0:
            c["publish"] = ["%d:80/tcp" % (8080 + i)]
        conts.append(c)
    conts[min(1, n - 1)]["publish"] = ["127.0.0.1:8053:53/udp", "5353:53/udp"]
    nets = [dict(name="web", bridge="br-web", subnet="172.18.0.0/16", gateway=GW, masquerade=True, icc=True,
                 isolate=True, containers=conts),
            dict(name="db", bridge="br-db", subnet="10.20.0.0/24", gateway="10.20.0.1", masquerade=False, icc=icc,
                 isolate=True, containers=[dict(name="db1", address="10.20.0.5", veth="vdb1", interface="ceth0")])]
    meta = [dict(name=x["name"], bridge=x["bridge"], owned=True, rules=[], containers=[
        dict(name=c["name"], owned=True, veth=c.get("veth", "vn-" + c["name"]), interface=c.get("interface", "eth0"),
             default_route=x["gateway"]) for c in x["containers"]]) for x in nets]
    unmanaged = [dict(kind="bridge", name="docker0", reason="Docker's")]
    return dict(container_networks=nets, networks_meta=meta, unmanaged=unmanaged,
                host=dict(uplinks=["eth0"], ip_forward=True, firewall="iptables-nft"))


def svg(dot_text):
    assert shutil.which("dot"), "graphviz's dot is missing: make deps installs it"
    return subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True).stdout


def texts(svg_text):
    """The SVG's text elements, unescaped (graphviz writes '-' as &#45; and a second space as &#160;)."""
    return "\n".join(html.unescape(t).replace(u"\xa0", " ") for t in re.findall(r"<text[^>]*>(.*?)</text>", svg_text))


def node_y(svg_text, node_id):
    """The y of a node's first text line in the SVG (graphviz writes <title>ID</title> then its shapes)."""
    m = re.search(r"<title>%s</title>.*?<text[^>]* y=\"(-?[\d.]+)\"" % re.escape(node_id), svg_text, re.S)
    assert m, node_id
    return float(m.group(1))


def test_three_containers_every_element_is_drawn():
    text = container_network_dot(info(3), "h1")
    out = svg(text)
    drawn = texts(out)
    for label in ("h1: 2 networks, 4 containers, 3 published ports; 1 unmanaged",
                  "uplink eth0", "ip_forward", "firewall iptables-nft", "network web  172.18.0.0/16  (netplumb)",
                  "bridge br-web", "gateway 172.18.0.1/16", "masquerade on", "icc on", "isolate on",
                  "masquerade off", "MASQUERADE", "no masquerade",
                  "c0", "172.18.0.10", "veth vn-c0 - eth0", "veth vdb1 - ceth0",
                  "*:8080/tcp", "127.0.0.1:8053/udp", "*:5353/udp", ":80", ":53"):
        assert label in drawn, label
    # one arrow per published port, from its table row to the container
    assert len(re.findall(r"<title>n0c\d+&#45;&gt;n0c\d+p:w</title>", out)) == 3


def test_icc_off_is_marked_and_dashed():
    text = container_network_dot(info(1, icc=False))
    assert "icc off" in texts(svg(text))
    assert re.search(r'n1 \[label=<.*style="rounded,filled,dashed", color=firebrick', text)
    assert 'n1 -> n1c0 [dir=none, color="#4477aa", style=dashed]' in text


def test_thirty_containers_stay_in_order_top_to_bottom():
    out = svg(container_network_dot(info(30), "big"))
    ys = [node_y(out, "n0c%d" % i) for i in range(30)]
    assert ys == sorted(ys), "containers are not drawn in their order"
    assert node_y(out, "n0c0p") == pytest.approx(ys[0], abs=20)     # each port table beside its container


def test_a_default_route_elsewhere_and_labels_escaped():
    i = info(1)
    i["networks_meta"][0]["containers"][0]["default_route"] = None
    i["container_networks"][0]["name"] = 'a<b>&"c'
    text = container_network_dot(i, 'host "x"')
    out = svg(text)
    assert "default route: none" in texts(out)
    assert 'network a<b>&"c' in texts(out)
    assert 'label="host \\"x\\": 2 networks' in text


def test_bad_input_names_the_field():
    with pytest.raises(AnsibleFilterError, match=r"info.container_networks=None: must be a list"):
        container_network_dot(dict(host={}))
    with pytest.raises(AnsibleFilterError, match=r"info.container_networks\[0\].gateway=None: must be a string"):
        container_network_dot(dict(container_networks=[dict(bridge="b", subnet="10.0.0.0/24")]))
    with pytest.raises(AnsibleFilterError, match=r"info=\[\]: must be the result of container_network_info"):
        container_network_dot([])
