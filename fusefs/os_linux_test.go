package fusefs

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestEncodeDev checks the device number FUSE is given against glibc's
// makedev, which is what the kernel's new_decode_dev undoes into the
// st_rdev user space sees, for numbers a 32-bit dev_t can carry.
func TestEncodeDev(t *testing.T) {
	for _, d := range [][2]uint32{{0, 0}, {1, 3}, {8, 17}, {259, 65536}, {4095, 1<<20 - 1}, {254, 300}} {
		kernel := uint64(d[0])<<20 | uint64(d[1])
		if got, want := encodeDev(kernel), uint32(unix.Mkdev(d[0], d[1])); got != want {
			t.Errorf("encodeDev(%d:%d) = %#x, want %#x", d[0], d[1], got, want)
		}
	}
}
