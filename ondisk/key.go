package ondisk

import (
	"encoding/binary"
	"fmt"
)

// Key is a btrfs key (struct btrfs_disk_key): items and tree pointers are
// ordered by ObjectID, then Type, then Offset, all unsigned.
type Key struct {
	ObjectID uint64
	Type     uint8
	Offset   uint64
}

// KeySize is the on-disk size of a btrfs_disk_key.
const KeySize = 17

// MaxKey sorts after every other key.
var MaxKey = Key{^uint64(0), 0xff, ^uint64(0)}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.ObjectID < o.ObjectID:
		return -1
	case k.ObjectID > o.ObjectID:
		return 1
	case k.Type < o.Type:
		return -1
	case k.Type > o.Type:
		return 1
	case k.Offset < o.Offset:
		return -1
	case k.Offset > o.Offset:
		return 1
	}
	return 0
}

// Less reports whether k sorts before o.
func (k Key) Less(o Key) bool { return k.Compare(o) < 0 }

// String formats a key the way btrfs inspect-internal dump-tree does.
func (k Key) String() string {
	return fmt.Sprintf("(%s %s %s)", ObjectIDString(k.ObjectID), ItemTypeString(k.Type), offsetString(k))
}

func offsetString(k Key) string {
	if k.Offset == ^uint64(0) {
		return "-1"
	}
	return fmt.Sprint(k.Offset)
}

// DecodeKey reads a btrfs_disk_key from the first KeySize bytes of b.
func DecodeKey(b []byte) Key {
	_ = b[16]
	return Key{
		ObjectID: binary.LittleEndian.Uint64(b[0:]),
		Type:     b[8],
		Offset:   binary.LittleEndian.Uint64(b[9:]),
	}
}

// PutKey writes k in on-disk form into the first KeySize bytes of b.
func PutKey(b []byte, k Key) {
	_ = b[16]
	binary.LittleEndian.PutUint64(b[0:], k.ObjectID)
	b[8] = k.Type
	binary.LittleEndian.PutUint64(b[9:], k.Offset)
}

// Item types (BTRFS_*_KEY).
const (
	InodeItemKey        uint8 = 1
	InodeRefKey         uint8 = 12
	InodeExtrefKey      uint8 = 13
	XattrItemKey        uint8 = 24
	VerityDescItemKey   uint8 = 36
	VerityMerkleItemKey uint8 = 37
	OrphanItemKey       uint8 = 48
	DirLogItemKey       uint8 = 60
	DirLogIndexKey      uint8 = 72
	DirItemKey          uint8 = 84
	DirIndexKey         uint8 = 96
	ExtentDataKey       uint8 = 108
	ExtentCsumKey       uint8 = 128
	RootItemKey         uint8 = 132
	RootBackrefKey      uint8 = 144
	RootRefKey          uint8 = 156
	ExtentItemKey       uint8 = 168
	MetadataItemKey     uint8 = 169
	ExtentOwnerRefKey   uint8 = 172
	TreeBlockRefKey     uint8 = 176
	ExtentDataRefKey    uint8 = 178
	SharedBlockRefKey   uint8 = 182
	SharedDataRefKey    uint8 = 184
	BlockGroupItemKey   uint8 = 192
	FreeSpaceInfoKey    uint8 = 198
	FreeSpaceExtentKey  uint8 = 199
	FreeSpaceBitmapKey  uint8 = 200
	DevExtentKey        uint8 = 204
	DevItemKey          uint8 = 216
	ChunkItemKey        uint8 = 228
	RaidStripeKey       uint8 = 230
	QgroupStatusKey     uint8 = 240
	QgroupInfoKey       uint8 = 242
	QgroupLimitKey      uint8 = 244
	QgroupRelationKey   uint8 = 246
	TemporaryItemKey    uint8 = 248
	PersistentItemKey   uint8 = 249
	DevReplaceKey       uint8 = 250
	UUIDKeySubvol       uint8 = 251
	UUIDKeyReceivedSub  uint8 = 252
	StringItemKey       uint8 = 253
)

// Tree and special object IDs.
const (
	RootTreeObjectID        uint64 = 1
	ExtentTreeObjectID      uint64 = 2
	ChunkTreeObjectID       uint64 = 3
	DevTreeObjectID         uint64 = 4
	FSTreeObjectID          uint64 = 5
	RootTreeDirObjectID     uint64 = 6
	CsumTreeObjectID        uint64 = 7
	QuotaTreeObjectID       uint64 = 8
	UUIDTreeObjectID        uint64 = 9
	FreeSpaceTreeObjectID   uint64 = 10
	BlockGroupTreeObjectID  uint64 = 11
	RaidStripeTreeObjectID  uint64 = 12
	DevItemsObjectID        uint64 = 1
	FirstFreeObjectID       uint64 = 256
	FirstChunkTreeObjectID  uint64 = 256
	LastFreeObjectID        uint64 = 1<<64 - 256
	BalanceObjectID         uint64 = 1<<64 - 4
	OrphanObjectID          uint64 = 1<<64 - 5
	TreeLogObjectID         uint64 = 1<<64 - 6
	TreeLogFixupObjectID    uint64 = 1<<64 - 7
	TreeRelocObjectID       uint64 = 1<<64 - 8
	DataRelocTreeObjectID   uint64 = 1<<64 - 9
	ExtentCsumObjectID      uint64 = 1<<64 - 10
	FreeSpaceObjectID       uint64 = 1<<64 - 11
	FreeInoObjectID         uint64 = 1<<64 - 12
	CsumChangeObjectID      uint64 = 1<<64 - 13
	FirstSubvolumeObjectID  uint64 = 256
	SubvolumeRootDirInodeID uint64 = 256
)

var itemTypeNames = map[uint8]string{
	InodeItemKey: "INODE_ITEM", InodeRefKey: "INODE_REF", InodeExtrefKey: "INODE_EXTREF",
	XattrItemKey: "XATTR_ITEM", VerityDescItemKey: "VERITY_DESC_ITEM", VerityMerkleItemKey: "VERITY_MERKLE_ITEM",
	OrphanItemKey: "ORPHAN_ITEM", DirLogItemKey: "DIR_LOG_ITEM", DirLogIndexKey: "DIR_LOG_INDEX",
	DirItemKey: "DIR_ITEM", DirIndexKey: "DIR_INDEX", ExtentDataKey: "EXTENT_DATA", ExtentCsumKey: "EXTENT_CSUM",
	RootItemKey: "ROOT_ITEM", RootBackrefKey: "ROOT_BACKREF", RootRefKey: "ROOT_REF",
	ExtentItemKey: "EXTENT_ITEM", MetadataItemKey: "METADATA_ITEM", ExtentOwnerRefKey: "EXTENT_OWNER_REF",
	TreeBlockRefKey: "TREE_BLOCK_REF", ExtentDataRefKey: "EXTENT_DATA_REF", SharedBlockRefKey: "SHARED_BLOCK_REF",
	SharedDataRefKey: "SHARED_DATA_REF", BlockGroupItemKey: "BLOCK_GROUP_ITEM", FreeSpaceInfoKey: "FREE_SPACE_INFO",
	FreeSpaceExtentKey: "FREE_SPACE_EXTENT", FreeSpaceBitmapKey: "FREE_SPACE_BITMAP", DevExtentKey: "DEV_EXTENT",
	DevItemKey: "DEV_ITEM", ChunkItemKey: "CHUNK_ITEM", RaidStripeKey: "RAID_STRIPE",
	QgroupStatusKey: "QGROUP_STATUS", QgroupInfoKey: "QGROUP_INFO", QgroupLimitKey: "QGROUP_LIMIT",
	QgroupRelationKey: "QGROUP_RELATION", TemporaryItemKey: "TEMPORARY_ITEM", PersistentItemKey: "PERSISTENT_ITEM",
	DevReplaceKey: "DEV_REPLACE", UUIDKeySubvol: "UUID_KEY_SUBVOL", UUIDKeyReceivedSub: "UUID_KEY_RECEIVED_SUBVOL",
	StringItemKey: "STRING_ITEM",
}

// ItemTypeString names an item type as btrfs-progs does, or UNKNOWN.<n>.
func ItemTypeString(t uint8) string {
	if s, ok := itemTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN.%d", t)
}

var objectIDNames = map[uint64]string{
	RootTreeObjectID: "ROOT_TREE", ExtentTreeObjectID: "EXTENT_TREE", ChunkTreeObjectID: "CHUNK_TREE",
	DevTreeObjectID: "DEV_TREE", FSTreeObjectID: "FS_TREE", RootTreeDirObjectID: "ROOT_TREE_DIR",
	CsumTreeObjectID: "CSUM_TREE", QuotaTreeObjectID: "QUOTA_TREE", UUIDTreeObjectID: "UUID_TREE",
	FreeSpaceTreeObjectID: "FREE_SPACE_TREE", BlockGroupTreeObjectID: "BLOCK_GROUP_TREE",
	RaidStripeTreeObjectID: "RAID_STRIPE_TREE", BalanceObjectID: "BALANCE", OrphanObjectID: "ORPHAN",
	TreeLogObjectID: "TREE_LOG", TreeLogFixupObjectID: "TREE_LOG_FIXUP", TreeRelocObjectID: "TREE_RELOC",
	DataRelocTreeObjectID: "DATA_RELOC_TREE", ExtentCsumObjectID: "EXTENT_CSUM", FreeSpaceObjectID: "FREE_SPACE",
	FreeInoObjectID: "FREE_INO", CsumChangeObjectID: "CSUM_CHANGE",
}

// ObjectIDString names well-known tree IDs and negative object IDs; other
// IDs are printed as numbers.
func ObjectIDString(id uint64) string {
	if s, ok := objectIDNames[id]; ok && (id < FirstFreeObjectID || id > LastFreeObjectID) {
		return s
	}
	return fmt.Sprint(id)
}

// TreeName is ObjectIDString for a tree ID, used in error messages.
func TreeName(id uint64) string {
	if id >= FirstFreeObjectID && id <= LastFreeObjectID {
		return fmt.Sprintf("subvolume %d", id)
	}
	return ObjectIDString(id)
}
