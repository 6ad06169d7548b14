#!/bin/sh
# The hand-written equivalent of the role for one network of N containers (run inside a lab host):
# bridge with the gateway, N namespaces with lo up, N veth pairs with address and default route, egress NAT,
# forwarding, one published port. Usage: bench_shell.sh N
set -eu
n=${1:-100}
ip link add br0 type bridge
ip addr add 172.18.0.1/16 dev br0
ip link set br0 up
i=1
while [ "$i" -le "$n" ]; do
  c=c$i
  ip netns add "$c"
  ip -n "$c" link set lo up
  ip link add "vn-$c" type veth peer name eth0 netns "$c"
  ip link set "vn-$c" master br0 up
  ip -n "$c" addr add "172.18.$((i / 250)).$((i % 250 + 2))/16" dev eth0
  ip -n "$c" link set eth0 up
  ip -n "$c" route add default via 172.18.0.1
  i=$((i + 1))
done
sysctl -qw net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br0 -j MASQUERADE
iptables -A FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A FORWARD -i br0 -j ACCEPT
iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 5000 -j DNAT --to-destination 172.18.0.3:5000
iptables -t nat -A OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -p tcp --dport 5000 -j DNAT --to-destination 172.18.0.3:5000
