package sendgen

import "container/list"

// lruKey identifies a cache entry: a key (an inode number) and an optional
// generation.
type lruKey struct{ key, gen uint64 }

// lruEntry is one cached value (struct btrfs_lru_cache_entry plus the
// payload of the structure embedding it).
type lruEntry[V any] struct {
	key, gen uint64
	value    V
}

// lruCache mirrors struct btrfs_lru_cache (fs/btrfs/lru_cache.c): entries
// keyed by (key, gen) on a list ordered from least to most recently used.
// A maxSize of 0 means unbounded; the user trims it.
type lruCache[V any] struct {
	maxSize int
	entries map[lruKey]*list.Element
	order   list.List // of *lruEntry[V], front = least recently used
}

// init mirrors btrfs_lru_cache_init.
func (c *lruCache[V]) init(maxSize int) {
	c.maxSize = maxSize
	c.entries = map[lruKey]*list.Element{}
	c.order.Init()
}

// size mirrors btrfs_lru_cache_size.
func (c *lruCache[V]) size() int { return c.order.Len() }

// lookup mirrors btrfs_lru_cache_lookup: a hit becomes the most recently
// used entry.
func (c *lruCache[V]) lookup(key, gen uint64) *lruEntry[V] {
	el, ok := c.entries[lruKey{key, gen}]
	if !ok {
		return nil
	}
	c.order.MoveToBack(el)
	return el.Value.(*lruEntry[V])
}

// store mirrors btrfs_lru_cache_store: false (-EEXIST) when (key, gen) is
// already cached, which is then left where it is; otherwise a full cache
// first drops its least recently used entry.
func (c *lruCache[V]) store(key, gen uint64, v V) bool {
	k := lruKey{key, gen}
	if _, ok := c.entries[k]; ok {
		return false
	}
	if c.maxSize > 0 && c.order.Len() == c.maxSize {
		c.remove(c.lru())
	}
	c.entries[k] = c.order.PushBack(&lruEntry[V]{key: key, gen: gen, value: v})
	return true
}

// remove mirrors btrfs_lru_cache_remove.
func (c *lruCache[V]) remove(e *lruEntry[V]) {
	k := lruKey{e.key, e.gen}
	if el, ok := c.entries[k]; ok {
		c.order.Remove(el)
		delete(c.entries, k)
	}
}

// lru mirrors btrfs_lru_cache_lru_entry: the least recently used entry,
// or nil.
func (c *lruCache[V]) lru() *lruEntry[V] {
	if el := c.order.Front(); el != nil {
		return el.Value.(*lruEntry[V])
	}
	return nil
}

// mruFirst returns the entries from the most to the least recently used,
// the order of btrfs_lru_cache_for_each_entry_safe.
func (c *lruCache[V]) mruFirst() []*lruEntry[V] {
	out := make([]*lruEntry[V], 0, c.order.Len())
	for el := c.order.Back(); el != nil; el = el.Prev() {
		out = append(out, el.Value.(*lruEntry[V]))
	}
	return out
}
