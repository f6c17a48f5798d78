package ondisk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"golang.org/x/crypto/blake2b"
)

// CsumType is the superblock's csum_type: the algorithm of every superblock,
// tree-block and data checksum of the filesystem.
type CsumType uint16

// Checksum algorithms (BTRFS_CSUM_TYPE_*).
const (
	CsumCRC32C   CsumType = 0
	CsumXXHash64 CsumType = 1
	CsumSHA256   CsumType = 2
	CsumBlake2b  CsumType = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Valid reports whether t is an algorithm this package implements.
func (t CsumType) Valid() bool { return t <= CsumBlake2b }

// Size is the number of significant bytes of a checksum of type t; the
// rest of the 32-byte on-disk field is zero. It is 0 for unknown types.
func (t CsumType) Size() int {
	switch t {
	case CsumCRC32C:
		return 4
	case CsumXXHash64:
		return 8
	case CsumSHA256, CsumBlake2b:
		return 32
	}
	return 0
}

// String names the type as btrfs-progs does (mkfs --csum, dump-super).
func (t CsumType) String() string {
	switch t {
	case CsumCRC32C:
		return "crc32c"
	case CsumXXHash64:
		return "xxhash64"
	case CsumSHA256:
		return "sha256"
	case CsumBlake2b:
		return "blake2"
	}
	return fmt.Sprintf("csum-type-%d", uint16(t))
}

// Sum writes the checksum of p into out in on-disk form: little-endian for
// the integer hashes, zero-padded to CsumSize. It does not allocate, so it
// is safe on hot paths and from many goroutines. An unknown type yields
// all zeros; ParseSuperblock never accepts one.
func (t CsumType) Sum(out *[CsumSize]byte, p []byte) {
	switch t {
	case CsumCRC32C:
		*out = [CsumSize]byte{}
		binary.LittleEndian.PutUint32(out[:], crc32.Checksum(p, castagnoli))
	case CsumXXHash64:
		*out = [CsumSize]byte{}
		binary.LittleEndian.PutUint64(out[:], xxh64(p, 0))
	case CsumSHA256:
		*out = sha256.Sum256(p)
	case CsumBlake2b:
		// btrfs uses BLAKE2b with a 256-bit digest parameter, which is
		// not a truncated BLAKE2b-512.
		*out = blake2b.Sum256(p)
	default:
		*out = [CsumSize]byte{}
	}
}

// Verify reports whether the first Size() bytes of stored equal the
// checksum of p.
func (t CsumType) Verify(stored []byte, p []byte) bool {
	var sum [CsumSize]byte
	t.Sum(&sum, p)
	n := t.Size()
	return n > 0 && len(stored) >= n && bytes.Equal(stored[:n], sum[:n])
}

// KernelCRC32C is the kernel's crc32c(seed, data): the raw CRC-32C register
// update, without the usual pre- and post-inversion. Key hashes use it.
func KernelCRC32C(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// NameHash is btrfs_name_hash: the key offset of DIR_ITEM and XATTR_ITEM.
func NameHash(name []byte) uint64 {
	return uint64(KernelCRC32C(^uint32(1), name))
}

// ExtrefHash is btrfs_extref_hash: the key offset of INODE_EXTREF items.
// Only the low 32 bits of parent seed the CRC.
func ExtrefHash(parent uint64, name []byte) uint64 {
	return uint64(KernelCRC32C(uint32(parent), name))
}

// ExtentDataRefHash is hash_extent_data_ref: the key offset of a keyed
// EXTENT_DATA_REF and the sort key of inline ones. The high CRC is shifted
// by 31, not 32, so the two halves overlap by one bit.
func ExtentDataRefHash(root, owner, offset uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], root)
	high := KernelCRC32C(^uint32(0), b[:])
	binary.LittleEndian.PutUint64(b[:], owner)
	low := KernelCRC32C(^uint32(0), b[:])
	binary.LittleEndian.PutUint64(b[:], offset)
	low = KernelCRC32C(low, b[:])
	return uint64(high)<<31 ^ uint64(low)
}
