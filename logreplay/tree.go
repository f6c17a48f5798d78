package logreplay

import (
	"errors"
	"fmt"
	"slices"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
)

// tree is one tree replay changes (a subvolume, the checksum tree, the
// extent tree), edited in memory. Every read goes through the editor, so
// it sees the changes made so far; every payload it returns is a copy,
// since an in-memory block is changed in place by later edits.
type tree struct {
	id uint64
	ed *btree.Editor
}

// treeItem is a key and a copy of its payload.
type treeItem struct {
	key  ondisk.Key
	data []byte
}

// get returns the payload at exactly k.
func (t *tree) get(k ondisk.Key) ([]byte, bool, error) {
	b, err := t.ed.Tree().Lookup(k)
	if errors.Is(err, btree.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return slices.Clone(b), true, nil
}

// next returns the first item whose key is >= k.
func (t *tree) next(k ondisk.Key) (treeItem, bool, error) {
	c, err := t.ed.Tree().Seek(k)
	if err != nil || !c.Valid() {
		return treeItem{}, false, err
	}
	return treeItem{c.Key(), slices.Clone(c.Data())}, true, nil
}

// prev returns the last item whose key is <= k.
func (t *tree) prev(k ondisk.Key) (treeItem, bool, error) {
	c, err := t.ed.Tree().SeekLE(k)
	if err != nil || !c.Valid() {
		return treeItem{}, false, err
	}
	return treeItem{c.Key(), slices.Clone(c.Data())}, true, nil
}

// after returns the first item whose key is > k.
func (t *tree) after(k ondisk.Key) (treeItem, bool, error) {
	n, ok := nextKey(k)
	if !ok {
		return treeItem{}, false, nil
	}
	return t.next(n)
}

// put inserts or replaces the item at k.
func (t *tree) put(k ondisk.Key, data []byte) error {
	if err := t.ed.Put(k, data); err != nil {
		return fmt.Errorf("writing %v into %s: %w", k, ondisk.TreeName(t.id), err)
	}
	return nil
}

// insert adds an item that must not exist yet (btrfs_insert_item); it
// reports false, changing nothing, when one does.
func (t *tree) insert(k ondisk.Key, data []byte) (bool, error) {
	if _, ok, err := t.get(k); err != nil || ok {
		return false, err
	}
	return true, t.put(k, data)
}

// del removes the item at k, which must exist.
func (t *tree) del(k ondisk.Key) error {
	was, err := t.ed.Delete(k)
	if err != nil {
		return fmt.Errorf("deleting %v from %s: %w", k, ondisk.TreeName(t.id), err)
	}
	if !was {
		return fmt.Errorf("deleting %v from %s: %w", k, ondisk.TreeName(t.id), errNotFound)
	}
	return nil
}

// nextKey is the smallest key above k.
func nextKey(k ondisk.Key) (ondisk.Key, bool) {
	switch {
	case k.Offset < ^uint64(0):
		k.Offset++
	case k.Type < 255:
		k.Type, k.Offset = k.Type+1, 0
	case k.ObjectID < ^uint64(0):
		k.ObjectID, k.Type, k.Offset = k.ObjectID+1, 0, 0
	default:
		return k, false
	}
	return k, true
}

// logTree is a committed log tree, read only.
type logTree struct {
	subvol uint64 // the subvolume it belongs to
	t      *btree.Tree
	leaves []*ondisk.Node // in key order, read and verified once
}

// get returns the log's payload at exactly k (a copy).
func (l *logTree) get(k ondisk.Key) ([]byte, bool, error) {
	b, err := l.t.Lookup(k)
	if errors.Is(err, btree.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return slices.Clone(b), true, nil
}

// errNotFound marks an item the kernel's code would get -ENOENT for.
var errNotFound = errors.New("not found")
