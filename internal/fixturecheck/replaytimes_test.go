package fixturecheck

import (
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/manifest"
)

func TestReplayTimes(t *testing.T) {
	const mount = int64(1_796_673_735_380_000_000)
	ms := int64(time.Millisecond)
	crash := func(start, end int64, ctimes ...int64) *manifest.Crash {
		sv := manifest.Subvolume{ID: 258}
		for i, c := range ctimes {
			sv.Entries = append(sv.Entries, manifest.Entry{Ino: 258 + uint64(i), Ctime: c})
		}
		// A second link to the first inode, and an inode nobody stamped.
		sv.Entries = append(sv.Entries, manifest.Entry{Ino: 258, Ctime: ctimes[0]}, manifest.Entry{Ino: 900, Ctime: 1})
		return &manifest.Crash{ReplayMountStart: start, ReplayMountEnd: end, Replayed: []manifest.Subvolume{sv}}
	}
	stamped := map[fstree.InodeID]bool{{Subvol: 258, Ino: 258}: true, {Subvol: 258, Ino: 259}: true, {Subvol: 258, Ino: 700}: true}
	for _, tc := range []struct {
		name  string
		crash *manifest.Crash
		want  string // "" for no error
	}{
		{"one tick apart within the mount", crash(mount, mount+40*ms, mount+21*ms, mount+25*ms), ""},
		{"a jiffy before the mount began", crash(mount, mount+40*ms, mount-4*ms, mount+25*ms), ""},
		{"an old time", crash(mount, mount+40*ms, mount-2000*ms, mount+25*ms), "subvolume 258 inode 258: coldsend's replay gives it the time of the mount, but the kernel's replay left its ctime at"},
		{"after the mount", crash(mount, mount+40*ms, mount+21*ms, mount+900*ms), "inode 259"},
		{"no mount recorded, one time", crash(0, 0, mount, mount), ""},
		{"no mount recorded, two times", crash(0, 0, mount, mount+4*ms), "outside the other inodes' time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			times, err := replayTimes(tc.crash, stamped)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(times) != 2 || times[fstree.InodeID{Subvol: 258, Ino: 259}] != time.Unix(0, tc.crash.Replayed[0].Entries[1].Ctime) {
					t.Errorf("times = %v, want the kernel's ctimes of inodes 258 and 259", times)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
