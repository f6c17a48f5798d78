#!/usr/bin/env bash
# Builds the kernelcases test data into DIR (default: this directory): one
# image holding the cases of send that the committed fixtures never reach,
# and the kernel's sends of them. Each case is a subvolume and read-only
# snapshots of it:
#
#   moves     a/b -> b/a (a directory moved into its former child: the
#             move waits until the child has moved, a delayed directory
#             move) and d/e -> e with d removed (d cannot be removed
#             before e leaves, so it is renamed to an orphan name and
#             removed after): moves.1 against moves.0
#   refpath   an inode takes the name of a directory and a name inside
#             it: the directory is moved to an orphan name first, and the
#             path of the second name must follow it (refresh_ref_path):
#             refpath.1 against refpath.0
#   nextleaf  a file's extent items spanning leaves of two owners (a
#             snapshot that rewrote two of them): resolving the data
#             references skips the leaves the snapshot does not own
#             (add_all_parents moving to the next leaf): nextleaf.1 in full
#   clonecap  one extent with more than 1024 references (cloned all over
#             its file, and the file copied): no clone source is looked
#             for (SEND_MAX_EXTENT_REFS), its data is written every time;
#             a small file's copy is still cloned: clonecap.1 in full
#   acl       empty system.posix_acl_access (and a name that is only a
#             prefix of an ACL name) values, which setxattr cannot store,
#             written into the image by internal/cmd/renamexattr: the
#             kernel sends a header-only ACL instead: acl.1 in full and
#             against acl.0
#
#   kernelcases.img.zst  the image
#   sends.txt            STREAM SUBVOL [PARENT] per line
#   *.stream.zst         the kernel's sends, from a read-only mount
#   versions.txt         kernel and btrfs-progs
#
# Root required.
set -euo pipefail
out=$(cd "${1:-$(dirname "$0")}" && pwd)
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
cleanup() {
	umount "$work/m" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/m"
(cd "$repo" && go build -o "$work/renamexattr" ./internal/cmd/renamexattr &&
	go build -o "$work/casefiles" ./internal/cmd/casefiles)
cf=$work/casefiles
img=$work/kernelcases.img
truncate -s 256M "$img"
# 4 KiB nodes: a few hundred extent items span several leaves.
mkfs.btrfs -q -f -n 4096 -m single -d single "$img"
mount -o loop,noatime "$img" "$work/m"
m=$work/m
snap() { btrfs filesystem sync "$m"; btrfs subvolume snapshot -r "$m/$1" "$m/$2" >/dev/null; }

btrfs subvolume create "$m/moves" >/dev/null
mkdir -p "$m/moves/a/b" "$m/moves/d/e"
touch "$m/moves/a/b/f" "$m/moves/d/e/g"
snap moves moves.0
mv "$m/moves/a/b" "$m/moves/b"
mv "$m/moves/a" "$m/moves/b/a"
mv "$m/moves/d/e" "$m/moves/e"
rmdir "$m/moves/d"
snap moves moves.1

btrfs subvolume create "$m/refpath" >/dev/null
touch "$m/refpath/X"
mkdir "$m/refpath/D"
touch "$m/refpath/D/v"
snap refpath refpath.0
mv "$m/refpath/D" "$m/refpath/E"
mv "$m/refpath/E/v" "$m/refpath/w"
ln "$m/refpath/X" "$m/refpath/D"
ln "$m/refpath/X" "$m/refpath/E/v"
snap refpath refpath.1

btrfs subvolume create "$m/nextleaf" >/dev/null
"$cf" pattern "$m/nextleaf/F" $((1 << 20)) 2
btrfs filesystem sync "$m"
btrfs subvolume snapshot "$m/nextleaf" "$m/nextleaf.s" >/dev/null
"$cf" rewrite "$m/nextleaf.s/F" 2 1 253
snap nextleaf.s nextleaf.1

btrfs subvolume create "$m/clonecap" >/dev/null
# One 4 KiB extent cloned to 1100 more places in its file, and the file
# copied: over 2000 references.
"$cf" pattern "$m/clonecap/F" 4096 1
"$cf" clone "$m/clonecap/F" 1100
"$cf" pattern "$m/clonecap/K" 200704 1000
cp --reflink=always "$m/clonecap/F" "$m/clonecap/G"
cp --reflink=always "$m/clonecap/K" "$m/clonecap/H"
snap clonecap clonecap.1

btrfs subvolume create "$m/acl" >/dev/null
echo access >"$m/acl/access"
echo prefix >"$m/acl/prefix"
snap acl acl.0
# Placeholders as long as the names they become, with empty values.
"$cf" xattr "$m/acl/access" user.aaaaaaaaaaaaaaaaaa
"$cf" xattr "$m/acl/prefix" user.bbbbbbbbbbbb
snap acl acl.1
umount "$m"
"$work/renamexattr" "$img" acl.1 access user.aaaaaaaaaaaaaaaaaa system.posix_acl_access
"$work/renamexattr" "$img" acl.1 prefix user.bbbbbbbbbbbb system.posix_acl_

mount -o loop,ro "$img" "$m"
: >"$out/sends.txt"
send() { # STREAM SUBVOL [PARENT]
	if [ $# -eq 3 ]; then
		btrfs send -q -f "$work/$1" -p "$m/$3" "$m/$2"
	else
		btrfs send -q -f "$work/$1" "$m/$2"
	fi
	zstd -q -19 -f "$work/$1" -o "$out/$1.zst"
	echo "$1.zst ${*:2}" >>"$out/sends.txt"
}
send moves.1.incr-moves.0.stream moves.1 moves.0
send refpath.1.incr-refpath.0.stream refpath.1 refpath.0
send nextleaf.1.full.stream nextleaf.1
send clonecap.1.full.stream clonecap.1
send acl.1.full.stream acl.1
send acl.1.incr-acl.0.stream acl.1 acl.0
umount "$m"
zstd -q -19 -f "$img" -o "$out/kernelcases.img.zst"
{
	echo "kernel $(uname -r)"
	btrfs --version
} >"$out/versions.txt"
