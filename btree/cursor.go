package btree

import (
	"github.com/coldsend/coldsend/ondisk"
)

// Cursor is a position on an item of a tree: the path of blocks from the
// leaf (index 0) to the root with the slot taken in each. Moving it reads
// blocks through the tree's Reader. The zero Cursor is not usable; get one
// from Tree.Seek and friends.
type Cursor struct {
	t     *Tree
	nodes []*ondisk.Node // nodes[level]
	slots []int          // slots[level]
	valid bool
	// intact is false while the path may mix blocks of two positions,
	// after a read failed halfway down; Seek then starts from the root.
	intact bool

	// The path's storage, so that a seek allocates nothing beyond the
	// Cursor itself.
	nodeBuf [ondisk.MaxLevel]*ondisk.Node
	slotBuf [ondisk.MaxLevel]int
}

// descend builds the path to key k: in internal nodes the last pointer
// whose key is <= k, in the leaf the slot of k or where it would go (which
// may be one past the last item).
func (c *Cursor) descend(k ondisk.Key) error {
	c.valid, c.intact = false, false
	if c.t.fromHint(c, k) {
		return nil
	}
	root, err := c.t.RootNode()
	if err != nil {
		return err
	}
	lvl := int(root.Level)
	c.nodes = c.nodeBuf[:lvl+1]
	c.slots = c.slotBuf[:lvl+1]
	n := root
	for {
		slot, _ := n.Search(k)
		c.nodes[n.Level], c.slots[n.Level] = n, slot
		if n.Level == 0 {
			break
		}
		if n, err = c.t.Child(n, slot); err != nil {
			return err
		}
	}
	c.valid = c.slots[0] < c.nodes[0].NumItems()
	c.intact = true
	c.t.remember(len(c.nodes), &c.nodeBuf, &c.slotBuf)
	return nil
}

// Valid reports whether the cursor is on an item.
func (c *Cursor) Valid() bool { return c.valid }

// Key returns the current item's key.
func (c *Cursor) Key() ondisk.Key { return c.nodes[0].Key(c.slots[0]) }

// Data returns the current item's payload. It aliases the cached block and
// must not be modified.
func (c *Cursor) Data() []byte { return c.nodes[0].ItemData(c.slots[0]) }

// Leaf returns the current leaf and slot, for callers that need the block
// itself (its address or generation).
func (c *Cursor) Leaf() (*ondisk.Node, int) { return c.nodes[0], c.slots[0] }

// Next moves to the following item; at the end the cursor becomes invalid.
func (c *Cursor) Next() error {
	if c.slots[0]+1 < c.nodes[0].NumItems() {
		c.slots[0]++
		c.valid = true
		return nil
	}
	// Climb to the lowest level with a pointer to the right, then take the
	// leftmost path below it.
	lvl := 1
	for ; lvl < len(c.nodes); lvl++ {
		if c.slots[lvl]+1 < c.nodes[lvl].NumItems() {
			break
		}
	}
	if lvl == len(c.nodes) {
		c.slots[0] = c.nodes[0].NumItems()
		c.valid = false
		return nil
	}
	c.slots[lvl]++
	for ; lvl > 0; lvl-- {
		child, err := c.t.Child(c.nodes[lvl], c.slots[lvl])
		if err != nil {
			c.valid, c.intact = false, false
			return err
		}
		c.nodes[lvl-1], c.slots[lvl-1] = child, 0
	}
	if c.nodes[0].NumItems() == 0 {
		c.valid = false
		return &ondisk.BlockError{Logical: c.nodes[0].Bytenr, Tree: c.t.root.ID, Err: corruptf("empty leaf below the root")}
	}
	c.valid = true
	return nil
}

// Prev moves to the preceding item; before the first item the cursor
// becomes invalid.
func (c *Cursor) Prev() error {
	if c.slots[0] > 0 {
		c.slots[0]--
		c.valid = true
		return nil
	}
	lvl := 1
	for ; lvl < len(c.nodes); lvl++ {
		if c.slots[lvl] > 0 {
			break
		}
	}
	if lvl == len(c.nodes) {
		c.valid = false
		return nil
	}
	c.slots[lvl]--
	for ; lvl > 0; lvl-- {
		child, err := c.t.Child(c.nodes[lvl], c.slots[lvl])
		if err != nil {
			c.valid, c.intact = false, false
			return err
		}
		c.nodes[lvl-1], c.slots[lvl-1] = child, child.NumItems()-1
	}
	if c.nodes[0].NumItems() == 0 {
		c.valid = false
		return &ondisk.BlockError{Logical: c.nodes[0].Bytenr, Tree: c.t.root.ID, Err: corruptf("empty leaf below the root")}
	}
	c.valid = true
	return nil
}

// Clone returns an independent copy of the cursor at the same position.
func (c *Cursor) Clone() *Cursor {
	n := &Cursor{t: c.t, valid: c.valid, intact: c.intact, nodeBuf: c.nodeBuf, slotBuf: c.slotBuf}
	n.nodes = n.nodeBuf[:len(c.nodes)]
	n.slots = n.slotBuf[:len(c.slots)]
	return n
}

// Seek moves c to the first item whose key is >= k, as Tree.Seek does.
// Sequential seeks are cheap: when k falls within the current leaf's keys
// only that leaf is searched, and otherwise c's storage is reused.
func (c *Cursor) Seek(k ondisk.Key) error {
	if c.inLeaf(k) {
		c.slots[0], _ = c.nodes[0].Search(k)
		c.valid = true
		return nil
	}
	if err := c.descend(k); err != nil {
		return err
	}
	if c.slots[0] >= c.nodes[0].NumItems() {
		return c.Next()
	}
	return nil
}

// SeekLE moves c to the last item whose key is <= k, as Tree.SeekLE does,
// as cheaply as Seek.
func (c *Cursor) SeekLE(k ondisk.Key) error {
	if c.inLeaf(k) {
		slot, found := c.nodes[0].Search(k)
		if !found {
			slot-- // inLeaf makes the first key <= k, so slot > 0 here
		}
		c.slots[0] = slot
		c.valid = true
		return nil
	}
	if err := c.descend(k); err != nil {
		return err
	}
	leaf := c.nodes[0]
	if c.slots[0] < leaf.NumItems() && leaf.Key(c.slots[0]) == k {
		return nil
	}
	return c.Prev()
}

// inLeaf reports whether the cursor's path is intact and its leaf's first
// key is <= k and its last key >= k, so that the item k seeks (either way)
// is in this leaf.
func (c *Cursor) inLeaf(k ondisk.Key) bool {
	return c.intact && leafSpans(c.nodes[0], k)
}

// leafSpans reports whether leaf's first key is <= k and its last >= k.
func leafSpans(leaf *ondisk.Node, k ondisk.Key) bool {
	n := leaf.NumItems()
	return n > 0 && leaf.Key(0).Compare(k) <= 0 && leaf.Key(n-1).Compare(k) >= 0
}
