#!/bin/bash
# Regenerates the kernel send streams in this directory, incremental cases
# a receiver's tree model must follow without a false alarm. It makes a
# filesystem (compress=zstd), fills a subvolume, takes read-only snapshot
# 1, renames (two directories swapped through a temporary name, a
# directory moved under its former child and another under its former
# grandchild, a directory renamed over a deleted one, files rotated, a file
# renamed over another), takes snapshot 2, replaces (a file by a directory
# and back, hard links across directories with the original removed,
# reflinks from a new file, an inode number reused after a remount), takes
# snapshot 3, and sends:
#   renames.v1.stream        -p 1 2, protocol 1
#   replace.v2c.stream       -p 2 3, protocol 2 with --compressed-data
#   multi.v2.stream          -e -p 1 2 3: two snapshots in one stream
# Needs root, loop devices, btrfs-progs and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/coldsend-validate.XXXXXX)
mnt=$work/mnt
img=$work/fs.img
mkdir "$mnt"
cleanup() {
	if mountpoint -q "$mnt"; then umount "$mnt"; fi
	rm -rf "$work"
}
trap cleanup EXIT

truncate -s 200M "$img"
mkfs.btrfs -q "$img" >/dev/null
mount -o loop,compress=zstd "$img" "$mnt"
btrfs -q subvolume create "$mnt/vol"
cd "$mnt/vol"

text() { for i in $(seq 1 "$2"); do echo "$1 line $i of some compressible text"; done; }

mkdir -p A B/sub P/C D E rot deep/l1/l2/l3 keep F0 G H1 H2
echo a1 >A/a1; echo a2 >A/a2; echo b1 >B/b1; echo b2 >B/sub/b2
echo f >P/C/f; echo g >P/g; echo x >D/x; echo y >E/y
echo a >rot/a; echo b >rot/b; echo c >rot/c
echo deep >deep/l1/l2/l3/f; echo k >keep/k
echo file >F; mkdir G/sub; echo g >G/sub/g
echo h >H1/h; echo h2 >H1/h2
cd "$mnt"
btrfs -q subvolume snapshot -r vol snap1

cd "$mnt/vol"
mv A T && mv B A && mv T B
mv P/C C && mv P C/P
mv deep/l1/l2/l3 l3 && mv deep l3/deep
rm -rf D && mv E D
mv rot/a rot/t && mv rot/b rot/a && mv rot/c rot/b && mv rot/t rot/c
echo new >keep/n && mv keep/n keep/k
mkdir N && mv B/a1 N/
text last 200 >last # the highest inode number, reused after a remount
cd "$mnt"
btrfs -q subvolume snapshot -r vol snap2

rm "$mnt/vol/last"
cd /
umount "$mnt"
mount -o loop,compress=zstd "$img" "$mnt"
cd "$mnt/vol"
text reuse 150 >reuse
rm F && mkdir F && echo inside >F/inside
rm -rf G && text G 100 >G
ln H1/h H2/h && ln H1/h2 H2/h2 && rm H1/h2 && mv H2 H3
head -c 16384 /dev/urandom >big
cp --reflink=always big big-copy
python3 - <<'PY'
import fcntl, os, struct
FICLONERANGE = 0x4020940d
src = os.open('big', os.O_RDONLY)
dst = os.open('part', os.O_WRONLY | os.O_CREAT, 0o644)
# 4 KiB from offset 8 KiB of big to offset 4 KiB of part
fcntl.ioctl(dst, FICLONERANGE, struct.pack('qQQQ', src, 8192, 4096, 4096))
PY
cd "$mnt"
btrfs -q subvolume snapshot -r vol snap3
btrfs filesystem sync "$mnt"

rm -f "$here"/*.stream
btrfs -q send --proto 1 -p snap1 -f "$here/renames.v1.stream" snap2
btrfs -q send --proto 2 --compressed-data -p snap2 -f "$here/replace.v2c.stream" snap3
btrfs -q send --proto 2 -e -p snap1 -f "$here/multi.v2.stream" snap2 snap3
chmod 644 "$here"/*.stream
cd /
ls -l "$here"/*.stream
