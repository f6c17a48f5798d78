package logreplay

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Input is what replay reads: the committed filesystem and its superblock.
type Input struct {
	Reader   btree.Reader       // the filesystem's (verified, cached) block reader
	RootTree *btree.Tree        // the committed root tree
	Super    *ondisk.Superblock // LogRoot, LogRootLevel, Generation, sizes, CsumType
}

// Result is the replayed state, in memory over the committed trees.
type Result struct {
	// Mem holds every block replay wrote; every other block is read
	// through Input.Reader.
	Mem *btree.MemBlocks
	// Roots is the replayed root of each tree replay changed, by tree ID:
	// the subvolumes the log touched, and the checksum (7) and extent (2)
	// trees when their items changed.
	Roots map[uint64]btree.Root
	// Subvolumes lists the subvolumes the log holds changes for, in the
	// order they were replayed (descending ID, as the kernel does).
	Subvolumes []uint64
	// MountTimes lists, by subvolume and inode, the times the kernel's
	// replay sets to the current time, the time of the mount (Linux
	// 6.18's unlink does, during replay too). Offline there is no such
	// time: these inodes keep the times they had before.
	MountTimes map[uint64]map[uint64]Stamp
}

// The stages of the kernel's walk over every log tree (LOG_WALK_*). The
// first only pins the log's blocks so nothing overwrites them while the
// replay writes; here it reads and verifies every block of every log,
// so that a damaged log fails before anything is replayed.
const (
	stagePinOnly = iota
	stageReplayInodes
	stageReplayDirIndex
	stageReplayAll
)

// replayer is the state of one Replay: the trees it edits and what it
// defers to the end of the transaction (delayed references).
type replayer struct {
	in         Input
	mem        *btree.MemBlocks
	transid    uint64 // the transaction the log belongs to
	sectorSize uint64
	nodeSize   int
	csumSize   int
	noHoles    bool
	extIref    bool
	squota     bool
	skinny     bool

	trees  map[uint64]*tree
	refs   *delayedRefs
	blocks blockRefs // committed tree blocks' references as COW changes them
	// Per subvolume, what outlives one walk: the inodes loaded (the
	// kernel's inode cache) and the directory index items not yet
	// written (its delayed items).
	inodes  map[uint64]map[uint64]*inode
	delayed map[uint64]*delayedIndex
	stamps  map[uint64]map[uint64]Stamp

	blockGroups [][2]uint64 // start, length; read once
}

// Replay replays the log tree the superblock names into memory, as the
// kernel's btrfs_recover_log_trees does at mount, and returns the trees
// it changed. It writes nothing to the devices. A superblock without a
// log gives an empty Result. A damaged log, or a log that contradicts the
// subvolume it belongs to, is an error naming the log block, never a
// partial Result.
func Replay(in Input) (res *Result, err error) {
	sb := in.Super
	if sb == nil || in.Reader == nil || in.RootTree == nil {
		return nil, errors.New("logreplay: Input needs Reader, RootTree and Super")
	}
	// Every input is checked as it is read; should a check be missing
	// somewhere, damage must still end in an error, not a crash.
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("logreplay: internal error replaying the log: %v", p)
		}
	}()
	mem := btree.NewMemBlocks(in.Reader, int(sb.NodeSize))
	res = &Result{Mem: mem, Roots: map[uint64]btree.Root{}}
	if sb.LogRoot == 0 {
		return res, nil
	}
	if sb.SectorSize == 0 || sb.NodeSize == 0 || !sb.CsumType.Valid() {
		return nil, fmt.Errorf("logreplay: superblock sector size %d, node size %d, checksum type %d", sb.SectorSize, sb.NodeSize, sb.CsumType)
	}
	r := &replayer{
		in: in, mem: mem, transid: sb.Generation + 1,
		sectorSize: uint64(sb.SectorSize), nodeSize: int(sb.NodeSize), csumSize: sb.CsumType.Size(),
		noHoles: sb.IncompatFlags&ondisk.IncompatNoHoles != 0,
		extIref: sb.IncompatFlags&ondisk.IncompatExtendedIref != 0,
		squota:  sb.IncompatFlags&ondisk.IncompatSimpleQuota != 0,
		skinny:  sb.IncompatFlags&ondisk.IncompatSkinnyMetadata != 0,
		blocks:  blockRefs{delta: map[uint64]int64{}, full: map[uint64]bool{}},
		trees:   map[uint64]*tree{},
		inodes:  map[uint64]map[uint64]*inode{},
		delayed: map[uint64]*delayedIndex{},
		stamps:  map[uint64]map[uint64]Stamp{},
	}
	r.refs = newDelayedRefs(r)
	if err := r.recoverLogTrees(res); err != nil {
		return nil, err
	}
	// The transaction commit: delayed items and references are written.
	if err := r.runDelayedItems(); err != nil {
		return nil, fmt.Errorf("logreplay: writing directory index items: %w", err)
	}
	if err := r.refs.run(); err != nil {
		return nil, fmt.Errorf("logreplay: updating the extent tree: %w", err)
	}
	for _, id := range slices.Sorted(maps.Keys(r.trees)) {
		root := r.trees[id].ed.Root()
		res.Roots[id] = root
	}
	for id, st := range r.stamps {
		if len(st) > 0 {
			if res.MountTimes == nil {
				res.MountTimes = map[uint64]map[uint64]Stamp{}
			}
			res.MountTimes[id] = st
		}
	}
	return res, nil
}

// logRootTree is the tree of log roots the superblock points at; its
// blocks belong to the transaction after the superblock's.
func (r *replayer) logRootTree() *btree.Tree {
	sb := r.in.Super
	return btree.New(r.in.Reader, btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: sb.LogRoot, Level: sb.LogRootLevel, Generation: sb.Generation + 1})
}

// recoverLogTrees is btrfs_recover_log_trees: every log tree is walked
// once per stage, from the highest subvolume ID down, the link counts
// fixed after the last stage.
func (r *replayer) recoverLogTrees(res *Result) error {
	lrt := r.logRootTree()
	if _, err := readAllLeaves(lrt); err != nil {
		return fmt.Errorf("logreplay: reading the log root tree: %w", err)
	}
	logs, err := r.findLogs(lrt)
	if err != nil {
		return err
	}
	// The pin stage reads every log block: a log that cannot be read
	// entirely is refused before anything is replayed, as the kernel's
	// mount fails in that walk.
	var live []*logTree
	for _, l := range logs {
		if l.leaves, err = readAllLeaves(l.t); err != nil {
			return fmt.Errorf("logreplay: reading the log tree of subvolume %d: %w", l.subvol, err)
		}
		if err := r.excludeLoggedExtents(l); err != nil {
			return err
		}
		ok, err := r.subvolExists(l.subvol)
		if err != nil {
			return err
		}
		if ok { // a deleted subvolume's log is skipped
			live = append(live, l)
			res.Subvolumes = append(res.Subvolumes, l.subvol)
		}
	}
	w := &walk{r: r}
	for stage := stageReplayInodes; stage <= stageReplayAll; stage++ {
		w.stage = stage
		for _, l := range live {
			root, err := r.subvolTree(l.subvol)
			if err != nil {
				return err
			}
			w.startLog(l, root)
			if err := w.walkLogTree(); err != nil {
				return err
			}
			if stage == stageReplayAll {
				if err := w.fixupInodeLinkCounts(); err != nil {
					return fmt.Errorf("logreplay: fixing link counts in subvolume %d: %w", l.subvol, err)
				}
			}
		}
	}
	return nil
}

// findLogs lists the ROOT_ITEMs of the log root tree, highest subvolume
// first, the order the kernel replays them in.
func (r *replayer) findLogs(lrt *btree.Tree) ([]*logTree, error) {
	var logs []*logTree
	for it, err := range lrt.ObjectItems(ondisk.TreeLogObjectID, ondisk.RootItemKey) {
		if err != nil {
			return nil, fmt.Errorf("logreplay: reading the log root tree: %w", err)
		}
		ri, err := item.ParseRoot(it.Data)
		if err != nil {
			k := it.Key
			return nil, &ondisk.BlockError{Logical: r.in.Super.LogRoot, Tree: ondisk.TreeLogObjectID, Key: &k, Err: err}
		}
		logs = append(logs, &logTree{subvol: it.Key.Offset, t: btree.New(r.in.Reader,
			btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation})})
	}
	slices.Reverse(logs)
	return logs, nil
}

// readAllLeaves reads every block of t, checked against its parent
// pointers, and returns the leaves in key order.
func readAllLeaves(t *btree.Tree) ([]*ondisk.Node, error) {
	root, err := t.RootNode()
	if err != nil {
		return nil, err
	}
	var leaves []*ondisk.Node
	var visit func(n *ondisk.Node) error
	visit = func(n *ondisk.Node) error {
		if n.Level == 0 {
			leaves = append(leaves, n)
			return nil
		}
		for i := range n.NumItems() {
			c, err := t.Child(n, i)
			if err != nil {
				k := n.Key(i)
				return &ondisk.BlockError{Logical: n.Bytenr, Tree: ondisk.TreeLogObjectID, Key: &k, Err: err}
			}
			if err := visit(c); err != nil {
				return err
			}
		}
		return nil
	}
	return leaves, visit(root)
}

// subvolExists is btrfs_get_fs_root's check: the subvolume has a root
// item with references.
func (r *replayer) subvolExists(id uint64) (bool, error) {
	_, ri, err := r.rootItem(id)
	if errors.Is(err, btree.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ri.Refs != 0, nil
}

// rootItem finds tree id's last ROOT_ITEM in the committed root tree.
func (r *replayer) rootItem(id uint64) (btree.Root, *item.Root, error) {
	c, err := r.in.RootTree.SeekLE(ondisk.Key{ObjectID: id, Type: ondisk.RootItemKey, Offset: ^uint64(0)})
	if err != nil {
		return btree.Root{}, nil, err
	}
	if !c.Valid() || c.Key().ObjectID != id || c.Key().Type != ondisk.RootItemKey {
		return btree.Root{}, nil, btree.ErrNotFound
	}
	k := c.Key()
	ri, err := item.ParseRoot(c.Data())
	if err != nil {
		leaf, _ := c.Leaf()
		return btree.Root{}, nil, &ondisk.BlockError{Logical: leaf.Bytenr, Tree: ondisk.RootTreeObjectID, Key: &k, Err: err}
	}
	return btree.Root{ID: id, Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation}, &ri, nil
}

// treeFor returns the editor of tree id, started on first use.
func (r *replayer) treeFor(id uint64) (*tree, error) {
	if t, ok := r.trees[id]; ok {
		return t, nil
	}
	root, ri, err := r.rootItem(id)
	if err != nil {
		return nil, fmt.Errorf("logreplay: the root of %s: %w", ondisk.TreeName(id), err)
	}
	t := &tree{id: id, ed: r.mem.Edit(root, r.transid)}
	if shareable(id) {
		t.ed.OnCopy(r.cowHook(t, ri.LastSnapshot))
	}
	r.trees[id] = t
	return t, nil
}

func (r *replayer) subvolTree(id uint64) (*tree, error) { return r.treeFor(id) }
func (r *replayer) csumTree() (*tree, error)            { return r.treeFor(ondisk.CsumTreeObjectID) }
func (r *replayer) extentTree() (*tree, error)          { return r.treeFor(ondisk.ExtentTreeObjectID) }

// walk is the kernel's walk_control: the stage, the log and subvolume
// being replayed, the item being replayed, and the subvolume's in-memory
// inodes and delayed directory index items.
type walk struct {
	r     *replayer
	stage int
	log   *logTree
	root  *tree

	// The log item being replayed.
	leaf *ondisk.Node
	slot int
	key  ondisk.Key

	// ignoreCurInode skips the items of an inode logged without links.
	// Like the kernel's, it is set at each inode item and carries over
	// leaves, logs and stages.
	ignoreCurInode bool

	inodes  map[uint64]*inode
	delayed *delayedIndex
	stamps  map[uint64]Stamp
}

// startLog begins the walk of one log, into its subvolume.
func (w *walk) startLog(l *logTree, root *tree) {
	w.log, w.root = l, root
	r := w.r
	if r.inodes[l.subvol] == nil {
		r.inodes[l.subvol] = map[uint64]*inode{}
		r.delayed[l.subvol] = &delayedIndex{tree: root, inserts: map[ondisk.Key][]byte{}, deletes: map[ondisk.Key]bool{}}
		r.stamps[l.subvol] = map[uint64]Stamp{}
	}
	w.inodes, w.delayed, w.stamps = r.inodes[l.subvol], r.delayed[l.subvol], r.stamps[l.subvol]
}

// walkLogTree is walk_log_tree with replay_one_buffer as the process
// function: the leaves in key order (the kernel's walk_down_log_tree and
// walk_up_log_tree visit them so; inner nodes have nothing to replay).
func (w *walk) walkLogTree() error {
	for _, leaf := range w.log.leaves {
		if err := w.replayOneBuffer(leaf); err != nil {
			return err
		}
	}
	return nil
}

// logItem is the payload of the log item being replayed (a copy).
func (w *walk) logItem() []byte {
	return slices.Clone(w.leaf.ItemData(w.slot))
}

// replayOneBuffer is replay_one_buffer: the items of one log leaf, as the
// stage asks.
func (w *walk) replayOneBuffer(leaf *ondisk.Node) error {
	w.leaf = leaf
	for w.slot = 0; w.slot < leaf.NumItems(); w.slot++ {
		w.key = leaf.Key(w.slot)
		if err := w.replayItem(); err != nil {
			k := w.key
			return &ondisk.BlockError{Logical: leaf.Bytenr, Tree: ondisk.TreeLogObjectID, Key: &k,
				Err: fmt.Errorf("replaying the log of subvolume %d: %w", w.log.subvol, err)}
		}
	}
	return nil
}

func (w *walk) replayItem() error {
	var ii item.Inode
	if w.key.Type == ondisk.InodeItemKey {
		var err error
		if ii, err = item.ParseInode(w.leaf.ItemData(w.slot)); err != nil {
			return err
		}
		// An inode logged without links is an O_TMPFILE an older kernel
		// logged, or a file unlinked while open and fsynced after: its
		// parent's log deletes it; its own items are skipped.
		if ii.Nlink == 0 {
			w.ignoreCurInode = true
			return nil
		}
		w.ignoreCurInode = false
	}
	if w.key.Type == ondisk.InodeItemKey && w.stage == stageReplayInodes {
		if err := w.replayInodeItem(ii); err != nil {
			return err
		}
	}
	if w.ignoreCurInode {
		return nil
	}
	if w.key.Type == ondisk.DirIndexKey && w.stage == stageReplayDirIndex {
		if err := w.replayOneDirItem(); err != nil {
			return err
		}
	}
	if w.stage < stageReplayAll {
		return nil
	}
	switch w.key.Type {
	case ondisk.XattrItemKey:
		if _, err := item.ParseDirItems(w.leaf.ItemData(w.slot)); err != nil {
			return err
		}
		return w.overwriteItem(w.logItem())
	case ondisk.InodeRefKey, ondisk.InodeExtrefKey:
		return w.addInodeRef()
	case ondisk.ExtentDataKey:
		return w.replayOneExtent()
	}
	// DIR_ITEM keys of logs older kernels wrote are derived from the
	// DIR_INDEX ones; everything else is not replayed.
	return nil
}

// replayInodeItem is the first stage's work on an inode item: xattrs and
// (for a directory) entries the log says are gone are deleted, the item
// is copied, a regular file is truncated to its logged size (so prealloc
// extents past it, logged after, survive), and the inode goes into the
// link count fixup.
func (w *walk) replayInodeItem(ii item.Inode) error {
	ino := w.key.ObjectID
	if err := w.replayXattrDeletes(ino); err != nil {
		return err
	}
	mode := ii.Mode & item.ModeTypeMask
	if mode == item.ModeDir {
		if err := w.replayDirDeletes(ino, false); err != nil {
			return err
		}
	}
	if err := w.overwriteItem(w.logItem()); err != nil {
		return err
	}
	if mode == item.ModeRegular {
		in, err := w.iget(ino)
		if err != nil {
			return err
		}
		from := alignUp(in.size, w.r.sectorSize)
		found, err := w.dropExtents(in, from, ^uint64(0))
		if err == nil {
			in.updateBytes(0, found)
			err = w.updateInode(in)
		}
		w.iput(in)
		if err != nil {
			return err
		}
	}
	return w.linkToFixupDir(ino)
}

// alignUp is the kernel's ALIGN, which wraps to 0 past the top.
func alignUp(v, a uint64) uint64 {
	return (v + a - 1) &^ (a - 1)
}

// excludeLoggedExtents is the check in btrfs_exclude_logged_extents that
// the pin stage makes of every data extent a log leaf points at: it must
// start inside a block group (the kernel takes it out of that group's
// free space), or the mount fails. With mixed block groups the kernel
// does this later, when the extent is allocated; so does this port.
func (r *replayer) excludeLoggedExtents(l *logTree) error {
	if r.in.Super.IncompatFlags&ondisk.IncompatMixedGroups != 0 {
		return nil
	}
	for _, leaf := range l.leaves {
		for slot := range leaf.NumItems() {
			k := leaf.Key(slot)
			if k.Type != ondisk.ExtentDataKey {
				continue
			}
			fe, err := item.ParseFileExtent(leaf.ItemData(slot))
			if err != nil || fe.Type == item.FileExtentInline || fe.DiskBytenr == 0 {
				continue // replay reports a bad item when it gets to it
			}
			ok, err := r.inBlockGroup(fe.DiskBytenr)
			if err != nil {
				return err
			}
			if !ok {
				return &ondisk.BlockError{Logical: leaf.Bytenr, Tree: ondisk.TreeLogObjectID, Key: &k,
					Err: fmt.Errorf("%w: the log of subvolume %d points at data at %d, in no block group", ondisk.ErrCorrupt, l.subvol, fe.DiskBytenr)}
			}
		}
	}
	return nil
}

// inBlockGroup reports whether a block group (BLOCK_GROUP_ITEMs of the
// extent tree, or of the block group tree) holds logical address x.
func (r *replayer) inBlockGroup(x uint64) (bool, error) {
	if r.blockGroups == nil {
		id := uint64(ondisk.ExtentTreeObjectID)
		if r.in.Super.CompatROFlags&ondisk.CompatROBlockGroupTree != 0 {
			id = ondisk.BlockGroupTreeObjectID
		}
		root, _, err := r.rootItem(id)
		if err != nil {
			return false, fmt.Errorf("logreplay: the root of %s: %w", ondisk.TreeName(id), err)
		}
		// Each group's item is found from the end of the one before, as
		// the kernel's find_first_block_group does: a search, then the
		// few items at the group's first address.
		t := btree.New(r.in.Reader, root)
		r.blockGroups = [][2]uint64{}
		k := ondisk.Key{Type: ondisk.BlockGroupItemKey}
		for {
			c, err := t.Seek(k)
			for err == nil && c.Valid() && c.Key().Type != ondisk.BlockGroupItemKey {
				err = c.Next()
			}
			if err != nil {
				return false, err
			}
			if !c.Valid() {
				break
			}
			bg := c.Key()
			r.blockGroups = append(r.blockGroups, [2]uint64{bg.ObjectID, bg.Offset})
			end := bg.ObjectID + bg.Offset
			if bg.Offset == 0 || end < bg.ObjectID {
				break
			}
			k = ondisk.Key{ObjectID: end, Type: ondisk.BlockGroupItemKey}
		}
	}
	i, _ := slices.BinarySearchFunc(r.blockGroups, x, func(bg [2]uint64, x uint64) int {
		switch {
		case bg[0]+bg[1] <= x:
			return -1
		case bg[0] > x:
			return 1
		}
		return 0
	})
	return i < len(r.blockGroups) && r.blockGroups[i][0] <= x && x < r.blockGroups[i][0]+r.blockGroups[i][1], nil
}
