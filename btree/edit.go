package btree

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// Changes to committed trees are made in memory, never on the image: an
// Editor copies each block it changes into a MemBlocks, whose addresses no
// chunk maps, and points the copied parents at the copies, up to a new
// root (copy on write, as the kernel's tree edits are). Readers of the
// edited tree go through the MemBlocks and see the change; the committed
// tree stays as it was. A block copied once is changed in place after, so
// memory grows with the blocks touched, not with the number of edits.

// memBase is where in-memory block addresses start: above any logical
// address a filesystem can map (chunks end below 2^62 in practice).
const memBase = 1 << 62

// MemBlocks is a Reader that serves the blocks Editors made, and every
// other block from a base Reader. It is safe for concurrent use, but an
// Editor's changes must not race with reads of the tree it edits.
type MemBlocks struct {
	base     Reader
	nodeSize int

	mu     sync.Mutex
	blocks map[volume.Logical]*ondisk.Node
	next   uint64
}

// NewMemBlocks returns an empty block store over base, for trees of
// nodeSize-byte blocks.
func NewMemBlocks(base Reader, nodeSize int) *MemBlocks {
	return &MemBlocks{base: base, nodeSize: nodeSize, blocks: map[volume.Logical]*ondisk.Node{}, next: memBase}
}

// ReadTreeBlock returns an in-memory block, checked against want as a read
// from the image is, or reads through the base.
func (m *MemBlocks) ReadTreeBlock(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	m.mu.Lock()
	n, ok := m.blocks[logical]
	m.mu.Unlock()
	if !ok {
		return m.base.ReadTreeBlock(logical, want)
	}
	if err := checkExpect(n, logical, want); err != nil {
		return nil, err
	}
	return n, nil
}

// Bytes is the memory the in-memory blocks hold.
func (m *MemBlocks) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.blocks) * m.nodeSize
}

func (m *MemBlocks) isMem(addr uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blocks[volume.Logical(addr)]
	return ok
}

// Header flags a copy does not inherit (BTRFS_HEADER_FLAG_WRITTEN and
// _RELOC), and the backref revision every new block has.
const (
	headerFlagsDropped = 1<<0 | 1<<1
	mixedBackrefRev    = 1 << 56
	backrefRevMask     = 0xff << 56
)

// alloc stores a new block of tree owner at level, built from like's
// header as btrfs_force_cow_block builds a copy: its own address,
// generation and owner, the current backref revision.
func (m *MemBlocks) alloc(like *ondisk.Node, level uint8, gen, owner uint64) *ondisk.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := m.next
	m.next += uint64(m.nodeSize)
	b := make([]byte, m.nodeSize)
	copy(b[:ondisk.HeaderSize], like.Data[:ondisk.HeaderSize])
	clear(b[:ondisk.CsumSize]) // never verified: it was never written
	flags := like.Flags&^(headerFlagsDropped|backrefRevMask) | mixedBackrefRev
	binary.LittleEndian.PutUint64(b[48:], addr)
	binary.LittleEndian.PutUint64(b[56:], flags)
	binary.LittleEndian.PutUint64(b[80:], gen)
	binary.LittleEndian.PutUint64(b[88:], owner)
	binary.LittleEndian.PutUint32(b[96:], 0)
	b[100] = level
	n := &ondisk.Node{Header: like.Header, Data: b}
	n.Bytenr, n.Flags, n.Generation, n.Owner, n.NrItems, n.Level = addr, flags, gen, owner, 0, level
	m.blocks[volume.Logical(addr)] = n
	return n
}

func (m *MemBlocks) free(addr uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blocks, volume.Logical(addr))
}

// Editor changes one tree in memory. Its methods are not safe for
// concurrent use; a Tree from Tree() reflects every edit made before it
// was taken, and must be taken again after further edits.
type Editor struct {
	mem    *MemBlocks
	root   Root
	gen    uint64
	onCopy CopyHook
}

// CopyHook is told of each committed block an edit is about to copy,
// parents before children, as the kernel's btrfs_cow_block would COW
// them; root reports whether old is the tree's root block. An error
// stops the edit before anything changes below old.
type CopyHook func(old *ondisk.Node, root bool) error

// OnCopy sets the hook told of every committed block copied from now on.
func (e *Editor) OnCopy(h CopyHook) { e.onCopy = h }

// Edit starts editing the tree at root; new blocks carry generation gen
// (the transaction that would have written them).
func (m *MemBlocks) Edit(root Root, gen uint64) *Editor {
	return &Editor{mem: m, root: root, gen: gen}
}

// Root is the edited tree's current root.
func (e *Editor) Root() Root { return e.root }

// Tree returns the edited tree as it is now.
func (e *Editor) Tree() *Tree { return New(e.mem, e.root) }

// step is one level of a path from the root: a block and the slot taken.
type step struct {
	n    *ondisk.Node
	slot int
}

// ptr is a child pointer of an internal node.
type ptr struct {
	key  ondisk.Key
	addr uint64
	gen  uint64
}

// Put inserts the item with key k, or replaces its data if it exists.
func (e *Editor) Put(k ondisk.Key, data []byte) error {
	if max := e.mem.nodeSize - ondisk.HeaderSize - ondisk.ItemHdrSize; len(data) > max {
		return fmt.Errorf("item %v of %d bytes does not fit a %d-byte block", k, len(data), e.mem.nodeSize)
	}
	return e.change(k, func(items []Item, slot int, found bool) []Item {
		it := Item{Key: k, Data: slices.Clone(data)}
		if found {
			items[slot] = it
			return items
		}
		return slices.Insert(items, slot, it)
	})
}

// Delete removes the item with key k; it reports whether there was one.
func (e *Editor) Delete(k ondisk.Key) (bool, error) {
	var was bool
	err := e.change(k, func(items []Item, slot int, found bool) []Item {
		if !found {
			return items
		}
		was = true
		return slices.Delete(items, slot, slot+1)
	})
	return was, err
}

// change applies edit to the items of the leaf where k is or would go.
func (e *Editor) change(k ondisk.Key, edit func(items []Item, slot int, found bool) []Item) error {
	path, err := e.descend(k)
	if err != nil {
		return err
	}
	leaf := path[len(path)-1].n
	items := leafItems(leaf)
	slot, found := leaf.Search(k)
	before := len(items)
	items = edit(items, slot, found)
	if len(items) == before && !found {
		return nil // nothing to delete
	}
	if err := e.copyPath(path); err != nil {
		return err
	}
	return e.rewrite(path, len(path)-1, e.packLeaves(path[len(path)-1].n, items))
}

// descend returns the path from the root to the leaf for k (root first).
func (e *Editor) descend(k ondisk.Key) ([]step, error) {
	t := e.Tree()
	n, err := t.RootNode()
	if err != nil {
		return nil, err
	}
	var path []step
	for {
		slot, _ := n.Search(k)
		path = append(path, step{n, slot})
		if n.Level == 0 {
			return path, nil
		}
		if n, err = t.Child(n, slot); err != nil {
			return nil, err
		}
	}
}

// copyPath makes every block of path an in-memory one, copying committed
// blocks once (their parents then point at the copies).
func (e *Editor) copyPath(path []step) error {
	for i, s := range path {
		if e.mem.isMem(s.n.Bytenr) {
			continue
		}
		if e.onCopy != nil {
			if err := e.onCopy(s.n, i == 0); err != nil {
				return err
			}
		}
		c := e.mem.alloc(s.n, s.n.Level, e.gen, e.root.ID)
		copy(c.Data[ondisk.HeaderSize:], s.n.Data[ondisk.HeaderSize:])
		c.NrItems = s.n.NrItems
		binary.LittleEndian.PutUint32(c.Data[96:], c.NrItems)
		path[i].n = c
		if i == 0 {
			e.root = Root{ID: e.root.ID, Bytenr: c.Bytenr, Level: c.Level, Generation: e.gen}
			continue
		}
		parent := path[i-1]
		putPtr(parent.n, parent.slot, ptr{parent.n.Key(parent.slot), c.Bytenr, e.gen})
	}
	return nil
}

// rewrite puts blocks in the place of path[level]'s block (nil: remove
// it), fixing the pointers above, splitting parents that overflow and
// growing or shrinking the root.
func (e *Editor) rewrite(path []step, level int, blocks []*ondisk.Node) error {
	old := path[level].n
	var ptrs []ptr
	for _, b := range blocks {
		ptrs = append(ptrs, ptr{firstKey(b), b.Bytenr, e.gen})
	}
	if level == 0 { // the root
		switch {
		case len(ptrs) == 0:
			empty := e.mem.alloc(old, 0, e.gen, e.root.ID)
			e.freeUnless(old, empty)
			e.root = Root{ID: e.root.ID, Bytenr: empty.Bytenr, Level: 0, Generation: e.gen}
			return nil
		case len(ptrs) == 1:
			e.freeUnless(old, blocks[0])
			e.root = Root{ID: e.root.ID, Bytenr: blocks[0].Bytenr, Level: blocks[0].Level, Generation: e.gen}
			return nil
		}
		// Grow: pointers to the blocks in a new root, above which more
		// levels come if they do not fit one block.
		parents := e.packNodes(old, blocks[0].Level+1, ptrs)
		e.freeUnless(old, blocks...)
		return e.rewrite([]step{{n: parents[0]}}, 0, parents)
	}
	parent := path[level-1]
	pp := nodePtrs(parent.n)
	pp = slices.Replace(pp, parent.slot, parent.slot+1, ptrs...)
	e.freeUnless(old, blocks...)
	var parents []*ondisk.Node
	if len(pp) > 0 {
		parents = e.packNodes(parent.n, parent.n.Level, pp)
	}
	return e.rewrite(path, level-1, parents)
}

// freeUnless drops old from memory unless it is one of keep.
func (e *Editor) freeUnless(old *ondisk.Node, keep ...*ondisk.Node) {
	for _, k := range keep {
		if k == old {
			return
		}
	}
	e.mem.free(old.Bytenr)
}

// packLeaves lays items out in leaves, reusing like (an in-memory leaf)
// for the first and filling each before starting the next.
func (e *Editor) packLeaves(like *ondisk.Node, items []Item) []*ondisk.Node {
	room := e.mem.nodeSize - ondisk.HeaderSize
	var out []*ondisk.Node
	for i := 0; i < len(items); {
		j, used := i, 0
		for j < len(items) && used+ondisk.ItemHdrSize+len(items[j].Data) <= room {
			used += ondisk.ItemHdrSize + len(items[j].Data)
			j++
		}
		n := like
		if len(out) > 0 {
			n = e.mem.alloc(like, 0, e.gen, e.root.ID)
		}
		encodeLeaf(n, items[i:j])
		out = append(out, n)
		i = j
	}
	if len(out) == 0 && len(items) == 0 {
		return nil
	}
	return out
}

// packNodes lays pointers out in internal nodes at level, reusing like
// for the first.
func (e *Editor) packNodes(like *ondisk.Node, level uint8, ptrs []ptr) []*ondisk.Node {
	per := (e.mem.nodeSize - ondisk.HeaderSize) / ondisk.KeyPtrSize
	var out []*ondisk.Node
	for i := 0; i < len(ptrs); i += per {
		var n *ondisk.Node
		if len(out) == 0 && like.Level == level && e.mem.isMem(like.Bytenr) {
			n = like
		} else {
			n = e.mem.alloc(like, level, e.gen, e.root.ID)
		}
		encodeNode(n, ptrs[i:min(i+per, len(ptrs))])
		out = append(out, n)
	}
	return out
}

func firstKey(n *ondisk.Node) ondisk.Key {
	if n.NumItems() == 0 {
		return ondisk.Key{}
	}
	return n.Key(0)
}

func leafItems(n *ondisk.Node) []Item {
	items := make([]Item, n.NumItems())
	for i := range items {
		items[i] = Item{Key: n.Key(i), Data: slices.Clone(n.ItemData(i))}
	}
	return items
}

func nodePtrs(n *ondisk.Node) []ptr {
	ptrs := make([]ptr, n.NumItems())
	for i := range ptrs {
		addr, gen := n.BlockPtr(i)
		ptrs[i] = ptr{n.Key(i), addr, gen}
	}
	return ptrs
}

// encodeLeaf writes items into leaf n: item headers after the block
// header, data packed from the block's end.
func encodeLeaf(n *ondisk.Node, items []Item) {
	b := n.Data
	clear(b[ondisk.HeaderSize:])
	end := len(b) - ondisk.HeaderSize
	for i, it := range items {
		o := ondisk.HeaderSize + i*ondisk.ItemHdrSize
		ondisk.PutKey(b[o:], it.Key)
		end -= len(it.Data)
		binary.LittleEndian.PutUint32(b[o+17:], uint32(end))
		binary.LittleEndian.PutUint32(b[o+21:], uint32(len(it.Data)))
		copy(b[ondisk.HeaderSize+end:], it.Data)
	}
	n.NrItems = uint32(len(items))
	binary.LittleEndian.PutUint32(b[96:], n.NrItems)
}

// encodeNode writes pointers into internal node n.
func encodeNode(n *ondisk.Node, ptrs []ptr) {
	b := n.Data
	clear(b[ondisk.HeaderSize:])
	for i, p := range ptrs {
		putPtrAt(b, i, p)
	}
	n.NrItems = uint32(len(ptrs))
	binary.LittleEndian.PutUint32(b[96:], n.NrItems)
}

func putPtr(n *ondisk.Node, slot int, p ptr) { putPtrAt(n.Data, slot, p) }

func putPtrAt(b []byte, slot int, p ptr) {
	o := ondisk.HeaderSize + slot*ondisk.KeyPtrSize
	ondisk.PutKey(b[o:], p.key)
	binary.LittleEndian.PutUint64(b[o+17:], p.addr)
	binary.LittleEndian.PutUint64(b[o+25:], p.gen)
}
