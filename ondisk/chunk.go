package ondisk

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Block-group and chunk type bits (BTRFS_BLOCK_GROUP_*). A chunk with no
// profile bit is "single".
const (
	BlockGroupData          uint64 = 1 << 0
	BlockGroupSystem        uint64 = 1 << 1
	BlockGroupMetadata      uint64 = 1 << 2
	BlockGroupRAID0         uint64 = 1 << 3
	BlockGroupRAID1         uint64 = 1 << 4
	BlockGroupDUP           uint64 = 1 << 5
	BlockGroupRAID10        uint64 = 1 << 6
	BlockGroupRAID5         uint64 = 1 << 7
	BlockGroupRAID6         uint64 = 1 << 8
	BlockGroupRAID1C3       uint64 = 1 << 9
	BlockGroupRAID1C4       uint64 = 1 << 10
	BlockGroupRemapped      uint64 = 1 << 11
	BlockGroupMetadataRemap uint64 = 1 << 12

	BlockGroupTypeMask    = BlockGroupData | BlockGroupSystem | BlockGroupMetadata
	BlockGroupProfileMask = BlockGroupRAID0 | BlockGroupRAID1 | BlockGroupDUP | BlockGroupRAID10 |
		BlockGroupRAID5 | BlockGroupRAID6 | BlockGroupRAID1C3 | BlockGroupRAID1C4
)

// Chunk and device item layout.
const (
	StripeLen       = 65536 // the only stripe_len btrfs has ever written
	ChunkItemSize   = 48    // struct btrfs_chunk without its stripes
	ChunkStripeSize = 32    // struct btrfs_stripe
	DevItemSize     = 98    // struct btrfs_dev_item
	maxChunkStripes = (MaxNodeSize - HeaderSize - ItemHdrSize - ChunkItemSize) / ChunkStripeSize
)

// ProfileName names the RAID profile of block-group flags as btrfs
// balance filters do: single, dup, raid0, raid1, raid1c3, raid1c4, raid10,
// raid5 or raid6.
func ProfileName(flags uint64) string {
	switch flags & BlockGroupProfileMask {
	case 0:
		return "single"
	case BlockGroupDUP:
		return "dup"
	case BlockGroupRAID0:
		return "raid0"
	case BlockGroupRAID1:
		return "raid1"
	case BlockGroupRAID1C3:
		return "raid1c3"
	case BlockGroupRAID1C4:
		return "raid1c4"
	case BlockGroupRAID10:
		return "raid10"
	case BlockGroupRAID5:
		return "raid5"
	case BlockGroupRAID6:
		return "raid6"
	}
	return fmt.Sprintf("profile-%#x", flags&BlockGroupProfileMask)
}

// BlockGroupTypeName names the type bits of block-group flags, e.g.
// "metadata" or "data+metadata" for mixed block groups.
func BlockGroupTypeName(flags uint64) string {
	var parts []string
	for _, t := range []struct {
		bit  uint64
		name string
	}{{BlockGroupData, "data"}, {BlockGroupSystem, "system"}, {BlockGroupMetadata, "metadata"}} {
		if flags&t.bit != 0 {
			parts = append(parts, t.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// Stripe is one btrfs_stripe: where a chunk's bytes live on one device.
type Stripe struct {
	DevID   uint64
	Offset  uint64 // physical byte offset on the device
	DevUUID UUID
}

// Chunk is a CHUNK_ITEM: the mapping of one logical range to device
// stripes. Logical comes from the item's key offset.
type Chunk struct {
	Logical    uint64
	Length     uint64
	Owner      uint64
	StripeLen  uint64
	Type       uint64
	IOAlign    uint32
	IOWidth    uint32
	SectorSize uint32
	NumStripes uint16
	SubStripes uint16
	Stripes    []Stripe
}

// End is the first logical address after the chunk.
func (c *Chunk) End() uint64 { return c.Logical + c.Length }

// Profile is the chunk's profile bits (0 for single).
func (c *Chunk) Profile() uint64 { return c.Type & BlockGroupProfileMask }

// ProfileName is ProfileName(c.Type).
func (c *Chunk) ProfileName() string { return ProfileName(c.Type) }

// NumCopies is how many independent ways the chunk's data can be read:
// one per mirror for DUP and RAID1*, two for RAID10, and for RAID5/6 the
// data stripes plus one rebuild per parity.
func (c *Chunk) NumCopies() int {
	switch c.Profile() {
	case BlockGroupDUP, BlockGroupRAID1, BlockGroupRAID10, BlockGroupRAID5:
		return 2
	case BlockGroupRAID1C3, BlockGroupRAID6:
		return 3
	case BlockGroupRAID1C4:
		return 4
	}
	return 1
}

// parity is the number of parity stripes per full stripe.
func (c *Chunk) parity() int {
	switch c.Profile() {
	case BlockGroupRAID5:
		return 1
	case BlockGroupRAID6:
		return 2
	}
	return 0
}

// ParseChunk decodes the btrfs_chunk payload b of the chunk starting at
// logical and applies the tree-checker's constraints. b must be exactly
// the chunk item (48 + 32*num_stripes bytes).
func ParseChunk(logical uint64, b []byte) (Chunk, error) {
	c, n, err := parseChunkPrefix(logical, b)
	if err != nil {
		return Chunk{}, err
	}
	if n != len(b) {
		return Chunk{}, corruptf("chunk at logical %d: item is %d bytes, %d stripes need %d", logical, len(b), c.NumStripes, n)
	}
	return c, nil
}

// parseChunkPrefix decodes a chunk from the start of b and returns how
// many bytes it occupies.
func parseChunkPrefix(logical uint64, b []byte) (Chunk, int, error) {
	if len(b) < ChunkItemSize {
		return Chunk{}, 0, corruptf("chunk at logical %d: item is %d bytes, shorter than %d", logical, len(b), ChunkItemSize)
	}
	le := binary.LittleEndian
	c := Chunk{
		Logical:    logical,
		Length:     le.Uint64(b[0:]),
		Owner:      le.Uint64(b[8:]),
		StripeLen:  le.Uint64(b[16:]),
		Type:       le.Uint64(b[24:]),
		IOAlign:    le.Uint32(b[32:]),
		IOWidth:    le.Uint32(b[36:]),
		SectorSize: le.Uint32(b[40:]),
		NumStripes: le.Uint16(b[44:]),
		SubStripes: le.Uint16(b[46:]),
	}
	if err := c.check(); err != nil {
		return Chunk{}, 0, err
	}
	n := ChunkItemSize + int(c.NumStripes)*ChunkStripeSize
	if len(b) < n {
		return Chunk{}, 0, corruptf("chunk at logical %d: %d stripes need %d bytes, only %d present", logical, c.NumStripes, n, len(b))
	}
	c.Stripes = make([]Stripe, c.NumStripes)
	for i := range c.Stripes {
		s := b[ChunkItemSize+i*ChunkStripeSize:]
		c.Stripes[i].DevID = le.Uint64(s[0:])
		c.Stripes[i].Offset = le.Uint64(s[8:])
		copy(c.Stripes[i].DevUUID[:], s[16:32])
	}
	return c, n, nil
}

// check applies the structural constraints that need no superblock.
func (c *Chunk) check() error {
	bad := func(format string, args ...any) error {
		return corruptf("chunk at logical %d: "+format, append([]any{c.Logical}, args...)...)
	}
	n := int(c.NumStripes)
	switch {
	case n == 0:
		return bad("no stripes")
	case n > maxChunkStripes:
		return bad("%d stripes cannot fit in a tree block", n)
	case c.Length == 0:
		return bad("length is 0")
	case c.Logical+c.Length < c.Logical:
		return bad("length %d overflows the address space", c.Length)
	case c.StripeLen != StripeLen:
		return bad("stripe_len %d, want %d", c.StripeLen, StripeLen)
	case c.Type&^(BlockGroupTypeMask|BlockGroupProfileMask) != 0:
		return bad("unsupported type flags %#x", c.Type&^(BlockGroupTypeMask|BlockGroupProfileMask))
	case bits.OnesCount64(c.Profile()) > 1:
		return bad("type %#x has more than one profile bit", c.Type)
	case c.Type&BlockGroupTypeMask == 0:
		return bad("type %#x has no data/metadata/system bit", c.Type)
	case c.Type&BlockGroupSystem != 0 && c.Type&(BlockGroupData|BlockGroupMetadata) != 0:
		return bad("system chunk also has data or metadata type %#x", c.Type)
	}
	ok := true
	switch c.Profile() {
	case 0:
		ok = n == 1
	case BlockGroupDUP, BlockGroupRAID1:
		ok = n == 2
	case BlockGroupRAID1C3:
		ok = n == 3
	case BlockGroupRAID1C4:
		ok = n == 4
	case BlockGroupRAID10:
		ok = c.SubStripes == 2 && n%2 == 0
	case BlockGroupRAID5:
		ok = n >= 2
	case BlockGroupRAID6:
		ok = n >= 3
	}
	if !ok {
		return bad("invalid num_stripes:sub_stripes %d:%d for profile %s", n, c.SubStripes, c.ProfileName())
	}
	return nil
}

// checkFS applies the constraints that depend on the filesystem.
func (c *Chunk) checkFS(sb *Superblock) error {
	ss := uint64(sb.SectorSize)
	switch {
	case c.SectorSize != sb.SectorSize:
		return corruptf("chunk at logical %d: sector_size %d, filesystem has %d", c.Logical, c.SectorSize, sb.SectorSize)
	case c.Logical%ss != 0 || c.Length%ss != 0:
		return corruptf("chunk at logical %d length %d is not aligned to sectorsize %d", c.Logical, c.Length, ss)
	case c.Type&BlockGroupData != 0 && c.Type&BlockGroupMetadata != 0 && sb.IncompatFlags&IncompatMixedGroups == 0:
		return corruptf("chunk at logical %d mixes data and metadata but mixed_groups is not set", c.Logical)
	}
	return nil
}

// ParseDevItem decodes a btrfs_dev_item (a DEV_ITEM payload or the copy in
// the superblock); b must be exactly DevItemSize bytes.
func ParseDevItem(b []byte) (DevItem, error) {
	if len(b) != DevItemSize {
		return DevItem{}, corruptf("dev item is %d bytes, want %d", len(b), DevItemSize)
	}
	le := binary.LittleEndian
	d := DevItem{
		DevID:       le.Uint64(b[0:]),
		TotalBytes:  le.Uint64(b[8:]),
		BytesUsed:   le.Uint64(b[16:]),
		IOAlign:     le.Uint32(b[24:]),
		IOWidth:     le.Uint32(b[28:]),
		SectorSize:  le.Uint32(b[32:]),
		Type:        le.Uint64(b[36:]),
		Generation:  le.Uint64(b[44:]),
		StartOffset: le.Uint64(b[52:]),
		DevGroup:    le.Uint32(b[60:]),
		SeekSpeed:   b[64],
		Bandwidth:   b[65],
	}
	copy(d.UUID[:], b[66:82])
	copy(d.FSID[:], b[82:98])
	if d.BytesUsed > d.TotalBytes {
		return DevItem{}, corruptf("dev item for devid %d: bytes_used %d exceeds total_bytes %d", d.DevID, d.BytesUsed, d.TotalBytes)
	}
	return d, nil
}

// DevItem is a decoded btrfs_dev_item: one device of the filesystem.
type DevItem struct {
	DevID       uint64
	TotalBytes  uint64
	BytesUsed   uint64
	IOAlign     uint32
	IOWidth     uint32
	SectorSize  uint32
	Type        uint64
	Generation  uint64
	StartOffset uint64
	DevGroup    uint32
	SeekSpeed   uint8
	Bandwidth   uint8
	UUID        UUID // device uuid
	FSID        UUID // metadata fsid of the filesystem the device belongs to
}

// ParseSysChunkArray decodes the superblock's sys_chunk_array: a packed
// sequence of (key, chunk) pairs, every key (256, CHUNK_ITEM, logical) and
// every chunk a SYSTEM chunk.
func ParseSysChunkArray(b []byte) ([]Chunk, error) {
	var chunks []Chunk
	for off := 0; off < len(b); {
		if len(b)-off < KeySize {
			return nil, corruptf("sys_chunk_array: %d bytes left at offset %d, too short for a key", len(b)-off, off)
		}
		k := DecodeKey(b[off:])
		if k.ObjectID != FirstChunkTreeObjectID || k.Type != ChunkItemKey {
			return nil, corruptf("sys_chunk_array: key %v at offset %d is not a chunk item", k, off)
		}
		off += KeySize
		c, n, err := parseChunkPrefix(k.Offset, b[off:])
		if err != nil {
			return nil, fmt.Errorf("sys_chunk_array offset %d: %w", off, err)
		}
		if c.Type&BlockGroupSystem == 0 {
			return nil, corruptf("sys_chunk_array offset %d: chunk at logical %d has type %#x, not system", off, c.Logical, c.Type)
		}
		chunks = append(chunks, c)
		off += n
	}
	if len(chunks) == 0 {
		return nil, corruptf("sys_chunk_array is empty")
	}
	return chunks, nil
}

// ChunkMap maps logical addresses to chunks. It is immutable once built
// and safe for concurrent use.
type ChunkMap struct {
	chunks []Chunk // sorted by Logical, non-overlapping
}

// NewChunkMap sorts chunks by logical address and refuses overlaps.
func NewChunkMap(chunks []Chunk) (*ChunkMap, error) {
	cs := slices.Clone(chunks)
	slices.SortFunc(cs, func(a, b Chunk) int {
		switch {
		case a.Logical < b.Logical:
			return -1
		case a.Logical > b.Logical:
			return 1
		}
		return 0
	})
	for i := 1; i < len(cs); i++ {
		if p := &cs[i-1]; p.End() > cs[i].Logical {
			return nil, corruptf("chunk [%d, %d) overlaps chunk [%d, %d)", p.Logical, p.End(), cs[i].Logical, cs[i].End())
		}
	}
	return &ChunkMap{chunks: cs}, nil
}

// index returns the position of the chunk containing logical, or -1.
func (m *ChunkMap) index(logical uint64) int {
	// First chunk starting after logical; the candidate is the one before.
	i, _ := slices.BinarySearchFunc(m.chunks, logical, func(c Chunk, l uint64) int {
		if c.Logical <= l {
			return -1
		}
		return 1
	})
	if i == 0 || logical >= m.chunks[i-1].End() {
		return -1
	}
	return i - 1
}

// Lookup returns the chunk containing logical. The result points into the
// map and must not be modified.
func (m *ChunkMap) Lookup(logical uint64) (*Chunk, bool) {
	i := m.index(logical)
	if i < 0 {
		return nil, false
	}
	return &m.chunks[i], true
}

// Chunks returns all chunks in logical order. The slice is shared and
// must not be modified.
func (m *ChunkMap) Chunks() []Chunk { return m.chunks }
