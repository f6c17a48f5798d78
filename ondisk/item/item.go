package item

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
)

// This file decodes leaf item payloads. Every decoder takes the payload
// alone (Node.ItemData), checks every length before reading, and returns
// byte slices that alias the payload rather than copies.

// Timespec is a btrfs_timespec: seconds since the epoch (signed on disk in
// practice, e.g. times before 1970) and nanoseconds.
type Timespec struct {
	Sec  int64
	Nsec uint32
}

func decodeTimespec(b []byte) Timespec {
	return Timespec{Sec: int64(binary.LittleEndian.Uint64(b)), Nsec: binary.LittleEndian.Uint32(b[8:])}
}

// InodeSize is the size of a btrfs_inode_item.
const InodeSize = 160

// MaxFileSize is the largest i_size a file can have: the kernel's
// MAX_LFS_FILESIZE on 64-bit machines, the largest loff_t. A larger
// stored size is corruption.
const MaxFileSize uint64 = 1<<63 - 1

// Inode flags: the low 32 bits of btrfs_inode_item.flags.
const (
	InodeNoDataSum    uint32 = 0x1
	InodeNoDataCOW    uint32 = 0x2
	InodeReadOnly     uint32 = 0x4
	InodeNoCompress   uint32 = 0x8
	InodePrealloc     uint32 = 0x10
	InodeSync         uint32 = 0x20
	InodeImmutable    uint32 = 0x40
	InodeAppend       uint32 = 0x80
	InodeNoDump       uint32 = 0x100
	InodeNoAtime      uint32 = 0x200
	InodeDirSync      uint32 = 0x400
	InodeCompress     uint32 = 0x800
	InodeRootItemInit uint32 = 0x80000000 // only in the inode embedded in a ROOT_ITEM

	inodeKnownFlags = InodeNoDataSum | InodeNoDataCOW | InodeReadOnly | InodeNoCompress |
		InodePrealloc | InodeSync | InodeImmutable | InodeAppend | InodeNoDump |
		InodeNoAtime | InodeDirSync | InodeCompress | InodeRootItemInit
)

// FSFlags maps btrfs inode flags to the FS_*_FL bits FS_IOC_GETFLAGS
// reports (the kernel's btrfs_inode_flags_to_fsflags).
func FSFlags(f uint32) uint32 {
	var out uint32
	for _, m := range []struct{ btrfs, fs uint32 }{
		{InodeSync, 0x8}, {InodeImmutable, 0x10}, {InodeAppend, 0x20},
		{InodeNoDump, 0x40}, {InodeNoAtime, 0x80}, {InodeDirSync, 0x10000},
		{InodeNoDataCOW, 0x800000},
	} {
		if f&m.btrfs != 0 {
			out |= m.fs
		}
	}
	switch {
	case f&InodeNoCompress != 0:
		out |= 0x400 // FS_NOCOMP_FL
	case f&InodeCompress != 0:
		out |= 0x4 // FS_COMPR_FL
	}
	return out
}

// InodeROVerity is the read-only-compatible inode flag (high 32 bits of
// btrfs_inode_item.flags) marking an fs-verity file.
const InodeROVerity uint32 = 0x1

// Inode is a decoded btrfs_inode_item (INODE_ITEM payload).
type Inode struct {
	Generation uint64 // transid that created the inode; (ino, Generation) identifies it
	Transid    uint64 // last transid that changed it
	Size       uint64
	Nbytes     uint64
	BlockGroup uint64
	Nlink      uint32
	UID        uint32
	GID        uint32
	Mode       uint32
	Rdev       uint64
	Flags      uint32 // Inode* flags
	ROFlags    uint32 // InodeRO* flags
	Sequence   uint64
	Atime      Timespec
	Ctime      Timespec
	Mtime      Timespec
	Otime      Timespec
}

func decodeInodeItem(b []byte) Inode {
	_ = b[InodeSize-1]
	flags := binary.LittleEndian.Uint64(b[64:])
	return Inode{
		Generation: binary.LittleEndian.Uint64(b[0:]),
		Transid:    binary.LittleEndian.Uint64(b[8:]),
		Size:       binary.LittleEndian.Uint64(b[16:]),
		Nbytes:     binary.LittleEndian.Uint64(b[24:]),
		BlockGroup: binary.LittleEndian.Uint64(b[32:]),
		Nlink:      binary.LittleEndian.Uint32(b[40:]),
		UID:        binary.LittleEndian.Uint32(b[44:]),
		GID:        binary.LittleEndian.Uint32(b[48:]),
		Mode:       binary.LittleEndian.Uint32(b[52:]),
		Rdev:       binary.LittleEndian.Uint64(b[56:]),
		Flags:      uint32(flags),
		ROFlags:    uint32(flags >> 32),
		Sequence:   binary.LittleEndian.Uint64(b[72:]),
		Atime:      decodeTimespec(b[112:]),
		Ctime:      decodeTimespec(b[124:]),
		Mtime:      decodeTimespec(b[136:]),
		Otime:      decodeTimespec(b[148:]),
	}
}

// ParseInode decodes an INODE_ITEM payload. Unknown low (incompat)
// flags are rejected as the kernel does, since they may change how the
// inode's data must be read; unknown RO flags are kept.
func ParseInode(b []byte) (Inode, error) {
	if len(b) != InodeSize {
		return Inode{}, corruptf("inode item is %d bytes, want %d", len(b), InodeSize)
	}
	it := decodeInodeItem(b)
	if unk := it.Flags &^ inodeKnownFlags; unk != 0 {
		return Inode{}, corruptf("inode item flags at byte 64: unknown flags %#x", unk)
	}
	return it, nil
}

// InodeRef is one name record of an INODE_REF item; the parent directory
// is the key offset. Name aliases the item payload.
type InodeRef struct {
	Index uint64 // DIR_INDEX offset of this name in the parent
	Name  []byte
}

const inodeRefHdr = 10

// ParseInodeRefs decodes the packed records of an INODE_REF payload.
func ParseInodeRefs(b []byte) ([]InodeRef, error) { return seq.Collect(InodeRefs(b)) }

// InodeRefs yields the records of an INODE_REF payload in order, without
// building a list. Every record is checked before the first is yielded;
// on damage it yields only the error ParseInodeRefs returns.
func InodeRefs(b []byte) iter.Seq2[InodeRef, error] {
	return packed(b, checkInodeRefs, decodeInodeRef)
}

// FirstInodeRef is the first record of ParseInodeRefs(b), every record
// checked, without building the list.
func FirstInodeRef(b []byte) (InodeRef, error) {
	return first(b, checkInodeRefs, decodeInodeRef)
}

// checkInodeRefs checks that the records of an INODE_REF payload tile it.
func checkInodeRefs(b []byte) error {
	if len(b) <= inodeRefHdr {
		return corruptf("inode ref item is %d bytes, want more than %d", len(b), inodeRefHdr)
	}
	_, err := countRecords(b, inodeRefHdr, 8, "inode ref")
	return err
}

// decodeInodeRef decodes the checked record at off and returns where the
// next one starts.
func decodeInodeRef(b []byte, off int) (InodeRef, int) {
	end := off + inodeRefHdr + int(binary.LittleEndian.Uint16(b[off+8:]))
	return InodeRef{Index: binary.LittleEndian.Uint64(b[off:]), Name: b[off+inodeRefHdr : end : end]}, end
}

// countRecords walks packed {header, name} records whose le16 name length
// sits at nameLenOff inside a hdr-byte header, and checks that they tile b.
func countRecords(b []byte, hdr, nameLenOff int, what string) (int, error) {
	n := 0
	for off := 0; off < len(b); n++ {
		if len(b)-off < hdr {
			return 0, corruptf("%s record %d at byte %d: %d-byte header overruns the %d-byte item", what, n, off, hdr, len(b))
		}
		nl := int(binary.LittleEndian.Uint16(b[off+nameLenOff:]))
		if len(b)-off-hdr < nl {
			return 0, corruptf("%s record %d at byte %d: name_len %d overruns the %d-byte item", what, n, off, nl, len(b))
		}
		off += hdr + nl
	}
	return n, nil
}

// InodeExtref is one record of an INODE_EXTREF item. Records in one item
// may name different parents (they share the item only on hash collision).
type InodeExtref struct {
	Parent uint64
	Index  uint64
	Name   []byte
}

const inodeExtrefHdr = 18

// ParseInodeExtrefs decodes the packed records of an INODE_EXTREF payload.
func ParseInodeExtrefs(b []byte) ([]InodeExtref, error) {
	if len(b) == 0 {
		return nil, corruptf("inode extref item is empty")
	}
	n, err := countRecords(b, inodeExtrefHdr, 16, "inode extref")
	if err != nil {
		return nil, err
	}
	refs := make([]InodeExtref, 0, n)
	for off := 0; off < len(b); {
		nl := int(binary.LittleEndian.Uint16(b[off+16:]))
		end := off + inodeExtrefHdr + nl
		refs = append(refs, InodeExtref{
			Parent: binary.LittleEndian.Uint64(b[off:]),
			Index:  binary.LittleEndian.Uint64(b[off+8:]),
			Name:   b[off+inodeExtrefHdr : end : end],
		})
		off = end
	}
	return refs, nil
}

// File type bits of Inode.Mode (S_IF*).
const (
	ModeTypeMask = 0o170000
	ModeSocket   = 0o140000
	ModeSymlink  = 0o120000
	ModeRegular  = 0o100000
	ModeBlock    = 0o060000
	ModeDir      = 0o040000
	ModeChar     = 0o020000
	ModeFIFO     = 0o010000
)

// ModeString renders st_mode as ls -l does, e.g. "drwxr-xr-x" ("?" for
// an unknown file type).
func ModeString(mode uint32) string {
	b := []byte("?---------")
	switch mode & ModeTypeMask {
	case ModeRegular:
		b[0] = '-'
	case ModeDir:
		b[0] = 'd'
	case ModeSymlink:
		b[0] = 'l'
	case ModeChar:
		b[0] = 'c'
	case ModeBlock:
		b[0] = 'b'
	case ModeFIFO:
		b[0] = 'p'
	case ModeSocket:
		b[0] = 's'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(bit uint32, pos int, set, setNoExec byte) {
		if mode&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = setNoExec
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// FileType is a directory entry's type (BTRFS_FT_*), Dir.Type.
type FileType uint8

// Directory entry file types (BTRFS_FT_*).
const (
	FTUnknown FileType = iota
	FTRegFile
	FTDir
	FTChrdev
	FTBlkdev
	FTFifo
	FTSock
	FTSymlink
	FTXattr
	ftMax
)

var fileTypeNames = [ftMax]string{"UNKNOWN", "FILE", "DIR", "CHRDEV", "BLKDEV", "FIFO", "SOCK", "SYMLINK", "XATTR"}

// String names a file type the way dump-tree does.
func (t FileType) String() string {
	if t < ftMax {
		return fileTypeNames[t]
	}
	return fmt.Sprintf("UNKNOWN.%d", uint8(t))
}

// Dir is one btrfs_dir_item entry, as found in DIR_ITEM, DIR_INDEX and
// XATTR_ITEM payloads. Name and Data alias the payload.
type Dir struct {
	Location ondisk.Key // (ino, INODE_ITEM, 0), (subvol, ROOT_ITEM, -1), or zero for xattrs
	Transid  uint64
	Type     FileType
	Name     []byte
	Data     []byte // xattr value; empty for directory entries
}

const (
	dirItemHdr = 30
	maxNameLen = 255
	// ftEncrypted marks an fscrypt name (never set by upstream kernels).
	ftEncrypted = 0x80
)

// ParseDirItems decodes the packed entries of a DIR_ITEM, DIR_INDEX or
// XATTR_ITEM payload. DIR_INDEX items hold exactly one entry; checking that
// is left to the caller, which knows the key.
func ParseDirItems(b []byte) ([]Dir, error) { return seq.Collect(DirItems(b)) }

// DirItems yields the entries of a DIR_ITEM, DIR_INDEX or XATTR_ITEM
// payload in order, without building a list. Every entry is checked before
// the first is yielded; on damage it yields only the error ParseDirItems
// returns.
func DirItems(b []byte) iter.Seq2[Dir, error] {
	return packed(b, checkDirItems, decodeDirItem)
}

// FirstDirItem is the first entry of ParseDirItems(b) (a DIR_INDEX item's
// only one), every entry checked, without building the list.
func FirstDirItem(b []byte) (Dir, error) {
	return first(b, checkDirItems, decodeDirItem)
}

// packed yields the records of an item payload that check accepts whole,
// each decoded by decode from its offset, which also returns the next
// record's.
func packed[T any](b []byte, check func([]byte) error, decode func([]byte, int) (T, int)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		if err := check(b); err != nil {
			var zero T
			yield(zero, err)
			return
		}
		for off := 0; off < len(b); {
			v, end := decode(b, off)
			if !yield(v, nil) {
				return
			}
			off = end
		}
	}
}

// first is the first record packed would yield, or its error.
func first[T any](b []byte, check func([]byte) error, decode func([]byte, int) (T, int)) (T, error) {
	if err := check(b); err != nil {
		var zero T
		return zero, err
	}
	v, _ := decode(b, 0)
	return v, nil
}

// decodeDirItem decodes the checked entry at off and returns where the
// next one starts.
func decodeDirItem(b []byte, off int) (Dir, int) {
	nameEnd := off + dirItemHdr + int(binary.LittleEndian.Uint16(b[off+27:]))
	end := nameEnd + int(binary.LittleEndian.Uint16(b[off+25:]))
	return Dir{
		Location: ondisk.DecodeKey(b[off:]),
		Transid:  binary.LittleEndian.Uint64(b[off+17:]),
		Type:     FileType(b[off+29]),
		Name:     b[off+dirItemHdr : nameEnd : nameEnd],
		Data:     b[nameEnd:end:end],
	}, end
}

// checkDirItems checks that the entries of a dir item payload tile it.
func checkDirItems(b []byte) error {
	if len(b) == 0 {
		return corruptf("dir item is empty")
	}
	for off, n := 0, 0; off < len(b); n++ {
		if len(b)-off < dirItemHdr {
			return corruptf("dir item entry %d at byte %d: %d-byte header overruns the %d-byte item", n, off, dirItemHdr, len(b))
		}
		if err := checkDirItemHeader(b[off:], n, off); err != nil {
			return err
		}
		total := dirItemHdr + int(binary.LittleEndian.Uint16(b[off+25:])) + int(binary.LittleEndian.Uint16(b[off+27:]))
		if len(b)-off < total {
			return corruptf("dir item entry %d at byte %d: name and data (%d bytes) overrun the %d-byte item", n, off, total-dirItemHdr, len(b))
		}
		off += total
	}
	return nil
}

// FindDirItem returns the entry named name among the packed entries of a
// DIR_ITEM or XATTR_ITEM payload, checked as ParseDirItems checks them,
// without building the list: a name lookup needs only its match.
func FindDirItem(b, name []byte) (Dir, bool, error) {
	for d, err := range DirItems(b) {
		if err != nil {
			return Dir{}, false, err
		}
		if bytes.Equal(d.Name, name) {
			return d, true, nil
		}
	}
	return Dir{}, false, nil
}

// checkDirItemHeader applies the kernel tree checker's per-entry rules.
func checkDirItemHeader(h []byte, n, off int) error {
	switch t := ondisk.ItemType(h[8]); t {
	case 0, ondisk.InodeItemKey, ondisk.RootItemKey:
	default:
		return corruptf("dir item entry %d at byte %d: location key type %d is not INODE_ITEM or ROOT_ITEM", n, off, t)
	}
	typ := FileType(h[29])
	if typ&ftEncrypted != 0 {
		// Encrypted names are ciphertext; treating them as names would be wrong.
		return corruptf("dir item entry %d at byte %d: type %#x has the unsupported encrypted bit", n, off+29, typ)
	}
	if typ >= ftMax {
		return corruptf("dir item entry %d at byte %d: type %d is not a BTRFS_FT_* value", n, off+29, typ)
	}
	if nl := binary.LittleEndian.Uint16(h[27:]); nl > maxNameLen {
		return corruptf("dir item entry %d at byte %d: name_len %d exceeds %d", n, off+27, nl, maxNameLen)
	}
	if dl := binary.LittleEndian.Uint16(h[25:]); dl != 0 && typ != FTXattr {
		return corruptf("dir item entry %d at byte %d: data_len %d on a non-xattr entry", n, off+25, dl)
	}
	return nil
}

// ExtentType is the type of a file extent (btrfs_file_extent_item.type).
type ExtentType uint8

// File extent types.
const (
	FileExtentInline   ExtentType = 0
	FileExtentReg      ExtentType = 1
	FileExtentPrealloc ExtentType = 2
)

// String names an extent type: inline, regular or prealloc.
func (t ExtentType) String() string {
	switch t {
	case FileExtentInline:
		return "inline"
	case FileExtentReg:
		return "regular"
	case FileExtentPrealloc:
		return "prealloc"
	}
	return fmt.Sprintf("extent-type-%d", uint8(t))
}

// Compression is how a file extent's data is compressed
// (btrfs_file_extent_item.compression).
type Compression uint8

// Compression types.
const (
	CompressNone Compression = 0
	CompressZlib Compression = 1
	CompressLZO  Compression = 2
	CompressZstd Compression = 3
)

// String names a compression as the btrfs mount option does: none, zlib,
// lzo or zstd.
func (c Compression) String() string {
	switch c {
	case CompressNone:
		return "none"
	case CompressZlib:
		return "zlib"
	case CompressLZO:
		return "lzo"
	case CompressZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression-%d", uint8(c))
}

// File extent item layout.
const (
	FileExtentInlineDataStart = 21 // inline data starts where disk_bytenr would
	FileExtentSize            = 53 // REG and PREALLOC items
)

// FileExtent is a decoded btrfs_file_extent_item (EXTENT_DATA payload).
type FileExtent struct {
	Generation    uint64
	RAMBytes      uint64 // decoded size of the whole extent
	Compression   Compression
	Encryption    uint8
	OtherEncoding uint16
	Type          ExtentType

	// REG and PREALLOC only. DiskBytenr 0 is a hole.
	DiskBytenr   uint64
	DiskNumBytes uint64
	Offset       uint64 // into the decoded extent
	NumBytes     uint64

	// INLINE only: item bytes from FileExtentInlineDataStart on, possibly
	// compressed. Aliases the payload.
	InlineData []byte
}

// ParseFileExtent decodes an EXTENT_DATA payload with the tree
// checker's rules: known type and compression, no encryption, uncompressed
// inline data exactly RAMBytes long, REG/PREALLOC exactly 53 bytes.
func ParseFileExtent(b []byte) (FileExtent, error) {
	if len(b) < FileExtentInlineDataStart {
		return FileExtent{}, corruptf("file extent item is %d bytes, want at least %d", len(b), FileExtentInlineDataStart)
	}
	fe := FileExtent{
		Generation:    binary.LittleEndian.Uint64(b[0:]),
		RAMBytes:      binary.LittleEndian.Uint64(b[8:]),
		Compression:   Compression(b[16]),
		Encryption:    b[17],
		OtherEncoding: binary.LittleEndian.Uint16(b[18:]),
		Type:          ExtentType(b[20]),
	}
	if fe.Compression > CompressZstd {
		return FileExtent{}, corruptf("file extent compression at byte 16: unknown type %d", fe.Compression)
	}
	if fe.Encryption != 0 {
		return FileExtent{}, corruptf("file extent encryption at byte 17: %d, want 0", fe.Encryption)
	}
	switch fe.Type {
	case FileExtentInline:
		fe.InlineData = b[FileExtentInlineDataStart:len(b):len(b)]
		if fe.Compression == CompressNone && fe.RAMBytes != uint64(len(fe.InlineData)) {
			return FileExtent{}, corruptf("uncompressed inline file extent: ram_bytes (byte 8) %d, but %d bytes of data", fe.RAMBytes, len(fe.InlineData))
		}
	case FileExtentReg, FileExtentPrealloc:
		if len(b) != FileExtentSize {
			return FileExtent{}, corruptf("%s file extent item is %d bytes, want %d", fe.Type, len(b), FileExtentSize)
		}
		fe.DiskBytenr = binary.LittleEndian.Uint64(b[21:])
		fe.DiskNumBytes = binary.LittleEndian.Uint64(b[29:])
		fe.Offset = binary.LittleEndian.Uint64(b[37:])
		fe.NumBytes = binary.LittleEndian.Uint64(b[45:])
	default:
		return FileExtent{}, corruptf("file extent type at byte 20: unknown type %d", fe.Type)
	}
	return fe, nil
}

// Root item sizes: the legacy form ends just before generation_v2.
const (
	RootSize       = 439
	LegacyRootSize = 239
)

// Root item flags.
const (
	RootSubvolRDONLY uint64 = 1 << 0
	// rootSubvolDead is in-memory only, but the tree checker tolerates it.
	rootSubvolDead uint64 = 1 << 48
)

// Root is a decoded btrfs_root_item (ROOT_ITEM payload). For a legacy
// 239-byte item every field from GenerationV2 on is zero.
type Root struct {
	Inode        Inode // embedded, mostly unused
	Generation   uint64
	RootDirID    uint64
	Bytenr       uint64 // root node of the tree
	ByteLimit    uint64
	BytesUsed    uint64
	LastSnapshot uint64
	Flags        uint64 // RootSubvol* flags
	Refs         uint32 // 0 while the tree is being deleted
	DropProgress ondisk.Key
	DropLevel    uint8
	Level        uint8

	Legacy       bool // the item is LegacyRootSize bytes
	GenerationV2 uint64
	UUID         ondisk.UUID
	ParentUUID   ondisk.UUID
	ReceivedUUID ondisk.UUID
	Ctransid     uint64
	Otransid     uint64
	Stransid     uint64
	Rtransid     uint64
	Ctime        Timespec
	Otime        Timespec
	Stime        Timespec
	Rtime        Timespec
}

// ExtendedValid reports whether the fields from GenerationV2 on may be
// trusted: the item has them and was last written by a kernel that
// maintains them. The kernel ignores them otherwise.
func (r *Root) ExtendedValid() bool {
	return !r.Legacy && r.GenerationV2 == r.Generation
}

// ParseRoot decodes a ROOT_ITEM payload of either size.
func ParseRoot(b []byte) (Root, error) {
	if len(b) != RootSize && len(b) != LegacyRootSize {
		return Root{}, corruptf("root item is %d bytes, want %d or %d", len(b), RootSize, LegacyRootSize)
	}
	r := Root{
		Inode:        decodeInodeItem(b),
		Generation:   binary.LittleEndian.Uint64(b[160:]),
		RootDirID:    binary.LittleEndian.Uint64(b[168:]),
		Bytenr:       binary.LittleEndian.Uint64(b[176:]),
		ByteLimit:    binary.LittleEndian.Uint64(b[184:]),
		BytesUsed:    binary.LittleEndian.Uint64(b[192:]),
		LastSnapshot: binary.LittleEndian.Uint64(b[200:]),
		Flags:        binary.LittleEndian.Uint64(b[208:]),
		Refs:         binary.LittleEndian.Uint32(b[216:]),
		DropProgress: ondisk.DecodeKey(b[220:]),
		DropLevel:    b[237],
		Level:        b[238],
		Legacy:       len(b) == LegacyRootSize,
	}
	if unk := r.Flags &^ (RootSubvolRDONLY | rootSubvolDead); unk != 0 {
		return Root{}, corruptf("root item flags at byte 208: unknown flags %#x", unk)
	}
	if r.Level >= ondisk.MaxLevel || r.DropLevel >= ondisk.MaxLevel {
		return Root{}, corruptf("root item level %d / drop_level %d (bytes 238/237) not below %d", r.Level, r.DropLevel, ondisk.MaxLevel)
	}
	if r.Legacy {
		return r, nil
	}
	r.GenerationV2 = binary.LittleEndian.Uint64(b[239:])
	copy(r.UUID[:], b[247:])
	copy(r.ParentUUID[:], b[263:])
	copy(r.ReceivedUUID[:], b[279:])
	r.Ctransid = binary.LittleEndian.Uint64(b[295:])
	r.Otransid = binary.LittleEndian.Uint64(b[303:])
	r.Stransid = binary.LittleEndian.Uint64(b[311:])
	r.Rtransid = binary.LittleEndian.Uint64(b[319:])
	r.Ctime = decodeTimespec(b[327:])
	r.Otime = decodeTimespec(b[339:])
	r.Stime = decodeTimespec(b[351:])
	r.Rtime = decodeTimespec(b[363:])
	return r, nil
}

// RootRef is a ROOT_REF or ROOT_BACKREF payload: where a subvolume is
// linked into its parent. Name aliases the payload.
type RootRef struct {
	DirID    uint64 // directory inode in the parent tree
	Sequence uint64 // DIR_INDEX offset of the entry
	Name     []byte
}

const rootRefHdr = 18

// ParseRootRef decodes a ROOT_REF or ROOT_BACKREF payload.
func ParseRootRef(b []byte) (RootRef, error) {
	if len(b) < rootRefHdr {
		return RootRef{}, corruptf("root ref is %d bytes, want at least %d", len(b), rootRefHdr)
	}
	if nl := int(binary.LittleEndian.Uint16(b[16:])); rootRefHdr+nl != len(b) {
		return RootRef{}, corruptf("root ref name_len (byte 16) %d does not fill the %d-byte item", nl, len(b))
	}
	return RootRef{DirID: binary.LittleEndian.Uint64(b), Sequence: binary.LittleEndian.Uint64(b[8:]), Name: b[rootRefHdr:len(b):len(b)]}, nil
}

// Extent item flags.
const (
	ExtentFlagData       uint64 = 0x1
	ExtentFlagTreeBlock  uint64 = 0x2
	BlockFlagFullBackref uint64 = 0x100 // tree block referenced by parent address
)

const (
	extentItemSize    = 24
	treeBlockInfoSize = ondisk.KeySize + 1
)

// Extent is a decoded EXTENT_ITEM or METADATA_ITEM payload.
type Extent struct {
	Refs       uint64 // sum of all inline and keyed reference counts
	Generation uint64
	Flags      uint64 // ExtentFlag* and BlockFlagFullBackref

	// Tree blocks in an EXTENT_ITEM (no skinny metadata) only; a
	// METADATA_ITEM has the level in its key offset and no first key.
	HasTreeBlockInfo bool
	TreeBlockKey     ondisk.Key
	TreeBlockLevel   uint8

	Inline []InlineRef // in on-disk order
}

// InlineRef is one inline back reference of an extent item. Type is the
// key type the reference would have as a keyed item.
type InlineRef struct {
	Type     ondisk.ItemType
	Root     uint64 // TreeBlockRefKey, ExtentDataRefKey, ExtentOwnerRefKey
	Parent   uint64 // SharedBlockRefKey, SharedDataRefKey: referring tree block
	ObjectID uint64 // ExtentDataRefKey: inode
	Offset   uint64 // ExtentDataRefKey: file offset minus the extent item offset
	Count    uint32 // references this record adds to Refs: 1 for block refs, 0 for the owner
}

// inlineRefSize is the size of an inline ref including its type byte.
func inlineRefSize(t ondisk.ItemType) int {
	switch t {
	case ondisk.ExtentOwnerRefKey, ondisk.TreeBlockRefKey, ondisk.SharedBlockRefKey:
		return 9
	case ondisk.SharedDataRefKey:
		return 13
	case ondisk.ExtentDataRefKey:
		return 29
	}
	return 0
}

// ParseExtent decodes the payload of an item with key type keyType,
// ExtentItemKey or MetadataItemKey. Obsolete v0 items (shorter than 24
// bytes) and unknown inline reference types are errors.
func ParseExtent(b []byte, keyType ondisk.ItemType) (Extent, error) {
	if keyType != ondisk.ExtentItemKey && keyType != ondisk.MetadataItemKey {
		return Extent{}, fmt.Errorf("ParseExtent: key type %s is not an extent item", keyType)
	}
	if len(b) < extentItemSize {
		return Extent{}, corruptf("extent item is %d bytes, want at least %d", len(b), extentItemSize)
	}
	ei := Extent{Refs: binary.LittleEndian.Uint64(b), Generation: binary.LittleEndian.Uint64(b[8:]), Flags: binary.LittleEndian.Uint64(b[16:])}
	kind := ei.Flags & (ExtentFlagData | ExtentFlagTreeBlock)
	switch {
	case kind != ExtentFlagData && kind != ExtentFlagTreeBlock:
		return Extent{}, corruptf("extent item flags at byte 16: %#x sets neither or both of DATA and TREE_BLOCK", ei.Flags)
	case kind == ExtentFlagData && keyType == ondisk.MetadataItemKey:
		return Extent{}, corruptf("metadata item flags at byte 16: %#x marks data", ei.Flags)
	case kind == ExtentFlagData && ei.Flags&BlockFlagFullBackref != 0:
		return Extent{}, corruptf("extent item flags at byte 16: %#x sets FULL_BACKREF on data", ei.Flags)
	}
	off := extentItemSize
	if kind == ExtentFlagTreeBlock && keyType == ondisk.ExtentItemKey {
		if len(b) < off+treeBlockInfoSize {
			return Extent{}, corruptf("extent item of %d bytes has no room for tree block info at byte %d", len(b), off)
		}
		ei.HasTreeBlockInfo = true
		ei.TreeBlockKey = ondisk.DecodeKey(b[off:])
		ei.TreeBlockLevel = b[off+ondisk.KeySize]
		if ei.TreeBlockLevel >= ondisk.MaxLevel {
			return Extent{}, corruptf("extent item tree block level at byte %d: %d not below %d", off+ondisk.KeySize, ei.TreeBlockLevel, ondisk.MaxLevel)
		}
		off += treeBlockInfoSize
	}
	n := 0
	for p := off; p < len(b); n++ {
		sz := inlineRefSize(ondisk.ItemType(b[p]))
		if sz == 0 {
			return Extent{}, corruptf("extent item inline ref %d at byte %d: unknown type %d", n, p, b[p])
		}
		if len(b)-p < sz {
			return Extent{}, corruptf("extent item inline ref %d at byte %d: %s of %d bytes overruns the %d-byte item", n, p, ondisk.ItemType(b[p]), sz, len(b))
		}
		p += sz
	}
	if n > 0 {
		ei.Inline = make([]InlineRef, 0, n)
	}
	var counted uint64
	for p := off; p < len(b); {
		r, err := decodeInlineRef(b[p:], len(ei.Inline), p)
		if err != nil {
			return Extent{}, err
		}
		counted += uint64(r.Count)
		ei.Inline = append(ei.Inline, r)
		p += inlineRefSize(r.Type)
	}
	if counted > ei.Refs {
		return Extent{}, corruptf("extent item refs (byte 0) %d is less than the %d its inline refs count", ei.Refs, counted)
	}
	return ei, nil
}

// decodeInlineRef decodes the inline ref at the start of b, whose type and
// size ParseExtent has checked; n and off only label errors.
func decodeInlineRef(b []byte, n, off int) (InlineRef, error) {
	r := InlineRef{Type: ondisk.ItemType(b[0])}
	v := binary.LittleEndian.Uint64(b[1:])
	switch r.Type {
	case ondisk.ExtentOwnerRefKey:
		r.Root = v
	case ondisk.TreeBlockRefKey:
		r.Root, r.Count = v, 1
	case ondisk.SharedBlockRefKey:
		r.Parent, r.Count = v, 1
	case ondisk.SharedDataRefKey:
		r.Parent, r.Count = v, binary.LittleEndian.Uint32(b[9:])
	case ondisk.ExtentDataRefKey:
		d := decodeExtentDataRef(b[1:])
		r.Root, r.ObjectID, r.Offset, r.Count = d.Root, d.ObjectID, d.Offset, d.Count
	}
	if r.Count == 0 && r.Type != ondisk.ExtentOwnerRefKey {
		return r, corruptf("extent item inline ref %d at byte %d: %s has count 0", n, off, r.Type)
	}
	return r, nil
}

// ExtentDataRef is a btrfs_extent_data_ref: the payload of a keyed
// EXTENT_DATA_REF item, and the body of the inline form.
type ExtentDataRef struct {
	Root     uint64
	ObjectID uint64 // inode
	Offset   uint64 // file offset minus the extent item offset
	Count    uint32
}

// ExtentDataRefSize is the size of a btrfs_extent_data_ref.
const ExtentDataRefSize = 28

func decodeExtentDataRef(b []byte) ExtentDataRef {
	return ExtentDataRef{Root: binary.LittleEndian.Uint64(b), ObjectID: binary.LittleEndian.Uint64(b[8:]), Offset: binary.LittleEndian.Uint64(b[16:]), Count: binary.LittleEndian.Uint32(b[24:])}
}

// ParseExtentDataRef decodes a keyed EXTENT_DATA_REF payload.
func ParseExtentDataRef(b []byte) (ExtentDataRef, error) {
	if len(b) != ExtentDataRefSize {
		return ExtentDataRef{}, corruptf("extent data ref is %d bytes, want %d", len(b), ExtentDataRefSize)
	}
	d := decodeExtentDataRef(b)
	if d.Count == 0 {
		return ExtentDataRef{}, corruptf("extent data ref count (byte 24) is 0")
	}
	return d, nil
}

// ParseSharedDataRef decodes a keyed SHARED_DATA_REF payload, the number
// of references from the leaf named by the key offset.
func ParseSharedDataRef(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, corruptf("shared data ref is %d bytes, want 4", len(b))
	}
	c := binary.LittleEndian.Uint32(b)
	if c == 0 {
		return 0, corruptf("shared data ref count (byte 0) is 0")
	}
	return c, nil
}

// Block group item sizes: the remap-tree variant appends two fields.
const (
	BlockGroupSize   = 24
	BlockGroupV2Size = 36
)

// BlockGroup is a BLOCK_GROUP_ITEM payload; the key is (logical start,
// BLOCK_GROUP_ITEM, length). The remap fields are zero in 24-byte items.
type BlockGroup struct {
	Used               uint64
	ChunkObjectID      uint64
	Flags              uint64 // type and profile bits, as in the chunk
	RemapBytes         uint64
	IdentityRemapCount uint32
}

// ParseBlockGroup decodes a BLOCK_GROUP_ITEM payload of either size.
func ParseBlockGroup(b []byte) (BlockGroup, error) {
	if len(b) != BlockGroupSize && len(b) != BlockGroupV2Size {
		return BlockGroup{}, corruptf("block group item is %d bytes, want %d or %d", len(b), BlockGroupSize, BlockGroupV2Size)
	}
	bg := BlockGroup{Used: binary.LittleEndian.Uint64(b), ChunkObjectID: binary.LittleEndian.Uint64(b[8:]), Flags: binary.LittleEndian.Uint64(b[16:])}
	if len(b) == BlockGroupV2Size {
		bg.RemapBytes = binary.LittleEndian.Uint64(b[24:])
		bg.IdentityRemapCount = binary.LittleEndian.Uint32(b[32:])
	}
	return bg, nil
}

// DevExtentSize is the size of a btrfs_dev_extent.
const DevExtentSize = 48

// DevExtent is a DEV_EXTENT payload; the key is (devid, DEV_EXTENT,
// physical start).
type DevExtent struct {
	ChunkTree     uint64
	ChunkObjectID uint64
	ChunkOffset   uint64 // logical start of the chunk
	Length        uint64
	ChunkTreeUUID ondisk.UUID
}

// ParseDevExtent decodes a DEV_EXTENT payload.
func ParseDevExtent(b []byte) (DevExtent, error) {
	if len(b) != DevExtentSize {
		return DevExtent{}, corruptf("dev extent is %d bytes, want %d", len(b), DevExtentSize)
	}
	d := DevExtent{ChunkTree: binary.LittleEndian.Uint64(b), ChunkObjectID: binary.LittleEndian.Uint64(b[8:]), ChunkOffset: binary.LittleEndian.Uint64(b[16:]), Length: binary.LittleEndian.Uint64(b[24:])}
	copy(d.ChunkTreeUUID[:], b[32:48])
	return d, nil
}

// UUIDTreeKey is the UUID-tree key under which u is recorded with type
// UUIDKeySubvol or UUIDKeyReceivedSub.
func UUIDTreeKey(u ondisk.UUID, typ ondisk.ItemType) ondisk.Key {
	return ondisk.Key{ObjectID: binary.LittleEndian.Uint64(u[0:8]), Type: typ, Offset: binary.LittleEndian.Uint64(u[8:16])}
}

// ParseUUID decodes a UUID-tree item payload: the subvolume IDs that
// carry the UUID.
func ParseUUID(b []byte) ([]uint64, error) {
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, corruptf("uuid item is %d bytes, want a non-zero multiple of 8", len(b))
	}
	ids := make([]uint64, len(b)/8)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return ids, nil
}

// VerityDescSize is the size of a btrfs_verity_descriptor_item.
const VerityDescSize = 25

// VerityDesc is the VERITY_DESC_ITEM at key offset 0; items at higher
// offsets hold the fs-verity descriptor bytes themselves.
type VerityDesc struct {
	Size       uint64 // bytes of fs-verity descriptor
	Encryption uint8
}

// ParseVerityDesc decodes the VERITY_DESC_ITEM payload at offset 0.
func ParseVerityDesc(b []byte) (VerityDesc, error) {
	if len(b) != VerityDescSize {
		return VerityDesc{}, corruptf("verity descriptor item is %d bytes, want %d", len(b), VerityDescSize)
	}
	return VerityDesc{Size: binary.LittleEndian.Uint64(b), Encryption: b[24]}, nil
}

// Csum is an EXTENT_CSUM item: one checksum per sector, starting with
// the sector at logical address Start (the key offset).
type Csum struct {
	Start      uint64
	Sums       []byte // aliases the payload
	CsumSize   int
	SectorSize int
}

// ParseCsum wraps an EXTENT_CSUM payload whose key offset is start.
// csumSize and sectorSize come from the superblock.
func ParseCsum(b []byte, start uint64, csumSize, sectorSize int) (Csum, error) {
	if csumSize <= 0 || csumSize > ondisk.CsumSize || sectorSize <= 0 || sectorSize&(sectorSize-1) != 0 {
		return Csum{}, fmt.Errorf("ParseCsum: bad checksum size %d or sector size %d", csumSize, sectorSize)
	}
	if len(b)%csumSize != 0 {
		return Csum{}, corruptf("csum item is %d bytes, not a multiple of the %d-byte checksum", len(b), csumSize)
	}
	if start%uint64(sectorSize) != 0 {
		return Csum{}, corruptf("csum item key offset %d is not aligned to the %d-byte sector", start, sectorSize)
	}
	if uint64(len(b)/csumSize)*uint64(sectorSize) > ^uint64(0)-start {
		return Csum{}, corruptf("csum item at %d with %d checksums runs past the end of the address space", start, len(b)/csumSize)
	}
	return Csum{Start: start, Sums: b[:len(b):len(b)], CsumSize: csumSize, SectorSize: sectorSize}, nil
}

// End is the first logical address after the covered range.
func (c Csum) End() uint64 {
	return c.Start + uint64(len(c.Sums)/c.CsumSize)*uint64(c.SectorSize)
}

// Lookup returns the checksum of the sector containing logical address
// bytenr, or false if the item does not cover it.
func (c Csum) Lookup(bytenr uint64) ([]byte, bool) {
	if bytenr < c.Start || bytenr >= c.End() {
		return nil, false
	}
	i := int((bytenr-c.Start)/uint64(c.SectorSize)) * c.CsumSize
	return c.Sums[i : i+c.CsumSize : i+c.CsumSize], true
}

func corruptf(format string, args ...any) error { return ondisk.Corruptf(format, args...) }

// QgroupInfo is a QGROUP_INFO item (btrfs_qgroup_info_item): a qgroup's
// usage as of Generation.
type QgroupInfo struct {
	Generation      uint64
	Referenced      uint64
	ReferencedCompr uint64
	Exclusive       uint64
	ExclusiveCompr  uint64
}

// qgroupItemSize is the size of both QGROUP_INFO and QGROUP_LIMIT.
const qgroupItemSize = 40

// ParseQgroupInfo decodes a QGROUP_INFO payload.
func ParseQgroupInfo(b []byte) (QgroupInfo, error) {
	if len(b) != qgroupItemSize {
		return QgroupInfo{}, corruptf("qgroup info is %d bytes, want %d", len(b), qgroupItemSize)
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	return QgroupInfo{Generation: u(0), Referenced: u(1), ReferencedCompr: u(2), Exclusive: u(3), ExclusiveCompr: u(4)}, nil
}

// Qgroup limit flags (BTRFS_QGROUP_LIMIT_*).
const (
	QgroupLimitMaxReferenced uint64 = 1 << 0
	QgroupLimitMaxExclusive  uint64 = 1 << 1
)

// QgroupLimit is a QGROUP_LIMIT item (btrfs_qgroup_limit_item); a limit
// applies only when its flag is set.
type QgroupLimit struct {
	Flags         uint64
	MaxReferenced uint64
	MaxExclusive  uint64
	RsvReferenced uint64
	RsvExclusive  uint64
}

// ParseQgroupLimit decodes a QGROUP_LIMIT payload.
func ParseQgroupLimit(b []byte) (QgroupLimit, error) {
	if len(b) != qgroupItemSize {
		return QgroupLimit{}, corruptf("qgroup limit is %d bytes, want %d", len(b), qgroupItemSize)
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	return QgroupLimit{Flags: u(0), MaxReferenced: u(1), MaxExclusive: u(2), RsvReferenced: u(3), RsvExclusive: u(4)}, nil
}
