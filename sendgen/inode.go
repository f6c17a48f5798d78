package sendgen

import (
	"fmt"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// inodeState is the part of struct send_ctx that tracks names, references
// and directories: recorded refs, the name, dir-created and dir-utimes
// caches, the cur_inode_path cache, and the pending/waiting dir moves and
// orphan dirs of incremental sends.
type inodeState struct {
	// parentRoot is the parent snapshot of an incremental send; nil for
	// a full send.
	parentRoot *fstree.Subvol

	// newRefs and deletedRefs are the names recorded for the current
	// inode (new_refs, deleted_refs); newRefTree and deletedRefTree index
	// them by (dir, dir_gen, name) (rbtree_new_refs, rbtree_deleted_refs).
	newRefs, deletedRefs       []*recordedRef
	newRefTree, deletedRefTree map[refKey][]*recordedRef
	// checkDirsList is the array processRecordedRefs's check_dirs list
	// reuses.
	checkDirsList []lruKey

	nameCache       lruCache[*nameCacheEntry]
	dirCreatedCache lruCache[struct{}]
	dirUtimesCache  lruCache[struct{}]

	// curInodePath caches the current inode's path; empty means unknown.
	curInodePath []byte

	// pendingDirMoves is keyed by the parent directory the moves wait
	// for; waitingDirMoves by the directory that waits; orphanDirs by
	// (ino, gen) of directories waiting to be removed.
	pendingDirMoves map[uint64]*pendingDirMove
	waitingDirMoves map[uint64]*waitingDirMove
	orphanDirs      map[lruKey]*orphanDirInfo
}

// init sets up the state as btrfs_ioctl_send does.
func (st *inodeState) init() {
	st.newRefTree = map[refKey][]*recordedRef{}
	st.deletedRefTree = map[refKey][]*recordedRef{}
	st.nameCache.init(sendMaxNameCacheSize)
	st.dirCreatedCache.init(sendMaxDirCreatedCacheSize)
	// Unbounded: trimDirUtimesCache keeps it at its size.
	st.dirUtimesCache.init(0)
	st.pendingDirMoves = map[uint64]*pendingDirMove{}
	st.waitingDirMoves = map[uint64]*waitingDirMove{}
	st.orphanDirs = map[lruKey]*orphanDirInfo{}
}

// changedInode mirrors changed_inode: the inode item of a new, deleted
// or changed inode starts the processing of that inode. A changed inode
// whose generation differs (its number was reused), or that gained or
// lost its last link, is handled as the old inode deleted and the new one
// created, with all their refs, extents and xattrs processed here.
func (s *sender) changedInode(res compare.Result) error {
	k := s.cmpKey
	s.cur.ino = k.ObjectID
	s.cur.newGen = false
	s.cur.lastExtent = ^uint64(0)
	s.cur.nextWriteOffset = 0
	s.ignoreCurInode = false
	s.inodes.curInodePath = nil

	// The current inode's refs are not at their final place yet.
	s.sendProgress = s.cur.ino

	var left, right item.Inode
	var err error
	if res == compare.New || res == compare.Changed {
		if left, err = item.ParseInode(s.leftPath.Data()); err != nil {
			return fmt.Errorf("send root, key %v: %w", k, err)
		}
		if left.Size > item.MaxFileSize {
			// The kernel would try to send data up to it: a stream no
			// receiver could apply, or one that never ends.
			return &ondisk.BlockError{Logical: s.leftPath.Leaf.Bytenr, Tree: s.root.ID, Key: k.Ptr(),
				Err: fmt.Errorf("%w: i_size %d is beyond the largest file size btrfs allows (%d)", ondisk.ErrCorrupt, left.Size, int64(item.MaxFileSize))}
		}
	}
	if res == compare.Deleted || res == compare.Changed {
		if right, err = item.ParseInode(s.rightPath.Data()); err != nil {
			return fmt.Errorf("parent root, key %v: %w", k, err)
		}
	}
	// The root directory is never deleted and re-created.
	if res == compare.Changed && left.Generation != right.Generation && s.cur.ino != ondisk.FirstFreeObjectID {
		s.cur.newGen = true
	}

	setLeft := func() {
		s.cur.gen = left.Generation
		s.cur.isNew = true
		s.cur.deleted = false
		s.cur.size = left.Size
		s.cur.mode = uint64(left.Mode)
		s.cur.rdev = left.Rdev
	}
	setRight := func() {
		s.cur.gen = right.Generation
		s.cur.isNew = false
		s.cur.deleted = true
		s.cur.size = right.Size
		s.cur.mode = uint64(right.Mode)
	}

	// Inodes without links (orphans) are ignored when new, handled as
	// usual when deleted, and count as re-created when they gain or
	// lose their links.
	switch res {
	case compare.New:
		if left.Nlink == 0 {
			s.ignoreCurInode = true
			return nil
		}
		setLeft()
		if s.cur.ino != ondisk.FirstFreeObjectID {
			return s.sendCreateInodeIfNeeded()
		}
	case compare.Deleted:
		setRight()
	case compare.Changed:
		switch {
		case left.Nlink == 0 && right.Nlink == 0:
			s.ignoreCurInode = true
			return nil
		case left.Nlink == 0 || right.Nlink == 0:
			s.cur.newGen = true
		}
		if !s.cur.newGen {
			s.cur.gen = left.Generation
			s.cur.isNew = false
			s.cur.newGen = false
			s.cur.deleted = false
			s.cur.size = left.Size
			s.cur.mode = uint64(left.Mode)
			return nil
		}
		if right.Nlink > 0 {
			setRight()
			if err := s.processAllRefs(compare.Deleted); err != nil {
				return err
			}
		}
		if left.Nlink > 0 {
			setLeft()
			if err := s.sendCreateInodeIfNeeded(); err != nil {
				return err
			}
			if err := s.processAllRefs(compare.New); err != nil {
				return err
			}
			// process_recorded_refs_if_needed is not reached for a
			// new generation: the refs are in place now.
			s.sendProgress = s.cur.ino + 1
			if err := s.processAllExtents(); err != nil {
				return err
			}
			return s.processAllNewXattrs()
		}
	}
	return nil
}

// newEncodeDev mirrors the kernel's new_encode_dev on a dev_t (32 bits,
// major<<20 | minor).
func newEncodeDev(rdev uint64) uint64 {
	dev := uint32(rdev)
	major, minor := dev>>20, dev&(1<<20-1)
	return uint64(minor&0xff | major<<8 | (minor&^0xff)<<12)
}

// sendCreateInode mirrors send_create_inode: MKFILE, MKDIR, SYMLINK,
// MKNOD, MKFIFO or MKSOCK of ino under its orphan name.
func (s *sender) sendCreateInode(ino uint64) error {
	var gen, mode, rdev uint64
	if ino != s.cur.ino {
		ii, err := getInodeInfo(s.root, ino)
		if err != nil {
			return err
		}
		gen, mode, rdev = ii.Generation, uint64(ii.Mode), ii.Rdev
	} else {
		gen, mode, rdev = s.cur.gen, s.cur.mode, s.cur.rdev
	}

	var cmd stream.Cmd
	switch {
	case sISREG(mode):
		cmd = stream.CmdMkfile
	case sISDIR(mode):
		cmd = stream.CmdMkdir
	case sISLNK(mode):
		cmd = stream.CmdSymlink
	case sISCHR(mode) || sISBLK(mode):
		cmd = stream.CmdMknod
	case sISFIFO(mode):
		cmd = stream.CmdMkfifo
	case sISSOCK(mode):
		cmd = stream.CmdMksock
	default:
		return corruptf("inode %d: unexpected inode type %o", ino, mode&item.ModeTypeMask)
	}

	p, err := s.genUniqueName(ino, gen)
	if err != nil {
		return err
	}
	var target []byte
	if sISLNK(mode) {
		if target, err = readSymlink(s.root, ino); err != nil {
			return err
		}
	}
	if err := s.w.Begin(cmd); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutU64(stream.AttrIno, ino)
	switch {
	case sISLNK(mode):
		s.w.PutBytes(stream.AttrPathLink, target)
	case sISCHR(mode) || sISBLK(mode) || sISFIFO(mode) || sISSOCK(mode):
		s.w.PutU64(stream.AttrRdev, newEncodeDev(rdev))
		s.w.PutU64(stream.AttrMode, mode)
	}
	return s.w.End()
}

// readSymlink mirrors read_symlink: the ram_bytes bytes of the inline
// extent at offset 0.
func readSymlink(root *fstree.Subvol, ino uint64) ([]byte, error) {
	k := ondisk.Key{ObjectID: ino, Type: ondisk.ExtentDataKey}
	data, err := root.Tree.Lookup(k)
	if err != nil {
		if fstree.IsNotFound(err) {
			return nil, corruptf("symlink inode %d of subvolume %d is empty", ino, root.ID)
		}
		return nil, err
	}
	fe, err := item.ParseFileExtent(data)
	if err != nil {
		return nil, fmt.Errorf("subvolume %d, key %v: %w", root.ID, k, err)
	}
	if fe.Type != item.FileExtentInline {
		return nil, corruptf("symlink inode %d of subvolume %d has a %s extent, not an inline one", ino, root.ID, fe.Type)
	}
	if fe.Compression != item.CompressNone {
		return nil, corruptf("symlink inode %d of subvolume %d has a %s-compressed extent", ino, root.ID, fe.Compression)
	}
	if uint64(len(fe.InlineData)) < fe.RAMBytes {
		return nil, corruptf("symlink inode %d of subvolume %d: inline extent of %d bytes, ram_bytes %d", ino, root.ID, len(fe.InlineData), fe.RAMBytes)
	}
	return clonePath(fe.InlineData[:fe.RAMBytes]), nil
}

// cacheDirCreated mirrors cache_dir_created.
func (s *sender) cacheDirCreated(dir uint64) {
	s.inodes.dirCreatedCache.store(dir, 0, struct{}{})
}

// didCreateDir mirrors did_create_dir: whether dir was already created
// out of order, i.e. holds an entry (not a subvolume) of an inode already
// processed.
func (s *sender) didCreateDir(dir uint64) (bool, error) {
	if s.inodes.dirCreatedCache.lookup(dir, 0) != nil {
		return true, nil
	}
	for it, err := range s.root.Tree.ObjectItems(dir, ondisk.DirIndexKey) {
		if err != nil {
			return false, err
		}
		di, err := item.FirstDirItem(it.Data)
		if err != nil {
			return false, fmt.Errorf("send root, key %v: %w", it.Key, err)
		}
		loc := di.Location
		if loc.Type != ondisk.RootItemKey && loc.ObjectID < s.sendProgress {
			s.cacheDirCreated(dir)
			return true, nil
		}
	}
	return false, nil
}

// sendCreateInodeIfNeeded mirrors send_create_inode_if_needed: directories
// already created out of order are not created again.
func (s *sender) sendCreateInodeIfNeeded() error {
	if sISDIR(s.cur.mode) {
		done, err := s.didCreateDir(s.cur.ino)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	if err := s.sendCreateInode(s.cur.ino); err != nil {
		return err
	}
	if sISDIR(s.cur.mode) {
		s.cacheDirCreated(s.cur.ino)
	}
	return nil
}

// sendChown mirrors send_chown.
func (s *sender) sendChown(ino, gen, uid, gid uint64) error {
	p, err := s.getPathForCommand(ino, gen)
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdChown); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutU64(stream.AttrUID, uid)
	s.w.PutU64(stream.AttrGID, gid)
	return s.w.End()
}

// sendChmod mirrors send_chmod.
func (s *sender) sendChmod(ino, gen, mode uint64) error {
	p, err := s.getPathForCommand(ino, gen)
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdChmod); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutU64(stream.AttrMode, mode&0o7777)
	return s.w.End()
}

// sendFileattr mirrors send_fileattr (nothing before protocol 2).
func (s *sender) sendFileattr(ino, gen, attr uint64) error {
	if s.opts.Proto < 2 {
		return nil
	}
	p, err := s.getPathForCommand(ino, gen)
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdFileattr); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutU64(stream.AttrFileattr, attr)
	return s.w.End()
}

// sendUtimes mirrors send_utimes: atime, mtime, ctime (and otime from
// protocol 2) of the send root's inode item.
func (s *sender) sendUtimes(ino, gen uint64) error {
	p, err := s.getPathForCommand(ino, gen)
	if err != nil {
		return err
	}
	ii, err := getInodeInfo(s.root, ino)
	if err != nil {
		return err
	}
	if err := s.w.Begin(stream.CmdUtimes); err != nil {
		return err
	}
	s.w.PutBytes(stream.AttrPath, p)
	s.w.PutTime(stream.AttrAtime, stream.Timespec(ii.Atime))
	s.w.PutTime(stream.AttrMtime, stream.Timespec(ii.Mtime))
	s.w.PutTime(stream.AttrCtime, stream.Timespec(ii.Ctime))
	if s.opts.Proto >= 2 {
		s.w.PutTime(stream.AttrOtime, stream.Timespec(ii.Otime))
	}
	return s.w.End()
}

// cacheDirUtimes mirrors cache_dir_utimes: a directory's utimes wait in
// the cache; a hit only makes the entry the most recently used.
func (s *sender) cacheDirUtimes(dir, gen uint64) error {
	if s.inodes.dirUtimesCache.lookup(dir, gen) != nil {
		return nil
	}
	s.inodes.dirUtimesCache.store(dir, gen, struct{}{})
	return nil
}

// trimDirUtimesCache mirrors trim_dir_utimes_cache: utimes for the least
// recently used directories until at most 64 wait.
func (s *sender) trimDirUtimesCache() error {
	c := &s.inodes.dirUtimesCache
	for c.size() > sendMaxDirUtimesCacheSize {
		lru := c.lru()
		if err := s.sendUtimes(lru.key, lru.gen); err != nil {
			return err
		}
		c.remove(lru)
	}
	return nil
}

// flushDirUtimesCache is the loop btrfs_ioctl_send runs after send_subvol:
// utimes for every directory still cached, most recently used first.
func (s *sender) flushDirUtimesCache() error {
	c := &s.inodes.dirUtimesCache
	for _, e := range c.mruFirst() {
		if err := s.sendUtimes(e.key, e.gen); err != nil {
			return err
		}
		c.remove(e)
	}
	return nil
}

// processRecordedRefsIfNeeded mirrors process_recorded_refs_if_needed:
// the refs of the current inode are processed once the walk has moved past
// its INODE_REF and INODE_EXTREF items.
func (s *sender) processRecordedRefsIfNeeded(atEnd bool) (pendingMove, refsProcessed bool, err error) {
	if s.cur.ino == 0 {
		return false, false, nil
	}
	if !atEnd && s.cur.ino == s.cmpKey.ObjectID && s.cmpKey.Type <= ondisk.InodeExtrefKey {
		return false, false, nil
	}
	if len(s.inodes.newRefs) == 0 && len(s.inodes.deletedRefs) == 0 {
		return false, false, nil
	}
	pendingMove, err = s.processRecordedRefs()
	if err != nil {
		return false, false, err
	}
	return pendingMove, true, nil
}

// finishInodeIfNeeded mirrors finish_inode_if_needed: the refs of the
// current inode once they are all recorded, and once the walk leaves the
// inode its data finish, ownership, mode, capabilities and times.
func (s *sender) finishInodeIfNeeded(atEnd bool) error {
	if s.ignoreCurInode {
		return nil
	}
	err := s.finishInode(atEnd)
	if err == nil {
		err = s.trimDirUtimesCache()
	}
	return err
}

// finishInode is the body of finish_inode_if_needed up to its out label.
func (s *sender) finishInode(atEnd bool) error {
	pendingMove, refsProcessed, err := s.processRecordedRefsIfNeeded(atEnd)
	if err != nil {
		return err
	}
	if refsProcessed && !pendingMove {
		s.sendProgress = s.cur.ino + 1
	}

	if s.cur.ino == 0 || s.cur.deleted {
		return nil
	}
	if !atEnd && s.cmpKey.ObjectID == s.cur.ino {
		return nil
	}
	left, err := getInodeInfo(s.root, s.cur.ino)
	if err != nil {
		return err
	}
	leftMode, leftUID, leftGID, leftFileattr := uint64(left.Mode), uint64(left.UID), uint64(left.GID), fileattr(&left)

	needChown, needChmod, needFileattr := false, false, false
	if parent := s.inodes.parentRoot; parent == nil || s.cur.isNew {
		needChown = true
		if !sISLNK(s.cur.mode) {
			needChmod = true
		}
	} else {
		right, err := getInodeInfo(parent, s.cur.ino)
		if err != nil {
			return err
		}
		if leftUID != uint64(right.UID) || leftGID != uint64(right.GID) {
			needChown = true
		}
		if !sISLNK(s.cur.mode) && leftMode != uint64(right.Mode) {
			needChmod = true
		}
		if !sISLNK(s.cur.mode) && leftFileattr != fileattr(&right) {
			needFileattr = true
		}
	}

	if sISREG(s.cur.mode) {
		// The trailing hole and the truncate (need_send_hole,
		// need_truncate) are the file-data half's.
		if err := s.finishInodeData(); err != nil {
			return err
		}
	}

	if needChown {
		if err := s.sendChown(s.cur.ino, s.cur.gen, leftUID, leftGID); err != nil {
			return err
		}
	}
	if needChmod {
		if err := s.sendChmod(s.cur.ino, s.cur.gen, leftMode); err != nil {
			return err
		}
	}
	if needFileattr {
		if err := s.sendFileattr(s.cur.ino, s.cur.gen, leftFileattr); err != nil {
			return err
		}
	}
	if s.protoCmdOK(stream.CmdEnableVerity) && s.cur.needsVerity {
		if err := s.processVerity(); err != nil {
			return err
		}
	}
	if err := s.sendCapabilities(); err != nil {
		return err
	}

	if !s.inodes.isWaitingForMove(s.cur.ino) {
		if err := s.applyChildrenDirMoves(); err != nil {
			return err
		}
		s.sendProgress = s.cur.ino + 1
		// A directory with entries gets its times once they are all in.
		if sISDIR(s.cur.mode) && s.cur.size > 0 {
			return s.cacheDirUtimes(s.cur.ino, s.cur.gen)
		}
		return s.sendUtimes(s.cur.ino, s.cur.gen)
	}
	return nil
}

// protoCmdOK mirrors proto_cmd_ok: whether the stream's protocol has cmd.
func (s *sender) protoCmdOK(cmd stream.Cmd) bool {
	switch s.opts.Proto {
	case 1:
		return cmd <= stream.CmdUpdateExtent
	case 2:
		return cmd <= stream.CmdEncodedWrite
	case 3:
		return cmd <= stream.CmdEnableVerity
	}
	return false
}
