package sendgen

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// recordedRef mirrors struct recorded_ref: one name of the current inode,
// its parent directory and the full path of the name at the receiver as
// computed when it was recorded.
type recordedRef struct {
	dir, dirGen uint64
	fullPath    []byte
	name        []byte // the last component of fullPath
	nameKey     string // name, for the index (set by recordRefInTree)
}

// refKey orders recorded refs as rbtree_ref_comp does.
type refKey struct {
	dir, dirGen uint64
	name        string
}

func (r *recordedRef) key() refKey { return refKey{r.dir, r.dirGen, r.nameKey} }

// setRefPath mirrors set_ref_path: name is the part after the last '/'.
func (r *recordedRef) setRefPath(p []byte) {
	r.fullPath = p
	r.name = p[bytes.LastIndexByte(p, '/')+1:]
}

// removeRef drops r from list (list_del).
func removeRef(list []*recordedRef, r *recordedRef) []*recordedRef {
	for i, x := range list {
		if x == r {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// treeRemove drops r from an rbtree_*_refs index.
func treeRemove(tree map[refKey][]*recordedRef, r *recordedRef) {
	k := r.key()
	if l := removeRef(tree[k], r); len(l) > 0 {
		tree[k] = l
	} else {
		delete(tree, k)
	}
}

// freeRecordedRefs mirrors free_recorded_refs. The lists' arrays are
// kept for the next inode: nothing holds on to them (a pending move copies
// what it needs).
func (st *inodeState) freeRecordedRefs() {
	clear(st.newRefs)
	clear(st.deletedRefs)
	st.newRefs, st.deletedRefs = st.newRefs[:0], st.deletedRefs[:0]
	clear(st.newRefTree)
	clear(st.deletedRefTree)
}

// iterateInodeRef mirrors iterate_inode_ref without path resolution:
// fn is called for each name of one INODE_REF or INODE_EXTREF item, in
// item order, with the name's parent directory.
func iterateInodeRef(k ondisk.Key, data []byte, fn func(dir uint64, name []byte) error) error {
	if k.Type == ondisk.InodeRefKey {
		for r, err := range item.InodeRefs(data) {
			if err != nil {
				return fmt.Errorf("key %v: %w", k, err)
			}
			if err := fn(k.Offset, r.Name); err != nil {
				return err
			}
		}
		return nil
	}
	refs, err := item.ParseInodeExtrefs(data)
	if err != nil {
		return fmt.Errorf("key %v: %w", k, err)
	}
	for _, r := range refs {
		if err := fn(r.Parent, r.Name); err != nil {
			return err
		}
	}
	return nil
}

// recordRefInTree mirrors record_ref_in_tree: the name is recorded with
// the receiver-side path of its directory.
func (s *sender) recordRefInTree(tree map[refKey][]*recordedRef, list *[]*recordedRef, name []byte, dir, dirGen uint64) error {
	p, err := s.getCurPath(dir, dirGen)
	if err != nil {
		return err
	}
	ref := &recordedRef{dir: dir, dirGen: dirGen}
	full, err := pathAdd(p, name)
	if err != nil {
		return err
	}
	ref.setRefPath(full)
	ref.nameKey = string(ref.name)
	*list = append(*list, ref)
	k := ref.key()
	tree[k] = append(tree[k], ref)
	return nil
}

// recordNewRefIfNeeded mirrors record_new_ref_if_needed: a new name
// cancels a deleted one recorded with the same directory and name.
func (s *sender) recordNewRefIfNeeded(dir uint64, name []byte) error {
	st := &s.inodes
	dirGen, err := getInodeGen(s.root, dir)
	if err != nil {
		return err
	}
	k := refKey{dir, dirGen, string(name)}
	if refs := st.deletedRefTree[k]; len(refs) > 0 {
		ref := refs[0]
		treeRemove(st.deletedRefTree, ref)
		st.deletedRefs = removeRef(st.deletedRefs, ref)
		return nil
	}
	return s.recordRefInTree(st.newRefTree, &st.newRefs, name, dir, dirGen)
}

// recordDeletedRefIfNeeded mirrors record_deleted_ref_if_needed: a
// deleted name cancels a new one recorded with the same directory and
// name.
func (s *sender) recordDeletedRefIfNeeded(dir uint64, name []byte) error {
	st := &s.inodes
	dirGen, err := getInodeGen(st.parentRoot, dir)
	if err != nil {
		return err
	}
	k := refKey{dir, dirGen, string(name)}
	if refs := st.newRefTree[k]; len(refs) > 0 {
		ref := refs[0]
		treeRemove(st.newRefTree, ref)
		st.newRefs = removeRef(st.newRefs, ref)
		return nil
	}
	return s.recordRefInTree(st.deletedRefTree, &st.deletedRefs, name, dir, dirGen)
}

// recordNewRef mirrors record_new_ref: the names of the send root's item.
func (s *sender) recordNewRef() error {
	return iterateInodeRef(s.cmpKey, s.leftPath.Data(), s.recordNewRefIfNeeded)
}

// recordDeletedRef mirrors record_deleted_ref: the names of the parent
// root's item.
func (s *sender) recordDeletedRef() error {
	return iterateInodeRef(s.cmpKey, s.rightPath.Data(), s.recordDeletedRefIfNeeded)
}

// recordChangedRef mirrors record_changed_ref: the names of the send
// root's item as new, then those of the parent root's as deleted.
func (s *sender) recordChangedRef() error {
	if err := iterateInodeRef(s.cmpKey, s.leftPath.Data(), s.recordNewRefIfNeeded); err != nil {
		return err
	}
	return iterateInodeRef(s.cmpKey, s.rightPath.Data(), s.recordDeletedRefIfNeeded)
}

// processAllRefs mirrors process_all_refs: every name of the current inode
// in the send root (New) or the parent root (Deleted) is recorded, then
// processed.
func (s *sender) processAllRefs(res compare.Result) error {
	root, cb := s.root, s.recordNewRefIfNeeded
	if res == compare.Deleted {
		root, cb = s.inodes.parentRoot, s.recordDeletedRefIfNeeded
	}
	ino := s.cmpKey.ObjectID
	for it, err := range root.Tree.Items(ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey}, ondisk.Key{ObjectID: ino, Type: ondisk.InodeExtrefKey, Offset: ^uint64(0)}) {
		if err == nil {
			err = iterateInodeRef(it.Key, it.Data, cb)
		}
		if err != nil {
			return err
		}
	}
	// The pending move does not matter: the inode is re-created and gets
	// renamed into place with its parent directory.
	_, err := s.processRecordedRefs()
	return err
}

// changedRef mirrors changed_ref: the names of a ref item are recorded as
// new, deleted or both, to be processed once all of the inode's refs are
// (not for the root directory, nor for a new generation, whose refs
// changed_inode processed).
func (s *sender) changedRef(res compare.Result) error {
	if s.cur.ino != s.cmpKey.ObjectID {
		return s.inconsistentSnapshotError(res, "reference")
	}
	if s.cur.newGen || s.cur.ino == ondisk.FirstFreeObjectID {
		return nil
	}
	switch res {
	case compare.New:
		return s.recordNewRef()
	case compare.Deleted:
		return s.recordDeletedRef()
	case compare.Changed:
		return s.recordChangedRef()
	}
	return nil
}

// sendRename mirrors send_rename.
func (s *sender) sendRename(from, to []byte) error {
	if err := s.w.Begin(stream.CmdRename); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, from)
	s.w.PutBytes(stream.AttrPathTo, to)
	return s.w.End()
}

// sendLink mirrors send_link: path is the new name, lnk the existing one.
func (s *sender) sendLink(path, lnk []byte) error {
	if err := s.w.Begin(stream.CmdLink); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, path)
	s.w.PutBytes(stream.AttrPathLink, lnk)
	return s.w.End()
}

// sendUnlink mirrors send_unlink.
func (s *sender) sendUnlink(path []byte) error {
	if err := s.w.Begin(stream.CmdUnlink); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, path)
	return s.w.End()
}

// sendRmdir mirrors send_rmdir.
func (s *sender) sendRmdir(path []byte) error {
	if err := s.w.Begin(stream.CmdRmdir); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, path)
	return s.w.End()
}

// orphanizeInode mirrors orphanize_inode: path is renamed to the inode's
// orphan name.
func (s *sender) orphanizeInode(ino, gen uint64, path []byte) error {
	orphan, err := s.genUniqueName(ino, gen)
	if err != nil {
		return err
	}
	if err := s.sendRename(path, orphan); err != nil {
		return err
	}
	if ino == s.cur.ino && gen == s.cur.gen {
		s.inodes.curInodePath = clonePath(orphan)
	}
	return nil
}

// renameCurrentInode mirrors rename_current_inode: the current inode moves
// from *current to newPath, which becomes both its cached and valid path.
func (s *sender) renameCurrentInode(current *[]byte, newPath []byte) error {
	if err := s.sendRename(*current, newPath); err != nil {
		return err
	}
	// Paths are never changed in place, so the two can share one copy.
	p := clonePath(newPath)
	s.inodes.curInodePath, *current = p, p
	return nil
}

// isCurrentInodePath mirrors is_current_inode_path, which compares only
// as many bytes as the cached path has.
func (s *sender) isCurrentInodePath(path []byte) bool {
	return bytes.HasPrefix(path, s.inodes.curInodePath)
}

// updateRefPath mirrors update_ref_path: the ref's path is recomputed with
// its directory's current path.
func (s *sender) updateRefPath(ref *recordedRef) error {
	p, err := s.getCurPath(ref.dir, ref.dirGen)
	if err != nil {
		return err
	}
	full, err := pathAdd(p, ref.name)
	if err != nil {
		return err
	}
	ref.setRefPath(full)
	return nil
}

// refreshRefPath mirrors refresh_ref_path (the same recomputation, done
// in place in the kernel).
func (s *sender) refreshRefPath(ref *recordedRef) error {
	return s.updateRefPath(ref)
}

// checkDirs is the check_dirs list of process_recorded_refs with its
// rbtree_check_dirs index: each (dir, dir_gen) once, in first-insertion
// order.
type checkDirs struct {
	list []lruKey
	seen map[lruKey]bool
}

// checkDirsScan is how many directories record searches linearly before
// it indexes them: nearly every inode has one or two.
const checkDirsScan = 16

// record mirrors record_check_dir_ref_in_tree.
func (c *checkDirs) record(ref *recordedRef) {
	k := lruKey{ref.dir, ref.dirGen}
	if c.seen != nil {
		if c.seen[k] {
			return
		}
		c.seen[k] = true
	} else {
		if slices.Contains(c.list, k) {
			return
		}
		if len(c.list) == checkDirsScan {
			c.seen = make(map[lruKey]bool, 2*checkDirsScan)
			for _, r := range c.list {
				c.seen[r] = true
			}
			c.seen[k] = true
		}
	}
	c.list = append(c.list, k)
}

// processRecordedRefs mirrors process_recorded_refs: the renames, links,
// unlinks and rmdirs that bring the current inode's names to their state
// in the send root, and the utimes of the directories involved. It
// reports whether the inode's move waits for another directory.
func (s *sender) processRecordedRefs() (pendingMove bool, err error) {
	st := &s.inodes
	defer st.freeRecordedRefs()

	if s.cur.ino <= ondisk.FirstFreeObjectID {
		return false, corruptf("refs recorded for inode %d, which is not one the send processes (the root directory or a deleted inode)", s.cur.ino)
	}

	// The list's array is reused from one inode to the next.
	check := checkDirs{list: st.checkDirsList[:0]}
	defer func() { st.checkDirsList = check.list[:0] }()
	var validPath []byte
	didOverwrite, isOrphan, canRename := false, false, true
	orphanizedDir, orphanizedAncestor := false, false

	// A new inode, or one whose first name was taken by an inode
	// processed before, is at its orphan name.
	if !s.cur.isNew {
		if didOverwrite, err = s.didOverwriteFirstRef(s.cur.ino, s.cur.gen); err != nil {
			return false, err
		}
	}
	if s.cur.isNew || didOverwrite {
		if validPath, err = s.genUniqueName(s.cur.ino, s.cur.gen); err != nil {
			return false, err
		}
		isOrphan = true
	} else if validPath, err = s.getCurPath(s.cur.ino, s.cur.gen); err != nil {
		return false, err
	}

	// First pass: move away or unlink whatever holds one of the new names
	// at the receiver, before any link or rename uses a path through it.
	for _, cur := range st.newRefs {
		state, _, _, err := s.getCurInodeState(cur.dir, cur.dirGen)
		if err != nil {
			return false, err
		}
		if state == inodeStateWillCreate {
			continue
		}
		over, owIno, owGen, owMode, err := s.willOverwriteRef(cur.dir, cur.dirGen, cur.name)
		if err != nil {
			return false, err
		}
		if !over {
			continue
		}
		first, err := isFirstRef(st.parentRoot, owIno, cur.dir, cur.name)
		if err != nil {
			return false, err
		}
		if first {
			if orphanizedDir {
				if err := s.refreshRefPath(cur); err != nil {
					return false, err
				}
			}
			if err := s.orphanizeInode(owIno, owGen, cur.fullPath); err != nil {
				return false, err
			}
			if sISDIR(owMode) {
				orphanizedDir = true
			}
			if wdm := st.getWaitingDirMove(owIno); wdm != nil {
				wdm.orphanized = true
			}
			if nce := st.nameCache.lookup(owIno, owGen); nce != nil {
				st.nameCache.remove(nce)
			}
			anc, err := isAncestor(st.parentRoot, owIno, owGen, s.cur.ino)
			if err != nil {
				return false, err
			}
			if anc {
				orphanizedAncestor = true
				st.curInodePath = nil
				if validPath, err = s.getCurPath(s.cur.ino, s.cur.gen); err != nil {
					return false, err
				}
			}
		} else {
			if orphanizedDir {
				if err := s.refreshRefPath(cur); err != nil {
					return false, err
				}
			}
			if err := s.sendUnlink(cur.fullPath); err != nil {
				return false, err
			}
		}
	}

	for i, cur := range st.newRefs {
		// A parent directory with a higher inode number is created now,
		// out of order, unless a name before this one or an inode
		// processed before already did.
		state, _, _, err := s.getCurInodeState(cur.dir, cur.dirGen)
		if err != nil {
			return false, err
		}
		if state == inodeStateWillCreate {
			created := false
			for _, cur2 := range st.newRefs[:i] {
				if cur2.dir == cur.dir {
					created = true
					break
				}
			}
			if !created {
				if created, err = s.didCreateDir(cur.dir); err != nil {
					return false, err
				}
			}
			if !created {
				if err := s.sendCreateInode(cur.dir); err != nil {
					return false, err
				}
				s.cacheDirCreated(cur.dir)
			}
		}

		if sISDIR(s.cur.mode) && st.parentRoot != nil {
			wait, err := s.waitForDestDirMove(cur, isOrphan)
			if err != nil {
				return false, err
			}
			if wait {
				canRename = false
				pendingMove = true
			}
		}
		if sISDIR(s.cur.mode) && st.parentRoot != nil && canRename {
			wait, err := s.waitForParentMove(cur, isOrphan)
			if err != nil {
				return false, err
			}
			if wait {
				canRename = false
				pendingMove = true
			}
		}

		switch {
		case isOrphan && canRename:
			if err := s.renameCurrentInode(&validPath, cur.fullPath); err != nil {
				return false, err
			}
			isOrphan = false
		case canRename && sISDIR(s.cur.mode):
			// Directories cannot be linked: a moved one has one new and
			// one deleted name, and the deleted one is ignored below.
			if err := s.renameCurrentInode(&validPath, cur.fullPath); err != nil {
				return false, err
			}
		case canRename:
			if orphanizedDir {
				if err := s.updateRefPath(cur); err != nil {
					return false, err
				}
			}
			if err := s.sendLink(cur.fullPath, validPath); err != nil {
				return false, err
			}
		}
		check.record(cur)
	}

	switch {
	case sISDIR(s.cur.mode) && s.cur.deleted:
		ok, err := s.canRmdir(s.cur.ino, s.cur.gen)
		if err != nil {
			return false, err
		}
		if ok {
			if err := s.sendRmdir(validPath); err != nil {
				return false, err
			}
		} else if !isOrphan {
			if err := s.orphanizeInode(s.cur.ino, s.cur.gen, validPath); err != nil {
				return false, err
			}
			isOrphan = true
		}
		for _, cur := range st.deletedRefs {
			check.record(cur)
		}
	case sISDIR(s.cur.mode) && len(st.deletedRefs) > 0:
		// A moved directory: its old parent needs new times.
		check.record(st.deletedRefs[0])
	case !sISDIR(s.cur.mode):
		for _, cur := range st.deletedRefs {
			over, err := s.didOverwriteRef(cur.dir, cur.dirGen, s.cur.ino, s.cur.gen, cur.name)
			if err != nil {
				return false, err
			}
			if !over {
				if orphanizedAncestor {
					if err := s.updateRefPath(cur); err != nil {
						return false, err
					}
				}
				if err := s.sendUnlink(cur.fullPath); err != nil {
					return false, err
				}
				if s.isCurrentInodePath(cur.fullPath) {
					st.curInodePath = nil
				}
			}
			check.record(cur)
		}
		// Still at the orphan name: no new name was added.
		if isOrphan {
			if err := s.sendUnlink(validPath); err != nil {
				return false, err
			}
		}
	}

	// Every directory the inode was or is in gets new times, and those
	// waiting for removal are removed once empty.
	for _, cur := range check.list {
		if cur.key > s.cur.ino {
			continue
		}
		state, _, _, err := s.getCurInodeState(cur.key, cur.gen)
		if err != nil {
			return false, err
		}
		switch state {
		case inodeStateDidCreate, inodeStateNoChange:
			if err := s.cacheDirUtimes(cur.key, cur.gen); err != nil {
				return false, err
			}
		case inodeStateDidDelete:
			ok, err := s.canRmdir(cur.key, cur.gen)
			if err != nil {
				return false, err
			}
			if ok {
				if validPath, err = s.getCurPath(cur.key, cur.gen); err != nil {
					return false, err
				}
				if err := s.sendRmdir(validPath); err != nil {
					return false, err
				}
			}
		}
	}
	return pendingMove, nil
}

// orphanDirInfo mirrors struct orphan_dir_info: a directory waiting to be
// removed once the inodes still in it are moved away.
type orphanDirInfo struct {
	ino, gen           uint64
	lastDirIndexOffset uint64
	dirHighSeqIno      uint64
}

// addOrphanDirInfo mirrors add_orphan_dir_info.
func (st *inodeState) addOrphanDirInfo(ino, gen uint64) *orphanDirInfo {
	k := lruKey{ino, gen}
	if odi := st.orphanDirs[k]; odi != nil {
		return odi
	}
	odi := &orphanDirInfo{ino: ino, gen: gen}
	st.orphanDirs[k] = odi
	return odi
}

// getOrphanDirInfo mirrors get_orphan_dir_info.
func (st *inodeState) getOrphanDirInfo(ino, gen uint64) *orphanDirInfo {
	return st.orphanDirs[lruKey{ino, gen}]
}

// isWaitingForRm mirrors is_waiting_for_rm.
func (st *inodeState) isWaitingForRm(ino, gen uint64) bool {
	return st.getOrphanDirInfo(ino, gen) != nil
}

// freeOrphanDirInfo mirrors free_orphan_dir_info.
func (st *inodeState) freeOrphanDirInfo(odi *orphanDirInfo) {
	if odi != nil {
		delete(st.orphanDirs, lruKey{odi.ino, odi.gen})
	}
}

// canRmdir mirrors can_rmdir: whether directory dir of the parent root
// holds no entry of an inode not yet processed. A directory that cannot
// be removed yet is remembered as an orphan dir.
func (s *sender) canRmdir(dir, dirGen uint64) (bool, error) {
	st := &s.inodes
	root := st.parentRoot
	if dir == ondisk.FirstFreeObjectID {
		return false, nil
	}
	if root == nil {
		return false, corruptf("directory %d was deleted in a full send, which has no parent to delete it from", dir)
	}
	odi := st.getOrphanDirInfo(dir, dirGen)
	if odi != nil && s.cur.ino < odi.dirHighSeqIno {
		return false, nil
	}

	var dirHighSeqIno, lastDirIndexOffset uint64
	ok, err := func() (bool, error) {
		if odi == nil {
			// The inode of the last index entry is very likely the
			// highest in the directory.
			c, err := root.Tree.SeekLE(ondisk.Key{ObjectID: dir, Type: ondisk.DirIndexKey, Offset: ^uint64(0)})
			if err != nil {
				return false, err
			}
			if !c.Valid() {
				return false, corruptf("parent subvolume %d has no item at or before the index of directory %d", root.ID, dir)
			}
			k := c.Key()
			if k.ObjectID != dir || k.Type != ondisk.DirIndexKey {
				return true, nil
			}
			di, err := item.FirstDirItem(c.Data())
			if err != nil {
				return false, fmt.Errorf("parent root, key %v: %w", k, err)
			}
			dirHighSeqIno = di.Location.ObjectID
			if s.cur.ino < dirHighSeqIno {
				return false, nil
			}
		}
		start := uint64(0)
		if odi != nil {
			start = odi.lastDirIndexOffset
		}
		for it, err := range root.Tree.Items(ondisk.Key{ObjectID: dir, Type: ondisk.DirIndexKey, Offset: start}, ondisk.Key{ObjectID: dir, Type: ondisk.DirIndexKey, Offset: ^uint64(0)}) {
			if err != nil {
				return false, err
			}
			di, err := item.FirstDirItem(it.Data)
			if err != nil {
				return false, fmt.Errorf("parent root, key %v: %w", it.Key, err)
			}
			loc := di.Location
			dirHighSeqIno = max(dirHighSeqIno, loc.ObjectID)
			lastDirIndexOffset = it.Key.Offset
			if dm := st.getWaitingDirMove(loc.ObjectID); dm != nil {
				dm.rmdirIno, dm.rmdirGen = dir, dirGen
				return false, nil
			}
			if loc.ObjectID > s.cur.ino {
				return false, nil
			}
		}
		st.freeOrphanDirInfo(odi)
		return true, nil
	}()
	if err != nil || ok {
		return ok, err
	}
	if odi == nil {
		odi = st.addOrphanDirInfo(dir, dirGen)
		odi.gen = dirGen
	}
	odi.lastDirIndexOffset = lastDirIndexOffset
	odi.dirHighSeqIno = max(odi.dirHighSeqIno, dirHighSeqIno)
	return false, nil
}

// waitingDirMove mirrors struct waiting_dir_move: a directory whose rename
// waits for an ancestor's.
type waitingDirMove struct {
	ino                uint64
	rmdirIno, rmdirGen uint64
	orphanized         bool
}

// isWaitingForMove mirrors is_waiting_for_move.
func (st *inodeState) isWaitingForMove(ino uint64) bool {
	return st.getWaitingDirMove(ino) != nil
}

// getWaitingDirMove mirrors get_waiting_dir_move.
func (st *inodeState) getWaitingDirMove(ino uint64) *waitingDirMove {
	return st.waitingDirMoves[ino]
}

// addWaitingDirMove mirrors add_waiting_dir_move.
func (st *inodeState) addWaitingDirMove(ino uint64, orphanized bool) error {
	if st.waitingDirMoves[ino] != nil {
		return corruptf("inode %d already waits for a directory move", ino)
	}
	st.waitingDirMoves[ino] = &waitingDirMove{ino: ino, orphanized: orphanized}
	return nil
}

// freeWaitingDirMove mirrors free_waiting_dir_move.
func (st *inodeState) freeWaitingDirMove(dm *waitingDirMove) {
	if dm != nil {
		delete(st.waitingDirMoves, dm.ino)
	}
}

// pendingDirMove mirrors struct pending_dir_move: the rename of directory
// ino, delayed until parentIno is processed. The move in pendingDirMoves
// for a parent heads the others waiting for the same parent (chained).
type pendingDirMove struct {
	parentIno, ino, gen uint64
	updateRefs          []*recordedRef
	chained             []*pendingDirMove
}

// addPendingDirMove mirrors add_pending_dir_move.
func (s *sender) addPendingDirMove(ino, gen, parentIno uint64, newRefs, deletedRefs []*recordedRef, isOrphan bool) error {
	st := &s.inodes
	pm := &pendingDirMove{parentIno: parentIno, ino: ino, gen: gen}
	for _, cur := range deletedRefs {
		pm.updateRefs = append(pm.updateRefs, &recordedRef{dir: cur.dir, dirGen: cur.dirGen})
	}
	for _, cur := range newRefs {
		pm.updateRefs = append(pm.updateRefs, &recordedRef{dir: cur.dir, dirGen: cur.dirGen})
	}
	if err := st.addWaitingDirMove(pm.ino, isOrphan); err != nil {
		return err
	}
	if head := st.pendingDirMoves[parentIno]; head != nil {
		head.chained = append(head.chained, pm)
	} else {
		st.pendingDirMoves[parentIno] = pm
	}
	return nil
}

// pathLoop mirrors path_loop: whether the path of (ino, gen) at the
// receiver would run through ino itself, and the first ancestor waiting
// for a move (or the one closing the loop).
func (s *sender) pathLoop(ino, gen uint64) (loop bool, ancestor uint64, err error) {
	st := &s.inodes
	startIno := ino
	var parentIno, parentGen uint64
	for depth := 0; ino != ondisk.FirstFreeObjectID; depth++ {
		if depth > maxDepth {
			return false, ancestor, errDirCycle
		}
		if st.isWaitingForRm(ino, gen) {
			break
		}
		if st.isWaitingForMove(ino) {
			if ancestor == 0 {
				ancestor = ino
			}
			parentIno, parentGen, _, err = getFirstRef(st.parentRoot, ino, true)
		} else {
			var ret int
			_, ret, err = s.getCurNameAndParent(ino, gen, &parentIno, &parentGen)
			if err == nil && ret > 0 {
				break
			}
		}
		if err != nil {
			return false, ancestor, err
		}
		if parentIno == startIno {
			if ancestor == 0 {
				ancestor = ino
			}
			return true, ancestor, nil
		}
		ino, gen = parentIno, parentGen
	}
	return false, ancestor, nil
}

// applyDirMove mirrors apply_dir_move: the delayed rename of pm.ino, the
// rmdir it allows, and the times of the directories involved.
func (s *sender) applyDirMove(pm *pendingDirMove) error {
	st := &s.inodes
	origProgress := s.sendProgress
	defer func() { s.sendProgress = origProgress }()

	dm := st.getWaitingDirMove(pm.ino)
	if dm == nil {
		return corruptf("pending move of directory %d has no waiting entry", pm.ino)
	}
	rmdirIno, rmdirGen, isOrphan := dm.rmdirIno, dm.rmdirGen, dm.orphanized
	st.freeWaitingDirMove(dm)

	var fromPath []byte
	var err error
	if isOrphan {
		fromPath, err = s.genUniqueName(pm.ino, pm.gen)
	} else {
		var parentIno, parentGen uint64
		var name []byte
		parentIno, parentGen, name, err = getFirstRef(st.parentRoot, pm.ino, true)
		if err != nil {
			return err
		}
		if fromPath, err = s.getCurPath(parentIno, parentGen); err != nil {
			return err
		}
		if fromPath, err = pathAdd(fromPath, name); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}

	s.sendProgress = s.cur.ino + 1
	loop, ancestor, err := s.pathLoop(pm.ino, pm.gen)
	if err != nil {
		return err
	}
	if loop {
		if err := s.addPendingDirMove(pm.ino, pm.gen, ancestor, pm.updateRefs, nil, isOrphan); err != nil {
			return err
		}
		if rmdirIno != 0 {
			dm := st.getWaitingDirMove(pm.ino)
			dm.rmdirIno, dm.rmdirGen = rmdirIno, rmdirGen
		}
		return nil
	}
	toPath, err := s.getCurPath(pm.ino, pm.gen)
	if err != nil {
		return err
	}
	if err := s.sendRename(fromPath, toPath); err != nil {
		return err
	}

	if rmdirIno != 0 {
		if odi := st.getOrphanDirInfo(rmdirIno, rmdirGen); odi != nil {
			gen := odi.gen
			ok, err := s.canRmdir(rmdirIno, gen)
			if err != nil {
				return err
			}
			if ok {
				p, err := s.getCurPath(rmdirIno, gen)
				if err != nil {
					return err
				}
				if err := s.sendRmdir(p); err != nil {
					return err
				}
			}
		}
	}

	if err := s.cacheDirUtimes(pm.ino, pm.gen); err != nil {
		return err
	}
	// Both the old and the new parents get new times, unless deleted.
	for _, cur := range pm.updateRefs {
		if _, err := getInodeInfo(s.root, cur.dir); err != nil {
			if isNoEnt(err) {
				continue
			}
			return err
		}
		if err := s.cacheDirUtimes(cur.dir, cur.dirGen); err != nil {
			return err
		}
	}
	return nil
}

// applyChildrenDirMoves mirrors apply_children_dir_moves: the moves that
// waited for the current inode, then those that waited for them, in FIFO
// order (tail_append_pending_moves).
func (s *sender) applyChildrenDirMoves() error {
	st := &s.inodes
	var stack []*pendingDirMove
	tailAppend := func(head *pendingDirMove) {
		stack = append(stack, head)
		stack = append(stack, head.chained...)
		head.chained = nil
		if st.pendingDirMoves[head.parentIno] == head {
			delete(st.pendingDirMoves, head.parentIno)
		}
	}
	pm := st.pendingDirMoves[s.cur.ino]
	if pm == nil {
		return nil
	}
	tailAppend(pm)
	for len(stack) > 0 {
		pm, stack = stack[0], stack[1:]
		parentIno := pm.ino
		if err := s.applyDirMove(pm); err != nil {
			return err
		}
		if next := st.pendingDirMoves[parentIno]; next != nil {
			tailAppend(next)
		}
	}
	return nil
}

// waitForDestDirMove mirrors wait_for_dest_dir_move: the current
// directory's rename waits when its new name is the old name of a
// directory whose own rename is delayed.
func (s *sender) waitForDestDirMove(parentRef *recordedRef, isOrphan bool) (bool, error) {
	st := &s.inodes
	if len(st.waitingDirMoves) == 0 {
		return false, nil
	}
	e, err := st.parentRoot.Lookup(parentRef.dir, parentRef.name)
	if err != nil {
		if fstree.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if e.Location.Type != ondisk.InodeItemKey {
		return false, nil
	}
	other := e.Location.ObjectID
	leftGen, err := getInodeGen(st.parentRoot, other)
	if err != nil {
		return false, err
	}
	rightGen, err := getInodeGen(s.root, other)
	if err != nil {
		if isNoEnt(err) {
			return false, nil
		}
		return false, err
	}
	if rightGen != leftGen {
		return false, nil
	}
	if wdm := st.getWaitingDirMove(other); wdm != nil && !wdm.orphanized {
		if err := s.addPendingDirMove(s.cur.ino, s.cur.gen, other, st.newRefs, st.deletedRefs, isOrphan); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// checkInoInPath mirrors check_ino_in_path: whether ino2 or one of its
// ancestors (by first names) is (ino1, ino1Gen).
func checkInoInPath(root *fstree.Subvol, ino1, ino1Gen, ino2, ino2Gen uint64) (bool, error) {
	if ino1 == ino2 {
		return ino1Gen == ino2Gen, nil
	}
	for depth, ino := 0, ino2; ino > ondisk.FirstFreeObjectID; depth++ {
		if depth > maxDepth {
			return false, errDirCycle
		}
		parent, parentGen, _, err := getFirstRef(root, ino, true)
		if err != nil {
			return false, err
		}
		if parent == ino1 {
			return parentGen == ino1Gen, nil
		}
		ino = parent
	}
	return false, nil
}

// isAncestor mirrors is_ancestor: whether (ino1, ino1Gen) is an ancestor
// of ino2 in root through any of ino2's names.
func isAncestor(root *fstree.Subvol, ino1, ino1Gen, ino2 uint64) (bool, error) {
	for it, err := range root.Tree.Items(ondisk.Key{ObjectID: ino2, Type: ondisk.InodeRefKey}, ondisk.Key{ObjectID: ino2, Type: ondisk.InodeExtrefKey, Offset: ^uint64(0)}) {
		if err != nil {
			return false, err
		}
		var parents []uint64
		if it.Key.Type == ondisk.InodeExtrefKey {
			refs, err := item.ParseInodeExtrefs(it.Data)
			if err != nil {
				return false, fmt.Errorf("key %v: %w", it.Key, err)
			}
			for _, r := range refs {
				parents = append(parents, r.Parent)
			}
		} else {
			// Every name of an INODE_REF item has the same parent.
			parents = []uint64{it.Key.Offset}
		}
		for _, parent := range parents {
			parentGen, err := getInodeGen(root, parent)
			if err != nil {
				return false, err
			}
			ok, err := checkInoInPath(root, ino1, ino1Gen, parent, parentGen)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// waitForParentMove mirrors wait_for_parent_move: the current directory's
// rename waits when an ancestor with a higher inode number is renamed or
// moved too.
func (s *sender) waitForParentMove(parentRef *recordedRef, isOrphan bool) (bool, error) {
	st := &s.inodes
	ino, inoGen := parentRef.dir, parentRef.dirGen
	wait := false
	for depth := 0; ino > ondisk.FirstFreeObjectID; depth++ {
		if depth > maxDepth {
			return false, errDirCycle
		}
		if st.isWaitingForMove(ino) {
			// Delay only if the current inode is an ancestor of ino in
			// the parent root, or renames could wait for each other.
			anc, err := isAncestor(st.parentRoot, s.cur.ino, s.cur.gen, ino)
			if err != nil {
				return false, err
			}
			if anc {
				wait = true
				break
			}
		}
		afterIno, afterGen, afterName, err := getFirstRef(s.root, ino, true)
		if err != nil {
			return false, err
		}
		beforeIno, _, beforeName, err := getFirstRef(st.parentRoot, ino, false)
		if err != nil {
			if isNoEnt(err) {
				break
			}
			return false, err
		}
		if ino > s.cur.ino && (beforeIno != afterIno || !bytes.Equal(beforeName, afterName)) {
			parentInoGen, err := getInodeGen(st.parentRoot, ino)
			if err != nil {
				return false, err
			}
			if inoGen == parentInoGen {
				wait = true
				break
			}
		}
		ino, inoGen = afterIno, afterGen
	}
	if !wait {
		return false, nil
	}
	if err := s.addPendingDirMove(s.cur.ino, s.cur.gen, ino, st.newRefs, st.deletedRefs, isOrphan); err != nil {
		return false, err
	}
	return true, nil
}

// dirChanged mirrors dir_changed: whether directory dir has another
// generation in the send root than in the parent root.
func (s *sender) dirChanged(dir uint64) (bool, error) {
	newGen, err := getInodeGen(s.root, dir)
	if err != nil {
		return false, err
	}
	origGen, err := getInodeGen(s.inodes.parentRoot, dir)
	if err != nil {
		return false, err
	}
	return origGen != newGen, nil
}

// compareRefs mirrors compare_refs, for a ref item equal in both roots:
// whether one of its parent directories was deleted and re-created, which
// makes the item count as changed.
func (s *sender) compareRefs(k ondisk.Key, data []byte) (bool, error) {
	if k.Type == ondisk.InodeRefKey {
		return s.dirChanged(k.Offset)
	}
	refs, err := item.ParseInodeExtrefs(data)
	if err != nil {
		return false, fmt.Errorf("send root, key %v: %w", k, err)
	}
	var lastDir uint64
	for _, r := range refs {
		if r.Parent == lastDir {
			continue
		}
		changed, err := s.dirChanged(r.Parent)
		if err != nil || changed {
			return changed, err
		}
		lastDir = r.Parent
	}
	return false, nil
}
