package sendgen

import "testing"

func TestLRUCache(t *testing.T) {
	var c lruCache[int]
	c.init(3)
	for i := uint64(1); i <= 3; i++ {
		if !c.store(i, 0, int(i)) {
			t.Fatalf("store %d refused", i)
		}
	}
	// A hit becomes the most recently used entry.
	if e := c.lookup(1, 0); e == nil || e.value != 1 {
		t.Fatalf("lookup 1 = %v", e)
	}
	// Storing an existing (key, gen) is refused and does not move it.
	if c.store(2, 0, 20) {
		t.Fatal("duplicate store accepted")
	}
	// A full cache drops its least recently used entry: 2.
	c.store(4, 0, 4)
	if c.lookup(2, 0) != nil {
		t.Fatal("2 should have been evicted")
	}
	// Generations are part of the key.
	if c.lookup(4, 1) != nil {
		t.Fatal("lookup with another generation hit")
	}
	var got []uint64
	for _, e := range c.mruFirst() {
		got = append(got, e.key)
	}
	if want := []uint64{4, 1, 3}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("MRU order %v, want %v", got, want)
	}
	if lru := c.lru(); lru.key != 3 {
		t.Fatalf("LRU entry %d, want 3", lru.key)
	}

	var u lruCache[struct{}]
	u.init(0)
	for i := uint64(0); i < 100; i++ {
		u.store(i, 0, struct{}{})
	}
	if u.size() != 100 {
		t.Fatalf("unbounded cache holds %d, want 100", u.size())
	}
}

func TestNewEncodeDev(t *testing.T) {
	for _, tc := range []struct{ major, minor, want uint64 }{
		{1, 3, 0x103},
		{8, 0, 0x800},
		{300, 70000, 0x11112c70},
	} {
		if got := newEncodeDev(tc.major<<20 | tc.minor); got != tc.want {
			t.Errorf("new_encode_dev(%d:%d) = %#x, want %#x", tc.major, tc.minor, got, tc.want)
		}
	}
}

func TestStrncmpEq(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"security.capability", true},
		{"security.cap", true}, // a prefix compares equal over its length
		{"", true},
		{"security.capabilityX", false},
		{"security.capabilitz", false},
		{"user.a", false},
	} {
		if got := strncmpEq([]byte(tc.name), xattrNameCaps, len(tc.name)); got != tc.want {
			t.Errorf("strncmp(%q, caps) == 0: %v, want %v", tc.name, got, tc.want)
		}
	}
}
