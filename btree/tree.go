package btree

import (
	"errors"
	"fmt"
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
	c, err := t.Seek(k)
	if err != nil {
		return nil, err
	}
	if !c.Valid() || c.Key() != k {
		return nil, ErrNotFound
	}
	return c.Data(), nil
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

// Walk calls fn for every item with from <= key <= to, in key order, until
// fn returns false or an error.
func (t *Tree) Walk(from, to ondisk.Key, fn func(k ondisk.Key, data []byte) (bool, error)) error {
	c, err := t.Seek(from)
	if err != nil {
		return err
	}
	for c.Valid() {
		k := c.Key()
		if k.Compare(to) > 0 {
			return nil
		}
		if more, err := fn(k, c.Data()); err != nil || !more {
			return err
		}
		if err := c.Next(); err != nil {
			return err
		}
	}
	return nil
}

// WalkObject calls fn for every item of one object ID and type, in key
// order, e.g. every INODE_REF of an inode or every EXTENT_DATA of a file.
func (t *Tree) WalkObject(objectID uint64, typ ondisk.ItemType, fn func(k ondisk.Key, data []byte) (bool, error)) error {
	return t.Walk(ondisk.Key{ObjectID: objectID, Type: typ}, ondisk.Key{ObjectID: objectID, Type: typ, Offset: ^uint64(0)}, fn)
}
