package btree

import (
	"container/list"
	"sync"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// Reader supplies verified tree blocks; *volume.Volume implements it.
type Reader interface {
	ReadTreeBlock(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error)
}

// DefaultCacheBytes bounds a Cache made with a zero size.
const DefaultCacheBytes = 64 << 20

// Cache is a Reader that keeps recently used tree blocks, bounded by the
// total bytes of the blocks it holds. It is safe for concurrent use.
type Cache struct {
	r        Reader
	maxBytes int

	mu      sync.Mutex
	bytes   int
	lru     *list.List // of *ondisk.Node, most recent first
	byAddr  map[volume.Logical]*list.Element
	hits    uint64
	misses  uint64
	evicted uint64
}

// NewCache wraps r with a block cache of at most maxBytes bytes
// (DefaultCacheBytes when maxBytes <= 0).
func NewCache(r Reader, maxBytes int) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	return &Cache{r: r, maxBytes: maxBytes, lru: list.New(), byAddr: make(map[volume.Logical]*list.Element)}
}

// ReadTreeBlock returns the block at logical, from the cache when present.
// A cached block is checked against want as a fresh read would be, so a
// stale or misdirected pointer is reported the same way either way.
func (c *Cache) ReadTreeBlock(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	c.mu.Lock()
	if e, ok := c.byAddr[logical]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		n := e.Value.(*ondisk.Node)
		c.mu.Unlock()
		if err := checkExpect(n, logical, want); err != nil {
			return nil, err
		}
		return n, nil
	}
	c.misses++
	c.mu.Unlock()

	n, err := c.r.ReadTreeBlock(logical, escapingCopy(want))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byAddr[logical]; !ok {
		c.byAddr[logical] = c.lru.PushFront(n)
		c.bytes += len(n.Data)
		for c.bytes > c.maxBytes && c.lru.Len() > 1 {
			old := c.lru.Back()
			on := c.lru.Remove(old).(*ondisk.Node)
			delete(c.byAddr, volume.Logical(on.Bytenr))
			c.bytes -= len(on.Data)
			c.evicted++
		}
	}
	return n, nil
}

// CacheStats are counters for tuning and benchmarks.
type CacheStats struct {
	Hits, Misses, Evicted uint64
	Bytes, Blocks         int
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Evicted: c.evicted, Bytes: c.bytes, Blocks: c.lru.Len()}
}

func checkExpect(n *ondisk.Node, logical volume.Logical, want ondisk.BlockExpect) error {
	var err error
	switch {
	case n.Level != want.Level:
		err = corruptf("tree block has level %d, its referrer expects %d", n.Level, want.Level)
	case want.Generation != 0 && n.Generation != want.Generation:
		err = corruptf("tree block has generation %d, its referrer expects %d", n.Generation, want.Generation)
	case want.FirstKey != nil && (n.NumItems() == 0 || n.Key(0) != *want.FirstKey):
		err = corruptf("tree block's first key does not match its parent pointer %v", *want.FirstKey)
	default:
		return nil
	}
	return &ondisk.BlockError{Logical: uint64(logical), Tree: want.Owner, Err: err}
}

// escapingCopy returns want with its own copy of the first key, for
// passing through the Reader interface: what goes through an interface
// escapes, and the copy keeps callers' keys on the stack in the common
// case, a cache hit. Copying want whole would leak the pointer too, since
// escape analysis does not track fields.
func escapingCopy(want ondisk.BlockExpect) ondisk.BlockExpect {
	w := ondisk.BlockExpect{Level: want.Level, Generation: want.Generation, Owner: want.Owner}
	if want.FirstKey != nil {
		k := *want.FirstKey
		w.FirstKey = &k
	}
	return w
}
