//go:build linux || darwin

package fusefs

import "testing"

func TestIno(t *testing.T) {
	for _, tc := range []struct {
		view        int
		subvol, ino uint64
		want        uint64
	}{
		{0, 5, 256, 256},             // the top level keeps btrfs numbers
		{0, 5, 1<<40 - 1, 1<<40 - 1}, // the largest that fits
		{0, 256, 256, 256<<40 | 256}, // a subvolume's root
		{0, 1<<16 - 1, 300, (1<<16-1)<<40 | 300},
		{1, 5, 257, 1<<56 | 257},             // the first older commit
		{255, 300, 2, 255<<56 | 300<<40 | 2}, // the last view
		{0, 1 << 16, 256, 0},                 // subvolume ID too large: go-fuse numbers it
		{0, 5, 1 << 40, 0},                   // inode number too large
		{256, 5, 256, 0},                     // too many views
	} {
		if got := Ino(tc.view, tc.subvol, tc.ino); got != tc.want {
			t.Errorf("Ino(%d, %d, %d) = %#x, want %#x", tc.view, tc.subvol, tc.ino, got, tc.want)
		}
	}
	// Distinct (view, subvolume, inode) in range never share a number.
	seen := map[uint64][3]uint64{}
	for _, v := range []int{0, 1, 7, 255} {
		for _, s := range []uint64{5, 256, 257, 4096, 1<<16 - 1} {
			for _, i := range []uint64{2, 256, 257, 1 << 20, 1<<40 - 1} {
				n := Ino(v, s, i)
				if prev, dup := seen[n]; dup {
					t.Fatalf("Ino(%d, %d, %d) = Ino%v = %#x", v, s, i, prev, n)
				}
				seen[n] = [3]uint64{uint64(v), s, i}
			}
		}
	}
}
