package btree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

const testNodeSize = 4096

// memReader serves hand-built blocks, checking expectations the way
// volume.Volume does (minus checksums), so tree logic can be tested without
// an image.
type memReader struct {
	blocks map[uint64][]byte
	reads  int
}

func (m *memReader) ReadTreeBlock(addr volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	logical := uint64(addr)
	m.reads++
	b, ok := m.blocks[logical]
	if !ok {
		return nil, &ondisk.BlockError{Logical: logical, Tree: want.Owner, Err: errors.New("no such block")}
	}
	n, err := ondisk.ParseNode(b)
	if err != nil {
		return nil, &ondisk.BlockError{Logical: logical, Tree: want.Owner, Err: err}
	}
	if err := checkExpect(n, addr, want); err != nil {
		return nil, err
	}
	return n, nil
}

type testItem struct {
	key  ondisk.Key
	data []byte
}

// buildTree lays items out into leaves of at most perLeaf items and nodes of
// at most perNode pointers, returning the reader and the root.
func buildTree(items []testItem, perLeaf, perNode int) (*memReader, Root) {
	m := &memReader{blocks: map[uint64][]byte{}}
	next := uint64(1 << 20)
	alloc := func() uint64 { a := next; next += testNodeSize; return a }
	type ptr struct {
		key  ondisk.Key
		addr uint64
	}
	var level []ptr
	for i := 0; i < len(items) || i == 0; i += perLeaf {
		end := min(i+perLeaf, len(items))
		addr := alloc()
		m.blocks[addr] = leafBlock(addr, items[i:end])
		k := ondisk.Key{}
		if i < len(items) {
			k = items[i].key
		}
		level = append(level, ptr{k, addr})
	}
	lvl := uint8(0)
	for len(level) > 1 {
		lvl++
		var up []ptr
		for i := 0; i < len(level); i += perNode {
			end := min(i+perNode, len(level))
			addr := alloc()
			b := headerBlock(addr, lvl, end-i)
			for j, p := range level[i:end] {
				o := ondisk.HeaderSize + j*ondisk.KeyPtrSize
				ondisk.PutKey(b[o:], p.key)
				binary.LittleEndian.PutUint64(b[o+17:], p.addr)
				binary.LittleEndian.PutUint64(b[o+25:], 7)
			}
			m.blocks[addr] = b
			up = append(up, ptr{level[i].key, addr})
		}
		level = up
	}
	return m, Root{ID: 5, Bytenr: level[0].addr, Level: lvl, Generation: 7}
}

func headerBlock(addr uint64, level uint8, n int) []byte {
	b := make([]byte, testNodeSize)
	binary.LittleEndian.PutUint64(b[48:], addr)
	binary.LittleEndian.PutUint64(b[80:], 7)
	binary.LittleEndian.PutUint64(b[88:], 5)
	binary.LittleEndian.PutUint32(b[96:], uint32(n))
	b[100] = level
	return b
}

func leafBlock(addr uint64, items []testItem) []byte {
	b := headerBlock(addr, 0, len(items))
	end := testNodeSize - ondisk.HeaderSize
	for i, it := range items {
		o := ondisk.HeaderSize + i*ondisk.ItemHdrSize
		ondisk.PutKey(b[o:], it.key)
		end -= len(it.data)
		binary.LittleEndian.PutUint32(b[o+17:], uint32(end))
		binary.LittleEndian.PutUint32(b[o+21:], uint32(len(it.data)))
		copy(b[ondisk.HeaderSize+end:], it.data)
	}
	return b
}

func makeItems(n int) []testItem {
	items := make([]testItem, n)
	for i := range items {
		// Keys 10, 20, 30, ... across object IDs and types.
		items[i] = testItem{ondisk.Key{ObjectID: uint64(256 + i/4), Type: ondisk.ItemType(1 + i%4*10), Offset: uint64(i * 10)}, []byte(fmt.Sprint(i))}
	}
	return items
}

func TestIterateAllShapes(t *testing.T) {
	for _, tc := range []struct{ n, perLeaf, perNode int }{
		{0, 4, 4}, {1, 4, 4}, {4, 4, 4}, {5, 4, 4}, {17, 4, 2}, {100, 3, 3}, {1000, 7, 5},
	} {
		t.Run(fmt.Sprintf("n%d_leaf%d_node%d", tc.n, tc.perLeaf, tc.perNode), func(t *testing.T) {
			items := makeItems(tc.n)
			m, root := buildTree(items, tc.perLeaf, tc.perNode)
			tr := New(NewCache(m, 0), root)

			c, err := tr.First()
			if err != nil {
				t.Fatal(err)
			}
			for i := range items {
				if !c.Valid() || c.Key() != items[i].key || string(c.Data()) != string(items[i].data) {
					t.Fatalf("forward item %d: valid=%v", i, c.Valid())
				}
				if err := c.Next(); err != nil {
					t.Fatal(err)
				}
			}
			if c.Valid() {
				t.Fatalf("cursor still valid after %d items", len(items))
			}

			c, err = tr.Last()
			if err != nil {
				t.Fatal(err)
			}
			for i := len(items) - 1; i >= 0; i-- {
				if !c.Valid() || c.Key() != items[i].key {
					t.Fatalf("backward item %d: valid=%v", i, c.Valid())
				}
				if err := c.Prev(); err != nil {
					t.Fatal(err)
				}
			}
			if c.Valid() {
				t.Fatal("cursor still valid before the first item")
			}
		})
	}
}

func TestSeek(t *testing.T) {
	items := makeItems(200)
	m, root := buildTree(items, 5, 3)
	tr := New(m, root)
	for i, it := range items {
		// Exact hits.
		c, err := tr.Seek(it.key)
		if err != nil || !c.Valid() || c.Key() != it.key {
			t.Fatalf("Seek(%v) exact failed: %v", it.key, err)
		}
		if d, err := tr.Lookup(it.key); err != nil || string(d) != string(it.data) {
			t.Fatalf("Lookup(%v) = %q, %v", it.key, d, err)
		}
		// Between keys: Seek lands on the next, SeekLE on this one.
		between := it.key
		between.Offset++
		c, err = tr.Seek(between)
		if err != nil {
			t.Fatal(err)
		}
		if i+1 < len(items) {
			if !c.Valid() || c.Key() != items[i+1].key {
				t.Fatalf("Seek(%v) should land on %v", between, items[i+1].key)
			}
		} else if c.Valid() {
			t.Fatalf("Seek past the end is valid at %v", c.Key())
		}
		c, err = tr.SeekLE(between)
		if err != nil || !c.Valid() || c.Key() != it.key {
			t.Fatalf("SeekLE(%v) should land on %v", between, it.key)
		}
		if _, err := tr.Lookup(between); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Lookup(%v) err = %v, want ErrNotFound", between, err)
		}
	}
	c, err := tr.SeekLE(ondisk.Key{ObjectID: 1})
	if err != nil || c.Valid() {
		t.Fatalf("SeekLE before the first key: valid=%v err=%v", c.Valid(), err)
	}
}

// TestSeekHints checks that searches answered from a tree's remembered
// paths land where a search from the root does, and that cursors so made
// walk on correctly, for lookups that jump about as send's do.
func TestSeekHints(t *testing.T) {
	items := makeItems(3000)
	m, root := buildTree(items, 7, 4)
	hinted := New(m, root)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := items[rng.IntN(len(items))].key
		if i%3 == 0 {
			k.Offset++ // between items
		}
		fresh := New(m, root)
		var got, want *Cursor
		var err error
		if i%2 == 0 {
			got, err = hinted.Seek(k)
			if err == nil {
				want, err = fresh.Seek(k)
			}
		} else {
			got, err = hinted.SeekLE(k)
			if err == nil {
				want, err = fresh.SeekLE(k)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 3; step++ {
			if got.Valid() != want.Valid() || got.Valid() && got.Key() != want.Key() {
				t.Fatalf("search %d for %v, step %d: hinted cursor valid=%v, fresh valid=%v", i, k, step, got.Valid(), want.Valid())
			}
			if !got.Valid() {
				break
			}
			if err := errors.Join(got.Next(), want.Next()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestObjectItems(t *testing.T) {
	items := makeItems(400)
	m, root := buildTree(items, 6, 4)
	tr := New(m, root)
	var got []ondisk.Key
	for it, err := range tr.ObjectItems(300, 21) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it.Key)
	}
	var want []ondisk.Key
	for _, it := range items {
		if it.key.ObjectID == 300 && it.key.Type == 21 {
			want = append(want, it.key)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
		t.Fatalf("ObjectItems got %v want %v", got, want)
	}
}

// TestItemsStopsAndFails: a consumer that stops early gets no more items,
// and a block that cannot be read ends the iteration with its error.
func TestItemsStopsAndFails(t *testing.T) {
	items := makeItems(400)
	m, root := buildTree(items, 6, 4)
	tr := New(m, root)
	n := 0
	for _, err := range tr.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("stopped after %d items", n)
	}
	// Drop the last leaf: the walk reads the items before it, then fails.
	var last uint64
	var lastKey ondisk.Key
	for addr, b := range m.blocks {
		if n, err := ondisk.ParseNode(b); err == nil && n.Level == 0 && lastKey.Less(n.Key(0)) {
			last, lastKey = addr, n.Key(0)
		}
	}
	delete(m.blocks, last)
	var got, errs int
	for _, err := range New(m, root).Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			errs++
			continue
		}
		got++
	}
	if errs != 1 || got == 0 || got >= len(items) {
		t.Fatalf("%d items then %d errors", got, errs)
	}
}

func TestCorruptTrees(t *testing.T) {
	items := makeItems(60)
	for _, tc := range []struct {
		name   string
		break_ func(m *memReader, root Root)
	}{
		{"pointer back to root", func(m *memReader, root Root) {
			b := m.blocks[root.Bytenr]
			binary.LittleEndian.PutUint64(b[ondisk.HeaderSize+ondisk.KeyPtrSize+17:], root.Bytenr)
		}},
		{"pointer to a sibling", func(m *memReader, root Root) {
			b := m.blocks[root.Bytenr]
			first := binary.LittleEndian.Uint64(b[ondisk.HeaderSize+17:])
			binary.LittleEndian.PutUint64(b[ondisk.HeaderSize+ondisk.KeyPtrSize+17:], first)
		}},
		{"stale generation", func(m *memReader, root Root) {
			b := m.blocks[root.Bytenr]
			binary.LittleEndian.PutUint64(b[ondisk.HeaderSize+ondisk.KeyPtrSize+25:], 6)
		}},
		{"missing block", func(m *memReader, root Root) {
			b := m.blocks[root.Bytenr]
			binary.LittleEndian.PutUint64(b[ondisk.HeaderSize+ondisk.KeyPtrSize+17:], 12345)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, root := buildTree(items, 4, 4)
			tc.break_(m, root)
			tr := New(NewCache(m, 0), root)
			c, err := tr.First()
			n := 0
			for err == nil && c.Valid() {
				n++
				if n > len(items) {
					t.Fatal("iteration did not stop at a corrupt tree")
				}
				err = c.Next()
			}
			var be *ondisk.BlockError
			if !errors.As(err, &be) {
				t.Fatalf("got %v after %d items, want a BlockError", err, n)
			}
			if be.Tree != 5 {
				t.Errorf("error does not name the tree: %v", err)
			}
		})
	}
}

func TestCacheBound(t *testing.T) {
	items := makeItems(2000)
	m, root := buildTree(items, 4, 4)
	c := NewCache(m, 10*testNodeSize)
	tr := New(c, root)
	for range 2 {
		cur, err := tr.First()
		for err == nil && cur.Valid() {
			err = cur.Next()
		}
		if err != nil {
			t.Fatal(err)
		}
		if s := c.Stats(); s.Bytes > 10*testNodeSize {
			t.Fatalf("cache holds %d bytes, bound is %d", s.Bytes, 10*testNodeSize)
		}
	}
	// A new Tree each time: a tree's own remembered paths would answer
	// the second lookup without asking the cache.
	for range 2 {
		if _, err := New(c, root).Lookup(items[500].key); err != nil {
			t.Fatal(err)
		}
	}
	s := c.Stats()
	if s.Evicted == 0 || s.Hits == 0 {
		t.Fatalf("cache never evicted or hit: %+v", s)
	}
}

// TestCursorReseek checks that moving one cursor from key to key, forward,
// backward and within a leaf, lands where a fresh seek does.
func TestCursorReseek(t *testing.T) {
	items := makeItems(300)
	m, root := buildTree(items, 6, 3)
	tr := New(NewCache(m, 0), root)
	var keys []ondisk.Key
	for _, it := range items {
		between := it.key
		between.Offset++
		keys = append(keys, it.key, between)
	}
	keys = append(keys, ondisk.Key{}, ondisk.MaxKey)
	order := append([]ondisk.Key(nil), keys...)
	for i := len(keys) - 1; i >= 0; i-- {
		order = append(order, keys[i], keys[(i*7919)%len(keys)])
	}
	at := func(c *Cursor) string {
		if !c.Valid() {
			return "invalid"
		}
		return c.Key().String()
	}
	var seek, seekLE Cursor
	seek.t, seekLE.t = tr, tr
	for _, k := range order {
		want, err := tr.Seek(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := seek.Seek(k); err != nil {
			t.Fatal(err)
		}
		if at(&seek) != at(want) {
			t.Fatalf("reused Seek(%v) at %s, fresh at %s", k, at(&seek), at(want))
		}
		if want, err = tr.SeekLE(k); err != nil {
			t.Fatal(err)
		}
		if err := seekLE.SeekLE(k); err != nil {
			t.Fatal(err)
		}
		if at(&seekLE) != at(want) {
			t.Fatalf("reused SeekLE(%v) at %s, fresh at %s", k, at(&seekLE), at(want))
		}
	}
	// A clone moves on its own.
	c, err := tr.Seek(items[10].key)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Clone()
	if err := d.Seek(items[200].key); err != nil {
		t.Fatal(err)
	}
	if c.Key() != items[10].key || d.Key() != items[200].key {
		t.Fatalf("clone and original at %v and %v", c.Key(), d.Key())
	}
}
