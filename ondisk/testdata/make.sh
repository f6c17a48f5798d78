#!/bin/sh
# Regenerates the superblock fixtures used by ../superblock_test.go: the
# 4 KiB primary superblock of small mkfs.btrfs images plus the output of
# "btrfs inspect-internal dump-super -f" for each, which the test compares
# field by field. Run as root (btrfstune needs it) from any directory; only
# mkfs.btrfs, btrfstune and btrfs are needed, nothing is mounted.
set -eu
cd "$(dirname "$0")"
ver=$(mkfs.btrfs --version | sed -n 's/.*btrfs-progs v\([0-9.]*\).*/\1/p')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# save NAME IMAGE: keep the primary superblock and its dump.
save() {
	out=sb-progs$ver-$1
	dd if="$2" of="$out.bin" bs=4096 skip=16 count=1 status=none
	btrfs inspect-internal dump-super -f "$2" | sed "s|device=$tmp/|device=|" >"$out.dump-super.txt"
}

# mkimg NAME NDEV MKFS-ARGS...: make NDEV 256 MiB sparse images.
mkimg() {
	name=$1 n=$2
	shift 2
	set -- "$@" $(seq -f "$tmp/$name-%g.img" 1 "$n")
	for j in $(seq 1 "$n"); do truncate -s 256M "$tmp/$name-$j.img"; done
	mkfs.btrfs -q -f "$@" >/dev/null
}

i=0
for csum in crc32c xxhash sha256 blake2; do
	i=$((i + 1))
	mkimg $csum 1 --csum $csum -L "coldsend $csum" -U 5eed0000-0000-4000-8000-00000000000$i
	save $csum "$tmp/$csum-1.img"
done

# metadata_uuid: the user-visible fsid changes, headers keep the old one.
mkimg muuid 1 -U 5eed0000-0000-4000-8000-0000000000aa
btrfstune -f -M 5eed0000-0000-4000-8000-0000000000bb "$tmp/muuid-1.img" >/dev/null
save metadata-uuid "$tmp/muuid-1.img"

# A member of a multi-device filesystem: devid 3 of a RAID10 set, whose
# sys_chunk_array holds a 4-stripe chunk with sub_stripes 2.
mkimg raid10 4 -m raid10 -d raid10 -U 5eed0000-0000-4000-8000-0000000000cc
save raid10-devid3 "$tmp/raid10-3.img"

# Mixed block groups: nodesize equals sectorsize.
mkimg mixed 1 --mixed -U 5eed0000-0000-4000-8000-0000000000dd
save mixed "$tmp/mixed-1.img"
