#!/usr/bin/env bash
# Builds unclean-log.img.zst: a copy of a mounted filesystem taken after an
# fsync but before the next commit, so its superblock names a log tree.
# Root required. Kernel and btrfs-progs used are recorded in README.md.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'umount "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/m"
truncate -s 128M "$work/dev0.img"
mkfs.btrfs -q -f "$work/dev0.img"
mount -o loop,commit=300 "$work/dev0.img" "$work/m"
echo committed > "$work/m/committed.txt"
btrfs subvolume create "$work/m/sv" >/dev/null
echo also > "$work/m/sv/a"
btrfs filesystem sync "$work/m"
btrfs subvolume snapshot -r "$work/m" "$work/m/snap" >/dev/null
btrfs filesystem sync "$work/m"
python3 - "$work/m" <<'PY'
import os, sys
m = sys.argv[1]
fd = os.open(m + "/sv/fsynced.txt", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"fsynced but never committed\n"); os.fsync(fd); os.close(fd)
fd = os.open(m + "/committed.txt", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"appended+fsynced\n"); os.fsync(fd); os.close(fd)
PY
# The copy is what a forensic image of the live filesystem looks like.
cp --sparse=always "$work/dev0.img" "$work/copy.img"
umount "$work/m"
btrfs inspect-internal dump-super "$work/copy.img" | grep -q '^log_root[[:space:]]*[1-9]'
zstd -q -19 -f "$work/copy.img" -o "$out/unclean-log.img.zst"
