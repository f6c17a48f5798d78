package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/ondisk/item"
)

// setCrtime: FUSE's attributes have no creation time here.
func setCrtime(*fuse.Attr, item.Timespec) {}

// encodeDev turns the kernel's dev_t as btrfs stores it (major<<20 |
// minor) into FUSE's, which the kernel decodes with new_decode_dev.
func encodeDev(rdev uint64) uint32 {
	major, minor := uint32(rdev>>20), uint32(rdev&0xfffff)
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}
