#!/usr/bin/env bash
# The galaxy build test (`make build`): build the collection tarball, check what is (not) in it, install it
# into a throwaway collections path and use it from there: ansible-doc of every module and real module runs.
#
# Run it through the Makefile, which wraps it in tests/isolated.sh inside
# `unshare --net --mount --propagation private`: the namespaces and links it creates live in that private
# network namespace and its private /run and /etc, and vanish with it.
#
# Environment (set by mk/sanity.mk): BUILD, ANSIBLE_GALAXY, ANSIBLE_DOC, ANSIBLE, ANSIBLE_PLAYBOOK, PY (a Python
# with pyroute2).
set -euo pipefail

if [ "${NETPLUMB_ISOLATED:-}" != 1 ]; then
  echo "test_build.sh: run me through tests/isolated.sh (make build), never in the machine's own namespace" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${BUILD:=$ROOT/.build}" "${ANSIBLE_GALAXY:=ansible-galaxy}" "${ANSIBLE_DOC:=ansible-doc}" "${ANSIBLE:=ansible}"
: "${ANSIBLE_PLAYBOOK:=ansible-playbook}"
: "${PY:=python3}"
DIST=$BUILD/dist
WORK=$BUILD/build-test
INSTALLED=$WORK/collections/ansible_collections/netplumb/container

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

rm -rf "$DIST" "$WORK"
mkdir -p "$DIST" "$WORK"

step "ansible-galaxy collection build"
(cd "$ROOT" && "$ANSIBLE_GALAXY" collection build --force --output-path "$DIST" .)
version=$(sed -n 's/^version: *//p' "$ROOT/galaxy.yml")
tarball=$DIST/netplumb-container-$version.tar.gz
[ -f "$tarball" ] || fail "no $tarball"

step "tarball contents"
tar -tzf "$tarball" | sed 's|^\./||' | sort > "$WORK/contents.txt"
echo "$(wc -l < "$WORK/contents.txt") entries, $(du -k "$tarball" | cut -f1) KiB"
# what must never be shipped: build outputs, venvs, caches, VCS data, benchmarks, and the checkout's own tooling
# (make and its suites, tools/, molecule, CI, lint and ansible configuration, the execution-environment recipe)
if grep -E '^(\.venv[^/]*|\.build|\.ci|\.git|\.gitignore|\.ansible-lint|\.pytest_cache|tests|bench|tools|Makefile|mk|molecule|ansible\.cfg|execution-environment\.yml|changelogs/\.plugin-cache\.yaml)(/|$)|(^|/)__pycache__(/|$)|\.pyc$|\.tar\.gz$' \
    "$WORK/contents.txt"; then
  fail "the tarball holds build outputs, caches or the checkout's tooling (see above); fix build_ignore in galaxy.yml"
fi
# requirements.txt and bindep.txt: what ansible-builder reads from an installed collection
for must in MANIFEST.json FILES.json README.md meta/runtime.yml requirements.txt bindep.txt \
    playbooks/example.yml playbooks/site.yml \
    plugins/modules/netns.py plugins/modules/linux_bridge.py plugins/modules/veth_pair.py \
    plugins/module_utils/_plan.py; do
  grep -qx "$must" "$WORK/contents.txt" || fail "$must missing from the tarball"
done
# every module and module_util of the checkout is in it
for f in "$ROOT"/plugins/modules/*.py "$ROOT"/plugins/module_utils/*.py; do
  rel=${f#"$ROOT"/}
  grep -qx "$rel" "$WORK/contents.txt" || fail "$rel missing from the tarball"
done

step "ansible-galaxy collection install into $WORK/collections"
"$ANSIBLE_GALAXY" collection install --force -p "$WORK/collections" "$tarball"
[ -f "$INSTALLED/MANIFEST.json" ] || fail "not installed at $INSTALLED"
# from here on, only the installed copy is visible (not the checkout that ansible.cfg links in)
export ANSIBLE_COLLECTIONS_PATH=$WORK/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
"$ANSIBLE_GALAXY" collection list netplumb.container > "$WORK/galaxy-list.txt"
grep -q "$WORK/collections" "$WORK/galaxy-list.txt" \
  || fail "ansible-galaxy does not see the installed copy"

step "ansible-doc from the installed copy"
for f in "$INSTALLED"/plugins/modules/*.py; do
  m=netplumb.container.$(basename "$f" .py)
  "$ANSIBLE_DOC" -t module --json "$m" > "$WORK/doc.json" || fail "ansible-doc $m"
  "$PY" - "$WORK/doc.json" "$INSTALLED" "$m" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))[sys.argv[3]]["doc"]
assert doc["filename"].startswith(sys.argv[2]), "%s documented from %s" % (sys.argv[3], doc["filename"])
assert doc["options"], "%s: no options documented" % sys.argv[3]
EOF
  echo "ansible-doc $m: ok"
done

step "the collection's playbooks by name from the installed copy (README: Use it on your own hosts)"
for p in example site inspect diagnose; do
  out=$(cd "$WORK" && "$ANSIBLE_PLAYBOOK" -i localhost, "netplumb.container.$p" --syntax-check 2>&1) \
    || { echo "$out" >&2; fail "ansible-playbook netplumb.container.$p --syntax-check"; }
  grep -qx "playbook: $INSTALLED/playbooks/$p.yml" <<<"$out" || { echo "$out" >&2; fail "netplumb.container.$p not from the installed copy"; }
  echo "ansible-playbook netplumb.container.$p --syntax-check: ok"
done

step "real module runs from the installed copy (private network namespace)"
adhoc() {  # adhoc MODULE ARGS [extra ansible options]: prints the module result as JSON
  local module=$1 args=$2 out
  shift 2
  out=$("$ANSIBLE" localhost -i localhost, -c local -o -e "ansible_python_interpreter=$PY" \
    -m "$module" -a "$args" "$@" 2>&1) || true
  # one-line output: "localhost | CHANGED => {...}"
  "$PY" -c '
import json, sys
for line in sys.stdin:
    if line.startswith("localhost | ") and " => " in line:
        print(json.dumps(json.loads(line.split(" => ", 1)[1])))
        sys.exit(0)
sys.exit("no result in the output of ansible")' <<<"$out" || { echo "$out" >&2; return 1; }
}
field() { "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(json.dumps(r.get(sys.argv[2])))' "$1" "$2"; }

r=$(adhoc netplumb.container.netns 'name=nbuild0' --check --diff)
[ "$(field "$r" changed)" = true ] || fail "check mode did not predict a change: $r"
[ ! -e /run/netns/nbuild0 ] || fail "check mode created the namespace"

r=$(adhoc netplumb.container.netns 'name=nbuild0')
[ "$(field "$r" changed)" = true ] || fail "netns create: $r"
ip netns list > "$WORK/netns.txt"
grep -qw nbuild0 "$WORK/netns.txt" || fail "namespace nbuild0 not created"
echo "netns create: $(field "$r" commands)"

r=$(adhoc netplumb.container.linux_bridge 'name=brbuild0 addresses=172.31.250.1/24')
[ "$(field "$r" changed)" = true ] || fail "linux_bridge create: $r"
r=$(adhoc netplumb.container.veth_pair \
  'name=vbuild0 peer=eth0 peer_netns=nbuild0 bridge=brbuild0 peer_addresses=172.31.250.10/24 peer_gateway=172.31.250.1')
[ "$(field "$r" changed)" = true ] || fail "veth_pair create: $r"
echo "veth_pair create: $(field "$r" commands)"
ping -c1 -W2 172.31.250.10 >/dev/null || fail "no ping to the namespace through the bridge"

r=$(adhoc netplumb.container.veth_pair \
  'name=vbuild0 peer=eth0 peer_netns=nbuild0 bridge=brbuild0 peer_addresses=172.31.250.10/24 peer_gateway=172.31.250.1')
[ "$(field "$r" changed)" = false ] || fail "veth_pair re-run not idempotent: $r"

adhoc netplumb.container.veth_pair 'name=vbuild0 peer=eth0 state=absent' >/dev/null
adhoc netplumb.container.linux_bridge 'name=brbuild0 state=absent' >/dev/null
r=$(adhoc netplumb.container.netns 'name=nbuild0 state=absent')
[ "$(field "$r" changed)" = true ] || fail "netns delete: $r"
ip netns list > "$WORK/netns.txt"
! grep -qw nbuild0 "$WORK/netns.txt" || fail "namespace nbuild0 still there"

echo "build test passed: $tarball"
