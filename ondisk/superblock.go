package ondisk

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// SuperblockOffsets are the physical byte offsets of the primary superblock
// and its two mirrors on every device. A copy exists only where it fits.
var SuperblockOffsets = []int64{0x10000, 0x4000000, 0x4000000000}

// Superblock layout constants.
const (
	SuperblockSize      = 4096
	SuperMagic          = 0x4D5F53665248425F // "_BHRfS_M" little-endian
	SysChunkArrayMax    = 2048
	LabelSize           = 256
	NumBackupRoots      = 4
	BackupRootSize      = 168
	MinSectorSize       = 4096
	MaxNodeSize         = 65536
	SuperSysArrayOffset = 0x32b // where sys_chunk_array starts
	superBackupsOff     = 0xb2b
	SuperDevItemOffset  = 0xc9
	superLabelOff       = 0x12b
	superMetaUUIDOff    = 0x23b
	minSysArrayLength   = KeySize + ChunkItemSize + ChunkStripeSize
)

// Superblock flags (BTRFS_SUPER_FLAG_* and the header flags stored there).
const (
	SuperFlagWritten          uint64 = 1 << 0
	SuperFlagError            uint64 = 1 << 2
	SuperFlagSeeding          uint64 = 1 << 32
	SuperFlagMetadump         uint64 = 1 << 33
	SuperFlagMetadumpV2       uint64 = 1 << 34
	SuperFlagChangingFSID     uint64 = 1 << 35
	SuperFlagChangingFSIDV2   uint64 = 1 << 36
	SuperFlagChangingBGTree   uint64 = 1 << 38
	SuperFlagChangingDataCsum uint64 = 1 << 39
	SuperFlagChangingMetaCsum uint64 = 1 << 40
)

// refusedSuperFlags mark images that do not hold a consistent filesystem:
// metadata-only dumps and interrupted offline conversions.
var refusedSuperFlags = []struct {
	flag uint64
	why  string
}{
	{SuperFlagMetadump, "is a btrfs-image metadata dump without file data"},
	{SuperFlagMetadumpV2, "is a btrfs-image metadata dump without file data"},
	{SuperFlagChangingFSID, "has an interrupted fsid change (btrfstune)"},
	{SuperFlagChangingFSIDV2, "has an interrupted metadata_uuid change (btrfstune)"},
	{SuperFlagChangingBGTree, "has an interrupted block-group-tree conversion (btrfstune)"},
	{SuperFlagChangingDataCsum, "has an interrupted data checksum conversion (btrfstune)"},
	{SuperFlagChangingMetaCsum, "has an interrupted metadata checksum conversion (btrfstune)"},
}

// BackupRoot is one of the superblock's four btrfs_root_backup slots, a
// rescue path to the roots of recent commits.
type BackupRoot struct {
	TreeRoot, TreeRootGen     uint64
	ChunkRoot, ChunkRootGen   uint64
	ExtentRoot, ExtentRootGen uint64
	FSRoot, FSRootGen         uint64
	DevRoot, DevRootGen       uint64
	CsumRoot, CsumRootGen     uint64
	TotalBytes                uint64
	BytesUsed                 uint64
	NumDevices                uint64
	TreeRootLevel             uint8
	ChunkRootLevel            uint8
	ExtentRootLevel           uint8
	FSRootLevel               uint8
	DevRootLevel              uint8
	CsumRootLevel             uint8
}

// Superblock is a decoded struct btrfs_super_block.
type Superblock struct {
	Csum                [CsumSize]byte
	FSID                UUID
	Bytenr              uint64 // physical offset of this copy
	Flags               uint64
	Magic               uint64
	Generation          uint64
	Root                uint64
	ChunkRoot           uint64
	LogRoot             uint64
	LogRootTransID      uint64 // deprecated, always 0
	TotalBytes          uint64
	BytesUsed           uint64
	RootDirObjectID     uint64
	NumDevices          uint64
	SectorSize          uint32
	NodeSize            uint32
	LeafSize            uint32 // always NodeSize
	StripeSize          uint32
	SysChunkArraySize   uint32
	ChunkRootGeneration uint64
	CompatFlags         uint64
	CompatROFlags       uint64
	IncompatFlags       uint64
	CsumType            CsumType
	RootLevel           uint8
	ChunkRootLevel      uint8
	LogRootLevel        uint8
	DevItem             DevItem // the device this copy was read from
	Label               string
	CacheGeneration     uint64
	UUIDTreeGeneration  uint64
	MetadataUUID        UUID // meaningful only with IncompatMetadataUUID
	NrGlobalRoots       uint64
	RemapRoot           uint64
	RemapRootGeneration uint64
	RemapRootLevel      uint8
	SysChunkArray       []byte // the SysChunkArraySize valid bytes
	Backups             [NumBackupRoots]BackupRoot
}

// MetadataFSID is the fsid that tree-block headers and DEV_ITEMs carry:
// metadata_uuid when the METADATA_UUID feature is set, otherwise fsid.
func (sb *Superblock) MetadataFSID() UUID {
	if sb.IncompatFlags&IncompatMetadataUUID != 0 {
		return sb.MetadataUUID
	}
	return sb.FSID
}

// ParseSuperblock decodes and validates one superblock copy: magic,
// checksum and the sanity checks of the kernel and btrfs-progs. It does not
// check Bytenr against the offset the copy was read from (ReadSuperblock
// does) nor the feature flags (CheckFeatures does).
func ParseSuperblock(b []byte) (*Superblock, error) {
	if len(b) < SuperblockSize {
		return nil, corruptf("superblock is %d bytes, want %d", len(b), SuperblockSize)
	}
	b = b[:SuperblockSize]
	le := binary.LittleEndian
	sb := &Superblock{}
	sb.Magic = le.Uint64(b[0x40:])
	if sb.Magic != SuperMagic {
		return nil, notBtrfsf("bad magic %#016x", sb.Magic)
	}
	sb.CsumType = CsumType(le.Uint16(b[0xc4:]))
	if !sb.CsumType.Valid() {
		return nil, unsupportedf("unsupported checksum type %d", uint16(sb.CsumType))
	}
	copy(sb.Csum[:], b[0:32])
	var sum [CsumSize]byte
	sb.CsumType.Sum(&sum, b[32:])
	if n := sb.CsumType.Size(); !bytes.Equal(sum[:n], sb.Csum[:n]) {
		return nil, corruptf("superblock %s checksum mismatch: stored %x, computed %x", sb.CsumType, sb.Csum[:n], sum[:n])
	}

	copy(sb.FSID[:], b[0x20:0x30])
	sb.Bytenr = le.Uint64(b[0x30:])
	sb.Flags = le.Uint64(b[0x38:])
	sb.Generation = le.Uint64(b[0x48:])
	sb.Root = le.Uint64(b[0x50:])
	sb.ChunkRoot = le.Uint64(b[0x58:])
	sb.LogRoot = le.Uint64(b[0x60:])
	sb.LogRootTransID = le.Uint64(b[0x68:])
	sb.TotalBytes = le.Uint64(b[0x70:])
	sb.BytesUsed = le.Uint64(b[0x78:])
	sb.RootDirObjectID = le.Uint64(b[0x80:])
	sb.NumDevices = le.Uint64(b[0x88:])
	sb.SectorSize = le.Uint32(b[0x90:])
	sb.NodeSize = le.Uint32(b[0x94:])
	sb.LeafSize = le.Uint32(b[0x98:])
	sb.StripeSize = le.Uint32(b[0x9c:])
	sb.SysChunkArraySize = le.Uint32(b[0xa0:])
	sb.ChunkRootGeneration = le.Uint64(b[0xa4:])
	sb.CompatFlags = le.Uint64(b[0xac:])
	sb.CompatROFlags = le.Uint64(b[0xb4:])
	sb.IncompatFlags = le.Uint64(b[0xbc:])
	sb.RootLevel = b[0xc6]
	sb.ChunkRootLevel = b[0xc7]
	sb.LogRootLevel = b[0xc8]
	dev, err := ParseDevItem(b[SuperDevItemOffset : SuperDevItemOffset+DevItemSize])
	if err != nil {
		return nil, fmt.Errorf("superblock dev_item: %w", err)
	}
	sb.DevItem = dev
	label := b[superLabelOff : superLabelOff+LabelSize]
	if i := bytes.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	sb.Label = string(label)
	sb.CacheGeneration = le.Uint64(b[0x22b:])
	sb.UUIDTreeGeneration = le.Uint64(b[0x233:])
	copy(sb.MetadataUUID[:], b[superMetaUUIDOff:superMetaUUIDOff+16])
	sb.NrGlobalRoots = le.Uint64(b[0x24b:])
	sb.RemapRoot = le.Uint64(b[0x253:])
	sb.RemapRootGeneration = le.Uint64(b[0x25b:])
	sb.RemapRootLevel = b[0x263]
	for i := range sb.Backups {
		sb.Backups[i] = parseBackupRoot(b[superBackupsOff+i*BackupRootSize:])
	}
	if err := sb.validate(); err != nil {
		return nil, err
	}
	sb.SysChunkArray = bytes.Clone(b[SuperSysArrayOffset : SuperSysArrayOffset+int(sb.SysChunkArraySize)])
	return sb, nil
}

func parseBackupRoot(b []byte) BackupRoot {
	le := binary.LittleEndian
	u := func(i int) uint64 { return le.Uint64(b[8*i:]) }
	return BackupRoot{
		TreeRoot: u(0), TreeRootGen: u(1),
		ChunkRoot: u(2), ChunkRootGen: u(3),
		ExtentRoot: u(4), ExtentRootGen: u(5),
		FSRoot: u(6), FSRootGen: u(7),
		DevRoot: u(8), DevRootGen: u(9),
		CsumRoot: u(10), CsumRootGen: u(11),
		TotalBytes: u(12), BytesUsed: u(13), NumDevices: u(14),
		TreeRootLevel: b[152], ChunkRootLevel: b[153], ExtentRootLevel: b[154],
		FSRootLevel: b[155], DevRootLevel: b[156], CsumRootLevel: b[157],
	}
}

func isPow2(x uint32) bool { return x != 0 && x&(x-1) == 0 }

// validate applies the checks of the kernel's btrfs_validate_super and
// progs' btrfs_check_super to a decoded superblock.
func (sb *Superblock) validate() error {
	for _, f := range refusedSuperFlags {
		if sb.Flags&f.flag != 0 {
			return unsupportedf("filesystem %s (superblock flags %#x)", f.why, sb.Flags)
		}
	}
	if !isPow2(sb.SectorSize) || sb.SectorSize < MinSectorSize || sb.SectorSize > MaxNodeSize {
		return corruptf("invalid sectorsize %d: want a power of two in [%d, %d]", sb.SectorSize, MinSectorSize, MaxNodeSize)
	}
	if !isPow2(sb.NodeSize) || sb.NodeSize < sb.SectorSize || sb.NodeSize > MaxNodeSize {
		return corruptf("invalid nodesize %d: want a power of two in [sectorsize %d, %d]", sb.NodeSize, sb.SectorSize, MaxNodeSize)
	}
	if sb.LeafSize != sb.NodeSize {
		return corruptf("leafsize %d differs from nodesize %d", sb.LeafSize, sb.NodeSize)
	}
	if sb.StripeSize != MinSectorSize && sb.StripeSize != sb.SectorSize {
		return corruptf("invalid stripesize %d", sb.StripeSize)
	}
	for _, r := range []struct {
		name  string
		addr  uint64
		level uint8
	}{{"root", sb.Root, sb.RootLevel}, {"chunk_root", sb.ChunkRoot, sb.ChunkRootLevel}, {"log_root", sb.LogRoot, sb.LogRootLevel}} {
		if r.level >= MaxLevel {
			return corruptf("%s level %d is not below %d", r.name, r.level, MaxLevel)
		}
		if r.addr%uint64(sb.SectorSize) != 0 {
			return corruptf("%s address %d is not aligned to sectorsize %d", r.name, r.addr, sb.SectorSize)
		}
	}
	if sb.Root == 0 || sb.ChunkRoot == 0 {
		return corruptf("root %d or chunk_root %d is zero", sb.Root, sb.ChunkRoot)
	}
	if sb.TotalBytes == 0 {
		return corruptf("total_bytes is 0")
	}
	if sb.BytesUsed < 6*uint64(sb.NodeSize) {
		return corruptf("bytes_used %d is less than 6 tree blocks", sb.BytesUsed)
	}
	if sb.NumDevices == 0 {
		return corruptf("num_devices is 0")
	}
	if sb.SysChunkArraySize > SysChunkArrayMax || sb.SysChunkArraySize < minSysArrayLength {
		return corruptf("sys_chunk_array_size %d is outside [%d, %d]", sb.SysChunkArraySize, minSysArrayLength, SysChunkArrayMax)
	}
	if sb.DevItem.FSID != sb.MetadataFSID() {
		return corruptf("dev_item fsid %s does not match metadata fsid %s", sb.DevItem.FSID, sb.MetadataFSID())
	}
	return nil
}
