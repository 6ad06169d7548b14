#!/usr/bin/env bash
# Runs "$@" inside the private network+mount namespace that `unshare --net --mount --propagation private`
# made for it (see the Makefile): a private tmpfs /run (so /run/netns and the xtables lock are ours), a
# copy-on-write /etc (so /etc/netns/*/resolv.conf writes vanish with us), loopback up.
# Nothing done here reaches the machine's own namespaces or files.
set -euo pipefail
# NETPLUMB_OUTER_NETNS: the caller's namespace (see the Makefile), which we must not be in.
if [ -z "${NETPLUMB_OUTER_NETNS:-}" ] || [ "$NETPLUMB_OUTER_NETNS" = "$(readlink /proc/self/ns/net)" ]; then
  echo "isolated.sh: run me as: NETPLUMB_OUTER_NETNS=\$(readlink /proc/self/ns/net) unshare --net --mount --propagation private $0 CMD" >&2
  exit 2
fi
scratch=$(mktemp -d /dev/shm/netplumb-iso.XXXXXX)
mount -t tmpfs -o mode=700 netplumb-scratch "$scratch"
mkdir -p "$scratch/etc-upper" "$scratch/etc-work"
mount -t overlay netplumb-etc -o "lowerdir=/etc,upperdir=$scratch/etc-upper,workdir=$scratch/etc-work" /etc
mount -t tmpfs -o mode=755 netplumb-run /run
mkdir -p /run/netns /run/lock
ip link set lo up
export NETPLUMB_ISOLATED=1
# the scratch dir entry in /dev/shm is removed as soon as the mount namespace is set up
umount -l "$scratch" 2>/dev/null || true
rmdir "$scratch" 2>/dev/null || true
"$@"
