#!/usr/bin/env bash
# Builds logreplay's crash images into DIR (default: this directory). Each
# case is a fresh filesystem, mounted with a commit interval long enough
# that nothing commits on its own: a setup, committed (sync), then work
# partly fsynced, and a copy of the image taken while it is still mounted
# -- the image a crash leaves, with a log tree (checked: log_root != 0).
# The kernel then mounts another copy, which replays the log, and what it
# shows is recorded with internal/cmd/fsview:
#
#   NAME.img.zst   the crash image (zstd)
#   NAME.view      the kernel's view of the top-level subvolume after its
#                  replay
#   NAME.kernel.img.zst  that copy after the kernel's replay and unmount,
#                  for an item by item comparison of the trees
#   versions.txt   kernel and btrfs-progs
#
# A case whose copy has no log (something committed the filesystem, a
# sync(2) elsewhere on the machine) is made again. ONLY=NAME builds one
# case. Root required (loop mounts under a scratch directory).
set -euo pipefail
out=$(cd "${1:-$(dirname "$0")}" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/replay-mk.XXXXXX)
m=$work/m
r=$work/r
mkdir "$m" "$r"
cleanup() {
	mountpoint -q "$m" && umount "$m"
	mountpoint -q "$r" && umount "$r"
	rm -rf "$work"
}
trap cleanup EXIT
(cd "$repo" && go build -o "$work/fsview" ./internal/cmd/fsview)

# fsync PATH...: fsync(2) of files or directories.
fsync() { for p in "$@"; do xfs_io -r -c fsync "$p"; done; }
# pattern FILE OFF LEN SEED: deterministic bytes written at OFF.
pattern() { xfs_io -f -c "pwrite -q -S $4 $2 $3" "$1"; }
commit() { btrfs filesystem sync "$m" >/dev/null; }

# run NAME MKFS_OPTS MOUNT_OPTS: setup_NAME, commit, work_NAME, crash copy,
# kernel replay and record.
run() {
	local name=$1 mkfs=$2 mopts=$3 try
	for try in 1 2 3 4 5; do
		rm -f "$work/$name".*
		truncate -s 128M "$work/$name.img"
		# shellcheck disable=SC2086
		mkfs.btrfs -q -f $mkfs "$work/$name.img" >/dev/null 2>&1
		mount -o "loop,noatime,commit=3600$mopts" "$work/$name.img" "$m"
		"setup_$name"
		commit
		"work_$name"
		cp --sparse=always "$work/$name.img" "$work/$name.crash.img"
		umount "$m"
		if btrfs inspect-internal dump-super "$work/$name.crash.img" | grep -q '^log_root[[:space:]]*[1-9]'; then
			break
		fi
		echo "$name: no log in the copy (try $try), again" >&2
		if [ "$try" = 5 ]; then
			echo "$name: giving up" >&2
			exit 1
		fi
	done
	cp --sparse=always "$work/$name.crash.img" "$work/$name.kernel.img"
	mount -o "loop,noatime$mopts" "$work/$name.kernel.img" "$r"
	"$work/fsview" "$r" >"$out/$name.view"
	umount "$r"
	zstd -q -19 -f "$work/$name.crash.img" -o "$out/$name.img.zst"
	zstd -q -19 -f "$work/$name.kernel.img" -o "$out/$name.kernel.img.zst"
	echo "$name: $(wc -l <"$out/$name.view") names" >&2
}

# New files of every size class, each fsynced: inline, one block, many.
setup_newfiles() { mkdir "$m/d"; }
work_newfiles() {
	echo small >"$m/d/inline"
	pattern "$m/d/block" 0 4096 1
	pattern "$m/d/big" 0 300000 2
	pattern "$m/top" 0 20000 3
	fsync "$m/d/inline" "$m/d/block" "$m/d/big" "$m/top"
	echo unsynced >"$m/d/lost"
}

# Appends to a committed file, one fsynced, one not.
setup_append() { pattern "$m/f" 0 8192 1; pattern "$m/g" 0 5000 2; }
work_append() {
	pattern "$m/f" 8192 12288 3
	fsync "$m/f"
	pattern "$m/f" 20480 100 4
	fsync "$m/f"
	pattern "$m/g" 5000 3000 5
}

# Overwrites inside a committed file (extent splits).
setup_overwrite() { pattern "$m/f" 0 65536 1; pattern "$m/h" 0 200000 7; }
work_overwrite() {
	pattern "$m/f" 16384 4096 2
	pattern "$m/f" 40960 8192 3
	pattern "$m/f" 60000 10000 4
	fsync "$m/f"
	pattern "$m/h" 4096 4096 8
	fsync "$m/h"
}

# Truncates down and up.
setup_truncate() { pattern "$m/down" 0 65536 1; pattern "$m/up" 0 5000 2; pattern "$m/zero" 0 9000 3; }
work_truncate() {
	xfs_io -c "truncate 10000" "$m/down"
	xfs_io -c "truncate 100000" "$m/up"
	xfs_io -c "truncate 0" "$m/zero"
	fsync "$m/down" "$m/up" "$m/zero"
}

# Punched holes.
setup_punch() { pattern "$m/f" 0 131072 1; }
work_punch() {
	xfs_io -c "fpunch 8192 16384" "$m/f"
	xfs_io -c "fpunch 100000 4096" "$m/f"
	fsync "$m/f"
}

# Preallocation, inside and past the size.
setup_prealloc() { pattern "$m/old" 0 8192 1; }
work_prealloc() {
	xfs_io -f -c "falloc 0 1048576" -c "pwrite -q -S 2 0 4096" "$m/new"
	xfs_io -c "falloc -k 8192 65536" "$m/old"
	xfs_io -f -c "falloc -k 0 32768" -c "pwrite -q -S 3 0 100" "$m/keep"
	fsync "$m/new" "$m/old" "$m/keep"
}

# A rename in one directory, then an fsync of the file.
setup_rename() { mkdir "$m/d"; pattern "$m/d/a" 0 5000 1; pattern "$m/d/x" 0 100 2; }
work_rename() {
	mv "$m/d/a" "$m/d/b"
	fsync "$m/d/b"
}

# Renames across directories, fsyncs of the file and of the new parent.
# (An fsync of the old parent would commit the whole filesystem.)
setup_crossdir() { mkdir "$m/d1" "$m/d2"; pattern "$m/d1/a" 0 5000 1; pattern "$m/d1/b" 0 300 2; }
work_crossdir() {
	mv "$m/d1/a" "$m/d2/a"
	fsync "$m/d2/a"
	mv "$m/d1/b" "$m/d2/c"
	fsync "$m/d2"
}

# Hard links added and removed.
setup_hardlink() { mkdir "$m/d"; pattern "$m/f" 0 3000 1; ln "$m/f" "$m/l1"; ln "$m/f" "$m/d/l2"; }
work_hardlink() {
	rm "$m/l1"
	ln "$m/f" "$m/l3"
	ln "$m/f" "$m/d/l4"
	fsync "$m/f"
}

# Unlinks in a directory, then an fsync of the directory.
setup_unlinkdir() {
	mkdir "$m/d"
	for n in a b c; do pattern "$m/d/$n" 0 1000 1; done
	mkdir "$m/d/sub"
	pattern "$m/d/sub/x" 0 100 2
}
work_unlinkdir() {
	rm "$m/d/a" "$m/d/b"
	rm -r "$m/d/sub"
	echo new >"$m/d/e"
	fsync "$m/d"
}

# Xattrs set, changed and removed.
setup_xattr() {
	pattern "$m/f" 0 100 1
	setfattr -n user.a -v one "$m/f"
	setfattr -n user.b -v two "$m/f"
	setfattr -n user.keep -v same "$m/f"
}
work_xattr() {
	setfattr -x user.a "$m/f"
	setfattr -n user.b -v changed "$m/f"
	setfattr -n user.c -v three "$m/f"
	fsync "$m/f"
}

# Symlinks, made visible by an fsync of their directory.
setup_symlink() { mkdir "$m/d"; }
work_symlink() {
	ln -s target "$m/d/s1"
	ln -s "$(printf 'x%.0s' $(seq 1 300))" "$m/d/s2"
	fsync "$m/d"
}

# An O_TMPFILE written, linked in and fsynced.
setup_tmpfile() { mkdir "$m/d"; }
work_tmpfile() {
	xfs_io -T -c "pwrite -q -S 5 0 10000" -c "flink $m/d/linked" -c fsync "$m/d"
}

# A file fsynced after its parent directory was renamed.
setup_parentrename() { mkdir -p "$m/a/b"; pattern "$m/a/b/f" 0 1000 1; }
work_parentrename() {
	mv "$m/a/b" "$m/a/c"
	pattern "$m/a/c/f" 1000 1000 2
	fsync "$m/a/c/f"
}

# A rename over an existing name.
setup_replace() { pattern "$m/a" 0 1000 1; pattern "$m/b" 0 2000 2; }
work_replace() {
	mv "$m/a" "$m/b"
	fsync "$m/b"
}

# Many names in one directory: a log of several leaves.
setup_manyfiles() { mkdir "$m/d"; for i in $(seq 1 50); do echo "$i" >"$m/d/old$i"; done; }
work_manyfiles() {
	for i in $(seq 1 400); do echo "$i" >"$m/d/file-with-a-longer-name-$i"; done
	for i in $(seq 1 20); do rm "$m/d/old$i"; done
	fsync "$m/d"
}

# Compressed extents (their checksums cover the whole extent).
setup_compress() { pattern "$m/f" 0 200000 1; }
work_compress() {
	xfs_io -f -c "pwrite -q -S 0x61 0 300000" "$m/c"
	pattern "$m/f" 50000 10000 2
	fsync "$m/c" "$m/f"
}

# A second subvolume with its own log, and the top level's.
setup_subvol() { btrfs subvolume create "$m/sv" >/dev/null; pattern "$m/sv/old" 0 5000 1; mkdir "$m/sv/d"; pattern "$m/top" 0 100 2; }
work_subvol() {
	pattern "$m/sv/new" 0 9000 3
	ln "$m/sv/old" "$m/sv/d/old2"
	pattern "$m/sv/old" 5000 100 5
	fsync "$m/sv/new" "$m/sv/old"
	pattern "$m/top" 100 100 4
	fsync "$m/top"
}

# A snapshot of the top level sharing its blocks: the replay of each
# subvolume copies leaves the other still holds, so the data references
# move as COW moves them (keyed by the copying tree, or by the leaf once
# its owner copied it after the snapshot), and a reference a COW made is
# one replay then drops.
setup_snapshot() {
	mkdir "$m/d"
	for i in $(seq 1 150); do pattern "$m/d/f$i" 0 8192 "$i"; done
	pattern "$m/big" 0 400000 7
	btrfs subvolume snapshot "$m" "$m/snap" >/dev/null
	commit
	pattern "$m/d/f50" 0 4096 12
}
work_snapshot() {
	pattern "$m/big" 100000 5000 8
	fsync "$m/big"
	pattern "$m/snap/big" 200000 5000 9
	fsync "$m/snap/big"
	pattern "$m/snap/d/f50" 4096 4096 10
	pattern "$m/snap/d/f7" 0 4096 11
	fsync "$m/snap/d/f50" "$m/snap/d/f7"
	rm "$m/snap/d/f9"
	fsync "$m/snap/d"
	pattern "$m/d/f100" 4096 4096 13
	fsync "$m/d/f100"
}

# Hard links enough to overflow an inode reference item: extended refs,
# which the link count fixup counts. (A new link to such an inode makes
# its fsync commit the filesystem; a data fsync is logged.)
setup_extref() { mkdir "$m/d"; pattern "$m/d/f" 0 100 1; for i in $(seq 1 100); do ln "$m/d/f" "$m/d/link-with-a-rather-long-name-$i"; done; }
work_extref() {
	pattern "$m/d/f" 100 5000 2
	fsync "$m/d/f"
}

# Clones inside a file and from another (shared extents, partly
# referenced), then an overwrite of a cloned range.
setup_reflink() { pattern "$m/src" 0 262144 1; pattern "$m/f" 0 131072 2; }
work_reflink() {
	xfs_io -c "reflink $m/src 0 0 65536" -c "reflink $m/src 131072 65536 32768" "$m/f" >/dev/null
	xfs_io -c "reflink $m/f 0 196608 16384" "$m/f" >/dev/null
	pattern "$m/f" 4096 4096 3
	fsync "$m/f"
}

# Preallocated space written in pieces with fsyncs in between.
setup_preallocwrite() { xfs_io -f -c "falloc 0 262144" "$m/f"; }
work_preallocwrite() {
	pattern "$m/f" 8192 8192 1
	fsync "$m/f"
	pattern "$m/f" 65536 4096 2
	pattern "$m/f" 100000 50000 3
	fsync "$m/f"
}

# A small inline file grown past the inline limit, another shrunk to
# inline size.
setup_inline() { echo tiny >"$m/grow"; pattern "$m/shrink" 0 10000 1; echo keep >"$m/keep"; }
work_inline() {
	pattern "$m/grow" 5 20000 2
	xfs_io -c "truncate 100" "$m/shrink"
	echo more >>"$m/keep"
	fsync "$m/grow" "$m/shrink" "$m/keep"
}

# A directory renamed, then a new file in it fsynced.
setup_dirrename() { mkdir -p "$m/a/sub"; pattern "$m/a/sub/f" 0 100 1; mkdir "$m/b"; }
work_dirrename() {
	mv "$m/a/sub" "$m/b/sub2"
	pattern "$m/b/sub2/g" 0 100 2
	fsync "$m/b/sub2/g"
}

# A file unlinked while open, then fsynced through the open descriptor,
# and an O_TMPFILE fsynced without a link.
setup_openunlink() { mkdir "$m/d"; pattern "$m/d/f" 0 5000 1; pattern "$m/d/g" 0 100 2; }
work_openunlink() {
	exec 3<>"$m/d/f"
	rm "$m/d/f"
	xfs_io -c "pwrite -q 5000 100" -c fsync "/proc/$$/fd/3"
	exec 3>&-
	xfs_io -T -c "pwrite -q 0 100" -c fsync "$m/d"
	pattern "$m/d/g" 100 100 3
	fsync "$m/d/g"
}

# Holes as items (no-holes off): punched and past the end.
setup_holes() { pattern "$m/f" 0 65536 1; }
work_holes() {
	xfs_io -c "fpunch 4096 8192" "$m/f"
	pattern "$m/f" 200000 100 2
	xfs_io -f -c "truncate 50000" -c "pwrite -q 40000 100" "$m/g"
	fsync "$m/f" "$m/g"
}

# A file without data checksums (nodatacow).
setup_nodatasum() { touch "$m/f"; chattr +C "$m/f"; pattern "$m/f" 0 8192 1; }
work_nodatasum() {
	pattern "$m/f" 4096 8192 2
	fsync "$m/f"
}

# Many extents and checksums: a log of several leaves and checksum items.
setup_bigfile() { :; }
work_bigfile() {
	for i in $(seq 0 150); do pattern "$m/f" $((i * 12288)) 4096 $((i % 200 + 1)); done
	fsync "$m/f"
}

# A directory of names removed entirely (rm -r) with the parent fsynced.
setup_rmtree() { mkdir -p "$m/p/t/u"; for i in 1 2 3; do pattern "$m/p/t/f$i" 0 100 $i; done; pattern "$m/p/t/u/g" 0 100 4; pattern "$m/p/keep" 0 100 5; }
work_rmtree() {
	rm -r "$m/p/t"
	touch "$m/p/new"
	fsync "$m/p"
}

# Two names swapped through a third, both fsynced: each name is held by
# the other inode in the subvolume (the conflicts of __add_inode_ref).
setup_swap() { mkdir "$m/d"; pattern "$m/d/a" 0 1000 1; pattern "$m/d/b" 0 2000 2; }
work_swap() {
	mv "$m/d/a" "$m/d/t"
	mv "$m/d/b" "$m/d/a"
	mv "$m/d/t" "$m/d/b"
	fsync "$m/d/a" "$m/d/b"
}

# A directory renamed over an empty one, a file linked over another name.
setup_over() { mkdir -p "$m/p/x" "$m/p/y"; pattern "$m/p/x/f" 0 100 1; pattern "$m/p/g" 0 100 2; pattern "$m/p/h" 0 100 3; }
work_over() {
	mv -T "$m/p/x" "$m/p/y"
	ln -f "$m/p/g" "$m/p/h"
	fsync "$m/p/y/f" "$m/p/g"
}

# Device nodes and a fifo: new ones, and a link added to an old one (its
# inode rewritten by replay keeps its device number).
setup_special() { mkdir "$m/d"; mknod "$m/d/c" c 1 3; mkfifo "$m/d/p"; }
work_special() {
	ln "$m/d/c" "$m/d/c2"
	mknod "$m/d/b" b 7 0
	mkfifo "$m/d/q"
	fsync "$m/d"
}

uname -r >"$out/versions.txt"
mkfs.btrfs --version | head -n1 >>"$out/versions.txt"
cases="newfiles append overwrite truncate punch prealloc rename crossdir hardlink unlinkdir xattr symlink tmpfile parentrename replace manyfiles compress subvol extref reflink preallocwrite inline dirrename openunlink holes nodatasum bigfile rmtree swap over special snapshot"
for c in ${ONLY:-$cases}; do
	case $c in
	compress) run "$c" "" ",compress=zstd" ;;
	extref) run "$c" "-n 4096" "" ;;
	holes) run "$c" "-O ^no-holes" "" ;;
	*) run "$c" "" "" ;;
	esac
done
