"""netplumb.container.container_nat on the real kernel: check/real/idempotent cycle, modify, removal."""
import pytest

from helpers_fw import converge_fw, our_lines, save, sysctl


@pytest.mark.deb
def test_lifecycle(sandbox, run):
    assert run("linux_bridge", dict(name="br0", addresses=["172.18.0.1/16"]))["changed"]
    args = dict(bridge="br0", subnet="172.18.0.0/16")
    res = converge_fw(run, "container_nat", args)
    assert "sysctl -w net.ipv4.ip_forward=1" in res["commands"]
    assert "iptables -t nat -A POSTROUTING -j NETPLUMB-POSTROUTING" in res["commands"]
    assert sysctl("net.ipv4.ip_forward") == "1"
    text = save()
    assert "-A NETPLUMB-POSTROUTING -s 172.18.0.0/16 ! -o br0 -m comment --comment \"netplumb:br0\" -j MASQUERADE" \
        in text
    assert "-A PREROUTING -j NETPLUMB-PREROUTING" in text

    res = converge_fw(run, "container_nat", dict(args, masquerade=False, icc=False))
    # the chain is rebuilt without the masquerade rule (flush, then the rules it keeps)
    assert "iptables -t nat -F NETPLUMB-POSTROUTING" in res["commands"]
    assert not any("! -o br0" in c and "MASQUERADE" in c for c in res["commands"]), res["commands"]
    assert "! -o br0 -m comment --comment \"netplumb:br0\" -j MASQUERADE" not in save()
    assert "-o br0 -m conntrack --ctstate DNAT -m comment --comment \"netplumb:br0\" -j MASQUERADE" in save()

    res = converge_fw(run, "container_nat", dict(args, state="absent"))
    assert our_lines() == []
    converge_fw(run, "container_nat", dict(args, state="absent"), expect_changed=False)
