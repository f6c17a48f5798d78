#!/usr/bin/env bash
# Builds the orphans test data into DIR (default: this directory):
#
#   orphans.img.zst  a copy of a mounted filesystem taken after a commit,
#                    while files unlinked but still open and an O_TMPFILE
#                    never linked live on as ORPHAN_ITEMs, as a forensic
#                    image of a running system has them; in subvolume sv
#                    (a writable subvolume, whose orphans precede its last
#                    inodes) and in the top level
#   *.stream         the kernel's sends after it mounted a copy of the image
#                    (with the log zeroed), which runs orphan cleanup: snap
#                    (a read-only snapshot of the cleaned sv) in full and
#                    against sv.0 (a snapshot from before the orphans), and
#                    sv.0 against snap
#   versions.txt     kernel and btrfs-progs
#
# Root required. coldsend's sends of sv from orphans.img must equal these
# streams apart from the SUBVOL/SNAPSHOT command.
set -euo pipefail
out=$(cd "${1:-$(dirname "$0")}" && pwd)
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
	umount "$work/m" 2>/dev/null || true
	umount "$work/k" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/m" "$work/k"
(cd "$repo" && go build -o "$work/holder" ./internal/cmd/orphanholder)
truncate -s 128M "$work/dev0.img"
mkfs.btrfs -q -f "$work/dev0.img"
# commit=300: no commit but the ones asked for.
mount -o loop,noatime,commit=300 "$work/dev0.img" "$work/m"
m=$work/m
btrfs subvolume create "$m/sv" >/dev/null
mkdir "$m/sv/dir"
head -c 70000 /dev/urandom >"$m/sv/shared"
echo before >"$m/sv/dir/before"
btrfs filesystem sync "$m"
btrfs subvolume snapshot -r "$m/sv" "$m/sv.0" >/dev/null
"$work/holder" "$m" "$work/ready" &
holder=$!
while [ ! -e "$work/ready" ]; do
	kill -0 "$holder" 2>/dev/null || { echo "make.sh: orphanholder failed" >&2; exit 1; }
	sleep 0.1
done
btrfs filesystem sync "$m"
cp --sparse=always "$work/dev0.img" "$work/orphans.img"
kill "$holder"
wait "$holder" 2>/dev/null || true
holder=
umount "$m"
for t in 5 256; do
	n=$(btrfs inspect-internal dump-tree -t "$t" "$work/orphans.img" | grep -c 'ORPHAN_ITEM' || true)
	[ "$n" -gt 0 ] || { echo "make.sh: tree $t of the copy holds no ORPHAN_ITEM" >&2; exit 1; }
done

# The kernel's view: mount a copy (orphan cleanup of the top level runs
# at mount, of a subvolume when it is first entered), snapshot the
# cleaned sv and send.
cp --sparse=always "$work/orphans.img" "$work/kernel.img"
btrfs rescue zero-log "$work/kernel.img" >/dev/null
mount -o loop,noatime "$work/kernel.img" "$work/k"
k=$work/k
stat "$k/sv" "$k/sv.0" >/dev/null
btrfs subvolume snapshot -r "$k/sv" "$k/snap" >/dev/null
btrfs filesystem sync "$k"
btrfs send -q -f "$out/sv.full.stream" "$k/snap"
btrfs send -q -f "$out/sv.incr-sv.0.stream" -p "$k/sv.0" "$k/snap"
btrfs send -q -f "$out/sv.0.incr-sv.stream" -p "$k/snap" "$k/sv.0"
umount "$k"
zstd -q -19 -f "$work/orphans.img" -o "$out/orphans.img.zst"
{
	echo "kernel $(uname -r)"
	btrfs --version
} >"$out/versions.txt"
