package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestFindMounted: images backing a read-write btrfs mount through loop
// devices are found, the second device of a two-device filesystem
// through the fsid's device list; a read-only mount is not reported.
func TestFindMounted(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img0, img1, other := filepath.Join(dir, "dev0.img"), filepath.Join(dir, "dev1.img"), filepath.Join(dir, "other.img")
	for _, p := range []string{img0, img1, other} {
		write(p, "image")
	}
	loop := func(name, num, backing string) {
		write(filepath.Join(sys, "class/block", name, "dev"), num+"\n")
		write(filepath.Join(sys, "block", name, "loop/backing_file"), backing+"\n")
	}
	loop("fakeloop90", "7:90", img0)
	loop("fakeloop91", "7:91", img1)
	loop("fakeloop92", "7:92", other)
	const fsid = "5616d379-2bf8-4f5b-9561-f973a18252d8"
	write(filepath.Join(sys, "fs/btrfs", fsid, "devices/fakeloop90"), "")
	write(filepath.Join(sys, "fs/btrfs", fsid, "devices/fakeloop91"), "")
	mountinfo := filepath.Join(dir, "mountinfo")
	for _, tc := range []struct {
		line string
		want []mount
	}{
		{"100 1 0:55 / /mnt/with\\040space rw,relatime shared:1 - btrfs /dev/fakeloop90 rw,space_cache=v2,subvolid=5,subvol=/\n",
			[]mount{{img0, "/mnt/with space"}, {img1, "/mnt/with space"}}},
		{"100 1 0:55 / /mnt/x rw,relatime - btrfs /dev/fakeloop91 rw,subvolid=5,subvol=/\n",
			[]mount{{img0, "/mnt/x"}, {img1, "/mnt/x"}}},
		{"100 1 0:55 / /mnt/x ro,relatime - btrfs /dev/fakeloop90 ro,subvolid=5,subvol=/\n", nil},
		{"100 1 0:55 / /mnt/x rw,relatime - ext4 /dev/fakeloop90 rw\n", nil},
	} {
		write(mountinfo, "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"+tc.line)
		got := findMounted([]string{img0, img1, other}, mountinfo, sys)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.line, got, tc.want)
		}
	}
}
