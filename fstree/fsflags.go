package fstree

import (
	"bytes"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// FSFlags returns ino's flags as FS_IOC_GETFLAGS (lsattr) reports them on
// a fresh kernel mount: item.FSFlags of the inode item's flags once the
// btrfs.compression property has been applied the way the kernel applies
// it when it reads the inode (btrfs_read_locked_inode). That application
// overrides the compress and nocompress flags stored in the item, and the
// kernel only makes it when its short scan for xattrs after the inode
// item finds where they start (acls_after_inode_item), so an inode with
// many hard links can keep its stored flags.
func (s *Subvol) FSFlags(ino uint64) (uint32, error) {
	ii, leaf, err := s.inodeAt(ino)
	if err != nil {
		return 0, err
	}
	flags := ii.Flags
	start, ok, err := s.propsStart(leaf, ino)
	if err != nil || !ok {
		return item.FSFlags(flags), err
	}
	c, err := s.Tree.Seek(start)
	if err != nil {
		return 0, err
	}
	// btrfs_load_inode_props: every xattr item of ino from there on,
	// stopping at the first item that is not one.
	for c.Valid() {
		k := c.Key()
		if k.ObjectID != ino || k.Type != ondisk.XattrItemKey {
			break
		}
		if propBucket(k.Offset) == propBucket(compressionPropHash) {
			for d, err := range item.DirItems(c.Data()) {
				if err != nil {
					return 0, itemError(c, s.ID, err)
				}
				// The kernel compares names as C strings.
				name, _, _ := bytes.Cut(d.Name, []byte{0})
				if bytes.Equal(name, compressionProp) {
					flags = applyCompressionProp(flags, d.Data)
				}
			}
		}
		if err := c.Next(); err != nil {
			return 0, err
		}
	}
	return item.FSFlags(flags), nil
}

var (
	compressionProp     = []byte("btrfs.compression")
	compressionPropHash = ondisk.NameHash(compressionProp)
	aclAccessHash       = ondisk.NameHash([]byte("system.posix_acl_access"))
	aclDefaultHash      = ondisk.NameHash([]byte("system.posix_acl_default"))
)

// propBucket is the bucket of the kernel's 256-entry table of property
// handlers that a name hash falls in (hash_min(hash, 8), hash_64).
func propBucket(hash uint64) uint64 { return hash * 0x61c8864680b583eb >> 56 }

// propsStart is where the kernel starts loading ino's properties, as the
// key of the item there (or of the first item of the next leaf), and
// whether it loads them at all. It mirrors acls_after_inode_item as
// btrfs_read_locked_inode calls it: from the second item after the inode
// item, at most 8 items, within the inode item's leaf.
func (s *Subvol) propsStart(leaf *ondisk.Node, ino uint64) (ondisk.Key, bool, error) {
	slot, _ := leaf.Search(ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey})
	n := leaf.NumItems()
	first := -1
	i, scanned := slot+2, 0
	for i < n {
		k := leaf.Key(i)
		if k.ObjectID != ino {
			return s.startAt(leaf, first)
		}
		if k.Type == ondisk.XattrItemKey {
			if first == -1 {
				first = i
			}
			if k.Offset == aclAccessHash || k.Offset == aclDefaultHash {
				return s.startAt(leaf, first)
			}
		}
		if k.Type > ondisk.XattrItemKey {
			return s.startAt(leaf, first)
		}
		i++
		if scanned++; scanned >= 8 {
			break
		}
	}
	if first == -1 {
		first = i
	}
	return s.startAt(leaf, first)
}

// startAt turns a slot of leaf (-1: none; past its end: the first item of
// the next leaf) into the key a cursor seeks to.
func (s *Subvol) startAt(leaf *ondisk.Node, slot int) (ondisk.Key, bool, error) {
	switch {
	case slot < 0:
		return ondisk.Key{}, false, nil
	case slot < leaf.NumItems():
		return leaf.Key(slot), true, nil
	}
	// Just past the leaf's last key is where the next leaf begins.
	last := leaf.Key(leaf.NumItems() - 1)
	c, err := s.Tree.Seek(last)
	if err == nil {
		err = c.Next()
	}
	if err != nil || !c.Valid() {
		return ondisk.Key{}, false, err
	}
	return c.Key(), true, nil
}

// applyCompressionProp is prop_compression_apply: what a btrfs.compression
// value does to the compress and nocompress flags. The kernel applies a
// stored value without validating it, so a value it does not know leaves
// the flags alone.
func applyCompressionProp(flags uint32, value []byte) uint32 {
	const both = item.InodeCompress | item.InodeNoCompress
	switch v := string(value); {
	case v == "":
		return flags &^ both
	case v == "no" || v == "none":
		return flags&^item.InodeCompress | item.InodeNoCompress
	case len(v) >= 3 && v[:3] == "lzo", len(v) >= 4 && (v[:4] == "zlib" || v[:4] == "zstd"):
		return flags&^item.InodeNoCompress | item.InodeCompress
	}
	return flags
}
