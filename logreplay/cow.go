package logreplay

import (
	"encoding/binary"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// This file ports what COW does to references when replay first changes a
// committed block of a subvolume tree (ctree.c's update_ref_for_cow and
// extent-tree.c's __btrfs_mod_ref). A block shared with a snapshot hands
// its references on: a copy made by a tree other than the block's owner
// adds references of its own for every extent the block points to, and
// the owner turns the block's references into full back references (by
// the block's address) before it copies it. Only what decides data
// references is kept: the reference counts of committed tree blocks as
// the COWs change them, and which blocks got FULL_BACKREF. The metadata
// extent items themselves are not rewritten.

const (
	headerFlagReloc  = 1 << 1 // BTRFS_HEADER_FLAG_RELOC
	mixedBackrefRev  = 1      // BTRFS_MIXED_BACKREF_REV
	backrefRevShift  = 56
	fullBackrefFlags = item.BlockFlagFullBackref
)

// blockRefs tracks committed tree blocks' references as replay's COWs
// change them: the change to each block's count, and the blocks that were
// given FULL_BACKREF.
type blockRefs struct {
	delta map[uint64]int64
	full  map[uint64]bool
}

// shareable reports whether tree id is one whose blocks snapshots share
// (BTRFS_ROOT_SHAREABLE): the top level and every subvolume.
func shareable(id uint64) bool {
	return id == ondisk.FSTreeObjectID || (id >= ondisk.FirstFreeObjectID && id <= ondisk.LastFreeObjectID)
}

// cowHook is update_ref_for_cow for tree t, called before the editor
// copies the committed block old.
func (r *replayer) cowHook(t *tree, lastSnapshot uint64) func(old *ondisk.Node, root bool) error {
	return func(old *ondisk.Node, root bool) error {
		if err := r.updateRefForCOW(t.id, lastSnapshot, old, root); err != nil {
			return fmt.Errorf("copying block %d of %s: %w", old.Bytenr, ondisk.TreeName(t.id), err)
		}
		return nil
	}
}

// updateRefForCOW is update_ref_for_cow followed by the reference
// btrfs_free_tree_block drops from old.
func (r *replayer) updateRefForCOW(id, lastSnapshot uint64, old *ondisk.Node, root bool) error {
	var refs, flags uint64
	// btrfs_block_can_be_shared: never the root, and only blocks as old
	// as the tree's last snapshot (or written by relocation).
	canBeShared := !root && (old.Generation <= lastSnapshot || old.Flags&headerFlagReloc != 0)
	if canBeShared {
		var err error
		if refs, flags, err = r.treeBlockInfo(old); err != nil {
			return err
		}
	} else {
		refs = 1
		if old.Flags>>backrefRevShift < mixedBackrefRev {
			flags = fullBackrefFlags
		}
	}
	full := flags&fullBackrefFlags != 0
	switch {
	case refs > 1 && old.Owner == id && !full:
		if err := r.modRefs(old, id, true, 1); err != nil {
			return err
		}
		r.blocks.full[old.Bytenr] = true
	case refs > 1:
		if err := r.modRefs(old, id, false, 1); err != nil {
			return err
		}
	case full:
		if err := r.modRefs(old, id, false, 1); err != nil {
			return err
		}
		if err := r.modRefs(old, id, true, -1); err != nil {
			return err
		}
	}
	r.blocks.delta[old.Bytenr]--
	return nil
}

// treeBlockInfo is btrfs_lookup_extent_info for a committed tree block:
// its reference count and flags, with what replay's COWs changed.
func (r *replayer) treeBlockInfo(n *ondisk.Node) (refs, flags uint64, err error) {
	et, err := r.extentTree()
	if err != nil {
		return 0, 0, err
	}
	var b []byte
	ok := false
	if r.skinny {
		if b, ok, err = et.get(ondisk.Key{ObjectID: n.Bytenr, Type: ondisk.MetadataItemKey, Offset: uint64(n.Level)}); err != nil {
			return 0, 0, err
		}
	}
	if !ok {
		if b, ok, err = et.get(extentKey(n.Bytenr, uint64(r.nodeSize))); err != nil {
			return 0, 0, err
		}
	}
	if !ok {
		return 0, 0, fmt.Errorf("tree block %d has no extent item: %w", n.Bytenr, errNotFound)
	}
	if len(b) < extentItemSize {
		return 0, 0, fmt.Errorf("extent item of tree block %d is %d bytes: %w", n.Bytenr, len(b), errBadItem)
	}
	le := binary.LittleEndian
	count := int64(le.Uint64(b)) + r.blocks.delta[n.Bytenr]
	if count <= 0 {
		return 0, 0, fmt.Errorf("tree block %d has no references left: %w", n.Bytenr, errBadItem)
	}
	flags = le.Uint64(b[16:])
	if r.blocks.full[n.Bytenr] {
		flags |= fullBackrefFlags
	}
	return uint64(count), flags, nil
}

// modRefs is __btrfs_mod_ref on a copy of n made by tree id (full false:
// references owned by id) or on n itself (full: references by n's
// address): n more (or fewer) references on every extent a leaf's file
// extent items point to, or on every child of a node.
func (r *replayer) modRefs(n *ondisk.Node, id uint64, full bool, inc int64) error {
	if n.Level > 0 {
		for i := range n.NumItems() {
			child, _ := n.BlockPtr(i)
			r.blocks.delta[child] += inc
		}
		return nil
	}
	for i := range n.NumItems() {
		k := n.Key(i)
		if k.Type != ondisk.ExtentDataKey {
			continue
		}
		fe, err := item.ParseFileExtent(n.ItemData(i))
		if err != nil {
			return &ondisk.BlockError{Logical: n.Bytenr, Tree: id, Key: &k, Err: err}
		}
		if fe.Type == item.FileExtentInline || fe.DiskBytenr == 0 {
			continue
		}
		ref := dataRef{root: id, owner: k.ObjectID, offset: k.Offset - fe.Offset}
		if full {
			ref = dataRef{parent: n.Bytenr}
		}
		r.refs.add(fe.DiskBytenr, fe.DiskNumBytes, ref, inc)
	}
	return nil
}
