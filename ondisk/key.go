package ondisk

import (
	"encoding/binary"
	"fmt"
)

// Key is a btrfs key (struct btrfs_disk_key): items and tree pointers are
// ordered by ObjectID, then Type, then Offset, all unsigned.
type Key struct {
	ObjectID uint64
	Type     ItemType
	Offset   uint64
}

// Ptr returns a pointer to a copy of k, for an error that names the key.
// Taking the address of a local key instead moves it to the heap on every
// call of the function, not only on the path that makes the error.
func (k Key) Ptr() *Key { return &k }

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
	return fmt.Sprintf("(%s %s %s)", ObjectID(k.ObjectID), k.Type, offsetString(k))
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
		Type:     ItemType(b[8]),
		Offset:   binary.LittleEndian.Uint64(b[9:]),
	}
}

// PutKey writes k in on-disk form into the first KeySize bytes of b.
func PutKey(b []byte, k Key) {
	_ = b[16]
	binary.LittleEndian.PutUint64(b[0:], k.ObjectID)
	b[8] = byte(k.Type)
	binary.LittleEndian.PutUint64(b[9:], k.Offset)
}

// ItemType is the type byte of a key (BTRFS_*_KEY): what an item holds.
type ItemType uint8

// Item types (BTRFS_*_KEY).
const (
	InodeItemKey        ItemType = 1
	InodeRefKey         ItemType = 12
	InodeExtrefKey      ItemType = 13
	XattrItemKey        ItemType = 24
	VerityDescItemKey   ItemType = 36
	VerityMerkleItemKey ItemType = 37
	OrphanItemKey       ItemType = 48
	DirLogItemKey       ItemType = 60
	DirLogIndexKey      ItemType = 72
	DirItemKey          ItemType = 84
	DirIndexKey         ItemType = 96
	ExtentDataKey       ItemType = 108
	ExtentCsumKey       ItemType = 128
	RootItemKey         ItemType = 132
	RootBackrefKey      ItemType = 144
	RootRefKey          ItemType = 156
	ExtentItemKey       ItemType = 168
	MetadataItemKey     ItemType = 169
	ExtentOwnerRefKey   ItemType = 172
	TreeBlockRefKey     ItemType = 176
	ExtentDataRefKey    ItemType = 178
	SharedBlockRefKey   ItemType = 182
	SharedDataRefKey    ItemType = 184
	BlockGroupItemKey   ItemType = 192
	FreeSpaceInfoKey    ItemType = 198
	FreeSpaceExtentKey  ItemType = 199
	FreeSpaceBitmapKey  ItemType = 200
	DevExtentKey        ItemType = 204
	DevItemKey          ItemType = 216
	ChunkItemKey        ItemType = 228
	RaidStripeKey       ItemType = 230
	QgroupStatusKey     ItemType = 240
	QgroupInfoKey       ItemType = 242
	QgroupLimitKey      ItemType = 244
	QgroupRelationKey   ItemType = 246
	TemporaryItemKey    ItemType = 248
	PersistentItemKey   ItemType = 249
	DevReplaceKey       ItemType = 250
	UUIDKeySubvol       ItemType = 251
	UUIDKeyReceivedSub  ItemType = 252
	StringItemKey       ItemType = 253
)

// ObjectID is the first field of a key: an inode number in a subvolume
// tree, a tree ID in the root tree, a byte address in the extent tree, or
// one of the special IDs below. Its String names the special ones.
type ObjectID uint64

// Tree and special object IDs, untyped so that they compare with a key's
// ObjectID and convert to ObjectID alike.
const (
	RootTreeObjectID        = 1
	ExtentTreeObjectID      = 2
	ChunkTreeObjectID       = 3
	DevTreeObjectID         = 4
	FSTreeObjectID          = 5
	RootTreeDirObjectID     = 6
	CsumTreeObjectID        = 7
	QuotaTreeObjectID       = 8
	UUIDTreeObjectID        = 9
	FreeSpaceTreeObjectID   = 10
	BlockGroupTreeObjectID  = 11
	RaidStripeTreeObjectID  = 12
	DevItemsObjectID        = 1
	FirstFreeObjectID       = 256
	FirstChunkTreeObjectID  = 256
	LastFreeObjectID        = 1<<64 - 256
	BalanceObjectID         = 1<<64 - 4
	OrphanObjectID          = 1<<64 - 5
	TreeLogObjectID         = 1<<64 - 6
	TreeLogFixupObjectID    = 1<<64 - 7
	TreeRelocObjectID       = 1<<64 - 8
	DataRelocTreeObjectID   = 1<<64 - 9
	ExtentCsumObjectID      = 1<<64 - 10
	FreeSpaceObjectID       = 1<<64 - 11
	FreeInoObjectID         = 1<<64 - 12
	CsumChangeObjectID      = 1<<64 - 13
	FirstSubvolumeObjectID  = 256
	SubvolumeRootDirInodeID = 256
)

var itemTypeNames = map[ItemType]string{
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

// String names an item type as btrfs-progs does, or UNKNOWN.<n>.
func (t ItemType) String() string {
	if s, ok := itemTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("UNKNOWN.%d", t)
}

var objectIDNames = map[ObjectID]string{
	RootTreeObjectID: "ROOT_TREE", ExtentTreeObjectID: "EXTENT_TREE", ChunkTreeObjectID: "CHUNK_TREE",
	DevTreeObjectID: "DEV_TREE", FSTreeObjectID: "FS_TREE", RootTreeDirObjectID: "ROOT_TREE_DIR",
	CsumTreeObjectID: "CSUM_TREE", QuotaTreeObjectID: "QUOTA_TREE", UUIDTreeObjectID: "UUID_TREE",
	FreeSpaceTreeObjectID: "FREE_SPACE_TREE", BlockGroupTreeObjectID: "BLOCK_GROUP_TREE",
	RaidStripeTreeObjectID: "RAID_STRIPE_TREE", BalanceObjectID: "BALANCE", OrphanObjectID: "ORPHAN",
	TreeLogObjectID: "TREE_LOG", TreeLogFixupObjectID: "TREE_LOG_FIXUP", TreeRelocObjectID: "TREE_RELOC",
	DataRelocTreeObjectID: "DATA_RELOC_TREE", ExtentCsumObjectID: "EXTENT_CSUM", FreeSpaceObjectID: "FREE_SPACE",
	FreeInoObjectID: "FREE_INO", CsumChangeObjectID: "CSUM_CHANGE",
}

// String names well-known tree IDs and negative object IDs as btrfs-progs
// does; other IDs are printed as numbers.
func (id ObjectID) String() string {
	if s, ok := objectIDNames[id]; ok && (id < FirstFreeObjectID || id > LastFreeObjectID) {
		return s
	}
	return fmt.Sprint(uint64(id))
}

// TreeName names tree id for messages: "subvolume 257", "ROOT_TREE".
func TreeName(id uint64) string {
	if id >= FirstFreeObjectID && id <= LastFreeObjectID {
		return fmt.Sprintf("subvolume %d", id)
	}
	return ObjectID(id).String()
}
