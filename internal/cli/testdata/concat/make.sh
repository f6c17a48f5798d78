#!/usr/bin/env bash
# Regenerates the concatenated-stream test data (root: loop mount, btrfs).
# `btrfs send a b` writes one complete stream per subvolume (header ... END,
# twice); `btrfs send -e a b` writes one header, both subvolumes, one END.
# The .dump files are `btrfs receive --dump` outputs (TZ=UTC): of each whole
# file, and of each of the two streams of noe.stream cut apart. The image is
# kept (fs.img.zst) so that coldsend send can be compared with both framings.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'umount "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
truncate -s 200M "$work/img"
mkfs.btrfs -q "$work/img" >/dev/null 2>&1
mkdir "$work/m"
mount -o loop "$work/img" "$work/m"
mkdir "$work/m/a"
echo hi > "$work/m/a/f"
printf 'odd name\n' > "$work/m/a/tab	and space"
btrfs subvolume snapshot -r "$work/m" "$work/m/s1" >/dev/null
echo x > "$work/m/g"
btrfs subvolume snapshot -r "$work/m" "$work/m/s2" >/dev/null
btrfs filesystem sync "$work/m"
btrfs send -q -f noe.stream "$work/m/s1" "$work/m/s2"
btrfs send -q -e -f e.stream "$work/m/s1" "$work/m/s2"
umount "$work/m"
zstd -q -19 -f "$work/img" -o fs.img.zst
export TZ=UTC
btrfs receive --dump -f noe.stream > noe.dump
btrfs receive --dump -f e.stream > e.dump
# The first stream ends with the first END; its length is where the
# second header starts.
second=$(grep -abo 'btrfs-stream' noe.stream | sed -n 2p | cut -d: -f1)
head -c "$second" noe.stream > "$work/one"
tail -c +"$((second + 1))" noe.stream > "$work/two"
btrfs receive --dump -f "$work/one" > noe.1.dump
btrfs receive --dump -f "$work/two" > noe.2.dump
btrfs --version > progs-version
