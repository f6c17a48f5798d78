package fstree

import (
	"bytes"
	"errors"
	"fmt"
	"iter"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Inode reads the INODE_ITEM of ino.
func (s *Subvol) Inode(ino uint64) (item.Inode, error) {
	s.inodesMu.Lock()
	var e cachedInode
	if s.inodes != nil {
		e = s.inodes[ino%inodeCacheSlots]
	}
	s.inodesMu.Unlock()
	if e.ok && e.ino == ino {
		return e.ii, nil
	}
	ii, _, err := s.inodeAt(ino)
	if err != nil {
		return item.Inode{}, err
	}
	s.inodesMu.Lock()
	if s.inodes == nil {
		s.inodes = new([inodeCacheSlots]cachedInode)
	}
	s.inodes[ino%inodeCacheSlots] = cachedInode{ok: true, ino: ino, ii: ii}
	s.inodesMu.Unlock()
	return ii, nil
}

// inodeAt reads the INODE_ITEM of ino and returns its leaf, for errors
// that name it. An inode that orphan cleanup deletes does not
// exist, as the kernel shows the subvolume.
func (s *Subvol) inodeAt(ino uint64) (item.Inode, *ondisk.Node, error) {
	o, err := s.Orphans()
	if err != nil {
		return item.Inode{}, nil, err
	}
	if o.Evicted(ino) {
		return item.Inode{}, nil, fmt.Errorf("subvolume %d: inode %d (unlinked, deleted by orphan cleanup): %w", s.ID, ino, btree.ErrNotFound)
	}
	return s.inodeItem(ino)
}

// inodeItem is inodeAt as the tree holds it, orphans included.
func (s *Subvol) inodeItem(ino uint64) (item.Inode, *ondisk.Node, error) {
	k := ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey}
	leaf, slot, found, err := s.Tree.Find(k)
	if err != nil {
		return item.Inode{}, nil, err
	}
	if !found {
		return item.Inode{}, nil, fmt.Errorf("subvolume %d: inode %d: %w", s.ID, ino, btree.ErrNotFound)
	}
	ii, err := item.ParseInode(leaf.ItemData(slot))
	if err != nil {
		return item.Inode{}, nil, &ondisk.BlockError{Logical: leaf.Bytenr, Tree: s.ID, Key: k.Ptr(), Err: err}
	}
	return ii, leaf, nil
}

// DirEntry is one entry of a directory (a DIR_INDEX or DIR_ITEM record).
type DirEntry struct {
	Name     []byte
	Location ondisk.Key // (ino, INODE_ITEM, 0), or (subvol, ROOT_ITEM, -1)
	Type     item.FileType
	Index    uint64 // DIR_INDEX sequence number; 0 when found by name
}

// IsSubvolume reports whether the entry is the root of a nested subvolume.
func (d *DirEntry) IsSubvolume() bool { return d.Location.Type == ondisk.RootItemKey }

// Entries iterates over the entries of directory dir in index (creation)
// order. An error ends the iteration.
func (s *Subvol) Entries(dir uint64) iter.Seq2[DirEntry, error] {
	return func(yield func(DirEntry, error) bool) {
		err := s.walkItems(dir, ondisk.DirIndexKey, func(k ondisk.Key, data []byte, fail func(error) error) error {
			items, err := item.ParseDirItems(data)
			if err != nil {
				return fail(err)
			}
			if len(items) != 1 {
				return fail(fmt.Errorf("%w: DIR_INDEX holds %d entries, want 1", ondisk.ErrCorrupt, len(items)))
			}
			d := items[0]
			if !yield(DirEntry{Name: d.Name, Location: d.Location, Type: d.Type, Index: k.Offset}, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			yield(DirEntry{}, err)
		}
	}
}

// errStop ends a walkItems early when an iteration's consumer stops.
var errStop = errors.New("stop")

// Lookup finds name in directory dir through its DIR_ITEM hash.
func (s *Subvol) Lookup(dir uint64, name []byte) (*DirEntry, error) {
	k := ondisk.Key{ObjectID: dir, Type: ondisk.DirItemKey, Offset: ondisk.NameHash(name)}
	leaf, slot, found, err := s.Tree.Find(k)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, btree.ErrNotFound
	}
	d, found, err := item.FindDirItem(leaf.ItemData(slot), name)
	if err != nil {
		return nil, &ondisk.BlockError{Logical: leaf.Bytenr, Tree: s.ID, Key: k.Ptr(), Err: err}
	}
	if !found {
		return nil, btree.ErrNotFound
	}
	return &DirEntry{Name: d.Name, Location: d.Location, Type: d.Type}, nil
}

// Name is one hard link of an inode: its parent directory, the DIR_INDEX
// number there, and the name.
type Name struct {
	Parent uint64
	Index  uint64
	Name   []byte
}

// Names lists every link of ino: INODE_REF records (by parent) then
// INODE_EXTREF records (by hash), the order send iterates them in.
func (s *Subvol) Names(ino uint64) ([]Name, error) {
	var out []Name
	err := s.walkItems(ino, ondisk.InodeRefKey, func(k ondisk.Key, data []byte, fail func(error) error) error {
		refs, err := item.ParseInodeRefs(data)
		if err != nil {
			return fail(err)
		}
		for _, r := range refs {
			out = append(out, Name{Parent: k.Offset, Index: r.Index, Name: r.Name})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.walkItems(ino, ondisk.InodeExtrefKey, func(k ondisk.Key, data []byte, fail func(error) error) error {
		refs, err := item.ParseInodeExtrefs(data)
		if err != nil {
			return fail(err)
		}
		for _, r := range refs {
			out = append(out, Name{Parent: r.Parent, Index: r.Index, Name: r.Name})
		}
		return nil
	})
	return out, err
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  []byte
	Value []byte
}

// Xattrs lists the extended attributes of ino in key (name hash) order.
func (s *Subvol) Xattrs(ino uint64) ([]Xattr, error) {
	var out []Xattr
	err := s.walkItems(ino, ondisk.XattrItemKey, func(k ondisk.Key, data []byte, fail func(error) error) error {
		items, err := item.ParseDirItems(data)
		if err != nil {
			return fail(err)
		}
		for _, d := range items {
			out = append(out, Xattr{Name: d.Name, Value: d.Data})
		}
		return nil
	})
	return out, err
}

// InodePath returns the path of ino from the subvolume root, following the
// first name of each ancestor.
func (s *Subvol) InodePath(ino uint64) (string, error) {
	var parts [][]byte
	for seen := 0; ino != ondisk.SubvolumeRootDirInodeID; seen++ {
		if seen > 1<<16 {
			return "", corruptf("subvolume %d: inode %d: parent chain does not reach the root", s.ID, ino)
		}
		names, err := s.Names(ino)
		if err != nil {
			return "", err
		}
		if len(names) == 0 {
			return "", corruptf("subvolume %d: inode %d has no name", s.ID, ino)
		}
		parts = append(parts, names[0].Name)
		ino = names[0].Parent
	}
	var b bytes.Buffer
	for i := len(parts) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.Write(parts[i])
	}
	return b.String(), nil
}

// walkItems calls fn for every item (objectID, typ, *) in key order; fn's
// fail wraps an error with the item's location.
func (s *Subvol) walkItems(objectID uint64, typ ondisk.ItemType, fn func(k ondisk.Key, data []byte, fail func(error) error) error) error {
	c, err := s.Tree.Seek(ondisk.Key{ObjectID: objectID, Type: typ})
	if err != nil {
		return err
	}
	fail := func(err error) error { return itemError(c, s.ID, err) }
	for c.Valid() {
		k := c.Key()
		if k.ObjectID != objectID || k.Type != typ {
			return nil
		}
		if err := fn(k, c.Data(), fail); err != nil {
			return err
		}
		if err := c.Next(); err != nil {
			return err
		}
	}
	return nil
}

// IsNotFound reports whether err means a name, inode or item is absent.
func IsNotFound(err error) bool { return errors.Is(err, btree.ErrNotFound) }

// EmptySubvolDirIno is the inode number the kernel gives the empty
// directory it shows where a snapshot copied the entry of a nested
// subvolume (BTRFS_EMPTY_SUBVOL_DIR_OBJECTID).
const EmptySubvolDirIno = 2

// NestedSubvol follows directory entry e of directory dir into the
// subvolume it names. The kernel only does so when the subvolume's
// ROOT_REF confirms it lives at exactly that entry; otherwise (the entry
// was copied by a snapshot of the parent) the kernel shows an empty
// directory, and NestedSubvol returns nil with no error.
func (s *Subvol) NestedSubvol(dir uint64, e *DirEntry) (*Subvol, error) {
	k := ondisk.Key{ObjectID: s.ID, Type: ondisk.RootRefKey, Offset: e.Location.ObjectID}
	c, err := s.fs.root.Seek(k)
	if err != nil {
		return nil, err
	}
	if !c.Valid() || c.Key() != k {
		return nil, nil
	}
	rr, err := item.ParseRootRef(c.Data())
	if err != nil {
		return nil, itemError(c, ondisk.RootTreeObjectID, err)
	}
	if rr.DirID != dir || !bytes.Equal(rr.Name, e.Name) {
		return nil, nil
	}
	return s.fs.OpenSubvol(e.Location.ObjectID)
}
