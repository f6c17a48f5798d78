#!/bin/bash
# Regenerates the item payloads NAME.bin, with the dump-tree lines NAME.txt
# that item_test.go takes its expected values from, out of freshly made
# images. Needs root, loop devices, btrfs-progs and python3. Every run gives
# new uuids, times and addresses, so item_test.go must be updated after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/coldsend-items.XXXXXX)
mnt=$work/mnt
mkdir "$mnt"

cleanup() {
	if mountpoint -q "$mnt"; then umount "$mnt"; fi
	rm -rf "$work"
}
trap cleanup EXIT

crc32c_py='
def crc32c(data, crc=0xFFFFFFFF):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
'

phys() { btrfs-map-logical -l "$2" "$1" | awk '/^mirror 1 / { print $6; exit }'; }

# extract IMG TREE NAME KEY_RE [BODY_RE [NTH]]: saves the payload of the NTH
# item in tree TREE whose printed key matches KEY_RE and whose printed body
# matches BODY_RE (extended regexps).
extract() {
	local img=$1 tree=$2 name=$3
	btrfs inspect-internal dump-tree -t "$tree" "$img" |
		KEY_RE=$4 BODY_RE=${5:-} NTH=${6:-1} awk '
		function flush() {
			if (cur != "" && !done && text ~ ENVIRON["BODY_RE"] && ++seen == ENVIRON["NTH"]) {
				print leaf, off, size
				printf "%s", text
				done = 1
			}
			cur = ""
		}
		/^leaf [0-9]+ items/ { flush(); leaf = $2; next }
		/^\titem [0-9]+ key / {
			flush()
			k = $0; sub(/^.*key /, "", k); sub(/ itemoff.*$/, "", k)
			if (k ~ ENVIRON["KEY_RE"]) { cur = k; off = $(NF-2); size = $NF; text = $0 "\n" }
			next
		}
		/^\t\t/ { if (cur != "") text = text $0 "\n"; next }
		{ flush() }
		END { flush() }' >"$work/hit"
	[ -s "$work/hit" ] || { echo "$name: no item matches $4 / ${5:-} in tree $tree" >&2; exit 1; }
	local leaf off size
	read -r leaf off size <"$work/hit"
	tail -n +2 "$work/hit" >"$here/$name.txt"
	dd if="$img" of="$here/$name.bin" bs=1 skip=$(($(phys "$img" "$leaf") + 101 + off)) count="$size" status=none
}

rm -f "$here"/*.bin "$here"/*.txt

# Image A: mkfs defaults (16K nodes, skinny metadata, no-holes, extrefs).
a=$work/a.img
truncate -s 200M "$a"
mkfs.btrfs -q "$a" >/dev/null 2>&1
mount -o loop "$a" "$mnt"
mkdir "$mnt/dir" "$mnt/other" "$mnt/links"                  # 257 258 259
printf 'hello, coldsend\n' >"$mnt/dir/file.txt"             # 260
ln "$mnt/dir/file.txt" "$mnt/dir/link2"
ln "$mnt/dir/file.txt" "$mnt/other/link3"
python3 -c "import os; os.setxattr('$mnt/dir/file.txt', 'user.color', b'blue'); os.setxattr('$mnt/dir/file.txt', 'user.empty', b'')"
ln -s ../dir/file.txt "$mnt/other/sym"                      # 261
mknod "$mnt/other/fifo" p                                   # 262
mknod "$mnt/other/chr" c 1 3                                # 263
head -c 65536 /dev/urandom >"$mnt/big"                      # 264
for i in $(seq 1 40); do cp --reflink=always "$mnt/big" "$mnt/links/clone$i"; done
cp --reflink=always "$mnt/big" "$mnt/dir/clone"             # 305
# 200-byte names overflow one INODE_REF item, so later links become extrefs.
touch "$mnt/many"                                           # 306
for i in $(seq 1 90); do ln "$mnt/many" "$mnt/links/$(printf 'l%03d%0196d' "$i" 0)"; done
fallocate -l 1M "$mnt/prealloc"                             # 307
touch "$mnt/nocow" && chattr +C "$mnt/nocow"                # 308
touch "$mnt/compressed" && chattr +c "$mnt/compressed"      # 309
head -c 3000 < <(yes 'compressible line of text') >"$mnt/compressed"
mkdir "$mnt/cdir" && chattr +c "$mnt/cdir"                  # 310
head -c 200000 < <(yes 'compressible line of text') >"$mnt/cdir/long" # 311
btrfs -q subvolume create "$mnt/sub"                        # tree 256
printf 'in a subvolume\n' >"$mnt/sub/f"
btrfs -q subvolume snapshot -r "$mnt/sub" "$mnt/snap"       # tree 257
mkdir "$mnt/recv"
btrfs -q send "$mnt/snap" 2>/dev/null | btrfs -q receive "$mnt/recv" # tree 258
umount "$mnt"

extract "$a" fs inode_dir '^\(256 INODE_ITEM 0\)$'
extract "$a" fs inode_reg '^\(260 INODE_ITEM 0\)$'
extract "$a" fs inode_symlink '^\(261 INODE_ITEM 0\)$'
extract "$a" fs inode_chr '^\(263 INODE_ITEM 0\)$'
extract "$a" fs inode_prealloc '^\(307 INODE_ITEM 0\)$'
extract "$a" fs inode_nocow '^\(308 INODE_ITEM 0\)$'
extract "$a" fs inode_compress '^\(309 INODE_ITEM 0\)$'
extract "$a" fs iref_root '^\(256 INODE_REF 256\)$'
extract "$a" fs iref_two '^\(260 INODE_REF 257\)$'
extract "$a" fs iref_many '^\(306 INODE_REF 259\)$'
extract "$a" fs extref '^\(306 INODE_EXTREF [0-9]+\)$'
extract "$a" fs dir_item '^\(257 DIR_ITEM [0-9]+\)$' 'name: file.txt'
extract "$a" fs dir_index '^\(257 DIR_INDEX 2\)$'
extract "$a" fs dir_subvol '^\(256 DIR_ITEM [0-9]+\)$' 'name: sub[[:space:]]'
extract "$a" fs xattr '^\(260 XATTR_ITEM [0-9]+\)$' 'name: user.color'
extract "$a" fs xattr_empty '^\(260 XATTR_ITEM [0-9]+\)$' 'name: user.empty'
extract "$a" fs fe_inline '^\(260 EXTENT_DATA 0\)$'
extract "$a" fs fe_symlink '^\(261 EXTENT_DATA 0\)$'
extract "$a" fs fe_reg '^\(264 EXTENT_DATA 0\)$'
extract "$a" fs fe_prealloc '^\(307 EXTENT_DATA 0\)$'
extract "$a" fs fe_inline_zlib '^\(309 EXTENT_DATA 0\)$'
extract "$a" fs fe_reg_zlib '^\(311 EXTENT_DATA 131072\)$'
extract "$a" root root_fs '^\(FS_TREE ROOT_ITEM 0\)$'
extract "$a" root root_snap '^\(257 ROOT_ITEM [0-9]+\)$'
extract "$a" root root_recv '^\(258 ROOT_ITEM 0\)$'
extract "$a" root root_ref '^\(FS_TREE ROOT_REF 257\)$'
extract "$a" root root_backref '^\(258 ROOT_BACKREF 5\)$'
extract "$a" root dir_default '^\(ROOT_TREE_DIR DIR_ITEM 2378154706\)$'
big=$(awk '/disk byte/ { print $5; exit }' "$here/fe_reg.txt")
extract "$a" extent ext_data_many "^\\($big EXTENT_ITEM 65536\\)\$"
extract "$a" extent edr_keyed "^\\($big EXTENT_DATA_REF [0-9]+\\)\$"
extract "$a" extent metadata_item '^\([0-9]+ METADATA_ITEM 0\)$' 'backref root FS_TREE'
extract "$a" extent block_group '^\([0-9]+ BLOCK_GROUP_ITEM [0-9]+\)$' 'flags DATA'
extract "$a" dev dev_extent '^\(1 DEV_EXTENT [0-9]+\)$'
extract "$a" uuid uuid_subvol '^\(0x[0-9a-f]+ UUID_KEY_SUBVOL 0x[0-9a-f]+\)$' 'subvol_id 257'
extract "$a" uuid uuid_received '^\(0x[0-9a-f]+ UUID_KEY_RECEIVED_SUBVOL 0x[0-9a-f]+\)$'
extract "$a" csum csum '^\(EXTENT_CSUM EXTENT_CSUM [0-9]+\)$'
# dump-tree does not print checksums: record the crc32c of two covered
# sectors, read back from the data.
start=$(awk '/range start/ { print $3; exit }' "$here/csum.txt")
for s in "$start" $((start + 65536)); do
	python3 -c "$crc32c_py
f = open('$a', 'rb'); f.seek($(phys "$a" "$s")); print('sector $s crc32c %#010x' % crc32c(f.read(4096)))"
done >>"$here/csum.txt"

# Image B: 4K nodes without skinny metadata or no-holes, with a snapshot
# whose source is then changed, so tree blocks and data extents get
# parent-based (shared) references.
b=$work/b.img
truncate -s 200M "$b"
mkfs.btrfs -q -n 4096 -O ^skinny-metadata,^no-holes "$b" >/dev/null 2>&1
mount -o loop "$b" "$mnt"
btrfs -q subvolume create "$mnt/vol"                        # tree 256
head -c 8192 /dev/urandom >"$mnt/vol/big"
for i in $(seq 1 100); do cp --reflink=always "$mnt/vol/big" "$mnt/vol/c$i"; done
mkdir "$mnt/vol/e" && (cd "$mnt/vol/e" && seq 1 3000 | xargs touch)
printf 'start' >"$mnt/vol/holey" && truncate -s 1M "$mnt/vol/holey" && printf 'end' >>"$mnt/vol/holey"
sync
btrfs -q subvolume snapshot -r "$mnt/vol" "$mnt/vol.snap"   # tree 257
sync
chmod 600 "$mnt"/vol/c* "$mnt/vol/holey"
touch "$mnt/vol/e/1500"
umount "$mnt"

extract "$b" extent ext_tree_block '^\([0-9]+ EXTENT_ITEM 4096\)$' 'tree block backref root 256'
extract "$b" extent ext_shared_block '^\([0-9]+ EXTENT_ITEM 4096\)$' 'FULL_BACKREF.*shared block backref'
extract "$b" extent ext_shared_data '^\([0-9]+ EXTENT_ITEM 4096\)$' 'flags DATA.*shared data backref'
extract "$b" extent sdr_keyed '^\([0-9]+ SHARED_DATA_REF [0-9]+\)$'
extract "$b" 256 fe_hole '^\([0-9]+ EXTENT_DATA [0-9]+\)$' 'disk byte 0 nr 0'

# Image C: simple quotas, so new data extents carry an EXTENT_OWNER_REF.
# progs 6.2 knows neither, so enable them by ioctl (BTRFS_IOC_QUOTA_CTL,
# BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA) and dump a copy whose superblock has
# the SIMPLE_QUOTA incompat bit cleared. dump-tree then prints the extent
# item without its inline refs; the test checks them against the fs tree.
c=$work/c.img
truncate -s 200M "$c"
mkfs.btrfs -q "$c" >/dev/null 2>&1
mount -o loop "$c" "$mnt"
python3 -c "
import fcntl, os, struct
fd = os.open('$mnt', os.O_RDONLY)
fcntl.ioctl(fd, (3 << 30) | (16 << 16) | (0x94 << 8) | 40, struct.pack('<QQ', 4, 0))"
head -c 8192 /dev/urandom >"$mnt/owned"                     # 257
umount "$mnt"
python3 -c "$crc32c_py
import struct
f = open('$c', 'r+b'); f.seek(0x10000); sb = bytearray(f.read(4096))
inc = struct.unpack_from('<Q', sb, 0xbc)[0]
struct.pack_into('<Q', sb, 0xbc, inc & ~(1 << 16))
sb[0:32] = struct.pack('<I', crc32c(bytes(sb[32:]))) + bytes(28)
f.seek(0x10000); f.write(sb)"
extract "$c" extent ext_owner '^\([0-9]+ EXTENT_ITEM 8192\)$' 'flags DATA'
extract "$c" fs fe_owned '^\(257 EXTENT_DATA 0\)$'
