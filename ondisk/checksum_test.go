package ondisk

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// xxhTestBuffer is the pseudo-random buffer of xxHash's sanity check
// (cli/xsum_sanity_check.c).
func xxhTestBuffer(n int) []byte {
	const prime32, prime64 = 2654435761, 11400714785074694797
	b := make([]byte, n)
	gen := uint64(prime32)
	for i := range b {
		b[i] = byte(gen >> 56)
		gen *= prime64
	}
	return b
}

func TestXXH64Vectors(t *testing.T) {
	const prime32 = 2654435761
	buf := xxhTestBuffer(222)
	for _, tc := range []struct {
		n    int
		seed uint64
		want uint64
	}{
		{0, 0, 0xEF46DB3751D8E999},
		{0, prime32, 0xAC75FDA2929B17EF},
		{1, 0, 0xE934A84ADB052768},
		{1, prime32, 0x5014607643A9B4C3},
		{4, 0, 0x9136A0DCA57457EE},
		{14, 0, 0x8282DCC4994E35C8},
		{14, prime32, 0xC3BD6BF63DEB6DF0},
		{222, 0, 0xB641AE8CB691C174},
		{222, prime32, 0x20CB8AB7AE10C14A},
	} {
		if got := xxh64(buf[:tc.n], tc.seed); got != tc.want {
			t.Errorf("xxh64(len %d, seed %d) = %#x, want %#x", tc.n, tc.seed, got, tc.want)
		}
	}
	for s, want := range map[string]uint64{"a": 0xD24EC4F1A98C6E5B, "abc": 0x44BC2CF5AD770999} {
		if got := xxh64([]byte(s), 0); got != want {
			t.Errorf("xxh64(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestCsumTypes(t *testing.T) {
	for _, tc := range []struct {
		t    CsumType
		name string
		size int
		// checksum of "123456789" in on-disk form (significant bytes)
		sum string
	}{
		{CsumCRC32C, "crc32c", 4, "839206e3"}, // CRC-32C check value 0xe3069283, little-endian
		{CsumXXHash64, "xxhash64", 8, ""},
		{CsumSHA256, "sha256", 32, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
		{CsumBlake2b, "blake2", 32, ""},
		{CsumType(4), "csum-type-4", 0, ""},
	} {
		if got := tc.t.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.t, got, tc.name)
		}
		if got := tc.t.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.t, got, tc.size)
		}
		if tc.t.Valid() != (tc.size > 0) {
			t.Errorf("%v.Valid() = %v", tc.t, tc.t.Valid())
		}
		var out [CsumSize]byte
		tc.t.Sum(&out, []byte("123456789"))
		if tc.sum != "" && hex.EncodeToString(out[:tc.size]) != tc.sum {
			t.Errorf("%v sum = %x, want %s", tc.t, out[:tc.size], tc.sum)
		}
		if !bytes.Equal(out[tc.size:], make([]byte, CsumSize-tc.size)) {
			t.Errorf("%v sum tail not zero: %x", tc.t, out)
		}
		if tc.size > 0 && !tc.t.Verify(out[:], []byte("123456789")) {
			t.Errorf("%v does not verify its own sum", tc.t)
		}
		if tc.t.Verify(out[:], []byte("12345678")) {
			t.Errorf("%v verifies a wrong sum", tc.t)
		}
	}
	// BLAKE2b-256 of "abc" (RFC 7693 parameters, 32-byte digest).
	var out [CsumSize]byte
	CsumBlake2b.Sum(&out, []byte("abc"))
	if got := hex.EncodeToString(out[:]); got != "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319" {
		t.Errorf("blake2b-256(abc) = %s", got)
	}
}

func TestCsumSumDoesNotAllocate(t *testing.T) {
	p := make([]byte, 16384)
	for ct := CsumCRC32C; ct <= CsumBlake2b; ct++ {
		var out [CsumSize]byte
		if n := testing.AllocsPerRun(10, func() { ct.Sum(&out, p) }); n != 0 {
			t.Errorf("%v.Sum allocates %v times", ct, n)
		}
	}
}

// The expected key offsets below were read with btrfs inspect-internal
// dump-tree from an image made by mkfs.btrfs 6.2 and written by kernel
// 6.18: reflinks of one extent from 60 inodes (keyed EXTENT_DATA_REFs)
// and 400 hard links in one directory (INODE_EXTREFs).
func TestKeyHashes(t *testing.T) {
	if got := KernelCRC32C(^uint32(0), []byte("123456789")); ^got != 0xe3069283 {
		t.Errorf("KernelCRC32C does not match standard CRC-32C: %#x", ^got)
	}
	for name, want := range map[string]uint64{"default": 2378154706, "copy6": 79642237} {
		if got := NameHash([]byte(name)); got != want {
			t.Errorf("NameHash(%q) = %d, want %d", name, got, want)
		}
	}
	const prefix = "a-rather-long-hard-link-name-to-overflow-the-inode-ref-item-"
	for suffix, want := range map[string]uint64{"269": 1103669, "236": 53154490, "225": 64583993} {
		if got := ExtrefHash(318, []byte(prefix+suffix)); got != want {
			t.Errorf("ExtrefHash(318, ...%s) = %d, want %d", suffix, got, want)
		}
	}
	for _, tc := range []struct{ root, owner, offset, want uint64 }{
		{5, 314, 0, 1007496931468551167},
		{5, 297, 0, 1007496931555208115},
		{5, 313, 0, 1007496931787850508},
		{5, 298, 0, 1007496931835677504},
	} {
		if got := ExtentDataRefHash(tc.root, tc.owner, tc.offset); got != tc.want {
			t.Errorf("ExtentDataRefHash(%d, %d, %d) = %d, want %d", tc.root, tc.owner, tc.offset, got, tc.want)
		}
	}
}
