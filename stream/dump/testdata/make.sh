#!/bin/sh
# Regenerates the synthetic streams (make.go) and records what the real
# `btrfs receive --dump` prints for each, in several time zones. The test
# (synthetic_test.go) compares Text with these recordings, so they must
# come from the tool: never edit the .dump or .status files by hand.
#
# For every stream NAME.stream and zone tag TAG:
#   NAME.TAG.dump    stdout of btrfs receive --dump
#   NAME.TAG.status  "exit N" and stderr, only when the tool failed or
#                    wrote to stderr
# Streams named time* are dumped in every zone, the others in UTC only.
set -eu
cd "$(dirname "$0")"

want="btrfs-progs v6.2"
have=$(btrfs --version | head -n1)
[ "$have" = "$want" ] || { echo "need $want, have $have" >&2; exit 1; }

rm -f ./*.stream ./*.dump ./*.status
go run make.go

zones="utc=UTC new_york=America/New_York kolkata=Asia/Kolkata lord_howe=Australia/Lord_Howe santiago=America/Santiago"
for s in *.stream; do
	name=${s%.stream}
	case $name in
	time*) list=$zones ;;
	*) list="utc=UTC" ;;
	esac
	for z in $list; do
		tag=${z%%=*}
		tz=${z#*=}
		rc=0
		TZ=$tz btrfs receive --dump -f "$s" >"$name.$tag.dump" 2>"$name.$tag.stderr" || rc=$?
		if [ "$rc" -ne 0 ] || [ -s "$name.$tag.stderr" ]; then
			{ echo "exit $rc"; cat "$name.$tag.stderr"; } >"$name.$tag.status"
		fi
		rm -f "$name.$tag.stderr"
	done
done
echo "$have" >btrfs-version.txt
