package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/ondisk/item"
)

// setCrtime: FUSE's attributes have no creation time here.
func setCrtime(*fuse.Attr, item.Timespec) {}
