package compare

import (
	"bytes"
	"fmt"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
)

// Result says how an item differs between the two trees.
type Result int

// The results, numbered as enum btrfs_compare_tree_result.
const (
	New     Result = iota // only in the left tree (the send root)
	Deleted               // only in the right tree (the parent)
	Changed               // in both, with different size or bytes
	Same                  // in both, byte for byte
)

// String returns the result's name in lower case.
func (r Result) String() string {
	switch r {
	case New:
		return "new"
	case Deleted:
		return "deleted"
	case Changed:
		return "changed"
	case Same:
		return "same"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Side locates an item in one tree: the leaf holding it and its slot (Leaf
// nil when the item is absent on that side).
type Side struct {
	Leaf *ondisk.Node
	Slot int
}

// Key returns the item's key, or the zero key when Leaf is nil.
func (s Side) Key() ondisk.Key {
	if s.Leaf == nil {
		return ondisk.Key{}
	}
	return s.Leaf.Key(s.Slot)
}

// Data returns the item's payload, or nil when Leaf is nil. It aliases the
// (cached, shared) block and must not be modified.
func (s Side) Data() []byte {
	if s.Leaf == nil {
		return nil
	}
	return s.Leaf.ItemData(s.Slot)
}

// How a side moves on the next step (the kernel's advance_left/right).
type move int

const (
	stay     move = iota // 0: do not move
	moveDown             // ADVANCE: next item, or one level down from a node
	moveNext             // ADVANCE_ONLY_NEXT: next pointer, never down
)

// walker is one side of the comparison: a btrfs_path (a block and slot per
// level, from the root down to the current level) with the key at the
// current position.
type walker struct {
	tree      *btree.Tree
	role      string // "send root" or "parent root", for errors
	nodes     [ondisk.MaxLevel]*ondisk.Node
	slots     [ondisk.MaxLevel]int
	level     int
	rootLevel int
	key       ondisk.Key
	end       bool // the kernel's left/right_end_reached
}

// start places w on the first slot of the root, as the set-up of
// btrfs_compare_trees does.
func (w *walker) start(t *btree.Tree, role string) error {
	w.tree, w.role = t, role
	root, err := t.RootNode()
	if err != nil {
		return w.errorf("root: %w", err)
	}
	if int(root.Level) >= ondisk.MaxLevel {
		return w.errorf("root block %d: %w: level %d is not below %d", root.Bytenr, ondisk.ErrCorrupt, root.Level, ondisk.MaxLevel)
	}
	w.level = int(root.Level)
	w.rootLevel = w.level
	w.nodes[w.level] = root
	if root.NumItems() == 0 {
		// Only a root leaf can be empty. The kernel would read a key
		// from the empty slot 0 (subvolume trees are never empty, so
		// it never meets one); here such a tree has simply ended.
		w.end = true
		return nil
	}
	w.key = root.Key(0)
	return nil
}

func (w *walker) errorf(format string, args ...any) error {
	return fmt.Errorf("compare: %s (%s): "+format, append([]any{w.role, ondisk.TreeName(w.tree.Root().ID)}, args...)...)
}

// side returns the current item; w must be on a leaf.
func (w *walker) side() Side { return Side{Leaf: w.nodes[0], Slot: w.slots[0]} }

// ptr returns the block pointer at the current position; w must be on a node.
func (w *walker) ptr() (bytenr, gen uint64) { return w.nodes[w.level].BlockPtr(w.slots[w.level]) }

// advance mirrors tree_advance.
func (w *walker) advance(allowDown bool) error {
	if w.level == 0 || !allowDown {
		w.nextOrUpnext()
	} else if err := w.down(); err != nil {
		return err
	}
	// As in the kernel the key is refreshed even at the end, where the
	// position is the root's last slot.
	w.key = w.nodes[w.level].Key(w.slots[w.level])
	return nil
}

// down mirrors tree_move_down.
func (w *walker) down() error {
	parent, slot := w.nodes[w.level], w.slots[w.level]
	child, err := w.tree.Child(parent, slot)
	if err != nil {
		return w.errorf("pointer %d of block %d (level %d): %w", slot, parent.Bytenr, parent.Level, err)
	}
	// The btree layer checks both already; the walk's bookkeeping relies
	// on them, so a Reader that did not cannot make it misbehave.
	if int(child.Level) != w.level-1 {
		return w.errorf("block %d, pointer %d of block %d: %w: level %d, expected %d", child.Bytenr, slot, parent.Bytenr, ondisk.ErrCorrupt, child.Level, w.level-1)
	}
	if child.NumItems() == 0 {
		return w.errorf("block %d, pointer %d of block %d: %w: empty block below the root", child.Bytenr, slot, parent.Bytenr, ondisk.ErrCorrupt)
	}
	w.level--
	w.nodes[w.level] = child
	w.slots[w.level] = 0
	return nil
}

// nextOrUpnext mirrors tree_move_next_or_upnext: the next slot at this
// level, climbing while a block is exhausted; past the root's last slot the
// side has ended.
func (w *walker) nextOrUpnext() {
	n := w.nodes[w.level].NumItems()
	w.slots[w.level]++
	for w.slots[w.level] >= n {
		if w.level == w.rootLevel {
			w.slots[w.level] = n - 1
			w.end = true
			return
		}
		w.slots[w.level] = 0
		w.nodes[w.level] = nil
		w.level++
		w.slots[w.level]++
		n = w.nodes[w.level].NumItems()
	}
}

// Trees walks left (the send root) and right (the parent) in lockstep and
// calls fn for every difference, in key order. It mirrors
// btrfs_compare_trees.
//
// fn receives the key, the result and the item's position on each side; a
// side's Leaf is nil when the item is not in that tree (NEW has no right
// side, DELETED no left side). The leaves stay valid after fn returns.
// Items under a subtree both trees share are skipped without reading it and
// get no callback, not even SAME. An error from fn ends the walk and is
// returned as is; read errors name the side, the tree and the block.
func Trees(left, right *btree.Tree, fn func(key ondisk.Key, res Result, l, r Side) error) error {
	var l, r walker
	if err := l.start(left, "send root"); err != nil {
		return err
	}
	if err := r.start(right, "parent root"); err != nil {
		return err
	}
	var advL, advR move
	for {
		if advL != stay && !l.end {
			if err := l.advance(advL != moveNext); err != nil {
				return err
			}
			advL = stay
		}
		if advR != stay && !r.end {
			if err := r.advance(advR != moveNext); err != nil {
				return err
			}
			advR = stay
		}

		switch {
		case l.end && r.end:
			return nil

		case l.end:
			// The rest of the parent is gone from the send root: its
			// every item, at whatever depth, is deleted.
			if r.level == 0 {
				if err := fn(r.key, Deleted, Side{}, r.side()); err != nil {
					return err
				}
			}
			advR = moveDown

		case r.end:
			if l.level == 0 {
				if err := fn(l.key, New, l.side(), Side{}); err != nil {
					return err
				}
			}
			advL = moveDown

		case l.level == 0 && r.level == 0:
			var err error
			switch c := l.key.Compare(r.key); {
			case c < 0:
				err = fn(l.key, New, l.side(), Side{})
				advL = moveDown
			case c > 0:
				err = fn(r.key, Deleted, Side{}, r.side())
				advR = moveDown
			default:
				res := Same
				if !sameItem(l.side(), r.side()) {
					res = Changed
				}
				err = fn(l.key, res, l.side(), r.side())
				advL, advR = moveDown, moveDown
			}
			if err != nil {
				return err
			}

		case l.level == r.level:
			switch c := l.key.Compare(r.key); {
			case c < 0:
				advL = moveDown
			case c > 0:
				advR = moveDown
			default:
				lb, lg := l.ptr()
				rb, rg := r.ptr()
				if lb == rb && lg == rg {
					// One block in both trees: step over it.
					advL, advR = moveNext, moveNext
				} else {
					advL, advR = moveDown, moveDown
				}
			}

		case l.level < r.level:
			advR = moveDown

		default:
			advL = moveDown
		}
	}
}

// sameItem mirrors tree_compare_item (inverted): equal sizes and bytes.
func sameItem(l, r Side) bool {
	return bytes.Equal(l.Data(), r.Data())
}
