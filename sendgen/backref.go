package sendgen

import (
	"cmp"
	"container/list"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// The part of the kernel's backref.c that send's clone search runs
// (iterate_extent_inodes with send's callbacks), over committed trees
// only: there are no delayed refs and no tree mod log to consult.

const (
	// sendMaxExtentRefs is SEND_MAX_EXTENT_REFS: extents (and tree
	// blocks met on the way to the roots) with more references are not
	// walked.
	sendMaxExtentRefs = 1024
	// backrefCacheSize is SEND_MAX_BACKREF_CACHE_SIZE, the number of
	// leaves whose clone roots are remembered.
	backrefCacheSize = 128
	// backrefCacheMaxRoots is SEND_MAX_BACKREF_CACHE_ROOTS: leaves
	// reachable from more clone roots are not cached.
	backrefCacheMaxRoots = 17
)

// inodeElem is one file extent item that refers to the data extent being
// resolved (struct extent_inode_elem).
type inodeElem struct {
	ino, offset, numBytes uint64
}

// leafRefs is one entry of the leaf list a data walk builds: a leaf and
// the items in it that refer to the extent, in the kernel's order.
type leafRefs struct {
	bytenr uint64
	elems  []inodeElem
}

// prelimRef mirrors struct prelim_ref.
type prelimRef struct {
	level  int
	root   uint64
	key    ondisk.Key // key_for_search
	parent uint64
	count  int64
	wanted uint64 // wanted_disk_byte
	elems  []inodeElem
}

// comparePrelim mirrors prelim_ref_compare.
func comparePrelim(a, b *prelimRef) int {
	switch {
	case a.level != b.level:
		return cmp.Compare(a.level, b.level)
	case a.root != b.root:
		return cmp.Compare(a.root, b.root)
	case a.key.Type != b.key.Type:
		return cmp.Compare(a.key.Type, b.key.Type)
	case a.key.ObjectID != b.key.ObjectID:
		return cmp.Compare(a.key.ObjectID, b.key.ObjectID)
	case a.key.Offset != b.key.Offset:
		return cmp.Compare(a.key.Offset, b.key.Offset)
	}
	return cmp.Compare(a.parent, b.parent)
}

// preftree is one of find_parent_nodes' rbtrees: refs kept sorted, an
// identical ref merging into the one already there. prelim_ref_insert
// sends a ref greater than a node to its left, so the tree's first entry,
// where every walk over it starts, is its greatest: the slice is kept in
// descending order.
type preftree []*prelimRef

// insert mirrors prelim_ref_insert.
func (t *preftree) insert(r *prelimRef) {
	i, found := slices.BinarySearchFunc(*t, r, func(a, b *prelimRef) int { return comparePrelim(b, a) })
	if found {
		old := (*t)[i]
		old.elems = append(old.elems, r.elems...)
		old.count += r.count
		return
	}
	*t = slices.Insert(*t, i, r)
}

// ulist is an insertion-ordered set of u64 (struct ulist).
type ulist struct {
	vals []uint64
	seen map[uint64]bool
}

func (u *ulist) add(v uint64) {
	if u.seen == nil {
		u.seen = map[uint64]bool{}
	}
	if !u.seen[v] {
		u.seen[v] = true
		u.vals = append(u.vals, v)
	}
}

// backrefCache mirrors send_ctx's backref_cache, a btrfs_lru_cache from
// leaf to the clone roots that reach it.
type backrefCache struct {
	lru    list.List // of *backrefCacheEntry, least recently used first
	byLeaf map[uint64]*list.Element
}

type backrefCacheEntry struct {
	leaf  uint64
	roots []uint64
}

// lookup mirrors btrfs_lru_cache_lookup: a hit becomes the most recently
// used entry.
func (c *backrefCache) lookup(leaf uint64) ([]uint64, bool) {
	e, ok := c.byLeaf[leaf]
	if !ok {
		return nil, false
	}
	c.lru.MoveToBack(e)
	return e.Value.(*backrefCacheEntry).roots, true
}

// store mirrors btrfs_lru_cache_store: a full cache first drops its least
// recently used entry; a leaf already present is left alone.
func (c *backrefCache) store(leaf uint64, roots []uint64) {
	if c.byLeaf == nil {
		c.byLeaf = map[uint64]*list.Element{}
	}
	if _, ok := c.byLeaf[leaf]; ok {
		return
	}
	if c.lru.Len() == backrefCacheSize {
		lru := c.lru.Front()
		delete(c.byLeaf, lru.Value.(*backrefCacheEntry).leaf)
		c.lru.Remove(lru)
	}
	c.byLeaf[leaf] = c.lru.PushBack(&backrefCacheEntry{leaf: leaf, roots: roots})
}

// storeBackrefCache mirrors store_backref_cache: it keeps only the roots
// that are clone sources, and nothing when there are too many.
func (d *dataState) storeBackrefCache(leaf uint64, roots []uint64) {
	ids := []uint64{}
	for _, r := range roots {
		if d.cloneRootIndex(r) < 0 {
			continue
		}
		if len(ids) >= backrefCacheMaxRoots {
			return
		}
		ids = append(ids, r)
	}
	d.backrefs.store(leaf, ids)
}

// backrefWalk is a btrfs_backref_walk_ctx as find_extent_clone sets it up,
// with send's callbacks: check_extent_item, skip_self_data_ref (when the
// send root is the only clone source), the backref cache, and iterate
// (iterate_backrefs) as the indirect ref iterator.
type backrefWalk struct {
	s             *sender
	bytenr        uint64 // the data extent
	extentItemPos uint64
	// skipSelf enables skip_self_data_ref for (selfRoot, selfIno,
	// selfOffset); selfRoot is the owner of the leaf holding the current
	// file extent item, found when first needed from selfKey.
	skipSelf   bool
	selfKey    ondisk.Key
	selfRoot   uint64
	selfIno    uint64
	selfOffset uint64
	// iterate is called for each (inode, offset, root) found; true stops
	// the walk (BTRFS_ITERATE_EXTENT_INODES_STOP).
	iterate func(ino, offset, numBytes, root uint64) bool
}

// run mirrors iterate_extent_inodes.
func (w *backrefWalk) run() error {
	leaves, stop, err := w.findLeaves()
	if err != nil || stop {
		return err
	}
	d := &w.s.data
	for _, l := range leaves {
		roots, cached := d.backrefs.lookup(l.bytenr)
		if !cached {
			if roots, err = w.findAllRoots(l.bytenr); err != nil {
				return err
			}
			d.storeBackrefCache(l.bytenr, roots)
		}
		for _, r := range roots {
			if w.iterateLeaf(l.elems, r) {
				return nil
			}
		}
	}
	return nil
}

// iterateLeaf mirrors iterate_leaf_refs.
func (w *backrefWalk) iterateLeaf(elems []inodeElem, root uint64) bool {
	for _, e := range elems {
		if w.iterate(e.ino, e.offset, e.numBytes, root) {
			return true
		}
	}
	return false
}

// checkExtentItem mirrors send's check_extent_item: true means -ENOENT,
// do not walk the references of this extent or tree block.
func (w *backrefWalk) checkExtentItem(bytenr uint64, raw []byte) (bool, error) {
	if len(raw) < 24 {
		return false, fmt.Errorf("extent tree: raw of extent %d is %d bytes: %w", bytenr, len(raw), ondisk.ErrCorrupt)
	}
	refs := binary.LittleEndian.Uint64(raw)
	if bytenr == w.bytenr {
		if binary.LittleEndian.Uint64(raw[16:])&item.ExtentFlagTreeBlock != 0 {
			return false, fmt.Errorf("extent tree: data extent %d is flagged as a tree block: %w", bytenr, ondisk.ErrCorrupt)
		}
		if refs == 1 && len(w.s.data.cloneRoots) == 1 {
			return true, nil
		}
	}
	return refs > sendMaxExtentRefs, nil
}

// extentItem positions a cursor of the extent tree on the EXTENT_ITEM or
// METADATA_ITEM of bytenr, as find_parent_nodes' search does; false when
// there is none.
func (d *dataState) extentItem(bytenr uint64) (*btree.Cursor, bool, error) {
	t, err := d.extentTreeOf()
	if err != nil {
		return nil, false, err
	}
	c, err := t.SeekLE(ondisk.Key{ObjectID: bytenr, Type: ondisk.MetadataItemKey, Offset: math.MaxUint64})
	if err != nil || !c.Valid() {
		return nil, false, err
	}
	k := c.Key()
	if k.ObjectID != bytenr || (k.Type != ondisk.ExtentItemKey && k.Type != ondisk.MetadataItemKey) {
		return nil, false, nil
	}
	return c, true, nil
}

// refVisitor receives the references of an extent item: inline ones from
// the item, then keyed items (add_inline_refs, add_keyed_refs).
type refVisitor func(typ ondisk.ItemType, root, parent, ino, offset uint64, count uint32) error

// visitRefs walks the references that follow the extent item c is on.
func visitRefs(c *btree.Cursor, ei *item.Extent, visit refVisitor) error {
	bytenr := c.Key().ObjectID
	for _, r := range ei.Inline {
		if err := visit(r.Type, r.Root, r.Parent, r.ObjectID, r.Offset, r.Count); err != nil {
			return err
		}
	}
	for {
		if err := c.Next(); err != nil {
			return err
		}
		if !c.Valid() {
			return nil
		}
		k := c.Key()
		if k.ObjectID != bytenr || k.Type > ondisk.SharedDataRefKey {
			return nil
		}
		var err error
		switch k.Type {
		case ondisk.SharedBlockRefKey:
			err = visit(k.Type, 0, k.Offset, 0, 0, 1)
		case ondisk.TreeBlockRefKey:
			err = visit(k.Type, k.Offset, 0, 0, 0, 1)
		case ondisk.SharedDataRefKey:
			var n uint32
			if n, err = item.ParseSharedDataRef(c.Data()); err == nil {
				err = visit(k.Type, 0, k.Offset, 0, 0, n)
			}
		case ondisk.ExtentDataRefKey:
			var r item.ExtentDataRef
			if r, err = item.ParseExtentDataRef(c.Data()); err == nil {
				err = visit(k.Type, r.Root, 0, r.ObjectID, r.Offset, r.Count)
			}
		}
		if err != nil {
			return fmt.Errorf("extent tree, key %v: %w", k, err)
		}
	}
}

// findLeaves mirrors btrfs_find_all_leafs (find_parent_nodes for the data
// extent): the leaves holding file extent items that refer to it, each
// with those items. stop reports that a callback, run early for leaves in
// the backref cache, ended the walk.
func (w *backrefWalk) findLeaves() (leaves []leafRefs, stop bool, err error) {
	d := &w.s.data
	c, ok, err := d.extentItem(w.bytenr)
	if err != nil || !ok {
		return nil, false, err
	}
	k := c.Key()
	skip, err := w.checkExtentItem(w.bytenr, c.Data())
	if err != nil || skip {
		return nil, false, err
	}
	ei, err := item.ParseExtent(c.Data(), k.Type)
	if err != nil {
		return nil, false, fmt.Errorf("extent tree, key %v: %w", k, err)
	}
	if w.skipSelf {
		if w.selfRoot, err = w.s.leafOwner(w.selfKey); err != nil {
			return nil, false, err
		}
	}
	var indirect, direct preftree
	err = visitRefs(c, &ei, func(typ ondisk.ItemType, root, parent, ino, offset uint64, count uint32) error {
		switch typ {
		case ondisk.ExtentDataRefKey:
			if w.skipSelf && ino == w.selfIno && root == w.selfRoot && offset == w.selfOffset {
				return nil
			}
			if root != ondisk.DataRelocTreeObjectID {
				indirect.insert(&prelimRef{root: root, key: ondisk.Key{ObjectID: ino, Type: ondisk.ExtentDataKey, Offset: offset}, count: int64(count), wanted: w.bytenr})
			}
		case ondisk.SharedDataRefKey:
			direct.insert(&prelimRef{parent: parent, count: int64(count), wanted: w.bytenr})
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}

	// resolve_indirect_refs: each (root, inode, offset) becomes the leaves
	// of root holding the items, in key order of the refs.
	shared := map[uint64]bool{}
	for _, r := range direct {
		shared[r.parent] = true
	}
	for _, ref := range indirect {
		if ref.count == 0 {
			continue
		}
		parents, stop, err := w.resolveDataRef(ref, shared)
		if err != nil || stop {
			return nil, stop, err
		}
		if len(parents) > 0 {
			ref.parent, ref.elems = parents[0].bytenr, parents[0].elems
			for _, p := range parents[1:] {
				n := *ref
				n.parent, n.elems = p.bytenr, p.elems
				direct.insert(&n)
			}
		}
		direct.insert(ref)
	}

	// The leaves in the order of the merged refs; a leaf found twice
	// collects both inode lists.
	at := map[uint64]int{}
	for _, ref := range direct {
		if ref.count == 0 || ref.parent == 0 {
			continue
		}
		elems := ref.elems
		if len(elems) == 0 && ref.level == 0 {
			leaf, err := w.s.fs.Blocks().ReadTreeBlock(volume.Logical(ref.parent), ondisk.BlockExpect{Level: 0})
			if err != nil {
				return nil, false, fmt.Errorf("leaf %d referring to extent %d: %w", ref.parent, w.bytenr, err)
			}
			var stop bool
			if elems, stop, err = w.findExtentInLeaf(leaf); err != nil || stop {
				return nil, stop, err
			}
		}
		if i, ok := at[ref.parent]; ok {
			if len(leaves[i].elems) == 0 {
				return nil, false, fmt.Errorf("extent %d: leaf %d referred to twice without items: %w", w.bytenr, ref.parent, ondisk.ErrCorrupt)
			}
			leaves[i].elems = append(leaves[i].elems, elems...)
			continue
		}
		at[ref.parent] = len(leaves)
		leaves = append(leaves, leafRefs{bytenr: ref.parent, elems: elems})
	}
	return leaves, false, nil
}

// resolveDataRef mirrors resolve_indirect_ref and add_all_parents for a
// data ref: the leaves of ref.root, from the ref's key on, whose items
// point at the extent with the ref's offset, until ref.count are found.
func (w *backrefWalk) resolveDataRef(ref *prelimRef, shared map[uint64]bool) (parents []leafRefs, stop bool, err error) {
	t, err := w.s.data.tree(ref.root)
	if err != nil {
		if fstree.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	key := ref.key
	if key.Offset >= math.MaxInt64 {
		key.Offset = 0
	}
	c, err := t.Seek(key)
	if err != nil {
		return nil, false, err
	}
	skipLeaf := func(n *ondisk.Node) bool { return shared[n.Bytenr] || n.Owner != ref.root }
	if c.Valid() {
		if n, _ := c.Leaf(); skipLeaf(n) {
			if err := nextLeaf(c); err != nil {
				return nil, false, err
			}
		}
	}
	at := map[uint64]int{}
	for count := int64(0); c.Valid() && count < ref.count; {
		k := c.Key()
		if k.ObjectID != ref.key.ObjectID || k.Type != ondisk.ExtentDataKey {
			break
		}
		n, slot := c.Leaf()
		if slot == 0 && skipLeaf(n) {
			if err := nextLeaf(c); err != nil {
				return nil, false, err
			}
			continue
		}
		fe, err := item.ParseFileExtent(c.Data())
		if err != nil {
			return nil, false, fmt.Errorf("subvolume %d, key %v: %w", ref.root, k, err)
		}
		if fe.Type != item.FileExtentInline && fe.DiskBytenr == ref.wanted && ref.key.Offset == k.Offset-fe.Offset {
			count++
			e, skip, stop := w.checkExtentInLeaf(k, &fe, n.Bytenr)
			if stop {
				return nil, true, nil
			}
			if !skip {
				if i, ok := at[n.Bytenr]; ok {
					parents[i].elems = append(parents[i].elems, e)
				} else {
					at[n.Bytenr] = len(parents)
					parents = append(parents, leafRefs{bytenr: n.Bytenr, elems: []inodeElem{e}})
				}
			}
		}
		if err := c.Next(); err != nil {
			return nil, false, err
		}
	}
	return parents, false, nil
}

// nextLeaf moves c to the first item of the leaf after its current one
// (btrfs_next_leaf).
func nextLeaf(c *btree.Cursor) error {
	n, _ := c.Leaf()
	last := n.Key(n.NumItems() - 1)
	switch {
	case last.Offset < math.MaxUint64:
		last.Offset++
	case last.Type < math.MaxUint8:
		last.Type, last.Offset = last.Type+1, 0
	case last.ObjectID < math.MaxUint64:
		last.ObjectID, last.Type, last.Offset = last.ObjectID+1, 0, 0
	default:
		// The last possible key: move past it.
		for c.Valid() {
			if err := c.Next(); err != nil {
				return err
			}
		}
		return nil
	}
	return c.Seek(last)
}

// checkExtentInLeaf mirrors check_extent_in_eb: the element for file
// extent item (k, fe) of leaf, skip when it does not cover the position
// of the extent being resolved. For leaves in the backref cache the
// iterator runs at once for each cached root; stop reports it ended the
// walk.
func (w *backrefWalk) checkExtentInLeaf(k ondisk.Key, fe *item.FileExtent, leaf uint64) (e inodeElem, skip, stop bool) {
	e = inodeElem{ino: k.ObjectID, offset: k.Offset, numBytes: fe.NumBytes}
	if fe.Compression == item.CompressNone && fe.Encryption == 0 && fe.OtherEncoding == 0 {
		if w.extentItemPos < fe.Offset || w.extentItemPos >= fe.Offset+fe.NumBytes {
			return e, true, false
		}
		e.offset += w.extentItemPos - fe.Offset
	}
	if roots, ok := w.s.data.backrefs.lookup(leaf); ok {
		for _, r := range roots {
			if w.iterate(e.ino, e.offset, e.numBytes, r) {
				return e, false, true
			}
		}
	}
	return e, false, false
}

// findExtentInLeaf mirrors find_extent_in_eb for a shared data ref: every
// item of the leaf pointing at the extent, last slot first.
func (w *backrefWalk) findExtentInLeaf(leaf *ondisk.Node) (elems []inodeElem, stop bool, err error) {
	for slot := 0; slot < leaf.NumItems(); slot++ {
		k := leaf.Key(slot)
		if k.Type != ondisk.ExtentDataKey {
			continue
		}
		fe, err := item.ParseFileExtent(leaf.ItemData(slot))
		if err != nil {
			return nil, false, fmt.Errorf("leaf %d, key %v: %w", leaf.Bytenr, k, err)
		}
		if fe.Type == item.FileExtentInline || fe.DiskBytenr != w.bytenr {
			continue
		}
		e, skip, stop := w.checkExtentInLeaf(k, &fe, leaf.Bytenr)
		if stop {
			return nil, true, nil
		}
		if !skip {
			elems = append(elems, e)
		}
	}
	slices.Reverse(elems)
	return elems, false, nil
}

// findAllRoots mirrors btrfs_find_all_roots_safe: the roots reaching tree
// block bytenr, found breadth first through its parents, in the order
// they turn up.
func (w *backrefWalk) findAllRoots(bytenr uint64) ([]uint64, error) {
	var queue, roots ulist
	for i := 0; ; i++ {
		if err := w.treeBlockParents(bytenr, &queue, &roots); err != nil {
			return nil, err
		}
		if i >= len(queue.vals) {
			return roots.vals, nil
		}
		bytenr = queue.vals[i]
	}
}

// treeBlockParents mirrors find_parent_nodes for a tree block as
// btrfs_find_all_roots_safe calls it: parent blocks go to queue, the
// roots of trees in which the block is the root node to roots.
func (w *backrefWalk) treeBlockParents(bytenr uint64, queue, roots *ulist) error {
	d := &w.s.data
	c, ok, err := d.extentItem(bytenr)
	if err != nil || !ok {
		return err
	}
	k := c.Key()
	skip, err := w.checkExtentItem(bytenr, c.Data())
	if err != nil || skip {
		return err
	}
	ei, err := item.ParseExtent(c.Data(), k.Type)
	if err != nil {
		return fmt.Errorf("extent tree, key %v: %w", k, err)
	}
	var level int
	switch {
	case k.Type == ondisk.ExtentItemKey && ei.Flags&item.ExtentFlagTreeBlock != 0:
		level = int(ei.TreeBlockLevel)
	case k.Type == ondisk.MetadataItemKey:
		level = int(k.Offset)
	default:
		return fmt.Errorf("extent tree, key %v: block %d on a tree path is a data extent: %w", k, bytenr, ondisk.ErrCorrupt)
	}
	var missingKeys, indirect, direct preftree
	err = visitRefs(c, &ei, func(typ ondisk.ItemType, root, parent, _, _ uint64, count uint32) error {
		switch typ {
		case ondisk.SharedBlockRefKey:
			direct.insert(&prelimRef{level: level + 1, parent: parent, count: 1, wanted: bytenr})
		case ondisk.TreeBlockRefKey:
			if root != ondisk.DataRelocTreeObjectID {
				missingKeys.insert(&prelimRef{level: level + 1, root: root, count: 1, wanted: bytenr})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// add_missing_keys: the block's first key is what each tree is
	// searched for.
	if len(missingKeys) > 0 {
		blk, err := w.s.fs.Blocks().ReadTreeBlock(volume.Logical(bytenr), ondisk.BlockExpect{Level: uint8(level)})
		if err != nil {
			return fmt.Errorf("tree block %d: %w", bytenr, err)
		}
		if blk.NumItems() == 0 {
			return fmt.Errorf("tree block %d is empty: %w", bytenr, ondisk.ErrCorrupt)
		}
		first := blk.Key(0)
		for _, r := range missingKeys {
			r.key = first
			indirect.insert(r)
		}
	}

	// resolve_indirect_refs: the node one level up on the search path
	// of each tree, or none when the block is that tree's root.
	for _, ref := range indirect {
		if ref.count == 0 {
			continue
		}
		parent, err := d.pathNode(ref.root, ref.key, ref.level)
		if err != nil && !fstree.IsNotFound(err) {
			return err
		}
		ref.parent = parent
		direct.insert(ref)
	}

	for _, ref := range direct {
		switch {
		case ref.count == 0:
		case ref.parent != 0:
			queue.add(ref.parent)
		case ref.root != 0:
			roots.add(ref.root)
		}
	}
	return nil
}

// pathNode mirrors resolve_indirect_ref for a tree block ref: the block at
// level on the path searching key in tree root, 0 when level is just
// above the tree's root (the block referred to is the root).
func (d *dataState) pathNode(root uint64, key ondisk.Key, level int) (uint64, error) {
	t, err := d.tree(root)
	if err != nil {
		return 0, err
	}
	rootLevel := int(t.Root().Level)
	if rootLevel+1 == level {
		return 0, nil
	}
	if key.Type == ondisk.ExtentDataKey && key.Offset >= math.MaxInt64 {
		key.Offset = 0
	}
	n, err := t.RootNode()
	if err != nil {
		return 0, err
	}
	if rootLevel < level {
		// The tree is not that tall: the search stops at its root.
		if rootLevel == 0 {
			return 0, nil
		}
		return n.Bytenr, nil
	}
	for int(n.Level) > level {
		slot, _ := n.Search(key)
		if n, err = t.Child(n, slot); err != nil {
			return 0, err
		}
	}
	return n.Bytenr, nil
}

// tree returns the tree of root id, opened once per send.
func (d *dataState) tree(id uint64) (*btree.Tree, error) {
	if t, ok := d.trees[id]; ok {
		return t, nil
	}
	r, _, err := d.s.fs.TreeRoot(id)
	if err != nil {
		return nil, err
	}
	t := btree.New(d.s.fs.Blocks(), r)
	d.trees[id] = t
	return t, nil
}

// extentTreeOf returns the extent tree, opened on first use.
func (d *dataState) extentTreeOf() (*btree.Tree, error) {
	if d.extentTree == nil {
		t, err := d.s.fs.Tree(ondisk.ExtentTreeObjectID)
		if err != nil {
			return nil, fmt.Errorf("extent tree: %w", err)
		}
		d.extentTree = t
	}
	return d.extentTree, nil
}

// leafOwner returns the owner of the send root's leaf that holds key k
// (btrfs_header_owner of the path's leaf).
func (s *sender) leafOwner(k ondisk.Key) (uint64, error) {
	c, err := s.root.Tree.Seek(k)
	if err != nil {
		return 0, err
	}
	if !c.Valid() || c.Key() != k {
		return 0, corruptf("subvolume %d: key %v vanished", s.root.ID, k)
	}
	n, _ := c.Leaf()
	return n.Owner, nil
}
