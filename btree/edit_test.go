package btree

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// TestEditorRandom applies random puts (small and large, new and
// replacing) and deletes to a committed tree in memory, checking after
// each batch that the edited tree holds exactly what a map model holds
// (iteration, Seek, Lookup), that every block is well formed, and that
// the committed tree is unchanged.
func TestEditorRandom(t *testing.T) {
	for _, tc := range []struct {
		n, perLeaf, perNode int
		seed                uint64
	}{
		{0, 4, 4, 1}, {1, 4, 4, 2}, {50, 4, 3, 3}, {400, 7, 5, 4}, {2000, 20, 8, 5},
	} {
		t.Run(fmt.Sprintf("n%d_seed%d", tc.n, tc.seed), func(t *testing.T) {
			items := makeItems(tc.n)
			m, root := buildTree(items, tc.perLeaf, tc.perNode)
			committed := itemsOf(t, New(m, root))
			model := map[ondisk.Key][]byte{}
			for _, it := range items {
				model[it.key] = it.data
			}
			mem := NewMemBlocks(m, testNodeSize)
			ed := mem.Edit(root, 8)
			rng := rand.New(rand.NewPCG(tc.seed, 9))
			keys := func() []ondisk.Key { return slices.SortedFunc(maps.Keys(model), ondisk.Key.Compare) }
			for batch := range 30 {
				for range 40 {
					var k ondisk.Key
					if ks := keys(); len(ks) > 0 && rng.IntN(2) == 0 {
						k = ks[rng.IntN(len(ks))]
					} else {
						k = ondisk.Key{ObjectID: uint64(200 + rng.IntN(800)), Type: ondisk.ItemType(rng.IntN(120)), Offset: rng.Uint64N(1 << 20)}
					}
					if rng.IntN(3) == 0 {
						was, err := ed.Delete(k)
						if err != nil {
							t.Fatal(err)
						}
						if _, ok := model[k]; ok != was {
							t.Fatalf("Delete(%v) = %v, the model had it: %v", k, was, ok)
						}
						delete(model, k)
						continue
					}
					size := rng.IntN(60)
					if rng.IntN(10) == 0 {
						size = rng.IntN(testNodeSize - ondisk.HeaderSize - ondisk.ItemHdrSize + 1)
					}
					data := make([]byte, size)
					for i := range data {
						data[i] = byte(rng.Uint32())
					}
					if err := ed.Put(k, data); err != nil {
						t.Fatal(err)
					}
					model[k] = data
				}
				tr := ed.Tree()
				got := itemsOf(t, tr)
				want := keys()
				if len(got) != len(want) {
					t.Fatalf("batch %d: %d items, the model has %d", batch, len(got), len(want))
				}
				for i, k := range want {
					if got[i].Key != k || !bytes.Equal(got[i].Data, model[k]) {
						t.Fatalf("batch %d: item %d is %v (%d bytes), want %v (%d bytes)", batch, i, got[i].Key, len(got[i].Data), k, len(model[k]))
					}
					if d, err := tr.Lookup(k); err != nil || !bytes.Equal(d, model[k]) {
						t.Fatalf("batch %d: Lookup(%v): %v", batch, k, err)
					}
				}
				if reached := checkBlocks(t, tr, mem); reached != len(mem.blocks) {
					t.Fatalf("batch %d: %d blocks in memory, %d of them in the tree", batch, len(mem.blocks), reached)
				}
			}
			if after := itemsOf(t, New(m, root)); !slices.EqualFunc(after, committed, func(a, b Item) bool { return a.Key == b.Key && bytes.Equal(a.Data, b.Data) }) {
				t.Fatal("editing changed the committed tree")
			}
			t.Logf("%d items, %d bytes of blocks in memory", len(model), mem.Bytes())
		})
	}
}

func itemsOf(t *testing.T, tr *Tree) []Item {
	t.Helper()
	var out []Item
	for it, err := range tr.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Item{it.Key, slices.Clone(it.Data)})
	}
	return out
}

// checkBlocks parses every block of tr as a block read from an image
// would be (structure, key order) and checks each level's pointers. It
// returns how many of the blocks are mem's: every block mem holds must be
// in the tree, or memory leaks with edits.
func checkBlocks(t *testing.T, tr *Tree, mem *MemBlocks) int {
	t.Helper()
	reached := 0
	var visit func(n *ondisk.Node)
	visit = func(n *ondisk.Node) {
		if mem.isMem(n.Bytenr) {
			reached++
		}
		if _, err := ondisk.ParseNode(n.Data); err != nil {
			t.Fatalf("block %d: %v", n.Bytenr, err)
		}
		for i := 0; n.Level > 0 && i < n.NumItems(); i++ {
			c, err := tr.Child(n, i) // checks level, generation, first key
			if err != nil {
				t.Fatal(err)
			}
			if c.NumItems() == 0 {
				t.Fatalf("empty block %d below the root", c.Bytenr)
			}
			visit(c)
		}
	}
	root, err := tr.RootNode()
	if err != nil {
		t.Fatal(err)
	}
	visit(root)
	return reached
}

// TestEditorCopyHook checks that the hook hears of each committed block
// once, the root first and every block after its parent, before anything
// in it changes, and that copies carry the editing tree as their owner
// and the transaction's generation, as the kernel's COW makes them.
func TestEditorCopyHook(t *testing.T) {
	items := makeItems(400)
	m, root := buildTree(items, 7, 5)
	mem := NewMemBlocks(m, testNodeSize)
	root.ID = 300
	ed := mem.Edit(root, 8)
	seen := map[uint64]bool{}
	var order []uint64
	ed.OnCopy(func(old *ondisk.Node, isRoot bool) error {
		if seen[old.Bytenr] {
			t.Errorf("block %d copied twice", old.Bytenr)
		}
		if isRoot != (old.Bytenr == root.Bytenr) {
			t.Errorf("block %d: root %v, the root is %d", old.Bytenr, isRoot, root.Bytenr)
		}
		if mem.isMem(old.Bytenr) {
			t.Errorf("block %d is not a committed one", old.Bytenr)
		}
		seen[old.Bytenr] = true
		order = append(order, old.Bytenr)
		return nil
	})
	for _, it := range items[:40] {
		if err := ed.Put(it.key, []byte("changed")); err != nil {
			t.Fatal(err)
		}
	}
	if len(order) == 0 || order[0] != root.Bytenr {
		t.Fatalf("copied %v, want the root %d first", order, root.Bytenr)
	}
	// Each block copied after its parent: walking the committed tree, a
	// copied child's parent was copied earlier.
	pos := map[uint64]int{}
	for i, b := range order {
		pos[b] = i
	}
	var walk func(n *ondisk.Node)
	walk = func(n *ondisk.Node) {
		if n.Level == 0 {
			return
		}
		for i := range n.NumItems() {
			child, _ := n.BlockPtr(i)
			if p, ok := pos[child]; ok && p < pos[n.Bytenr] {
				t.Errorf("block %d copied before its parent %d", child, n.Bytenr)
			}
			c, err := m.ReadTreeBlock(volume.Logical(child), ondisk.BlockExpect{Level: n.Level - 1})
			if err != nil {
				t.Fatal(err)
			}
			walk(c)
		}
	}
	rn, err := New(m, root).RootNode()
	if err != nil {
		t.Fatal(err)
	}
	walk(rn)
	for _, n := range mem.blocks {
		if n.Owner != 300 || n.Generation != 8 || n.Flags>>56 != 1 {
			t.Errorf("block %d in memory: owner %d, generation %d, flags %#x; want owner 300, generation 8, backref revision 1", n.Bytenr, n.Owner, n.Generation, n.Flags)
		}
	}
	stop := errors.New("refused")
	ed2 := NewMemBlocks(m, testNodeSize).Edit(root, 8)
	ed2.OnCopy(func(*ondisk.Node, bool) error { return stop })
	if err := ed2.Put(items[0].key, nil); !errors.Is(err, stop) {
		t.Fatalf("Put with a failing hook: %v, want its error", err)
	}
}
