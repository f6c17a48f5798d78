package logreplay

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Offsets of the times in an inode item (btrfs_inode_item).
const (
	inodeCtimeOff = 124
	inodeMtimeOff = 136
)

// StampTimes gives each inode in MountTimes the time at(subvol, ino) where
// the kernel's replay sets the current time, as if the filesystem had been
// mounted then; an inode given the zero time keeps its times. Without it
// they all keep the times they had, so that a replay does not depend on
// when it runs.
func (r *Result) StampTimes(at func(subvol, ino uint64) time.Time) error {
	for _, subvol := range slices.Sorted(maps.Keys(r.MountTimes)) {
		root, ok := r.Roots[subvol]
		if !ok {
			return fmt.Errorf("logreplay: subvolume %d has stamped inodes but was not replayed", subvol)
		}
		ed := r.Mem.Edit(root, root.Generation)
		stamps := r.MountTimes[subvol]
		for _, ino := range slices.Sorted(maps.Keys(stamps)) {
			t := at(subvol, ino)
			if t.IsZero() {
				continue
			}
			k := ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey}
			data, err := ed.Tree().Lookup(k)
			if err != nil {
				return fmt.Errorf("logreplay: subvolume %d inode %d: %w", subvol, ino, err)
			}
			if len(data) < item.InodeSize {
				return fmt.Errorf("logreplay: subvolume %d inode %d: inode item of %d bytes", subvol, ino, len(data))
			}
			b := slices.Clone(data)
			if stamps[ino]&StampCtime != 0 {
				putTimespec(b[inodeCtimeOff:], t)
			}
			if stamps[ino]&StampMtime != 0 {
				putTimespec(b[inodeMtimeOff:], t)
			}
			if err := ed.Put(k, b); err != nil {
				return err
			}
		}
		r.Roots[subvol] = ed.Root()
	}
	return nil
}

func putTimespec(b []byte, t time.Time) {
	binary.LittleEndian.PutUint64(b, uint64(t.Unix()))
	binary.LittleEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}
