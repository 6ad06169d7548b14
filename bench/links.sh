#!/usr/bin/env bash
# The hand-written baseline: N containers the way the tutorials do it, one `ip` command per step.
set -euo pipefail
N=${1:-100}
ip link add br0 type bridge
ip addr add 172.18.0.1/16 dev br0
ip link set br0 up
for i in $(seq 0 $((N - 1))); do
  ns=c$i
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "vh$i" type veth peer name eth0 netns "$ns"
  ip link set "vh$i" master br0
  ip link set "vh$i" up
  ip -n "$ns" addr add "172.18.$((1 + i / 200)).$((10 + i % 200))/16" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via 172.18.0.1
done
