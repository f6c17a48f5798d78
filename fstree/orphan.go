package fstree

import (
	"github.com/coldsend/coldsend/ondisk"
)

// Orphans is what the kernel's orphan cleanup (btrfs_orphan_cleanup, run
// on a subvolume when it is mounted or first entered) removes from a
// subvolume tree. An image of a running system holds ORPHAN_ITEMs for
// files unlinked while open and O_TMPFILEs never linked; the kernel never
// lets anything else see them, so readers, send above all, see the tree
// as that cleanup leaves it: every ORPHAN_ITEM gone, every item of an
// orphan inode without links gone (the inode is evicted), and for an
// orphan that still has links (a truncate orphan of an old kernel, or an
// interrupted fs-verity enable) its fs-verity items gone.
type Orphans struct {
	evicted map[uint64]bool // no links: the whole inode goes
	linked  map[uint64]bool // links remain: only verity items go
}

// Hides reports whether orphan cleanup removes the item at k.
func (o *Orphans) Hides(k ondisk.Key) bool {
	if o == nil {
		return false
	}
	switch {
	case k.ObjectID == ondisk.OrphanObjectID && k.Type == ondisk.OrphanItemKey:
		return true
	case o.evicted[k.ObjectID]:
		return true
	case o.linked[k.ObjectID]:
		return k.Type == ondisk.VerityDescItemKey || k.Type == ondisk.VerityMerkleItemKey
	}
	return false
}

// Evicted reports whether orphan cleanup deletes inode ino.
func (o *Orphans) Evicted(ino uint64) bool { return o != nil && o.evicted[ino] }

// Len is the number of ORPHAN_ITEMs the subvolume holds.
func (o *Orphans) Len() int {
	if o == nil {
		return 0
	}
	return len(o.evicted) + len(o.linked)
}

// Orphans reads the subvolume's ORPHAN_ITEMs (they sort last in the tree)
// and the link counts of their inodes, once; nil when there are none.
func (s *Subvol) Orphans() (*Orphans, error) {
	s.orphanOnce.Do(func() { s.orphans, s.orphanErr = s.readOrphans() })
	return s.orphans, s.orphanErr
}

// readOrphans mirrors what btrfs_orphan_cleanup decides for each item:
// an inode that is gone or still linked keeps everything but the orphan
// item (and its verity items); an inode without links is evicted.
func (s *Subvol) readOrphans() (*Orphans, error) {
	var inos []uint64
	err := s.walkItems(ondisk.OrphanObjectID, ondisk.OrphanItemKey, func(k ondisk.Key, _ []byte, _ func(error) error) error {
		inos = append(inos, k.Offset)
		return nil
	})
	if err != nil || len(inos) == 0 {
		return nil, err
	}
	o := &Orphans{evicted: map[uint64]bool{}, linked: map[uint64]bool{}}
	for _, ino := range inos {
		ii, _, err := s.inodeItem(ino)
		switch {
		case IsNotFound(err):
			o.linked[ino] = true // nothing to evict; the item goes
		case err != nil:
			return nil, err
		case ii.Nlink == 0:
			o.evicted[ino] = true
		default:
			o.linked[ino] = true
		}
	}
	return o, nil
}
