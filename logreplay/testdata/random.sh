#!/usr/bin/env bash
# Random crash cases for logreplay, made as make.sh makes its fixed ones:
#
#   random.sh OUTDIR COUNT [SEED]
#
# writes OUTDIR/rand-SEED-N.{img.zst,view,kernel.img.zst} for COUNT cases
# (cases whose crash copy has no log, because some fsync committed the
# whole filesystem, are made again with the next seed). Then
#
#   LOGREPLAY_CASES=OUTDIR go test -run TestKernelCases ./logreplay
#
# replays each and compares with the kernel. MKFS and MOUNT add options
# (MKFS="-n 4096" for logs of several levels, MOUNT=",compress=zstd");
# OPS sets how many operations (10 to 10+OPS) follow the commit.
# Root required.
set -euo pipefail
outdir=$(mkdir -p "$1" && cd "$1" && pwd)
count=$2
seed=${3:-$RANDOM}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/replay-rand.XXXXXX)
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

pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
# names lists what exists under $m (files, dirs) right now.
files() { (cd "$m" && find . -mindepth 1 \( -type f -o -type l \) -printf '%P\n' 2>/dev/null) || true; }
dirs() { (cd "$m" && find . -mindepth 1 -type d -printf '%P\n' 2>/dev/null) || true; }
anyfile() { local f; f=$(files | shuf -n1 --random-source=<(yes "$RANDOM")); echo "$f"; }
anydir() { local d; d=$( (echo .; dirs) | shuf -n1 --random-source=<(yes "$RANDOM")); echo "$d"; }
newname() { echo "$(anydir)/n$((RANDOM % 50))"; }
write() { xfs_io -f -c "pwrite -q -S $((RANDOM % 256)) $2 $3" "$m/$1" 2>/dev/null || true; }

op() {
	local f d n
	case $((RANDOM % 20)) in
	0 | 1) n=$(newname); [ -e "$m/$n" ] || write "$n" $((RANDOM % 3 * 4096)) $((RANDOM % 20000 + 1)) ;;
	2) f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && write "$f" $(stat -c %s "$m/$f") $((RANDOM % 9000 + 1)) ;;
	3) f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && write "$f" $((RANDOM % 40000)) $((RANDOM % 9000 + 1)) ;;
	4) f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && xfs_io -c "truncate $((RANDOM % 30000))" "$m/$f" ;;
	5) f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && xfs_io -c "fpunch $((RANDOM % 8 * 4096)) $((RANDOM % 4 * 4096 + 4096))" "$m/$f" ;;
	6) f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && xfs_io -c "falloc $([ $((RANDOM % 2)) = 0 ] && echo -k) $((RANDOM % 8 * 4096)) $((RANDOM % 8 * 4096 + 4096))" "$m/$f" 2>/dev/null || true ;;
	7 | 8) f=$(anyfile); n=$(newname); [ -n "$f" ] && [ ! -e "$m/$n" ] && mv "$m/$f" "$m/$n" 2>/dev/null || true ;;
	9) f=$(anyfile); n=$(newname); [ -n "$f" ] && [ ! -e "$m/$n" ] && ln "$m/$f" "$m/$n" 2>/dev/null || true ;;
	10) f=$(anyfile); [ -n "$f" ] && rm -f "$m/$f" ;;
	11) n=$(newname); [ -e "$m/$n" ] || mkdir "$m/$n" ;;
	12) d=$(anydir); [ "$d" != . ] && [ $((RANDOM % 3)) = 0 ] && rm -rf "${m:?}/$d" ;;
	13) d=$(anydir); n=$(newname); [ "$d" != . ] && [ ! -e "$m/$n" ] && mv "$m/$d" "$m/$n" 2>/dev/null || true ;;
	14) f=$(anyfile); [ -n "$f" ] && setfattr -n "user.x$((RANDOM % 4))" -v "v$RANDOM" "$m/$f" 2>/dev/null || true ;;
	15) f=$(anyfile); [ -n "$f" ] && setfattr -x "user.x$((RANDOM % 4))" "$m/$f" 2>/dev/null || true ;;
	16) n=$(newname); [ -e "$m/$n" ] || ln -s "t$RANDOM" "$m/$n" ;;
	17) f=$(anyfile); n=$(anyfile); [ -n "$f" ] && [ -n "$n" ] && [ -f "$m/$f" ] && [ -f "$m/$n" ] && xfs_io -c "reflink $m/$f 0 $((RANDOM % 4 * 4096)) 4096" "$m/$n" >/dev/null 2>&1 || true ;;
	18 | 19)
		if [ $((RANDOM % 2)) = 0 ]; then f=$(anyfile); [ -n "$f" ] && [ -f "$m/$f" ] && xfs_io -r -c fsync "$m/$f"; else d=$(anydir); xfs_io -r -c fsync "$m/$d"; fi
		;;
	esac
}

made=0
while [ "$made" -lt "$count" ]; do
	name=rand-$seed
	RANDOM=$seed
	img=$work/$name.img
	rm -f "$work"/*.img
	truncate -s 128M "$img"
	# shellcheck disable=SC2086
	mkfs.btrfs -q -f ${MKFS:-} "$img" >/dev/null 2>&1
	mount -o "loop,noatime,commit=3600${MOUNT:-}" "$img" "$m"
	if [ $((RANDOM % 3)) = 0 ]; then btrfs subvolume create "$m/sv" >/dev/null; fi
	for _ in $(seq 1 $((RANDOM % 20 + 10))); do op || true; done
	btrfs filesystem sync "$m" >/dev/null
	for _ in $(seq 1 $((RANDOM % ${OPS:-30} + 10))); do op || true; done
	f=$(anyfile)
	if [ -n "$f" ]; then xfs_io -r -c fsync "$m/$f" 2>/dev/null || true; fi
	cp --sparse=always "$img" "$work/crash.img"
	umount "$m"
	seed=$((seed + 1))
	if ! btrfs inspect-internal dump-super "$work/crash.img" | grep -q '^log_root[[:space:]]*[1-9]'; then
		continue
	fi
	cp --sparse=always "$work/crash.img" "$work/kernel.img"
	mount -o "loop,noatime${MOUNT:-}" "$work/kernel.img" "$r"
	"$work/fsview" "$r" >"$outdir/$name.view"
	umount "$r"
	zstd -q -f "$work/crash.img" -o "$outdir/$name.img.zst"
	zstd -q -f "$work/kernel.img" -o "$outdir/$name.kernel.img.zst"
	made=$((made + 1))
done
echo "$made cases in $outdir" >&2
