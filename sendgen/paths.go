package sendgen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// errNoEnt stands for the kernel's -ENOENT where send.c turns it into a
// failure of the whole send (an inode or name that must exist does not):
// only a corrupt image gets there.
var errNoEnt = fmt.Errorf("%w: no such inode or entry", ondisk.ErrCorrupt)

// isNoEnt reports whether err is an absent inode, item or name.
// corruptf reports an inconsistency in the trees that only a corrupt
// image makes (the kernel's -EIO or -EUCLEAN from send).
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ondisk.ErrCorrupt}, args...)...)
}

func isNoEnt(err error) bool { return errors.Is(err, errNoEnt) || fstree.IsNotFound(err) }

// Receiver-side states of an inode (enum inode_state).
type inodeStateKind int

const (
	inodeStateNoChange inodeStateKind = iota
	inodeStateWillCreate
	inodeStateDidCreate
	inodeStateWillDelete
	inodeStateDidDelete
)

func sISREG(m uint64) bool  { return m&item.ModeTypeMask == item.ModeRegular }
func sISDIR(m uint64) bool  { return m&item.ModeTypeMask == item.ModeDir }
func sISLNK(m uint64) bool  { return m&item.ModeTypeMask == item.ModeSymlink }
func sISCHR(m uint64) bool  { return m&item.ModeTypeMask == item.ModeChar }
func sISBLK(m uint64) bool  { return m&item.ModeTypeMask == item.ModeBlock }
func sISFIFO(m uint64) bool { return m&item.ModeTypeMask == item.ModeFIFO }
func sISSOCK(m uint64) bool { return m&item.ModeTypeMask == item.ModeSocket }

// nameCacheEntry mirrors struct name_cache_entry.
type nameCacheEntry struct {
	parentIno, parentGen uint64
	ret                  int
	needLaterUpdate      bool
	name                 []byte
}

// Cache sizes of send_ctx's LRU caches.
const (
	sendMaxNameCacheSize       = 256 // SEND_MAX_NAME_CACHE_SIZE
	sendMaxDirCreatedCacheSize = 64  // SEND_MAX_DIR_CREATED_CACHE_SIZE
	sendMaxDirUtimesCacheSize  = 64  // SEND_MAX_DIR_UTIMES_CACHE_SIZE
)

// pathAdd mirrors fs_path_add on a path growing to the right: name is
// appended after a '/' unless p is empty. The result never aliases p.
func pathAdd(p, name []byte) ([]byte, error) {
	if err := checkPathLen(p, name); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(p)+1+len(name))
	out = append(out, p...)
	if len(p) > 0 {
		out = append(out, '/')
	}
	return append(out, name...), nil
}

// pathMax is PATH_MAX, the limit fs_path_ensure_buf puts on a path and
// its terminating NUL. On a corrupt image whose directory references form
// a cycle it also ends the walk up the tree.
const pathMax = 4096

var errNameTooLong = fmt.Errorf("%w: path longer than PATH_MAX (a directory cycle?)", ondisk.ErrCorrupt)

// maxDepth bounds the walks up a tree by first names that build no path
// (path_loop, check_ino_in_path, wait_for_parent_move), which the kernel
// leaves unbounded: a chain of more directories than PATH_MAX has bytes
// is a cycle in a corrupt image, and would not give a usable path anyway.
const maxDepth = pathMax

var errDirCycle = fmt.Errorf("%w: directory chain longer than PATH_MAX (a directory cycle?)", ondisk.ErrCorrupt)

func checkPathLen(p, name []byte) error {
	n := len(p) + len(name)
	if len(p) > 0 {
		n++
	}
	if n+1 > pathMax {
		return errNameTooLong
	}
	return nil
}

// revPath is a path built from its last component up, as fs_path_add
// builds a reversed path: the components, leaf first, and the length they
// join to. bytes joins them once, instead of copying the path at every
// component. The components are not copied, so they must not change until
// then.
type revPath struct {
	comps [][]byte
	n     int
}

// prepend mirrors fs_path_add on a reversed path: name goes in front,
// followed by a '/' unless the path is empty.
func (r revPath) prepend(name []byte) (revPath, error) {
	n := r.n + len(name)
	if len(r.comps) > 0 {
		n++
	}
	if n+1 > pathMax {
		return r, errNameTooLong
	}
	return revPath{append(r.comps, name), n}, nil
}

// bytes joins the components with '/', the root-most first; never nil.
func (r revPath) bytes() []byte {
	out := make([]byte, 0, r.n)
	for i := len(r.comps) - 1; i >= 0; i-- {
		out = append(out, r.comps[i]...)
		if i > 0 {
			out = append(out, '/')
		}
	}
	return out
}

// clonePath returns a copy of p (fs_path_copy).
func clonePath(p []byte) []byte { return append([]byte(nil), p...) }

// getInodeInfo mirrors get_inode_info: the inode item of ino in root, or
// an error satisfying isNoEnt.
func getInodeInfo(root *fstree.Subvol, ino uint64) (item.Inode, error) {
	return root.Inode(ino)
}

// getInodeGen mirrors get_inode_gen.
func getInodeGen(root *fstree.Subvol, ino uint64) (uint64, error) {
	ii, err := getInodeInfo(root, ino)
	if err != nil {
		return 0, err
	}
	return ii.Generation, nil
}

// fileattr returns the raw 64-bit btrfs_inode_item::flags, the value
// get_inode_info transfers as fileattr.
func fileattr(ii *item.Inode) uint64 {
	return uint64(ii.Flags) | uint64(ii.ROFlags)<<32
}

// genUniqueName mirrors gen_unique_name: "o<ino>-<gen>-<idx>" with the
// first idx whose name is in directory 256 of neither the send nor the
// parent root.
func (s *sender) genUniqueName(ino, gen uint64) ([]byte, error) {
	for idx := uint64(0); ; idx++ {
		name := make([]byte, 0, 3*20+3)
		name = append(strconv.AppendUint(append(name, 'o'), ino, 10), '-')
		name = append(strconv.AppendUint(name, gen, 10), '-')
		name = strconv.AppendUint(name, idx, 10)
		exists, err := dirItemExists(s.root, ondisk.FirstFreeObjectID, name)
		if err != nil {
			return nil, err
		}
		if exists {
			continue
		}
		parent := s.inodes.parentRoot
		if parent == nil {
			return name, nil
		}
		exists, err = dirItemExists(parent, ondisk.FirstFreeObjectID, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return name, nil
		}
	}
}

// dirItemExists reports whether btrfs_lookup_dir_item finds name in dir,
// whatever the entry points to (subvolumes included).
func dirItemExists(root *fstree.Subvol, dir uint64, name []byte) (bool, error) {
	_, err := root.Lookup(dir, name)
	if err == nil {
		return true, nil
	}
	if fstree.IsNotFound(err) {
		return false, nil
	}
	return false, err
}

// getCurInodeState mirrors get_cur_inode_state. It also returns the
// generations of ino in the send root and the parent root (0 where it
// does not exist there). An inode matching gen in neither root is an
// errNoEnt error, as the kernel's -ENOENT.
func (s *sender) getCurInodeState(ino, gen uint64) (state inodeStateKind, sendGen, parentGen uint64, err error) {
	leftOK, leftGen, err := inodeExists(s.root, ino)
	if err != nil {
		return 0, 0, 0, err
	}
	if leftOK {
		sendGen = leftGen
	}
	rightOK, rightGen := false, uint64(0)
	if parent := s.inodes.parentRoot; parent != nil {
		rightOK, rightGen, err = inodeExists(parent, ino)
		if err != nil {
			return 0, 0, 0, err
		}
		if rightOK {
			parentGen = rightGen
		}
	}
	created := func() inodeStateKind {
		if ino < s.sendProgress {
			return inodeStateDidCreate
		}
		return inodeStateWillCreate
	}
	deleted := func() inodeStateKind {
		if ino < s.sendProgress {
			return inodeStateDidDelete
		}
		return inodeStateWillDelete
	}
	// Built only when returned: this runs for every reference of every
	// inode, and almost always finds the inode.
	noent := func() error { return fmt.Errorf("inode %d generation %d: %w", ino, gen, errNoEnt) }
	switch {
	case leftOK && rightOK:
		switch {
		case leftGen == gen && rightGen == gen:
			return inodeStateNoChange, sendGen, parentGen, nil
		case leftGen == gen:
			return created(), sendGen, parentGen, nil
		case rightGen == gen:
			return deleted(), sendGen, parentGen, nil
		}
		return 0, sendGen, parentGen, noent()
	case leftOK:
		if leftGen == gen {
			return created(), sendGen, parentGen, nil
		}
		return 0, sendGen, parentGen, noent()
	case rightOK:
		if rightGen == gen {
			return deleted(), sendGen, parentGen, nil
		}
		return 0, sendGen, parentGen, noent()
	}
	return 0, sendGen, parentGen, noent()
}

// inodeExists reads ino in root the way get_cur_inode_state does: an
// inode with no links counts as absent.
func inodeExists(root *fstree.Subvol, ino uint64) (bool, uint64, error) {
	ii, err := getInodeInfo(root, ino)
	if err != nil {
		if isNoEnt(err) {
			return false, 0, nil
		}
		return false, 0, err
	}
	if ii.Nlink == 0 {
		return false, 0, nil
	}
	return true, ii.Generation, nil
}

// isInodeExistent mirrors is_inode_existent: whether (ino, gen) exists at
// the receiver at this point of the stream. sendGen and parentGen are only
// set when ino is not the subvolume root.
func (s *sender) isInodeExistent(ino, gen uint64, sendGen, parentGen *uint64) (bool, error) {
	if ino == ondisk.FirstFreeObjectID {
		return true, nil
	}
	st, sg, pg, err := s.getCurInodeState(ino, gen)
	if sendGen != nil {
		*sendGen = sg
	}
	if parentGen != nil {
		*parentGen = pg
	}
	if err != nil {
		return false, err
	}
	return st == inodeStateNoChange || st == inodeStateDidCreate || st == inodeStateWillDelete, nil
}

// lookupDirItemInode mirrors lookup_dir_item_inode: the inode name points
// to in dir, errNoEnt when absent or when it names a subvolume.
func lookupDirItemInode(root *fstree.Subvol, dir uint64, name []byte) (uint64, error) {
	e, err := root.Lookup(dir, name)
	if err != nil {
		return 0, err
	}
	if e.Location.Type == ondisk.RootItemKey {
		return 0, fmt.Errorf("directory %d entry %q is a subvolume: %w", dir, name, errNoEnt)
	}
	return e.Location.ObjectID, nil
}

// getFirstRef mirrors get_first_ref: the parent directory and name of the
// first name in the first INODE_REF or INODE_EXTREF item of ino, and with
// wantGen the parent's generation.
func getFirstRef(root *fstree.Subvol, ino uint64, wantGen bool) (dir, dirGen uint64, name []byte, err error) {
	c, err := root.Tree.Seek(ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey})
	if err != nil {
		return 0, 0, nil, err
	}
	if !c.Valid() {
		return 0, 0, nil, fmt.Errorf("inode %d has no reference: %w", ino, errNoEnt)
	}
	k := c.Key()
	if k.ObjectID != ino || (k.Type != ondisk.InodeRefKey && k.Type != ondisk.InodeExtrefKey) {
		return 0, 0, nil, fmt.Errorf("inode %d has no reference: %w", ino, errNoEnt)
	}
	if k.Type == ondisk.InodeRefKey {
		ref, err := item.FirstInodeRef(c.Data())
		if err != nil {
			return 0, 0, nil, fmt.Errorf("inode %d, key %v: %w", ino, k, err)
		}
		dir, name = k.Offset, clonePath(ref.Name)
	} else {
		refs, err := item.ParseInodeExtrefs(c.Data())
		if err != nil {
			return 0, 0, nil, fmt.Errorf("inode %d, key %v: %w", ino, k, err)
		}
		dir, name = refs[0].Parent, clonePath(refs[0].Name)
	}
	if wantGen {
		dirGen, err = getInodeGen(root, dir)
		if err != nil {
			return 0, 0, nil, err
		}
	}
	return dir, dirGen, name, nil
}

// isFirstRef mirrors is_first_ref.
func isFirstRef(root *fstree.Subvol, ino, dir uint64, name []byte) (bool, error) {
	tmpDir, _, tmpName, err := getFirstRef(root, ino, false)
	if err != nil {
		return false, err
	}
	return dir == tmpDir && bytes.Equal(name, tmpName), nil
}

// willOverwriteRef mirrors will_overwrite_ref: whether creating dir/name
// now would replace an entry the receiver still has for an inode not yet
// processed, and which inode (ino, gen, mode) that is.
func (s *sender) willOverwriteRef(dir, dirGen uint64, name []byte) (ok bool, whoIno, whoGen, whoMode uint64, err error) {
	parent := s.inodes.parentRoot
	if parent == nil {
		return false, 0, 0, 0, nil
	}
	var parentRootDirGen uint64
	exist, err := s.isInodeExistent(dir, dirGen, nil, &parentRootDirGen)
	if err != nil || !exist {
		return false, 0, 0, 0, nil
	}
	if dir != ondisk.FirstFreeObjectID && parentRootDirGen != dirGen {
		return false, 0, 0, 0, nil
	}
	other, err := lookupDirItemInode(parent, dir, name)
	if err != nil {
		if isNoEnt(err) {
			return false, 0, 0, 0, nil
		}
		return false, 0, 0, 0, err
	}
	if other > s.sendProgress || s.inodes.isWaitingForMove(other) {
		ii, err := getInodeInfo(parent, other)
		if err != nil {
			return false, 0, 0, 0, err
		}
		return true, other, ii.Generation, uint64(ii.Mode), nil
	}
	return false, 0, 0, 0, nil
}

// didOverwriteRef mirrors did_overwrite_ref: whether the old name dir/name
// of (ino, inoGen) was already taken over by an inode processed earlier.
func (s *sender) didOverwriteRef(dir, dirGen, ino, inoGen uint64, name []byte) (bool, error) {
	if s.inodes.parentRoot == nil {
		return false, nil
	}
	var sendRootDirGen uint64
	exist, err := s.isInodeExistent(dir, dirGen, &sendRootDirGen, nil)
	if err != nil || !exist {
		return false, err
	}
	if dir != ondisk.FirstFreeObjectID && sendRootDirGen != dirGen {
		return false, nil
	}
	owIno, err := lookupDirItemInode(s.root, dir, name)
	if err != nil {
		if isNoEnt(err) {
			return false, nil
		}
		return false, err
	}
	var owGen uint64
	if owIno == ino {
		owGen, err = getInodeGen(s.root, owIno)
		if err != nil {
			return false, err
		}
		if owGen == inoGen {
			return false, nil
		}
	}
	if owIno < s.sendProgress {
		return true, nil
	}
	if ino != s.cur.ino && owIno == s.cur.ino {
		if owGen == 0 {
			owGen, err = getInodeGen(s.root, owIno)
			if err != nil {
				return false, err
			}
		}
		if owGen == s.cur.gen {
			return true, nil
		}
	}
	return false, nil
}

// didOverwriteFirstRef mirrors did_overwrite_first_ref.
func (s *sender) didOverwriteFirstRef(ino, gen uint64) (bool, error) {
	parent := s.inodes.parentRoot
	if parent == nil {
		return false, nil
	}
	dir, dirGen, name, err := getFirstRef(parent, ino, true)
	if err != nil {
		return false, err
	}
	return s.didOverwriteRef(dir, dirGen, ino, gen, name)
}

// getCurNameAndParent mirrors __get_cur_name_and_parent: one component of
// the receiver-side path of (ino, gen) and the parent to continue with.
// It returns 1 when the component is an orphan name (the walk stops
// there), 0 otherwise. parentIno and parentGen are in-out as in the
// kernel, which caches whatever they hold for orphan results. The name may
// be the name cache's own: read it, do not change it.
func (s *sender) getCurNameAndParent(ino, gen uint64, parentIno, parentGen *uint64) ([]byte, int, error) {
	st := &s.inodes
	if nce := st.nameCache.lookup(ino, gen); nce != nil {
		if ino < s.sendProgress && nce.value.needLaterUpdate {
			st.nameCache.remove(nce)
		} else {
			*parentIno = nce.value.parentIno
			*parentGen = nce.value.parentGen
			return nce.value.name, nce.value.ret, nil
		}
	}

	var name []byte
	ret := 0
	exist, err := s.isInodeExistent(ino, gen, nil, nil)
	if err != nil {
		return nil, 0, err
	}
	if !exist {
		name, err = s.genUniqueName(ino, gen)
		if err != nil {
			return nil, 0, err
		}
		ret = 1
	} else {
		root := s.root
		if ino >= s.sendProgress {
			root = st.parentRoot
			if root == nil {
				return nil, 0, corruptf("inode %d exists at the receiver but is not processed yet, in a full send", ino)
			}
		}
		*parentIno, *parentGen, name, err = getFirstRef(root, ino, true)
		if err != nil {
			return nil, 0, err
		}
		over, err := s.didOverwriteRef(*parentIno, *parentGen, ino, gen, name)
		if err != nil {
			return nil, 0, err
		}
		if over {
			name, err = s.genUniqueName(ino, gen)
			if err != nil {
				return nil, 0, err
			}
			ret = 1
		}
	}

	st.nameCache.store(ino, gen, &nameCacheEntry{
		parentIno:       *parentIno,
		parentGen:       *parentGen,
		ret:             ret,
		needLaterUpdate: ino >= s.sendProgress,
		name:            clonePath(name),
	})
	return name, ret, nil
}

// getCurPath mirrors get_cur_path: the path of (ino, gen) as the receiver
// has it at this point of the stream, built from the inode up. The
// current inode's path comes from and goes to the cur_inode_path cache.
func (s *sender) getCurPath(ino, gen uint64) ([]byte, error) {
	st := &s.inodes
	isCur := ino == s.cur.ino && gen == s.cur.gen
	if isCur && len(st.curInodePath) > 0 {
		return clonePath(st.curInodePath), nil
	}

	// The components, leaf first, as fs_path_add_path would prepend them;
	// the path is assembled once at the end.
	var small [8][]byte
	comps := revPath{comps: small[:0]}
	var parentIno, parentGen uint64
	for stop := false; !stop && ino != ondisk.FirstFreeObjectID; {
		if st.isWaitingForRm(ino, gen) {
			name, err := s.genUniqueName(ino, gen)
			if err != nil {
				return nil, err
			}
			if comps, err = comps.prepend(name); err != nil {
				return nil, err
			}
			break
		}
		var name []byte
		var err error
		if wdm := st.getWaitingDirMove(ino); wdm != nil && wdm.orphanized {
			name, err = s.genUniqueName(ino, gen)
			stop = true
		} else if wdm != nil {
			parentIno, parentGen, name, err = getFirstRef(st.parentRoot, ino, true)
		} else {
			var ret int
			name, ret, err = s.getCurNameAndParent(ino, gen, &parentIno, &parentGen)
			if ret != 0 {
				stop = true
			}
		}
		if err != nil {
			return nil, err
		}
		if comps, err = comps.prepend(name); err != nil {
			return nil, err
		}
		ino, gen = parentIno, parentGen
	}
	dest := comps.bytes()
	if isCur {
		st.curInodePath = clonePath(dest)
	}
	return dest, nil
}

// getCurInodePath mirrors get_cur_inode_path: the cached path of the
// current inode, computed when the cache is empty.
func (s *sender) getCurInodePath() ([]byte, error) {
	if len(s.inodes.curInodePath) == 0 {
		if _, err := s.getCurPath(s.cur.ino, s.cur.gen); err != nil {
			return nil, err
		}
	}
	return s.inodes.curInodePath, nil
}

// getPathForCommand mirrors get_path_for_command.
func (s *sender) getPathForCommand(ino, gen uint64) ([]byte, error) {
	if ino == s.cur.ino && gen == s.cur.gen {
		return s.getCurInodePath()
	}
	return s.getCurPath(ino, gen)
}

// curPath returns the current inode's path as the receiver has it now,
// for commands on the current inode (get_cur_inode_path). The result must
// not be modified.
func (s *sender) curPath() ([]byte, error) { return s.getCurInodePath() }

// inodePath returns the receiver-side path of any inode of the send root
// (get_cur_path).
func (s *sender) inodePath(ino, gen uint64) ([]byte, error) { return s.getCurPath(ino, gen) }
