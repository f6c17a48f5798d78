package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/ondisk/item"
)

// setCrtime gives macOS the inode's creation time (otime).
func setCrtime(out *fuse.Attr, t item.Timespec) {
	out.Crtime_, out.Crtimensec_ = uint64(t.Sec), uint32(t.Nsec)
}
