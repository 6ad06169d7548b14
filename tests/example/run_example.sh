#!/usr/bin/env bash
# make example: README's quick example, as printed there, against a fresh one-host lab (h1 in group lab):
#   1. README's first yaml block is byte for byte playbooks/example.yml;
#      then the commands that build the example's networks (tests/example/networks.yml, the role's schema) on an
#      empty host, rendered on the controller by the filter container_network_render, no host touched;
#   2. --check --diff on the fresh host: no failure, the commands shown (diff.prepared), nothing written;
#   3. the real run; 4. a re-run with changed=0;
#   5. playbooks inspect (the SVG and PNG exist, the SVG names the network's parts) and diagnose (no error; the
#      published port without a listener is named).
# The lab lives in $EXAMPLE_LAB (default .build/lab-example) and is taken down on exit unless KEEP_LAB=1.
# Needs: LAB (netlab.py command), BUILD; the venv's ansible-playbook on PATH, ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXAMPLE_LAB=${EXAMPLE_LAB:-$BUILD/lab-example}
LOGS=$BUILD/example
mkdir -p "$LOGS"
export NETLAB_STATE_DIR=$EXAMPLE_LAB

fail() { echo "FAIL: $*" >&2; exit 1; }
down() { [[ -n "${KEEP_LAB:-}" ]] || $LAB down >/dev/null; }

# 1. the playbook is README's quick example
python3 - "$ROOT/README.md" "$ROOT/playbooks/example.yml" <<'PY' || fail "README's quick example differs from playbooks/example.yml"
import sys
text = open(sys.argv[1]).read()
section = text[text.index("## Quick example"):]
block = section[section.index("```yaml\n") + len("```yaml\n"):]
block = block[:block.index("```")]
play = open(sys.argv[2]).read()
sys.exit(0 if block == play else 1)
PY

# the rendered commands (controller only, before any lab exists)
ansible-playbook -i localhost, "$ROOT/tests/example/render.yml" -e "render_out=$LOGS/rendered.txt" \
  > "$LOGS/render.log" 2>&1 || { cat "$LOGS/render.log"; fail "container_network_render failed"; }
for cmd in "ip netns add netns0" "ip link add br0 type bridge" "ip link add vn-netns0 master br0 up type veth peer name eth0 netns netns0" \
           "iptables -t nat -A NETPLUMB-POSTROUTING -s 172.18.0.0/16 ! -o br0" "--dport 5000"; do
  grep -qF -- "$cmd" "$LOGS/rendered.txt" || { cat "$LOGS/rendered.txt"; fail "the rendered commands lack: $cmd"; }
done
echo "== container_network_render: the example's networks on an empty host ($(wc -l < "$LOGS/rendered.txt") commands) =="
cat "$LOGS/rendered.txt"
echo "== end of the rendered commands =="

$LAB down >/dev/null      # a fresh host: whatever an earlier run left goes
trap down EXIT
$LAB up --hosts 1
INV="$EXAMPLE_LAB/inventory.ini"
h1() { $LAB exec h1 "$@"; }
snapshot() { { h1 ip -d link show; h1 ip netns list; h1 iptables-save | grep -v '^#' || true;
                h1 nft list ruleset 2>/dev/null || true; } > "$1"; }

# 2. check + diff on the fresh host
snapshot "$LOGS/before.txt"
ansible-playbook -i "$INV" "$ROOT/playbooks/example.yml" --check --diff > "$LOGS/check.log" 2>&1 \
  || { cat "$LOGS/check.log"; fail "--check --diff failed on a fresh host"; }
snapshot "$LOGS/after-check.txt"
cmp -s "$LOGS/before.txt" "$LOGS/after-check.txt" || fail "--check wrote to the host (see $LOGS)"
for cmd in "ip netns add netns0" "ip link add br0 type bridge" "ip link add veth0 master br0 up type veth peer name ceth0"; do
  grep -qF -- "$cmd" "$LOGS/check.log" || { cat "$LOGS/check.log"; fail "--check --diff does not show: $cmd"; }
done
# the masquerade and the published port, in the backend firewall_backend auto picked (nftables on a fresh host)
grep -qF -- "iptables -t nat -A NETPLUMB-POSTROUTING -s 172.18.0.0/16 ! -o br0" "$LOGS/check.log" \
  || grep -qF -- 'nft add rule inet netplumb postrouting-nat ip saddr 172.18.0.0/16 oifname != "br0" masquerade' \
     "$LOGS/check.log" || { cat "$LOGS/check.log"; fail "--check --diff does not show the masquerade of 172.18.0.0/16"; }
grep -qE -- "--dport 5000|dport 5000" "$LOGS/check.log" \
  || { cat "$LOGS/check.log"; fail "--check --diff does not show: the published port 5000"; }
grep -qE '^h1 +: ok=[0-9]+ +changed=5 +unreachable=0 +failed=0' "$LOGS/check.log" \
  || { cat "$LOGS/check.log"; fail "--check did not predict 5 changed tasks"; }

# 3. real, 4. again: nothing to do
ansible-playbook -i "$INV" "$ROOT/playbooks/example.yml" --diff > "$LOGS/real.log" 2>&1 \
  || { cat "$LOGS/real.log"; fail "the real run failed"; }
grep -qE '^h1 +: ok=[0-9]+ +changed=5 +unreachable=0 +failed=0' "$LOGS/real.log" \
  || { cat "$LOGS/real.log"; fail "the real run did not change 5 tasks"; }
ansible-playbook -i "$INV" "$ROOT/playbooks/example.yml" > "$LOGS/rerun.log" 2>&1 \
  || { cat "$LOGS/rerun.log"; fail "the re-run failed"; }
grep -qE '^h1 +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "$LOGS/rerun.log" \
  || { cat "$LOGS/rerun.log"; fail "the re-run changed something"; }
h1 ip netns exec netns0 ping -c 1 -w 10 -i 0.2 172.18.0.20 >/dev/null || fail "netns0 cannot reach netns1"

# 5. the host's picture (playbook inspect: SVG and PNG drawn by graphviz on the controller) and its diagnosis
ansible-playbook -i "$INV" "$ROOT/playbooks/inspect.yml" -e "inspect_dir=$LOGS/inspect" > "$LOGS/inspect.log" 2>&1 \
  || { cat "$LOGS/inspect.log"; fail "playbook inspect failed"; }
[[ "$(head -c 8 "$LOGS/inspect/h1.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] \
  || fail "inspect wrote no PNG ($LOGS/inspect/h1.png)"
for label in "h1: 1 network, 2 containers, 1 published port" "bridge br0" "gateway 172.18.0.1/16" "masquerade on" \
             "netns0" "172.18.0.10" "netns1" "172.18.0.20" "veth veth0" "*:5000/tcp" "MASQUERADE" "uplink eth0"; do
  grep -qF -- "$label" "$LOGS/inspect/h1.svg" || fail "the picture lacks: $label ($LOGS/inspect/h1.svg)"
done
ansible-playbook -i "$INV" "$ROOT/playbooks/diagnose.yml" > "$LOGS/diagnose.log" 2>&1 \
  || { cat "$LOGS/diagnose.log"; fail "diagnose found an error on the example network"; }
for line in "OK    host ip_forward" "OK    br0 jumps" "OK    br0 firewall" \
            "WARN  br0 listener: published port 5000:5000/tcp: nothing listens on tcp port 5000 in container netns0"; do
  grep -qF -- "$line" "$LOGS/diagnose.log" || { cat "$LOGS/diagnose.log"; fail "diagnose does not say: $line"; }
done
echo "example: --check --diff predicted (commands shown, nothing written), real run, re-run changed=0, pictures \
($LOGS/inspect/h1.svg, .png), diagnose (logs: $LOGS)"
