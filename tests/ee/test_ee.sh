#!/usr/bin/env bash
# make ee: execution-environment.yml proven by `ansible-builder create` (podman is not needed for the context):
# the generated context copies this collection, installs it with ansible-galaxy from requirements.yml, and
# installs pyroute2 (pip) and python3-pyroute2's peers (bindep); the copied collection builds and installs.
# Needs: ANSIBLE_BUILDER, ANSIBLE_GALAXY, BUILD.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CTX=$BUILD/ee-context
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$CTX"
"$ANSIBLE_BUILDER" create -f "$ROOT/execution-environment.yml" -c "$CTX" --output-filename Containerfile \
  > "$BUILD/ee-create.log" 2>&1 || { cat "$BUILD/ee-create.log"; fail "ansible-builder create failed"; }
CF=$CTX/Containerfile
[[ -f $CF ]] || fail "no Containerfile in $CTX"

grep -qx "COPY _build/collection /tmp/netplumb-container" "$CF" || fail "the Containerfile does not copy the collection"
grep -q "ansible-galaxy collection install .*-r requirements.yml" "$CF" || fail "the Containerfile installs no collection"
python3 - "$CTX/_build/requirements.yml" <<'PY' || fail "requirements.yml does not install netplumb.container from the copy"
import sys
text = open(sys.argv[1]).read()
assert "name: netplumb.container" in text and "type: dir" in text and "source: /tmp/netplumb-container" in text, text
PY
grep -Eq '^pyroute2>=0\.7\.2$' "$CTX/_build/requirements.txt" || fail "the context's requirements.txt lacks pyroute2"
grep -q "introspect.py introspect --user-pip=requirements.txt" "$CF" || fail "the Containerfile ignores requirements.txt"
grep -q "^python3-pyroute2 \[platform:dpkg\]" "$CTX/_build/bindep.txt" || fail "bindep.txt lacks python3-pyroute2"

COLL=$CTX/_build/collection
for f in galaxy.yml README.md meta/runtime.yml roles/container_network/tasks/main.yml \
         roles/container_network/tasks/pyroute2.yml; do
  [[ -f $COLL/$f ]] || fail "$f missing from the copied collection"
done
for m in "$ROOT"/plugins/modules/*.py "$ROOT"/plugins/module_utils/*.py; do
  rel=${m#"$ROOT"/}
  cmp -s "$m" "$COLL/$rel" || fail "$rel missing from (or stale in) the copied collection"
done

# what the image's galaxy stage does, here: the copy builds and installs as netplumb.container
WORK=$BUILD/ee-galaxy
rm -rf "$WORK" && mkdir -p "$WORK/collections"
(cd "$COLL" && "$ANSIBLE_GALAXY" collection build --output-path "$WORK" >/dev/null) || fail "the copy does not build"
ANSIBLE_COLLECTIONS_PATH="$WORK/collections" "$ANSIBLE_GALAXY" collection install --offline --force -p "$WORK/collections" "$WORK"/netplumb-container-*.tar.gz \
  >/dev/null || fail "the built copy does not install"
[[ -f $WORK/collections/ansible_collections/netplumb/container/plugins/modules/port_publish.py ]] \
  || fail "installed copy has no port_publish"
echo "ee: ansible-builder create ok; the context installs netplumb.container (from its copy) and pyroute2"
