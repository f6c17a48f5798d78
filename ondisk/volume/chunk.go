package volume

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/coldsend/coldsend/ondisk"
)

// maxChunkStripes is how many stripes fit in a chunk item of the largest
// leaf.
const maxChunkStripes = (ondisk.MaxNodeSize - ondisk.HeaderSize - ondisk.ItemHdrSize - ondisk.ChunkItemSize) / ondisk.ChunkStripeSize

// Logical is an address in the filesystem's logical address space, the
// one tree pointers and extent items use; the chunk map turns it into a
// device and a Physical offset.
type Logical uint64

// Physical is a byte offset on one device.
type Physical uint64

// DevID is a device's number in its filesystem (btrfs_dev_item.devid).
type DevID uint64

// Stripe is one btrfs_stripe: where a chunk's bytes live on one device.
type Stripe struct {
	DevID   DevID
	Offset  Physical
	DevUUID ondisk.UUID
}

// Chunk is a CHUNK_ITEM: the mapping of one logical range to device
// stripes. Logical comes from the item's key offset.
type Chunk struct {
	Logical    Logical
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
func (c *Chunk) End() Logical { return c.Logical + Logical(c.Length) }

// Profile is the chunk's profile bits (0 for single).
func (c *Chunk) Profile() uint64 { return c.Type & ondisk.BlockGroupProfileMask }

// ProfileName is ProfileName(c.Type).
func (c *Chunk) ProfileName() string { return ondisk.ProfileName(c.Type) }

// NumCopies is how many independent ways the chunk's data can be read:
// one per mirror for DUP and RAID1*, two for RAID10, and for RAID5/6 the
// data stripes plus one rebuild per parity.
func (c *Chunk) NumCopies() int {
	switch c.Profile() {
	case ondisk.BlockGroupDUP, ondisk.BlockGroupRAID1, ondisk.BlockGroupRAID10, ondisk.BlockGroupRAID5:
		return 2
	case ondisk.BlockGroupRAID1C3, ondisk.BlockGroupRAID6:
		return 3
	case ondisk.BlockGroupRAID1C4:
		return 4
	}
	return 1
}

// parity is the number of parity stripes per full stripe.
func (c *Chunk) parity() int {
	switch c.Profile() {
	case ondisk.BlockGroupRAID5:
		return 1
	case ondisk.BlockGroupRAID6:
		return 2
	}
	return 0
}

// ParseChunk decodes the btrfs_chunk payload b of the chunk starting at
// logical and applies the tree-checker's constraints. b must be exactly
// the chunk item (48 + 32*num_stripes bytes).
func ParseChunk(logical Logical, b []byte) (Chunk, error) {
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
func parseChunkPrefix(logical Logical, b []byte) (Chunk, int, error) {
	if len(b) < ondisk.ChunkItemSize {
		return Chunk{}, 0, corruptf("chunk at logical %d: item is %d bytes, shorter than %d", logical, len(b), ondisk.ChunkItemSize)
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
	n := ondisk.ChunkItemSize + int(c.NumStripes)*ondisk.ChunkStripeSize
	if len(b) < n {
		return Chunk{}, 0, corruptf("chunk at logical %d: %d stripes need %d bytes, only %d present", logical, c.NumStripes, n, len(b))
	}
	c.Stripes = make([]Stripe, c.NumStripes)
	for i := range c.Stripes {
		s := b[ondisk.ChunkItemSize+i*ondisk.ChunkStripeSize:]
		c.Stripes[i].DevID = DevID(le.Uint64(s[0:]))
		c.Stripes[i].Offset = Physical(le.Uint64(s[8:]))
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
	case c.Logical+Logical(c.Length) < c.Logical:
		return bad("length %d overflows the address space", c.Length)
	case c.StripeLen != ondisk.StripeLen:
		return bad("stripe_len %d, want %d", c.StripeLen, ondisk.StripeLen)
	case c.Type&^(ondisk.BlockGroupTypeMask|ondisk.BlockGroupProfileMask) != 0:
		return bad("unsupported type flags %#x", c.Type&^(ondisk.BlockGroupTypeMask|ondisk.BlockGroupProfileMask))
	case bits.OnesCount64(c.Profile()) > 1:
		return bad("type %#x has more than one profile bit", c.Type)
	case c.Type&ondisk.BlockGroupTypeMask == 0:
		return bad("type %#x has no data/metadata/system bit", c.Type)
	case c.Type&ondisk.BlockGroupSystem != 0 && c.Type&(ondisk.BlockGroupData|ondisk.BlockGroupMetadata) != 0:
		return bad("system chunk also has data or metadata type %#x", c.Type)
	}
	ok := true
	switch c.Profile() {
	case 0:
		ok = n == 1
	case ondisk.BlockGroupDUP, ondisk.BlockGroupRAID1:
		ok = n == 2
	case ondisk.BlockGroupRAID1C3:
		ok = n == 3
	case ondisk.BlockGroupRAID1C4:
		ok = n == 4
	case ondisk.BlockGroupRAID10:
		ok = c.SubStripes == 2 && n%2 == 0
	case ondisk.BlockGroupRAID5:
		ok = n >= 2
	case ondisk.BlockGroupRAID6:
		ok = n >= 3
	}
	if !ok {
		return bad("invalid num_stripes:sub_stripes %d:%d for profile %s", n, c.SubStripes, c.ProfileName())
	}
	return nil
}

// checkFS applies the constraints that depend on the filesystem.
func (c *Chunk) checkFS(sb *ondisk.Superblock) error {
	ss := uint64(sb.SectorSize)
	switch {
	case c.SectorSize != sb.SectorSize:
		return corruptf("chunk at logical %d: sector_size %d, filesystem has %d", c.Logical, c.SectorSize, sb.SectorSize)
	case uint64(c.Logical)%ss != 0 || c.Length%ss != 0:
		return corruptf("chunk at logical %d length %d is not aligned to sectorsize %d", c.Logical, c.Length, ss)
	case c.Type&ondisk.BlockGroupData != 0 && c.Type&ondisk.BlockGroupMetadata != 0 && sb.IncompatFlags&ondisk.IncompatMixedGroups == 0:
		return corruptf("chunk at logical %d mixes data and metadata but mixed_groups is not set", c.Logical)
	}
	return nil
}

// ParseSysChunkArray decodes the superblock's sys_chunk_array: a packed
// sequence of (key, chunk) pairs, every key (256, CHUNK_ITEM, logical) and
// every chunk a SYSTEM chunk.
func ParseSysChunkArray(b []byte) ([]Chunk, error) {
	var chunks []Chunk
	for off := 0; off < len(b); {
		if len(b)-off < ondisk.KeySize {
			return nil, corruptf("sys_chunk_array: %d bytes left at offset %d, too short for a key", len(b)-off, off)
		}
		k := ondisk.DecodeKey(b[off:])
		if k.ObjectID != ondisk.FirstChunkTreeObjectID || k.Type != ondisk.ChunkItemKey {
			return nil, corruptf("sys_chunk_array: key %v at offset %d is not a chunk item", k, off)
		}
		off += ondisk.KeySize
		c, n, err := parseChunkPrefix(Logical(k.Offset), b[off:])
		if err != nil {
			return nil, fmt.Errorf("sys_chunk_array offset %d: %w", off, err)
		}
		if c.Type&ondisk.BlockGroupSystem == 0 {
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
func (m *ChunkMap) index(logical Logical) int {
	// First chunk starting after logical; the candidate is the one before.
	i, _ := slices.BinarySearchFunc(m.chunks, logical, func(c Chunk, l Logical) int {
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
func (m *ChunkMap) Lookup(logical Logical) (*Chunk, bool) {
	i := m.index(logical)
	if i < 0 {
		return nil, false
	}
	return &m.chunks[i], true
}

// Chunks returns all chunks in logical order. The slice is shared and
// must not be modified.
func (m *ChunkMap) Chunks() []Chunk { return m.chunks }
