package fusefs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readAheadKB is the readahead btrfs gives its own mounts (at least
// 4 MiB, btrfs_fill_super).
const readAheadKB = 4096

// raiseReadAhead sets the mount's readahead to readAheadKB. A FUSE mount
// starts at the kernel's default of 128 KiB, which the INIT reply can only
// lower, so a sequential read would reach the server 128 KiB at a time,
// one request after the other; with 4 MiB the kernel sends 1 MiB reads
// (MaxWrite), several in flight. Only root may write the setting: without
// it, reads work as before, only slower.
func raiseReadAhead(mountpoint string) {
	var st unix.Stat_t
	if unix.Stat(mountpoint, &st) != nil {
		return
	}
	bdi := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	_ = os.WriteFile(bdi, []byte(fmt.Sprint(readAheadKB)), 0)
}
