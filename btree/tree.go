package btree

import (
	"errors"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// ErrNotFound is returned by Lookup when no item has the key.
var ErrNotFound = errors.New("item not found")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ondisk.ErrCorrupt}, args...)...)
}

// Root locates the root block of a tree, as named by the superblock or by a
// ROOT_ITEM.
type Root struct {
	ID         uint64 // tree ID (owner), for error messages
	Bytenr     uint64
	Level      uint8
	Generation uint64
}

// Tree is a committed B-tree that can be searched and iterated. It holds no
// state besides its root, so one Tree may be used by many cursors, also
// concurrently.
type Tree struct {
	r     Reader
	cache *Cache // r when it is a *Cache, called directly (see escapingCopy)
	root  Root
	// The root block once read: every search starts there, and blocks
	// never change, so this saves a cache lookup per search.
	rootNode atomic.Pointer[ondisk.Node]
	// Paths of recent descents. Point lookups cluster (an inode's items,
	// its parent directory's, the inodes just before it), so a new search
	// often ends in a leaf one of these already reached and need not read
	// the blocks above it again.
	hints    [hintPaths]atomic.Pointer[path]
	hintNext atomic.Uint32
}

const hintPaths = 4

// path is an immutable root-to-leaf path a descent took.
type path struct {
	first, last ondisk.Key // of the leaf, decoded once
	depth       int
	nodes       [ondisk.MaxLevel]*ondisk.Node
	slots       [ondisk.MaxLevel]int
}

// fromHint sets c on k's slot in a remembered leaf spanning k, if any.
func (t *Tree) fromHint(c *Cursor, k ondisk.Key) bool {
	p := t.hintFor(k)
	if p == nil {
		return false
	}
	c.nodeBuf, c.slotBuf = p.nodes, p.slots
	c.nodes, c.slots = c.nodeBuf[:p.depth], c.slotBuf[:p.depth]
	c.slots[0], _ = c.nodes[0].Search(k)
	c.valid = c.slots[0] < c.nodes[0].NumItems()
	c.intact = true
	return true
}

// hintFor returns a remembered path whose leaf spans k, or nil.
func (t *Tree) hintFor(k ondisk.Key) *path {
	for i := range t.hints {
		if p := t.hints[i].Load(); p != nil && p.first.Compare(k) <= 0 && p.last.Compare(k) >= 0 {
			return p
		}
	}
	return nil
}

// remember keeps a path just descended, replacing the oldest, unless its
// leaf is remembered already (a search past a leaf's last key descends
// into it again, and must not allocate each time).
func (t *Tree) remember(depth int, nodes *[ondisk.MaxLevel]*ondisk.Node, slots *[ondisk.MaxLevel]int) {
	leaf := nodes[0]
	n := leaf.NumItems()
	if n == 0 {
		return
	}
	for i := range t.hints {
		if p := t.hints[i].Load(); p != nil && p.nodes[0] == leaf {
			return
		}
	}
	p := &path{first: leaf.Key(0), last: leaf.Key(n - 1), depth: depth, nodes: *nodes, slots: *slots}
	t.hints[(t.hintNext.Add(1)-1)%hintPaths].Store(p)
}

// New returns the tree rooted at root, read through r (normally a *Cache).
func New(r Reader, root Root) *Tree {
	c, _ := r.(*Cache)
	return &Tree{r: r, cache: c, root: root}
}

// Root returns the tree's root locator.
func (t *Tree) Root() Root { return t.root }

// Reader returns the block reader the tree reads through.
func (t *Tree) Reader() Reader { return t.r }

// RootNode reads the tree's root block.
func (t *Tree) RootNode() (*ondisk.Node, error) {
	if n := t.rootNode.Load(); n != nil {
		return n, nil
	}
	n, err := t.read(volume.Logical(t.root.Bytenr), ondisk.BlockExpect{Level: t.root.Level, Generation: t.root.Generation, Owner: t.root.ID})
	if err == nil {
		t.rootNode.Store(n)
	}
	return n, err
}

// Child reads the block that pointer slot of node n points to, checked
// against the pointer's generation, the expected level and first key.
func (t *Tree) Child(n *ondisk.Node, slot int) (*ondisk.Node, error) {
	bytenr, gen := n.BlockPtr(slot)
	k := n.Key(slot)
	return t.read(volume.Logical(bytenr), ondisk.BlockExpect{Level: n.Level - 1, Generation: gen, Owner: t.root.ID, FirstKey: &k})
}

func (t *Tree) read(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	if t.cache != nil {
		return t.cache.ReadTreeBlock(logical, want)
	}
	return t.r.ReadTreeBlock(logical, escapingCopy(want))
}

// Lookup returns the payload of the item with exactly key k.
func (t *Tree) Lookup(k ondisk.Key) ([]byte, error) {
	leaf, slot, found, err := t.Find(k)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return leaf.ItemData(slot), nil
}

// Find returns the leaf that holds key k or would, and k's slot in it
// (which may be one past its last item), without making a Cursor: point
// lookups are send's most frequent tree operation.
func (t *Tree) Find(k ondisk.Key) (leaf *ondisk.Node, slot int, found bool, err error) {
	if p := t.hintFor(k); p != nil {
		slot, found = p.nodes[0].Search(k)
		return p.nodes[0], slot, found, nil
	}
	n, err := t.RootNode()
	if err != nil {
		return nil, 0, false, err
	}
	depth := int(n.Level) + 1
	var nodes [ondisk.MaxLevel]*ondisk.Node
	var slots [ondisk.MaxLevel]int
	for {
		slot, found = n.Search(k)
		nodes[n.Level], slots[n.Level] = n, slot
		if n.Level == 0 {
			break
		}
		if n, err = t.Child(n, slot); err != nil {
			return nil, 0, false, err
		}
	}
	t.remember(depth, &nodes, &slots)
	return n, slot, found, nil
}

// Seek returns a cursor on the first item whose key is >= k. The cursor is
// not Valid when no such item exists.
func (t *Tree) Seek(k ondisk.Key) (*Cursor, error) {
	c := &Cursor{t: t}
	if err := c.Seek(k); err != nil {
		return nil, err
	}
	return c, nil
}

// SeekLE returns a cursor on the last item whose key is <= k. The cursor is
// not Valid when every key is greater than k.
func (t *Tree) SeekLE(k ondisk.Key) (*Cursor, error) {
	c := &Cursor{t: t}
	if err := c.SeekLE(k); err != nil {
		return nil, err
	}
	return c, nil
}

// First returns a cursor on the tree's first item.
func (t *Tree) First() (*Cursor, error) { return t.Seek(ondisk.Key{}) }

// Last returns a cursor on the tree's last item.
func (t *Tree) Last() (*Cursor, error) { return t.SeekLE(ondisk.MaxKey) }

// Item is one leaf item an iteration meets. Data aliases the tree block,
// which is never modified: it stays valid after the iteration moves on.
type Item struct {
	Key  ondisk.Key
	Data []byte
}

// Items iterates over the items with from <= key <= to, in key order. A
// read error is yielded once, last.
func (t *Tree) Items(from, to ondisk.Key) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		c, err := t.Seek(from)
		for err == nil && c.Valid() {
			k := c.Key()
			if k.Compare(to) > 0 || !yield(Item{k, c.Data()}, nil) {
				return
			}
			err = c.Next()
		}
		if err != nil {
			yield(Item{}, err)
		}
	}
}

// ObjectItems iterates over the items of one object ID and type in key
// order, e.g. every INODE_REF of an inode or every EXTENT_DATA of a file.
func (t *Tree) ObjectItems(objectID uint64, typ ondisk.ItemType) iter.Seq2[Item, error] {
	return t.Items(ondisk.Key{ObjectID: objectID, Type: typ}, ondisk.Key{ObjectID: objectID, Type: typ, Offset: ^uint64(0)})
}
