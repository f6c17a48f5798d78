package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/ondisk/item"
)

// setCrtime gives macOS the inode's creation time (otime).
func setCrtime(out *fuse.Attr, t item.Timespec) {
	out.Crtime_, out.Crtimensec_ = uint64(t.Sec), uint32(t.Nsec)
}

// encodeDev turns the Linux kernel's dev_t as btrfs stores it (major<<20
// | minor) into macOS's (major<<24 | minor).
func encodeDev(rdev uint64) uint32 {
	major, minor := uint32(rdev>>20), uint32(rdev&0xfffff)
	return major<<24 | minor&0xffffff
}
