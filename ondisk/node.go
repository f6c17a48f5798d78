package ondisk

import (
	"encoding/binary"
)

// Tree block layout (struct btrfs_header, btrfs_key_ptr, btrfs_item).
const (
	HeaderSize  = 101
	KeyPtrSize  = 33
	ItemHdrSize = 25
	CsumSize    = 32 // size of every on-disk checksum field
	MaxLevel    = 8  // levels are 0 .. MaxLevel-1
)

// UUID is a 16-byte btrfs UUID (fsid, chunk tree uuid, subvolume uuid).
type UUID [16]byte

// IsZero reports whether every byte of u is zero.
func (u UUID) IsZero() bool { return u == UUID{} }

// String formats u in the canonical 8-4-4-4-12 form.
func (u UUID) String() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&15]
		j += 2
	}
	return string(b[:])
}

// Header is the decoded btrfs_header at the start of every tree block.
type Header struct {
	Csum          [CsumSize]byte
	FSID          UUID
	Bytenr        uint64
	Flags         uint64 // low 56 bits flags, top byte backref revision
	ChunkTreeUUID UUID
	Generation    uint64
	Owner         uint64
	NrItems       uint32
	Level         uint8
}

// Node is a tree block, parsed and bounds-checked. Data is the whole block
// (nodesize bytes); accessors index into it without copying.
type Node struct {
	Header
	Data []byte
}

// ParseHeader decodes the header of a tree block.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, corruptf("tree block of %d bytes is shorter than its header", len(b))
	}
	copy(h.Csum[:], b[0:32])
	copy(h.FSID[:], b[32:48])
	h.Bytenr = binary.LittleEndian.Uint64(b[48:])
	h.Flags = binary.LittleEndian.Uint64(b[56:])
	copy(h.ChunkTreeUUID[:], b[64:80])
	h.Generation = binary.LittleEndian.Uint64(b[80:])
	h.Owner = binary.LittleEndian.Uint64(b[88:])
	h.NrItems = binary.LittleEndian.Uint32(b[96:])
	h.Level = b[100]
	return h, nil
}

// ParseNode decodes a tree block and checks its structure: the level, that
// nritems fits, that leaf item data lies inside the block without overlap
// and that keys strictly increase. It does not verify the checksum or the
// identity fields (bytenr, fsid, generation); Volume.ReadTreeBlock does.
func ParseNode(b []byte) (*Node, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	n := &Node{Header: h, Data: b}
	if h.Level >= MaxLevel {
		return nil, corruptf("tree block level %d is not below %d", h.Level, MaxLevel)
	}
	nr := int(h.NrItems)
	if h.Level > 0 {
		if nr == 0 {
			return nil, corruptf("node at level %d has no pointers", h.Level)
		}
		if nr > (len(b)-HeaderSize)/KeyPtrSize {
			return nil, corruptf("node claims %d pointers, at most %d fit", nr, (len(b)-HeaderSize)/KeyPtrSize)
		}
	} else {
		if nr > (len(b)-HeaderSize)/ItemHdrSize {
			return nil, corruptf("leaf claims %d items, at most %d fit", nr, (len(b)-HeaderSize)/ItemHdrSize)
		}
		dataEnd := uint64(len(b) - HeaderSize)
		hdrEnd := uint64(nr * ItemHdrSize)
		for i := 0; i < nr; i++ {
			off, size := n.itemRange(i)
			end := uint64(off) + uint64(size)
			if end > dataEnd || uint64(off) < hdrEnd {
				return nil, corruptf("leaf item %d data [%d,%d) lies outside the item area [%d,%d)", i, off, end, hdrEnd, dataEnd)
			}
			// Item data is packed from the end of the block downwards.
			if i > 0 {
				prevOff, _ := n.itemRange(i - 1)
				if end > uint64(prevOff) {
					return nil, corruptf("leaf item %d data [%d,%d) overlaps item %d at %d", i, off, end, i-1, prevOff)
				}
			}
		}
	}
	for i := 1; i < nr; i++ {
		if n.Key(i-1).Compare(n.Key(i)) >= 0 {
			return nil, corruptf("keys out of order at slot %d: %v then %v", i, n.Key(i-1), n.Key(i))
		}
	}
	return n, nil
}

// IsLeaf reports whether n is a leaf (level 0).
func (n *Node) IsLeaf() bool { return n.Level == 0 }

// NumItems is the number of items (leaf) or key pointers (node).
func (n *Node) NumItems() int { return int(n.NrItems) }

// Key returns the key of item or pointer i.
func (n *Node) Key(i int) Key {
	if n.Level > 0 {
		return DecodeKey(n.Data[HeaderSize+i*KeyPtrSize:])
	}
	return DecodeKey(n.Data[HeaderSize+i*ItemHdrSize:])
}

// BlockPtr returns the child address and expected generation of pointer i
// of an internal node.
func (n *Node) BlockPtr(i int) (bytenr, generation uint64) {
	p := n.Data[HeaderSize+i*KeyPtrSize:]
	return binary.LittleEndian.Uint64(p[17:]), binary.LittleEndian.Uint64(p[25:])
}

func (n *Node) itemRange(i int) (off, size uint32) {
	p := n.Data[HeaderSize+i*ItemHdrSize:]
	return binary.LittleEndian.Uint32(p[17:]), binary.LittleEndian.Uint32(p[21:])
}

// ItemData returns the payload of leaf item i (a slice of the block).
func (n *Node) ItemData(i int) []byte {
	off, size := n.itemRange(i)
	start := HeaderSize + int(off)
	return n.Data[start : start+int(size) : start+int(size)]
}

// Search finds slot for key k: in a leaf, the index of the exact key (found
// true) or where it would be inserted; in a node, the index of the last key
// <= k (or 0 when k sorts before every key), with found reporting equality.
func (n *Node) Search(k Key) (slot int, found bool) {
	lo, hi := 0, n.NumItems()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := n.Key(mid).Compare(k); {
		case c < 0:
			lo = mid + 1
		case c > 0:
			hi = mid
		default:
			return mid, true
		}
	}
	if n.Level > 0 && lo > 0 {
		return lo - 1, false
	}
	return lo, false
}

// BlockExpect is what the referrer of a tree block knows about it: the
// parent pointer's generation and level minus one, or a root item's. Zero
// Generation skips the generation check; a nil FirstKey skips the key check.
// Owner is only used in error messages, since shared blocks of snapshots
// carry the owner that first wrote them.
type BlockExpect struct {
	Level      uint8
	Generation uint64
	Owner      uint64
	FirstKey   *Key
}
