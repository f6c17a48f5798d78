package compare_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// counter is a btree.Reader that counts the blocks read through it (cache
// hits below it included: it counts what the walk asks for).
type counter struct {
	r btree.Reader
	n atomic.Int64
}

func (c *counter) ReadTreeBlock(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	c.n.Add(1)
	return c.r.ReadTreeBlock(logical, want)
}

// counted returns fresh copies of the trees (their root blocks not yet read)
// reading through one counter.
func counted(left, right *btree.Tree) (l, r *btree.Tree, c *counter) {
	c = &counter{r: left.Reader()}
	return btree.New(c, left.Root()), btree.New(c, right.Root()), c
}

type event struct {
	key ondisk.Key
	res compare.Result
}

func (e event) String() string { return fmt.Sprintf("%v %v", e.res, e.key) }

// run compares the trees, checking what every callback receives against
// its result, and returns the callbacks in order.
func run(left, right *btree.Tree) ([]event, error) {
	var evs []event
	err := compare.Trees(left, right, func(k ondisk.Key, res compare.Result, l, r compare.Side) error {
		evs = append(evs, event{k, res})
		switch res {
		case compare.New:
			if l.Leaf == nil || r.Leaf != nil || l.Key() != k {
				return fmt.Errorf("%v: sides %v %v", event{k, res}, l, r)
			}
		case compare.Deleted:
			if l.Leaf != nil || r.Leaf == nil || r.Key() != k {
				return fmt.Errorf("%v: sides %v %v", event{k, res}, l, r)
			}
		case compare.Changed, compare.Same:
			if l.Leaf == nil || r.Leaf == nil || l.Key() != k || r.Key() != k {
				return fmt.Errorf("%v: sides %v %v", event{k, res}, l, r)
			}
			if bytes.Equal(l.Data(), r.Data()) != (res == compare.Same) {
				return fmt.Errorf("%v: data %x vs %x", event{k, res}, l.Data(), r.Data())
			}
		default:
			return fmt.Errorf("%v: unknown result", event{k, res})
		}
		if l.Leaf != nil && !l.Leaf.IsLeaf() || r.Leaf != nil && !r.Leaf.IsLeaf() {
			return fmt.Errorf("%v: side is not a leaf", event{k, res})
		}
		return nil
	})
	return evs, err
}

// item is one item of a whole tree, with the leaf it lies in.
type item struct {
	key  ondisk.Key
	data []byte
	leaf uint64
}

// items lists every item of t with a cursor, independently of Trees.
func items(t *btree.Tree) ([]item, error) {
	c, err := t.First()
	if err != nil {
		return nil, err
	}
	var out []item
	for c.Valid() {
		leaf, _ := c.Leaf()
		out = append(out, item{c.Key(), c.Data(), leaf.Bytenr})
		if err := c.Next(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// naive merges the two full item lists: the differences Trees must
// report, leaving out SAME.
func naive(left, right []item) []event {
	var out []event
	i, j := 0, 0
	for i < len(left) || j < len(right) {
		switch {
		case j == len(right) || i < len(left) && left[i].key.Less(right[j].key):
			out = append(out, event{left[i].key, compare.New})
			i++
		case i == len(left) || right[j].key.Less(left[i].key):
			out = append(out, event{right[j].key, compare.Deleted})
			j++
		default:
			if !bytes.Equal(left[i].data, right[j].data) {
				out = append(out, event{left[i].key, compare.Changed})
			}
			i++
			j++
		}
	}
	return out
}

// checkPair compares left with right and checks the callbacks against the
// naive merge: the same differences in the same order, SAME only for
// items equal in both, and every equal item not reported lying in a leaf
// both trees share (a skipped subtree). It returns the callbacks.
func checkPair(t *testing.T, name string, left, right *btree.Tree) []event {
	t.Helper()
	evs, err := run(left, right)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	li, err := items(left)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := items(right)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(evs); i++ {
		if !evs[i-1].key.Less(evs[i].key) {
			t.Fatalf("%s: callback %d (%v) does not follow %v in key order", name, i, evs[i], evs[i-1])
		}
	}
	var diffs []event
	same := map[ondisk.Key]bool{}
	for _, e := range evs {
		if e.res == compare.Same {
			same[e.key] = true
		} else {
			diffs = append(diffs, e)
		}
	}
	want := naive(li, ri)
	if len(diffs) != len(want) {
		t.Errorf("%s: %d differences, the naive merge has %d", name, len(diffs), len(want))
	}
	for i := range min(len(diffs), len(want)) {
		if diffs[i] != want[i] {
			t.Fatalf("%s: difference %d is %v, the naive merge has %v", name, i, diffs[i], want[i])
		}
	}
	right1 := map[ondisk.Key]item{}
	for _, it := range ri {
		right1[it.key] = it
	}
	nsame := 0
	for _, l := range li {
		r, ok := right1[l.key]
		if !ok || !bytes.Equal(l.data, r.data) {
			if same[l.key] {
				t.Errorf("%s: SAME for %v, which differs", name, l.key)
			}
			continue
		}
		if same[l.key] {
			nsame++
		} else if l.leaf != r.leaf {
			t.Errorf("%s: %v is equal in leaves %d and %d but got no callback", name, l.key, l.leaf, r.leaf)
		}
	}
	if nsame != len(same) {
		t.Errorf("%s: %d SAME callbacks, %d of them for items in both trees", name, len(same), nsame)
	}
	return evs
}

// checkSelf compares a tree with itself: nothing below the root is read,
// and only a root leaf has callbacks, SAME for each of its items.
func checkSelf(t *testing.T, name string, tree *btree.Tree) {
	t.Helper()
	l, r, c := counted(tree, tree)
	evs, err := run(l, r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	root, err := tree.RootNode()
	if err != nil {
		t.Fatal(err)
	}
	if c.n.Load() != 2 {
		t.Errorf("%s with itself: %d blocks read, want the 2 roots", name, c.n.Load())
	}
	want := 0
	if root.IsLeaf() {
		want = root.NumItems()
	}
	if len(evs) != want {
		t.Errorf("%s with itself (root level %d): %d callbacks, want %d", name, root.Level, len(evs), want)
	}
	for _, e := range evs {
		if e.res != compare.Same {
			t.Errorf("%s with itself: %v", name, e)
		}
	}
}

// TestFixtures compares, in every committed scenario, every subvolume and
// snapshot with itself and with every other one in both directions (an
// incremental send of the later one, and the reverse), against the naive
// merge of their full item lists.
func TestFixtures(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(fixturestreams.ImagesDir(), "*", "manifest.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, m := range dirs {
		dir := filepath.Dir(m)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			sc, err := manifest.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := fixturecheck.Open(dir, sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			type sv struct {
				name string
				tree *btree.Tree
			}
			var svs []sv
			for _, s := range sc.Subvolumes {
				name := s.Path
				if name == "" {
					name = "<top>"
				}
				tree, err := fs.Tree(s.ID)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				svs = append(svs, sv{name, tree})
			}
			pairs, diffs, sames := 0, 0, 0
			for i, a := range svs {
				checkSelf(t, a.name, a.tree)
				for _, b := range svs[:i] {
					for _, p := range [][2]sv{{a, b}, {b, a}} {
						evs := checkPair(t, p[0].name+" vs "+p[1].name, p[0].tree, p[1].tree)
						pairs++
						for _, e := range evs {
							if e.res == compare.Same {
								sames++
							} else {
								diffs++
							}
						}
					}
				}
			}
			t.Logf("%d subvolumes, %d pairs: %d differences, %d SAME", len(svs), pairs, diffs, sames)
		})
	}
}

// TestResultString names the results.
func TestResultString(t *testing.T) {
	for r, want := range map[compare.Result]string{compare.New: "new", compare.Deleted: "deleted", compare.Changed: "changed", compare.Same: "same", 7: "Result(7)"} {
		if r.String() != want {
			t.Errorf("%d: %q, want %q", int(r), r.String(), want)
		}
	}
	var s compare.Side
	if s.Key() != (ondisk.Key{}) || s.Data() != nil {
		t.Error("the zero Side has a key or data")
	}
}

// openImage opens a single-device image file (plain or .zst).
func openImage(t testing.TB, dev *volume.Device) *fstree.FS {
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
