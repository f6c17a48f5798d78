package ondisk

import (
	"encoding/binary"
	"fmt"
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
