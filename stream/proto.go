package stream

import "fmt"

// Magic opens every stream; a little-endian u32 version follows.
const Magic = "btrfs-stream\x00"

const (
	// HeaderSize is the size of the stream header: Magic and the version.
	HeaderSize = len(Magic) + 4
	// CmdHeaderSize is the size of a command header: le32 payload length,
	// le16 command, le32 crc.
	CmdHeaderSize = 10
	// TLVHeaderSize is the size of an attribute header: le16 type, le16 length.
	TLVHeaderSize = 4
)

// Protocol versions. The kernel reference (6.18) emits 1 and 2; 3 only
// exists in experimental builds.
const (
	MinVersion = 1
	MaxVersion = 3
)

// MaxCommandSize is the largest command (header included) the kernel emits
// in a version: BTRFS_SEND_BUF_SIZE_V1 for v1, and for v2 and later
// ALIGN(16 KiB + BTRFS_MAX_COMPRESSED, PAGE_SIZE) with 4 KiB pages.
func MaxCommandSize(version uint32) int {
	if version >= 2 {
		return 16<<10 + 128<<10
	}
	return 64 << 10
}

// Cmd is a command type (enum btrfs_send_cmd).
type Cmd uint16

// Commands, numbered as in the kernel's send.h.
const (
	CmdUnspec Cmd = iota
	CmdSubvol
	CmdSnapshot
	CmdMkfile
	CmdMkdir
	CmdMknod
	CmdMkfifo
	CmdMksock
	CmdSymlink
	CmdRename
	CmdLink
	CmdUnlink
	CmdRmdir
	CmdSetXattr
	CmdRemoveXattr
	CmdWrite
	CmdClone
	CmdTruncate
	CmdChmod
	CmdChown
	CmdUtimes
	CmdEnd
	CmdUpdateExtent
	CmdFallocate    // v2
	CmdFileattr     // v2
	CmdEncodedWrite // v2
	CmdEnableVerity // v3
	cmdCount        // one past the last command
	CmdMax          = cmdCount - 1
)

var cmdNames = [cmdCount]string{
	"unspec", "subvol", "snapshot", "mkfile", "mkdir", "mknod", "mkfifo",
	"mksock", "symlink", "rename", "link", "unlink", "rmdir", "set_xattr",
	"remove_xattr", "write", "clone", "truncate", "chmod", "chown", "utimes",
	"end", "update_extent", "fallocate", "fileattr", "encoded_write",
	"enable_verity",
}

// String returns the name btrfs receive --dump uses (lower case).
func (c Cmd) String() string {
	if c < cmdCount {
		return cmdNames[c]
	}
	return fmt.Sprintf("cmd%d", uint16(c))
}

// Known reports whether c is a command of some protocol version.
func (c Cmd) Known() bool { return c > CmdUnspec && c < cmdCount }

// Version returns the first protocol version that has c (0 if none).
func (c Cmd) Version() uint32 {
	switch {
	case c == CmdUnspec || c >= cmdCount:
		return 0
	case c == CmdEnableVerity:
		return 3
	case c >= CmdFallocate:
		return 2
	}
	return 1
}

// Attr is an attribute type (BTRFS_SEND_A_*).
type Attr uint16

// Attributes, numbered as in the kernel's send.h.
const (
	AttrUnspec Attr = iota
	AttrUUID
	AttrCtransid
	AttrIno
	AttrSize
	AttrMode
	AttrUID
	AttrGID
	AttrRdev
	AttrCtime
	AttrMtime
	AttrAtime
	AttrOtime
	AttrXattrName
	AttrXattrData
	AttrPath
	AttrPathTo
	AttrPathLink
	AttrFileOffset
	AttrData
	AttrCloneUUID
	AttrCloneCtransid
	AttrClonePath
	AttrCloneOffset
	AttrCloneLen
	AttrFallocateMode    // v2
	AttrFileattr         // v2
	AttrUnencodedFileLen // v2
	AttrUnencodedLen     // v2
	AttrUnencodedOffset  // v2
	AttrCompression      // v2
	AttrEncryption       // v2
	AttrVerityAlgorithm  // v3
	AttrVerityBlockSize  // v3
	AttrVeritySaltData   // v3
	AttrVeritySigData    // v3
	attrCount
	AttrMax = attrCount - 1
)

var attrNames = [attrCount]string{
	"unspec", "uuid", "ctransid", "ino", "size", "mode", "uid", "gid",
	"rdev", "ctime", "mtime", "atime", "otime", "xattr_name", "xattr_data",
	"path", "path_to", "path_link", "file_offset", "data", "clone_uuid",
	"clone_ctransid", "clone_path", "clone_offset", "clone_len",
	"fallocate_mode", "fileattr", "unencoded_file_len", "unencoded_len",
	"unencoded_offset", "compression", "encryption", "verity_algorithm",
	"verity_block_size", "verity_salt_data", "verity_sig_data",
}

// String returns the attribute's name: the kernel's BTRFS_SEND_A_ suffix
// in lower case.
func (a Attr) String() string {
	if a < attrCount {
		return attrNames[a]
	}
	return fmt.Sprintf("attr%d", uint16(a))
}

// Known reports whether a is an attribute of some protocol version.
func (a Attr) Known() bool { return a > AttrUnspec && a < attrCount }

// Version returns the first protocol version that has a (0 if none).
func (a Attr) Version() uint32 {
	switch {
	case a == AttrUnspec || a >= attrCount:
		return 0
	case a >= AttrVerityAlgorithm:
		return 3
	case a >= AttrFallocateMode:
		return 2
	}
	return 1
}

// Kind is how an attribute's value is encoded.
type Kind uint8

const (
	KindBytes  Kind = iota // raw bytes (file data, xattr values, verity salt/signature)
	KindString             // a path or name, no terminating NUL
	KindU8                 // little-endian integers
	KindU32
	KindU64
	KindUUID     // 16 raw bytes
	KindTimespec // le64 seconds, le32 nanoseconds
)

// Size returns the fixed encoded size of the kind, or -1 for variable.
func (k Kind) Size() int {
	switch k {
	case KindU8:
		return 1
	case KindU32:
		return 4
	case KindU64:
		return 8
	case KindUUID:
		return 16
	case KindTimespec:
		return 12
	}
	return -1
}

var attrKinds = [attrCount]Kind{
	AttrUUID:             KindUUID,
	AttrCtransid:         KindU64,
	AttrIno:              KindU64,
	AttrSize:             KindU64,
	AttrMode:             KindU64,
	AttrUID:              KindU64,
	AttrGID:              KindU64,
	AttrRdev:             KindU64,
	AttrCtime:            KindTimespec,
	AttrMtime:            KindTimespec,
	AttrAtime:            KindTimespec,
	AttrOtime:            KindTimespec,
	AttrXattrName:        KindString,
	AttrXattrData:        KindBytes,
	AttrPath:             KindString,
	AttrPathTo:           KindString,
	AttrPathLink:         KindString,
	AttrFileOffset:       KindU64,
	AttrData:             KindBytes,
	AttrCloneUUID:        KindUUID,
	AttrCloneCtransid:    KindU64,
	AttrClonePath:        KindString,
	AttrCloneOffset:      KindU64,
	AttrCloneLen:         KindU64,
	AttrFallocateMode:    KindU32,
	AttrFileattr:         KindU64,
	AttrUnencodedFileLen: KindU64,
	AttrUnencodedLen:     KindU64,
	AttrUnencodedOffset:  KindU64,
	AttrCompression:      KindU32,
	AttrEncryption:       KindU32,
	AttrVerityAlgorithm:  KindU8,
	AttrVerityBlockSize:  KindU32,
	AttrVeritySaltData:   KindBytes,
	AttrVeritySigData:    KindBytes,
}

// Kind returns how a's value is encoded (KindBytes for unknown attributes).
func (a Attr) Kind() Kind {
	if a < attrCount {
		return attrKinds[a]
	}
	return KindBytes
}

// Required lists, per command, the attributes a receiver cannot do without
// (btrfs-progs' read_and_process_cmd), in the order it reads them.
// COMPRESSION and ENCRYPTION of encoded_write default to 0 when absent.
var Required = [cmdCount][]Attr{
	CmdSubvol:       {AttrPath, AttrUUID, AttrCtransid},
	CmdSnapshot:     {AttrPath, AttrUUID, AttrCtransid, AttrCloneUUID, AttrCloneCtransid},
	CmdMkfile:       {AttrPath, AttrIno},
	CmdMkdir:        {AttrPath, AttrIno},
	CmdMknod:        {AttrPath, AttrMode, AttrRdev, AttrIno},
	CmdMkfifo:       {AttrPath, AttrIno},
	CmdMksock:       {AttrPath, AttrIno},
	CmdSymlink:      {AttrPath, AttrIno, AttrPathLink},
	CmdRename:       {AttrPath, AttrPathTo},
	CmdLink:         {AttrPath, AttrPathLink},
	CmdUnlink:       {AttrPath},
	CmdRmdir:        {AttrPath},
	CmdSetXattr:     {AttrPath, AttrXattrName, AttrXattrData},
	CmdRemoveXattr:  {AttrPath, AttrXattrName},
	CmdWrite:        {AttrPath, AttrFileOffset, AttrData},
	CmdClone:        {AttrPath, AttrFileOffset, AttrCloneLen, AttrCloneUUID, AttrCloneCtransid, AttrClonePath, AttrCloneOffset},
	CmdTruncate:     {AttrPath, AttrSize},
	CmdChmod:        {AttrPath, AttrMode},
	CmdChown:        {AttrPath, AttrUID, AttrGID},
	CmdUtimes:       {AttrPath, AttrAtime, AttrMtime, AttrCtime},
	CmdUpdateExtent: {AttrPath, AttrFileOffset, AttrSize},
	CmdFallocate:    {AttrPath, AttrFallocateMode, AttrFileOffset, AttrSize},
	CmdFileattr:     {AttrPath, AttrFileattr},
	CmdEncodedWrite: {AttrPath, AttrFileOffset, AttrUnencodedFileLen, AttrUnencodedLen, AttrUnencodedOffset, AttrData},
	CmdEnableVerity: {AttrPath, AttrVerityAlgorithm, AttrVerityBlockSize, AttrVeritySaltData, AttrVeritySigData},
}

// Timespec is a timestamp attribute as the stream carries it.
type Timespec struct {
	Sec  int64 // seconds since the epoch; the wire value is a u64
	Nsec uint32
}

// UUID is a 16-byte uuid attribute.
type UUID [16]byte

// String formats u as uuid_unparse does: lower-case 8-4-4-4-12 hex.
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
