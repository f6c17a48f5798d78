package logreplay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// This file holds what replay calls of the kernel's directory and inode
// reference code (dir-item.c, inode-item.c, the link and unlink helpers of
// inode.c, the delayed directory index items of delayed-inode.c), as it
// behaves while a log is replayed.

var (
	errExist    = errors.New("already exists")      // -EEXIST
	errOverflow = errors.New("item would overflow") // -EOVERFLOW
	errMlink    = errors.New("too many links")      // -EMLINK
	errBadItem  = fmt.Errorf("%w: inconsistent item", ondisk.ErrCorrupt)
)

const (
	dirItemHdr     = 30
	inodeRefHdr    = 10
	inodeExtrefHdr = 18
	itemHdrSize    = 25
	headerSize     = 101
)

// maxItemSize is BTRFS_MAX_ITEM_SIZE, leafDataSize BTRFS_LEAF_DATA_SIZE.
func (r *replayer) maxItemSize() int  { return r.nodeSize - headerSize - itemHdrSize }
func (r *replayer) leafDataSize() int { return r.nodeSize - headerSize }

// dirEntry is one btrfs_dir_item inside an item's payload.
type dirEntry struct {
	item.Dir
	off, size int // where it is in the payload
}

// dirEntries splits a DIR_ITEM, DIR_INDEX or XATTR_ITEM payload.
func dirEntries(b []byte) ([]dirEntry, error) {
	ds, err := item.ParseDirItems(b)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(ds))
	off := 0
	for i, d := range ds {
		n := dirItemHdr + len(d.Name) + len(d.Data)
		out[i] = dirEntry{d, off, n}
		off += n
	}
	return out, nil
}

// encodeDirItem builds one directory entry (data empty for names).
func encodeDirItem(location ondisk.Key, transid uint64, ft item.FileType, name, data []byte) []byte {
	b := make([]byte, dirItemHdr+len(name)+len(data))
	ondisk.PutKey(b, location)
	binary.LittleEndian.PutUint64(b[17:], transid)
	binary.LittleEndian.PutUint16(b[25:], uint16(len(data)))
	binary.LittleEndian.PutUint16(b[27:], uint16(len(name)))
	b[29] = byte(ft)
	copy(b[dirItemHdr:], name)
	copy(b[dirItemHdr+len(name):], data)
	return b
}

// matchDir is btrfs_lookup_match_dir with btrfs_match_dir_item_name: the
// entry named name in the item at exactly k.
func matchDir(t *tree, k ondisk.Key, name []byte) (payload []byte, e dirEntry, found bool, err error) {
	b, ok, err := t.get(k)
	if err != nil || !ok {
		return nil, dirEntry{}, false, err
	}
	es, err := dirEntries(b)
	if err != nil {
		return nil, dirEntry{}, false, fmt.Errorf("%v: %w", k, err)
	}
	for _, e := range es {
		if bytes.Equal(e.Name, name) {
			return b, e, true, nil
		}
	}
	return b, dirEntry{}, false, nil
}

func dirItemKey(dir uint64, name []byte) ondisk.Key {
	return ondisk.Key{ObjectID: dir, Type: ondisk.DirItemKey, Offset: ondisk.NameHash(name)}
}

func dirIndexKey(dir, index uint64) ondisk.Key {
	return ondisk.Key{ObjectID: dir, Type: ondisk.DirIndexKey, Offset: index}
}

// lookupDirItem is btrfs_lookup_dir_item.
func lookupDirItem(t *tree, dir uint64, name []byte) (dirEntry, bool, error) {
	_, e, ok, err := matchDir(t, dirItemKey(dir, name), name)
	return e, ok, err
}

// lookupDirIndexItem is btrfs_lookup_dir_index_item: the index entry at
// index, if it carries name.
func lookupDirIndexItem(t *tree, dir, index uint64, name []byte) (dirEntry, bool, error) {
	_, e, ok, err := matchDir(t, dirIndexKey(dir, index), name)
	return e, ok, err
}

// deleteOneDirName is btrfs_delete_one_dir_name: the entry leaves its
// item, the item goes when it was the only one.
func deleteOneDirName(t *tree, k ondisk.Key, name []byte) error {
	b, e, ok, err := matchDir(t, k, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("entry %q at %v: %w", name, k, errNotFound)
	}
	if e.size == len(b) {
		return t.del(k)
	}
	nb := append(b[:e.off:e.off], b[e.off+e.size:]...)
	return t.put(k, nb)
}

// delayedIndex holds a subvolume's DIR_INDEX items the kernel keeps as
// delayed items: inserted only when delayed items run (after every
// unlink during replay, and at the commit), so that a search of the tree
// does not see them before.
type delayedIndex struct {
	tree    *tree
	inserts map[ondisk.Key][]byte
	deletes map[ondisk.Key]bool
	order   []ondisk.Key
}

// insertDelayedDirIndex is btrfs_insert_delayed_dir_index.
func (w *walk) insertDelayedDirIndex(dir, index uint64, entry []byte) error {
	k := dirIndexKey(dir, index)
	if _, ok := w.delayed.inserts[k]; ok {
		return fmt.Errorf("delayed dir index %v: %w", k, errExist)
	}
	w.delayed.inserts[k] = entry
	w.delayed.order = append(w.delayed.order, k)
	return nil
}

// deleteDelayedDirIndex is btrfs_delete_delayed_dir_index: a pending
// insertion is cancelled, anything else deleted when delayed items run.
func (w *walk) deleteDelayedDirIndex(dir, index uint64) {
	k := dirIndexKey(dir, index)
	if _, ok := w.delayed.inserts[k]; ok {
		delete(w.delayed.inserts, k)
		return
	}
	w.delayed.deletes[k] = true
}

// runDelayedItems is btrfs_run_delayed_items: every subvolume's pending
// index insertions, then deletions, go into the trees.
func (w *walk) runDelayedItems() error { return w.r.runDelayedItems() }

func (r *replayer) runDelayedItems() error {
	for _, d := range r.delayed {
		for _, k := range d.order {
			b, ok := d.inserts[k]
			if !ok {
				continue
			}
			ins, err := d.tree.insert(k, b)
			if err != nil {
				return err
			}
			if !ins {
				return fmt.Errorf("dir index %v: %w", k, errExist)
			}
		}
		for k := range d.deletes {
			if _, ok, err := d.tree.get(k); err != nil {
				return err
			} else if ok {
				if err := d.tree.del(k); err != nil {
					return err
				}
			}
		}
		d.inserts, d.deletes, d.order = map[ondisk.Key][]byte{}, map[ondisk.Key]bool{}, nil
	}
	return nil
}

// insertDirItem is btrfs_insert_dir_item: the name joins the DIR_ITEM of
// its hash (errExist if it is there), the DIR_INDEX goes to the delayed
// items.
func (w *walk) insertDirItem(dir *inode, name []byte, location ondisk.Key, ft item.FileType, index uint64) error {
	entry := encodeDirItem(location, w.r.transid, ft, name, nil)
	k := dirItemKey(dir.ino, name)
	b, _, found, err := matchDir(w.root, k, name)
	if err != nil {
		return err
	}
	if found {
		return errExist
	}
	nb := append(b, entry...)
	if len(nb) > w.r.maxItemSize() {
		return errOverflow
	}
	if err := w.root.put(k, nb); err != nil {
		return err
	}
	return w.insertDelayedDirIndex(dir.ino, index, entry)
}

// refRecord is one name of an INODE_REF or INODE_EXTREF payload.
type refRecord struct {
	parent, index uint64
	name          []byte
	off, size     int
}

// refRecords splits an INODE_REF (parent: the key offset) or INODE_EXTREF
// payload into its names.
func refRecords(k ondisk.Key, b []byte) ([]refRecord, error) {
	var out []refRecord
	off := 0
	if k.Type == ondisk.InodeExtrefKey {
		refs, err := item.ParseInodeExtrefs(b)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", k, err)
		}
		for _, r := range refs {
			n := inodeExtrefHdr + len(r.Name)
			out = append(out, refRecord{r.Parent, r.Index, r.Name, off, n})
			off += n
		}
		return out, nil
	}
	refs, err := item.ParseInodeRefs(b)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", k, err)
	}
	for _, r := range refs {
		n := inodeRefHdr + len(r.Name)
		out = append(out, refRecord{k.Offset, r.Index, r.Name, off, n})
		off += n
	}
	return out, nil
}

// findNameInBackref is btrfs_find_name_in_backref (INODE_REF, parent
// fixed by the key) and btrfs_find_name_in_ext_backref (INODE_EXTREF,
// parent matched too).
func findName(recs []refRecord, extref bool, parent uint64, name []byte) (refRecord, bool) {
	for _, r := range recs {
		if bytes.Equal(r.name, name) && (!extref || r.parent == parent) {
			return r, true
		}
	}
	return refRecord{}, false
}

func inodeRefKey(ino, parent uint64) ondisk.Key {
	return ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey, Offset: parent}
}

func inodeExtrefKey(ino, parent uint64, name []byte) ondisk.Key {
	return ondisk.Key{ObjectID: ino, Type: ondisk.InodeExtrefKey, Offset: ondisk.ExtrefHash(parent, name)}
}

func encodeInodeRef(index uint64, name []byte) []byte {
	b := make([]byte, inodeRefHdr+len(name))
	binary.LittleEndian.PutUint64(b, index)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(name)))
	copy(b[inodeRefHdr:], name)
	return b
}

func encodeInodeExtref(parent, index uint64, name []byte) []byte {
	b := make([]byte, inodeExtrefHdr+len(name))
	binary.LittleEndian.PutUint64(b, parent)
	binary.LittleEndian.PutUint64(b[8:], index)
	binary.LittleEndian.PutUint16(b[16:], uint16(len(name)))
	copy(b[inodeExtrefHdr:], name)
	return b
}

// insertInodeRef is btrfs_insert_inode_ref: the name is appended to the
// INODE_REF for its parent (errExist if there), or, when that item would
// no longer fit a leaf, put in an INODE_EXTREF (extended_iref).
func (w *walk) insertInodeRef(name []byte, ino, parent, index uint64) error {
	k := inodeRefKey(ino, parent)
	rec := encodeInodeRef(index, name)
	b, ok, err := w.root.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return w.root.put(k, rec)
	}
	recs, err := refRecords(k, b)
	if err != nil {
		return err
	}
	if _, found := findName(recs, false, parent, name); found {
		return errExist
	}
	if len(b)+len(rec)+itemHdrSize > w.r.leafDataSize() {
		if !w.r.extIref {
			return errMlink
		}
		return w.insertInodeExtref(name, ino, parent, index)
	}
	return w.root.put(k, append(b, rec...))
}

// insertInodeExtref is btrfs_insert_inode_extref.
func (w *walk) insertInodeExtref(name []byte, ino, parent, index uint64) error {
	k := inodeExtrefKey(ino, parent, name)
	rec := encodeInodeExtref(parent, index, name)
	b, ok, err := w.root.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return w.root.put(k, rec)
	}
	recs, err := refRecords(k, b)
	if err != nil {
		return err
	}
	if _, found := findName(recs, true, parent, name); found {
		return errExist
	}
	nb := append(b, rec...)
	if len(nb) > w.r.maxItemSize() {
		return errOverflow
	}
	return w.root.put(k, nb)
}

// delInodeRef is btrfs_del_inode_ref: the name leaves the INODE_REF of
// its parent, or else its INODE_EXTREF; the name's index is returned.
func (w *walk) delInodeRef(name []byte, ino, parent uint64) (uint64, error) {
	k := inodeRefKey(ino, parent)
	b, ok, err := w.root.get(k)
	if err != nil {
		return 0, err
	}
	if ok {
		recs, err := refRecords(k, b)
		if err != nil {
			return 0, err
		}
		if r, found := findName(recs, false, parent, name); found {
			return r.index, w.removeRecord(k, b, r)
		}
	}
	return w.delInodeExtref(name, ino, parent)
}

// delInodeExtref is btrfs_del_inode_extref.
func (w *walk) delInodeExtref(name []byte, ino, parent uint64) (uint64, error) {
	k := inodeExtrefKey(ino, parent, name)
	b, ok, err := w.root.get(k)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("inode %d has no name %q in directory %d: %w", ino, name, parent, errNotFound)
	}
	recs, err := refRecords(k, b)
	if err != nil {
		return 0, err
	}
	r, found := findName(recs, true, parent, name)
	if !found {
		return 0, fmt.Errorf("inode %d has no name %q in directory %d: %w", ino, name, parent, errNotFound)
	}
	return r.index, w.removeRecord(k, b, r)
}

// removeRecord cuts one name out of a reference item, deleting the item
// when it was the last.
func (w *walk) removeRecord(k ondisk.Key, b []byte, r refRecord) error {
	if r.size == len(b) {
		return w.root.del(k)
	}
	return w.root.put(k, append(b[:r.off:r.off], b[r.off+r.size:]...))
}

// addLink is btrfs_add_link: the directory entry (and with addBackref the
// inode's reference) for name; the directory grows by the name twice.
// The directory's times are left alone while a log is replayed.
func (w *walk) addLink(dir, in *inode, name []byte, addBackref bool, index uint64) error {
	if addBackref {
		if err := w.insertInodeRef(name, in.ino, dir.ino, index); err != nil {
			return err
		}
	}
	err := w.insertDirItem(dir, name, inodeKey(in.ino), in.fileType(), index)
	if errors.Is(err, errExist) || errors.Is(err, errOverflow) {
		if addBackref {
			if _, derr := w.delInodeRef(name, in.ino, dir.ino); derr != nil {
				return derr
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	dir.setSize(dir.size + 2*uint64(len(name)))
	dir.sequence++
	return w.updateInode(dir)
}

// unlinkInode is btrfs_unlink_inode as replay calls it: the directory
// entry, the inode's reference and the index entry go, the directory
// shrinks, the inode loses a link. The kernel also sets the inode's
// ctime to the current time, the time of the mount (the directory's
// times it leaves alone during replay); there is no such time here, so
// the ctime is left as it was and the inode reported
// (Result.MountTimes).
func (w *walk) unlinkInode(dir, in *inode, name []byte) error {
	k := dirItemKey(dir.ino, name)
	if err := deleteOneDirName(w.root, k, name); err != nil {
		return err
	}
	index, err := w.delInodeRef(name, in.ino, dir.ino)
	if err != nil {
		return err
	}
	w.deleteDelayedDirIndex(dir.ino, index)
	dir.setSize(dir.size - 2*uint64(len(name)))
	in.sequence++
	in.stamped |= StampCtime
	dir.sequence++
	if err := w.updateInode(dir); err != nil {
		return err
	}
	in.dropNlink()
	return w.updateInode(in)
}

// unlinkInodeForLogReplay is unlink_inode_for_log_replay: the unlink,
// then the delayed items, so that later searches see the name gone.
func (w *walk) unlinkInodeForLogReplay(dir, in *inode, name []byte) error {
	if err := w.unlinkInode(dir, in, name); err != nil {
		return fmt.Errorf("unlinking %q (inode %d) from directory %d: %w", name, in.ino, dir.ino, err)
	}
	return w.runDelayedItems()
}

// insertOrphanItem is btrfs_insert_orphan_item (errExist ignored by the
// callers that ignore it).
func (w *walk) insertOrphanItem(objectid, offset uint64) (bool, error) {
	return w.root.insert(ondisk.Key{ObjectID: objectid, Type: ondisk.OrphanItemKey, Offset: offset}, nil)
}
