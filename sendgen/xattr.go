package sendgen

import (
	"bytes"
	"fmt"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// Xattr names send.c compares against (XATTR_NAME_CAPS,
// XATTR_NAME_POSIX_ACL_ACCESS, XATTR_NAME_POSIX_ACL_DEFAULT).
const (
	xattrNameCaps            = "security.capability"
	xattrNamePosixACLAccess  = "system.posix_acl_access"
	xattrNamePosixACLDefault = "system.posix_acl_default"
	posixACLXattrVersion     = 2
	xattrNameMax             = 255 // XATTR_NAME_MAX
)

// strncmpEq reports whether the C strncmp(name, s, n) is 0 for a name of
// n bytes: the comparison stops at a NUL on both sides, so a name that is
// a prefix of s compares equal.
func strncmpEq(name []byte, s string, n int) bool {
	for i := 0; i < n; i++ {
		var a, b byte
		if i < len(name) {
			a = name[i]
		}
		if i < len(s) {
			b = s[i]
		}
		if a != b {
			return false
		}
		if a == 0 {
			return true
		}
	}
	return true
}

// iterateDirItem mirrors iterate_dir_item: fn is called for each entry of
// one DIR_ITEM or XATTR_ITEM payload, in item order, with its index.
// fn returns stop to end the iteration early.
func iterateDirItem(k ondisk.Key, data []byte, fn func(num int, name, value []byte) (stop bool, err error)) error {
	items, err := item.ParseDirItems(data)
	if err != nil {
		return fmt.Errorf("key %v: %w", k, err)
	}
	for num, di := range items {
		if di.Type == item.FTXattr && len(di.Name) > xattrNameMax {
			return corruptf("key %v: xattr name of %d bytes is too long", k, len(di.Name))
		}
		stop, err := fn(num, di.Name, di.Data)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// changedXattr mirrors changed_xattr: new, deleted or changed xattr
// items of the current inode (nothing for a new generation, whose xattrs
// changed_inode sent, nor for a deleted inode).
func (s *sender) changedXattr(res compare.Result) error {
	if s.cur.ino != s.cmpKey.ObjectID {
		return s.inconsistentSnapshotError(res, "xattr")
	}
	if s.cur.newGen || s.cur.deleted {
		return nil
	}
	switch res {
	case compare.New:
		return s.processNewXattr(s.cmpKey, s.leftPath.Data())
	case compare.Deleted:
		return s.processDeletedXattr(s.cmpKey, s.rightPath.Data())
	case compare.Changed:
		return s.processChangedXattr(s.cmpKey, s.leftPath.Data(), s.rightPath.Data())
	}
	return nil
}

// processNewXattr mirrors process_new_xattr.
func (s *sender) processNewXattr(k ondisk.Key, data []byte) error {
	return iterateDirItem(k, data, func(_ int, name, value []byte) (bool, error) {
		return false, s.processNewXattrEntry(name, value)
	})
}

// processNewXattrEntry mirrors __process_new_xattr: capabilities wait for
// finish_inode_if_needed, and an empty ACL is sent as an ACL header with
// no entries. Both tests compare only len(name) bytes, as strncmp does.
func (s *sender) processNewXattrEntry(name, value []byte) error {
	if strncmpEq(name, xattrNameCaps, len(name)) {
		return nil
	}
	if strncmpEq(name, xattrNamePosixACLAccess, len(name)) || strncmpEq(name, xattrNamePosixACLDefault, len(name)) {
		if len(value) == 0 {
			value = []byte{posixACLXattrVersion, 0, 0, 0}
		}
	}
	return s.sendSetXattr(name, value)
}

// sendSetXattr mirrors send_set_xattr on the current inode.
func (s *sender) sendSetXattr(name, value []byte) error {
	p, err := s.getCurInodePath()
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdSetXattr); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutBytes(stream.AttrXattrName, name)
	s.w.PutBytes(stream.AttrXattrData, value)
	return s.w.End()
}

// sendRemoveXattr mirrors send_remove_xattr.
func (s *sender) sendRemoveXattr(path, name []byte) error {
	if err := s.w.Begin(stream.CmdRemoveXattr); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, path)
	s.w.PutBytes(stream.AttrXattrName, name)
	return s.w.End()
}

// processDeletedXattrEntry mirrors __process_deleted_xattr.
func (s *sender) processDeletedXattrEntry(name []byte) error {
	p, err := s.getCurInodePath()
	if err != nil {
		return err
	}
	return s.sendRemoveXattr(p, name)
}

// processDeletedXattr mirrors process_deleted_xattr for the parent root's
// item k: every name in it is removed.
func (s *sender) processDeletedXattr(k ondisk.Key, data []byte) error {
	return iterateDirItem(k, data, func(_ int, name, _ []byte) (bool, error) {
		return false, s.processDeletedXattrEntry(name)
	})
}

// findXattr mirrors find_xattr: the value of name in one xattr item, and
// whether it is there.
func findXattr(k ondisk.Key, data, name []byte) (value []byte, found bool, err error) {
	err = iterateDirItem(k, data, func(_ int, n, v []byte) (bool, error) {
		if bytes.Equal(n, name) {
			value, found = v, true
			return true, nil
		}
		return false, nil
	})
	return value, found, err
}

// processChangedXattr mirrors process_changed_xattr for an xattr item
// whose bytes differ between the send root (left) and the parent root
// (right): new or changed values are set first
// (__process_changed_new_xattr), then vanished names removed
// (__process_changed_deleted_xattr).
func (s *sender) processChangedXattr(k ondisk.Key, left, right []byte) error {
	err := iterateDirItem(k, left, func(_ int, name, value []byte) (bool, error) {
		old, found, err := findXattr(k, right, name)
		if err != nil {
			return false, err
		}
		if !found || !bytes.Equal(old, value) {
			return false, s.processNewXattrEntry(name, value)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	return iterateDirItem(k, right, func(_ int, name, _ []byte) (bool, error) {
		_, found, err := findXattr(k, left, name)
		if err != nil {
			return false, err
		}
		if !found {
			return false, s.processDeletedXattrEntry(name)
		}
		return false, nil
	})
}

// processAllNewXattrs mirrors process_all_new_xattrs: every xattr of the
// current inode in the send root, as new.
func (s *sender) processAllNewXattrs() error {
	for it, err := range s.root.Tree.ObjectItems(s.cmpKey.ObjectID, ondisk.XattrItemKey) {
		if err == nil {
			err = s.processNewXattr(it.Key, it.Data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lookupXattr mirrors btrfs_lookup_xattr: the value of xattr name of ino.
func lookupXattr(root *fstree.Subvol, ino uint64, name []byte) ([]byte, bool, error) {
	k := ondisk.Key{ObjectID: ino, Type: ondisk.XattrItemKey, Offset: ondisk.NameHash(name)}
	data, err := root.Tree.Lookup(k)
	if err != nil {
		if fstree.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return findXattr(k, data, name)
}

// xattrNameCapsBytes is looked up for every inode; converting the
// constant each time would allocate.
var xattrNameCapsBytes = []byte(xattrNameCaps)

// sendCapabilities mirrors send_capabilities: security.capability is set
// again after chown, which clears it at the receiver.
func (s *sender) sendCapabilities() error {
	value, found, err := lookupXattr(s.root, s.cur.ino, xattrNameCapsBytes)
	if err != nil || !found {
		return err
	}
	return s.sendSetXattr(xattrNameCapsBytes, value)
}

// changedVerity mirrors changed_verity: a new verity descriptor item.
// The flag is never cleared, as in the kernel; it only matters from
// protocol 3 on.
func (s *sender) changedVerity(res compare.Result) error {
	if !s.cur.newGen && !s.cur.deleted && res == compare.New {
		s.cur.needsVerity = true
	}
	return nil
}

// Layout of struct fsverity_descriptor.
const (
	fsverityDescHashAlgorithm = 1
	fsverityDescLogBlocksize  = 2
	fsverityDescSaltSize      = 3
	fsverityDescSigSize       = 4
	fsverityDescSalt          = 88
	fsverityDescSignature     = 256
	fsverityMaxDescriptorSize = 16384 // FS_VERITY_MAX_DESCRIPTOR_SIZE
)

// readVerityDescriptor mirrors btrfs_get_verity_descriptor: the size in
// the VERITY_DESC_ITEM at offset 0, the descriptor in the items from
// offset 1 on.
func readVerityDescriptor(root *fstree.Subvol, ino uint64) ([]byte, error) {
	hdr, err := root.Tree.Lookup(ondisk.Key{ObjectID: ino, Type: ondisk.VerityDescItemKey})
	if err != nil {
		return nil, err
	}
	hdrItem, err := item.ParseVerityDesc(hdr)
	if err != nil {
		return nil, fmt.Errorf("inode %d verity descriptor item: %w", ino, err)
	}
	if hdrItem.Size > fsverityMaxDescriptorSize {
		return nil, corruptf("inode %d: verity descriptor of %d bytes is too large", ino, hdrItem.Size)
	}
	desc := make([]byte, hdrItem.Size)
	copied := uint64(0)
	for it, err := range root.Tree.Items(ondisk.Key{ObjectID: ino, Type: ondisk.VerityDescItemKey, Offset: 1}, ondisk.Key{ObjectID: ino, Type: ondisk.VerityDescItemKey, Offset: ^uint64(0)}) {
		if err != nil {
			return nil, err
		}
		off := it.Key.Offset - 1
		if off != copied {
			return nil, corruptf("inode %d: verity descriptor item at offset %d, want %d", ino, it.Key.Offset, copied+1)
		}
		copied += uint64(copy(desc[off:], it.Data))
		if copied >= hdrItem.Size {
			break
		}
	}
	if copied < hdrItem.Size {
		return nil, corruptf("inode %d: verity descriptor has %d of %d bytes", ino, copied, hdrItem.Size)
	}
	return desc, nil
}

// processVerity mirrors process_verity and send_verity: ENABLE_VERITY
// with the algorithm, block size, salt and signature of the descriptor.
func (s *sender) processVerity() error {
	desc, err := readVerityDescriptor(s.root, s.cur.ino)
	if err != nil {
		return err
	}
	if len(desc) < fsverityDescSignature {
		return corruptf("inode %d: verity descriptor of %d bytes is truncated", s.cur.ino, len(desc))
	}
	saltSize := int(desc[fsverityDescSaltSize])
	sigSize := int(uint32(desc[fsverityDescSigSize]) | uint32(desc[fsverityDescSigSize+1])<<8 | uint32(desc[fsverityDescSigSize+2])<<16 | uint32(desc[fsverityDescSigSize+3])<<24)
	if fsverityDescSalt+saltSize > len(desc) || fsverityDescSignature+sigSize > len(desc) {
		return corruptf("inode %d: verity descriptor fields overrun its %d bytes", s.cur.ino, len(desc))
	}
	p, err := s.getCurInodePath()
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdEnableVerity); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutU8(stream.AttrVerityAlgorithm, desc[fsverityDescHashAlgorithm])
	s.w.PutU32(stream.AttrVerityBlockSize, 1<<desc[fsverityDescLogBlocksize])
	s.w.PutBytes(stream.AttrVeritySaltData, desc[fsverityDescSalt:fsverityDescSalt+saltSize])
	s.w.PutBytes(stream.AttrVeritySigData, desc[fsverityDescSignature:fsverityDescSignature+sigSize])
	return s.w.End()
}
