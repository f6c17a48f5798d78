package logreplay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// This file ports the name side of tree-log.c's replay: inode items,
// inode references, directory entries and the deletions the log implies,
// and the link count fixup.

// getter is what a name lookup needs of a tree: the subvolume being
// replayed or its log.
type getter interface {
	get(k ondisk.Key) ([]byte, bool, error)
}

// lookupIn is btrfs_lookup_match_dir on any tree.
func lookupIn(g getter, k ondisk.Key, name []byte) (dirEntry, bool, error) {
	b, ok, err := g.get(k)
	if err != nil || !ok {
		return dirEntry{}, false, err
	}
	es, err := dirEntries(b)
	if err != nil {
		return dirEntry{}, false, fmt.Errorf("%v: %w", k, err)
	}
	for _, e := range es {
		if bytes.Equal(e.Name, name) {
			return e, true, nil
		}
	}
	return dirEntry{}, false, nil
}

// overwriteItem is overwrite_item: the log item at w.key, with payload
// src, replaces the subvolume's. An inode item keeps the subvolume's
// nbytes (extents replayed later adjust it) or starts at 0 when new, and
// a directory's size starts at 0 (entries replayed later add to it),
// unless the subvolume has the directory, whose size is kept. An inode
// logged only to say it exists (generation 0) changes nothing, except a
// regular file's size when the log has one.
func (w *walk) overwriteItem(src []byte) error {
	k := w.key
	isInode := k.Type == ondisk.InodeItemKey
	if isInode && len(src) != item.InodeSize {
		return fmt.Errorf("inode item of %d bytes: %w", len(src), errBadItem)
	}
	le := binary.LittleEndian
	dst, found, err := w.root.get(k)
	if err != nil {
		return err
	}
	if found && len(dst) == len(src) {
		if len(src) == 0 || bytes.Equal(dst, src) {
			return nil
		}
		if isInode {
			le.PutUint64(src[24:], le.Uint64(dst[24:]))
			if le.Uint32(src[52:])&item.ModeTypeMask == item.ModeDir {
				le.PutUint64(src[16:], 0)
			}
		}
	} else if !found && isInode {
		le.PutUint64(src[24:], 0)
		if le.Uint32(src[52:])&item.ModeTypeMask == item.ModeDir {
			le.PutUint64(src[16:], 0)
		}
	}
	if !found {
		return w.finishInodeCopy(k, src, isInode)
	}
	// The item exists: it is resized to the log's size and overwritten.
	if isInode && len(dst) == item.InodeSize {
		srcMode, dstMode := le.Uint32(src[52:])&item.ModeTypeMask, le.Uint32(dst[52:])&item.ModeTypeMask
		if le.Uint64(src[0:]) == 0 {
			if size := le.Uint64(src[16:]); srcMode == item.ModeRegular && dstMode == item.ModeRegular && size != 0 {
				le.PutUint64(dst[16:], size)
			}
			return w.root.put(k, dst)
		}
		if srcMode == item.ModeDir && dstMode == item.ModeDir {
			le.PutUint64(src[16:], le.Uint64(dst[16:]))
		}
	}
	return w.finishInodeCopy(k, src, isInode)
}

// finishInodeCopy writes the copied item, an inode item with its
// generation filled in when the log left it 0 (and its times now the
// logged ones).
func (w *walk) finishInodeCopy(k ondisk.Key, b []byte, isInode bool) error {
	if isInode {
		if binary.LittleEndian.Uint64(b[0:]) == 0 {
			binary.LittleEndian.PutUint64(b[0:], w.r.transid)
		}
		delete(w.stamps, k.ObjectID)
	}
	return w.root.put(k, b)
}

// addInodeRef is add_inode_ref: every name of a logged INODE_REF or
// INODE_EXTREF item is made to exist in its directory (conflicting names
// unlinked first), names the subvolume's item has and the log's lacks are
// unlinked, and the log's item replaces the subvolume's.
func (w *walk) addInodeRef() error {
	src := w.logItem()
	recs, err := refRecords(w.key, src)
	if err != nil {
		return err
	}
	isExtref := w.key.Type == ondisk.InodeExtrefKey
	parent := w.key.Offset
	if isExtref {
		parent = recs[0].parent
	}
	ino := w.key.ObjectID
	// A parent directory not logged and not in the subvolume: the name is
	// left out, the link count fixup accounts for it.
	dir, err := w.iget(parent)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { w.iput(dir) }()
	in, err := w.iget(ino)
	if err != nil {
		return err
	}
	defer w.iput(in)
	for _, rec := range recs {
		if isExtref && dir == nil {
			dir, err = w.iget(rec.parent)
			if errors.Is(err, errNotFound) {
				dir = nil
				continue
			}
			if err != nil {
				return err
			}
		}
		inDir, err := w.inodeInDir(dir.ino, in.ino, rec.index, rec.name)
		if err != nil {
			return err
		}
		if !inDir {
			done, err := w.addInodeRefConflicts(dir, in, rec.index, rec.name)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := w.addLink(dir, in, rec.name, false, rec.index); err != nil {
				return fmt.Errorf("linking inode %d as %q in directory %d: %w", in.ino, rec.name, dir.ino, err)
			}
			if err := w.updateInode(in); err != nil {
				return err
			}
		}
		if isExtref && dir != nil {
			w.iput(dir)
			dir = nil
		}
	}
	if err := w.unlinkOldInodeRefs(in, src); err != nil {
		return err
	}
	return w.overwriteItem(src)
}

// addInodeRefConflicts is __add_inode_ref: before the name goes in, the
// inode's other names in the directory that the log does not have are
// unlinked, and whatever holds the name's index or the name itself in the
// directory is unlinked. done reports the root directory's own "..".
func (w *walk) addInodeRefConflicts(dir, in *inode, index uint64, name []byte) (done bool, err error) {
again:
	sk := inodeRefKey(in.ino, dir.ino)
	b, ok, err := w.root.get(sk)
	if err != nil {
		return false, err
	}
	if ok {
		if sk.ObjectID == sk.Offset {
			return true, nil
		}
		retry, err := w.unlinkRefsNotInLog(sk, b, dir, in)
		if err != nil {
			return false, err
		}
		if retry {
			goto again
		}
	}
	ek := inodeExtrefKey(in.ino, dir.ino, name)
	if b, ok, err := w.root.get(ek); err != nil {
		return false, err
	} else if ok {
		recs, err := refRecords(ek, b)
		if err != nil {
			return false, err
		}
		if _, found := findName(recs, true, dir.ino, name); found {
			retry, err := w.unlinkExtrefsNotInLog(recs, dir, in)
			if err != nil {
				return false, err
			}
			if retry {
				goto again
			}
		}
	}
	if e, ok, err := lookupDirIndexItem(w.root, dir.ino, index, name); err != nil {
		return false, err
	} else if ok {
		if err := w.dropOneDirItem(dir, e); err != nil {
			return false, err
		}
	}
	if e, ok, err := lookupDirItem(w.root, dir.ino, name); err != nil {
		return false, err
	} else if ok {
		if err := w.dropOneDirItem(dir, e); err != nil {
			return false, err
		}
	}
	return false, nil
}

// unlinkRefsNotInLog is unlink_refs_not_in_log: the first name of the
// subvolume's INODE_REF for dir that the log's does not have is unlinked
// (again reports it: the caller looks again).
func (w *walk) unlinkRefsNotInLog(sk ondisk.Key, b []byte, dir, in *inode) (again bool, err error) {
	recs, err := refRecords(sk, b)
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		inLog, err := w.backrefInLog(sk, dir.ino, rec.name)
		if err != nil {
			return false, err
		}
		if inLog {
			continue
		}
		in.incNlink()
		if err := w.unlinkInodeForLogReplay(dir, in, rec.name); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// unlinkExtrefsNotInLog is unlink_extrefs_not_in_log, for the names of
// one INODE_EXTREF item that belong to dir.
func (w *walk) unlinkExtrefsNotInLog(recs []refRecord, dir, in *inode) (again bool, err error) {
	for _, rec := range recs {
		if rec.parent != dir.ino {
			continue
		}
		inLog, err := w.backrefInLog(inodeExtrefKey(in.ino, dir.ino, rec.name), dir.ino, rec.name)
		if err != nil {
			return false, err
		}
		if inLog {
			continue
		}
		in.incNlink()
		if err := w.unlinkInodeForLogReplay(dir, in, rec.name); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// backrefInLog is backref_in_log: whether the log's reference item at k
// holds name (for an extref, under parent).
func (w *walk) backrefInLog(k ondisk.Key, parent uint64, name []byte) (bool, error) {
	b, ok, err := w.log.get(k)
	if err != nil || !ok {
		return false, err
	}
	recs, err := refRecords(k, b)
	if err != nil {
		return false, err
	}
	_, found := findName(recs, k.Type == ondisk.InodeExtrefKey, parent, name)
	return found, nil
}

// inodeInDir is inode_in_dir: both the index entry and the name entry of
// the directory point to the inode.
func (w *walk) inodeInDir(dirID, ino, index uint64, name []byte) (bool, error) {
	e, ok, err := lookupDirIndexItem(w.root, dirID, index, name)
	if err != nil || !ok || e.Location.ObjectID != ino {
		return false, err
	}
	e, ok, err = lookupDirItem(w.root, dirID, name)
	if err != nil || !ok {
		return false, err
	}
	return e.Location.ObjectID == ino, nil
}

// dropOneDirItem is drop_one_dir_item: the inode the entry points to is
// put into the link count fixup and unlinked from dir by that name.
func (w *walk) dropOneDirItem(dir *inode, e dirEntry) error {
	name := bytes.Clone(e.Name)
	in, err := w.iget(e.Location.ObjectID)
	if err != nil {
		return err
	}
	defer w.iput(in)
	if err := w.linkToFixupDir(e.Location.ObjectID); err != nil {
		return err
	}
	return w.unlinkInodeForLogReplay(dir, in, name)
}

// unlinkOldInodeRefs is unlink_old_inode_refs: every name of the
// subvolume's item at the log item's key that the log item lacks is
// unlinked, before the log's item replaces it.
func (w *walk) unlinkOldInodeRefs(in *inode, logItem []byte) error {
	logRecs, err := refRecords(w.key, logItem)
	if err != nil {
		return err
	}
	isExtref := w.key.Type == ondisk.InodeExtrefKey
again:
	b, ok, err := w.root.get(w.key)
	if err != nil || !ok {
		return err
	}
	recs, err := refRecords(w.key, b)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if _, found := findName(logRecs, isExtref, rec.parent, rec.name); found {
			continue
		}
		dir, err := w.iget(rec.parent)
		if err != nil {
			return err
		}
		err = w.unlinkInodeForLogReplay(dir, in, rec.name)
		w.iput(dir)
		if err != nil {
			return err
		}
		goto again
	}
	return nil
}

// countRefs is count_inode_refs plus count_inode_extrefs: the names the
// inode has.
func (w *walk) countRefs(ino uint64) (uint32, error) {
	var n uint32
	k := ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey}
	for {
		it, ok, err := w.root.next(k)
		if err != nil {
			return 0, err
		}
		if !ok || it.key.ObjectID != ino || (it.key.Type != ondisk.InodeRefKey && it.key.Type != ondisk.InodeExtrefKey) {
			return n, nil
		}
		recs, err := refRecords(it.key, it.data)
		if err != nil {
			return 0, err
		}
		n += uint32(len(recs))
		var more bool
		if k, more = nextKey(it.key); !more {
			return n, nil
		}
	}
}

// fixupInodeLinkCount is fixup_inode_link_count: the link count becomes
// the number of names; an inode left without names is orphaned (its
// entries removed first if a directory) for orphan cleanup to delete.
func (w *walk) fixupInodeLinkCount(in *inode) error {
	nlink, err := w.countRefs(in.ino)
	if err != nil {
		return err
	}
	if nlink != in.nlink {
		in.nlink = nlink
		if err := w.updateInode(in); err != nil {
			return err
		}
	}
	if in.nlink == 0 {
		if in.isDir() {
			if err := w.replayDirDeletes(in.ino, true); err != nil {
				return err
			}
		}
		if _, err := w.insertOrphanItem(ondisk.OrphanObjectID, in.ino); err != nil {
			return err
		}
	}
	return nil
}

// fixupInodeLinkCounts is fixup_inode_link_counts: every inode put into
// the fixup directory during replay, highest first (fixing a directory
// may add more), leaves it and gets its link count fixed.
func (w *walk) fixupInodeLinkCounts() error {
	k := ondisk.Key{ObjectID: ondisk.TreeLogFixupObjectID, Type: ondisk.OrphanItemKey, Offset: ^uint64(0)}
	for {
		it, ok, err := w.root.prev(k)
		if err != nil {
			return err
		}
		if !ok || it.key.ObjectID != ondisk.TreeLogFixupObjectID || it.key.Type != ondisk.OrphanItemKey {
			return nil
		}
		if err := w.root.del(it.key); err != nil {
			return err
		}
		in, err := w.iget(it.key.Offset)
		if err != nil {
			return err
		}
		err = w.fixupInodeLinkCount(in)
		w.iput(in)
		if err != nil {
			return err
		}
	}
}

// linkToFixupDir is link_to_fixup_dir: the inode is recorded for the link
// count fixup, with a link more so that it is not dropped meanwhile.
func (w *walk) linkToFixupDir(ino uint64) error {
	in, err := w.iget(ino)
	if err != nil {
		return err
	}
	defer w.iput(in)
	added, err := w.insertOrphanItem(ondisk.TreeLogFixupObjectID, ino)
	if err != nil || !added {
		return err
	}
	if in.nlink == 0 {
		in.nlink = 1
	} else {
		in.incNlink()
	}
	return w.updateInode(in)
}

// insertOneName is insert_one_name: a logged directory entry whose inode
// exists becomes a name of that inode (entry and reference).
func (w *walk) insertOneName(dirID, index uint64, name []byte, location ondisk.Key) error {
	in, err := w.iget(location.ObjectID)
	if err != nil {
		return err
	}
	defer w.iput(in)
	dir, err := w.iget(dirID)
	if err != nil {
		return err
	}
	defer w.iput(dir)
	return w.addLink(dir, in, name, true, index)
}

// deleteConflictingDirEntry is delete_conflicting_dir_entry: an entry of
// the subvolume by the log entry's name or index that points elsewhere is
// unlinked, if the log entry's inode exists. matches reports an entry
// identical to the log's.
func (w *walk) deleteConflictingDirEntry(dir *inode, dst dirEntry, logLoc ondisk.Key, logType item.FileType, exists bool) (matches bool, err error) {
	if dst.Location == logLoc && dst.Type == logType {
		return true, nil
	}
	if !exists {
		return false, nil
	}
	return false, w.dropOneDirItem(dir, dst)
}

// lookupInode is btrfs_lookup_inode: whether the entry's target exists in
// the subvolume (a subvolume's entry points at a ROOT_ITEM key, found by
// object ID and type).
func (w *walk) lookupInode(loc ondisk.Key) (bool, error) {
	if _, ok, err := w.root.get(loc); err != nil || ok {
		return ok, err
	}
	if loc.Type == ondisk.RootItemKey && loc.Offset == ^uint64(0) {
		it, ok, err := w.root.prev(loc)
		if err != nil || !ok {
			return false, err
		}
		return it.key.ObjectID == loc.ObjectID && it.key.Type == loc.Type, nil
	}
	return false, nil
}

// replayOneName is replay_one_name: a logged directory entry. Entries of
// the subvolume that conflict by name or index are unlinked; the entry is
// added only when its inode exists and the log holds no reference for it
// (a reference replayed later adds it). added reports it was.
func (w *walk) replayOneName(di item.Dir) (added bool, err error) {
	dir, err := w.iget(w.key.ObjectID)
	if err != nil {
		return false, err
	}
	defer w.iput(dir)
	name := bytes.Clone(di.Name)
	logLoc := di.Location
	exists, err := w.lookupInode(logLoc)
	if err != nil {
		return false, err
	}
	var dirMatches, indexMatches bool
	if e, ok, err := lookupDirItem(w.root, w.key.ObjectID, name); err != nil {
		return false, err
	} else if ok {
		if dirMatches, err = w.deleteConflictingDirEntry(dir, e, logLoc, di.Type, exists); err != nil {
			return false, err
		}
	}
	if e, ok, err := lookupDirIndexItem(w.root, w.key.ObjectID, w.key.Offset, name); err != nil {
		return false, err
	} else if ok {
		if indexMatches, err = w.deleteConflictingDirEntry(dir, e, logLoc, di.Type, exists); err != nil {
			return false, err
		}
	}
	if dirMatches && indexMatches {
		return false, nil
	}
	if inLog, err := w.backrefInLog(inodeRefKey(logLoc.ObjectID, w.key.ObjectID), 0, name); err != nil || inLog {
		return false, err
	}
	if inLog, err := w.backrefInLog(inodeExtrefKey(logLoc.ObjectID, w.key.ObjectID, name), w.key.ObjectID, name); err != nil || inLog {
		return false, err
	}
	err = w.insertOneName(w.key.ObjectID, w.key.Offset, name, logLoc)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errNotFound), errors.Is(err, errExist):
		return false, nil
	}
	return false, err
}

// replayOneDirItem is replay_one_dir_item: a logged DIR_INDEX entry; a
// non-directory it added gets its link count fixed after.
func (w *walk) replayOneDirItem() error {
	es, err := dirEntries(w.leaf.ItemData(w.slot))
	if err != nil {
		return err
	}
	if len(es) != 1 {
		return fmt.Errorf("dir index item with %d entries: %w", len(es), errBadItem)
	}
	di := es[0].Dir
	di.Name = bytes.Clone(di.Name)
	added, err := w.replayOneName(di)
	if err != nil {
		return err
	}
	if added && di.Type != item.FTDir {
		return w.linkToFixupDir(di.Location.ObjectID)
	}
	return nil
}

// findDirRange is find_dir_range: the logged index range (DIR_LOG_INDEX)
// that holds start, or else the next one.
func (w *walk) findDirRange(dirID, start uint64) (uint64, uint64, bool, error) {
	if start == ^uint64(0) {
		return 0, 0, false, nil
	}
	k := ondisk.Key{ObjectID: dirID, Type: ondisk.DirLogIndexKey, Offset: start}
	c, err := w.log.t.SeekLE(k)
	if err != nil {
		return 0, 0, false, err
	}
	if c.Valid() {
		ck := c.Key()
		if ck.ObjectID == dirID && ck.Type == ondisk.DirLogIndexKey {
			end, err := dirLogEnd(ck, c.Data())
			if err != nil {
				return 0, 0, false, err
			}
			if start >= ck.Offset && start <= end {
				return ck.Offset, end, true, nil
			}
		}
		if err := c.Next(); err != nil {
			return 0, 0, false, err
		}
	} else {
		// Nothing at or before the key: the search stopped at the
		// tree's first slot, and the kernel looks no further.
		return 0, 0, false, nil
	}
	if !c.Valid() {
		return 0, 0, false, nil
	}
	ck := c.Key()
	if ck.ObjectID != dirID || ck.Type != ondisk.DirLogIndexKey {
		return 0, 0, false, nil
	}
	end, err := dirLogEnd(ck, c.Data())
	if err != nil {
		return 0, 0, false, err
	}
	return ck.Offset, end, true, nil
}

// dirLogEnd reads a DIR_LOG_INDEX item: the end of the logged range. A
// range ending before it starts would make the kernel's walk over the
// ranges go round forever; it is refused.
func dirLogEnd(k ondisk.Key, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%v: dir log item of %d bytes, want 8: %w", k, len(b), errBadItem)
	}
	end := binary.LittleEndian.Uint64(b)
	if end < k.Offset {
		return 0, fmt.Errorf("%v: dir log range ends at %d, before it starts: %w", k, end, errBadItem)
	}
	return end, nil
}

// checkItemInLog is check_item_in_log: a directory index entry of the
// subvolume in a logged range but not in the log (or any entry, when
// forced) is unlinked, its inode put into the link count fixup.
func (w *walk) checkItemInLog(dir *inode, k ondisk.Key, payload []byte, forceRemove bool) error {
	es, err := dirEntries(payload)
	if err != nil {
		return fmt.Errorf("%v: %w", k, err)
	}
	e := es[0]
	name := bytes.Clone(e.Name)
	if !forceRemove {
		_, ok, err := lookupIn(w.log, k, name)
		if err != nil || ok {
			return err
		}
	}
	in, err := w.iget(e.Location.ObjectID)
	if err != nil {
		return err
	}
	defer w.iput(in)
	if err := w.linkToFixupDir(e.Location.ObjectID); err != nil {
		return err
	}
	in.incNlink()
	return w.unlinkInodeForLogReplay(dir, in, name)
}

// replayXattrDeletes is replay_xattr_deletes: xattrs of the subvolume's
// inode that its log does not have are deleted.
func (w *walk) replayXattrDeletes(ino uint64) error {
	k := ondisk.Key{ObjectID: ino, Type: ondisk.XattrItemKey}
again:
	for {
		it, ok, err := w.root.next(k)
		if err != nil {
			return err
		}
		if !ok || it.key.ObjectID != ino || it.key.Type != ondisk.XattrItemKey {
			return nil
		}
		es, err := dirEntries(it.data)
		if err != nil {
			return fmt.Errorf("%v: %w", it.key, err)
		}
		for _, e := range es {
			xk := ondisk.Key{ObjectID: ino, Type: ondisk.XattrItemKey, Offset: ondisk.NameHash(e.Name)}
			_, inLog, err := lookupIn(w.log, xk, e.Name)
			if err != nil {
				return err
			}
			if !inLog {
				if _, found, err := lookupIn(w.root, xk, e.Name); err != nil {
					return err
				} else if !found {
					return fmt.Errorf("xattr %q of inode %d: %w", e.Name, ino, errNotFound)
				}
				if err := deleteOneDirName(w.root, xk, e.Name); err != nil {
					return err
				}
				k = it.key
				goto again
			}
		}
		var more bool
		if k, more = nextKey(it.key); !more {
			return nil
		}
	}
}

// replayDirDeletes is replay_dir_deletes: the subvolume's index entries
// of the directory inside the ranges the log logged (all of them with
// delAll) that the log lacks are unlinked.
func (w *walk) replayDirDeletes(dirID uint64, delAll bool) error {
	dir, err := w.iget(dirID)
	if errors.Is(err, errNotFound) {
		// Deletes are replayed before the inode item is copied in.
		return nil
	}
	if err != nil {
		return err
	}
	defer w.iput(dir)
	var rangeStart, rangeEnd uint64
	for {
		if delAll {
			rangeEnd = ^uint64(0)
		} else {
			var ok bool
			rangeStart, rangeEnd, ok, err = w.findDirRange(dirID, rangeStart)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
		k := dirIndexKey(dirID, rangeStart)
		for {
			it, ok, err := w.root.next(k)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if it.key.ObjectID != dirID || it.key.Type != ondisk.DirIndexKey {
				return nil
			}
			if it.key.Offset > rangeEnd {
				break
			}
			if err := w.checkItemInLog(dir, it.key, it.data, delAll); err != nil {
				return err
			}
			if it.key.Offset == ^uint64(0) {
				break
			}
			k.Offset = it.key.Offset + 1
		}
		if rangeEnd == ^uint64(0) {
			return nil
		}
		rangeStart = rangeEnd + 1
	}
}
