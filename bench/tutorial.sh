#!/bin/sh
# The tutorials' shell recipe (docs/tutorial-mapping.md) for ONE network of K containers, the baseline of
# `make bench`: bridge br0 with the gateway 172.18.0.1/16; per container cI (I = 1..K) a namespace with lo up, a
# veth vn-cI into it (eth0 inside) on the bridge, the address 172.18.(I/250).(I%250+2)/16 and a default route via
# the gateway; then forwarding, MASQUERADE and FORWARD accepts; then P published ports per container (default
# 1): host port 10000+(I-1)*P+J -> container port 79+J (J = 1..P; with P=1: 10000+I -> 80), one DNAT rule in
# PREROUTING and one in OUTPUT each, appended one `iptables -A` at a time as users write it (each call rereads
# and rewrites the table: superlinear, which is the point of a baseline).
# The same topology as bench/benchlib.py's role variables (tests/unit/test_bench.py compares them).
# Usage: tutorial.sh K [P]      DRY_RUN=1 tutorial.sh K [P] prints the commands instead of running them.
set -eu
k=${1:?usage: tutorial.sh K [PORTS_PER_CONTAINER]}
p=${2:-1}
run() {
  if [ -n "${DRY_RUN:-}" ]; then echo "$*"; else "$@"; fi
}
run ip link add br0 type bridge
run ip addr add 172.18.0.1/16 dev br0
run ip link set br0 up
i=1
while [ "$i" -le "$k" ]; do
  c=c$i
  run ip netns add "$c"
  run ip -n "$c" link set lo up
  run ip link add "vn-$c" type veth peer name eth0 netns "$c"
  run ip link set "vn-$c" master br0 up
  run ip -n "$c" addr add "172.18.$((i / 250)).$((i % 250 + 2))/16" dev eth0
  run ip -n "$c" link set eth0 up
  run ip -n "$c" route add default via 172.18.0.1
  i=$((i + 1))
done
run sysctl -qw net.ipv4.ip_forward=1
run iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE
run iptables -A FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
run iptables -A FORWARD -i br0 -j ACCEPT
i=1
while [ "$i" -le "$k" ]; do
  addr=172.18.$((i / 250)).$((i % 250 + 2))
  j=1
  while [ "$j" -le "$p" ]; do
    hp=$((10000 + (i - 1) * p + j))
    cp=$((79 + j))
    run iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport "$hp" -j DNAT --to-destination "$addr:$cp"
    run iptables -t nat -A OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -p tcp --dport "$hp" -j DNAT --to-destination "$addr:$cp"
    j=$((j + 1))
  done
  i=$((i + 1))
done
