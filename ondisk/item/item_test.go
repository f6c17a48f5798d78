package item

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
)

// The payloads in testdata/items come from images made by make.sh there;
// expected values are copied from the dump-tree lines saved beside each
// payload (NAME.txt) unless a comment says otherwise.

func readItem(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUUID(s string) ondisk.UUID {
	var u ondisk.UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		panic("bad uuid " + s)
	}
	for i := range u {
		if _, err := fmt.Sscanf(h[2*i:2*i+2], "%02x", &u[i]); err != nil {
			panic(err)
		}
	}
	return u
}

// ts is a timestamp of the test images, all made within one second.
func ts(nsec uint32) Timespec { return Timespec{Sec: 1795219432, Nsec: nsec} }

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ondisk.ErrCorrupt) {
		t.Errorf("%s: got error %v, want one wrapping ErrCorrupt", what, err)
	}
}

func TestParseInodeItem(t *testing.T) {
	tests := []struct {
		name string
		want Inode
	}{
		{"inode_dir", Inode{Generation: 3, Transid: 9, Size: 116, Nbytes: 16384, Nlink: 1, Mode: 0o40755, Sequence: 11,
			Atime: ts(0), Ctime: ts(610734275), Mtime: ts(610734275), Otime: ts(0)}},
		{"inode_reg", Inode{Generation: 7, Transid: 11, Size: 16, Nbytes: 16, Nlink: 3, Mode: 0o100644, Sequence: 5,
			Atime: ts(298734262), Ctime: ts(398734266), Mtime: ts(302493830), Otime: ts(298734262)}},
		{"inode_symlink", Inode{Generation: 7, Transid: 7, Size: 15, Nbytes: 15, Nlink: 1, Mode: 0o120777, Sequence: 5,
			Atime: ts(406734267), Ctime: ts(406734267), Mtime: ts(406734267), Otime: ts(406734267)}},
		{"inode_chr", Inode{Generation: 7, Transid: 7, Nlink: 1, Mode: 0o20644, Rdev: 1048579, Sequence: 5,
			Atime: ts(410734267), Ctime: ts(410734267), Mtime: ts(410734267), Otime: ts(410734267)}},
		{"inode_prealloc", Inode{Generation: 7, Transid: 7, Size: 1 << 20, Nbytes: 1 << 20, Nlink: 1, Mode: 0o100644,
			Sequence: 133, Flags: InodePrealloc,
			Atime: ts(594734274), Ctime: ts(594734274), Mtime: ts(594734274), Otime: ts(594734274)}},
		{"inode_nocow", Inode{Generation: 8, Transid: 8, Nlink: 1, Mode: 0o100644, Sequence: 8,
			Flags: InodeNoDataSum | InodeNoDataCOW,
			Atime: ts(598734274), Ctime: ts(600371711), Mtime: ts(598734274), Otime: ts(594734274)}},
		{"inode_compress", Inode{Generation: 8, Transid: 8, Size: 3000, Nbytes: 3000, Nlink: 1, Mode: 0o100644,
			Sequence: 9, Flags: InodeCompress,
			Atime: ts(600371711), Ctime: ts(602734274), Mtime: ts(602734274), Otime: ts(600371711)}},
	}
	for _, tt := range tests {
		got, err := ParseInode(readItem(t, tt.name))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseInodeItemFlagsAndTimes(t *testing.T) {
	b := readItem(t, "inode_reg")
	// Flags and RO flags share one le64; negative seconds are pre-1970.
	binary.LittleEndian.PutUint64(b[64:], uint64(InodeROVerity)<<32|uint64(InodeImmutable|InodeNoDump))
	binary.LittleEndian.PutUint64(b[112:], uint64(math.MaxUint64)) // atime.sec = -1
	got, err := ParseInode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Flags != InodeImmutable|InodeNoDump || got.ROFlags != InodeROVerity || got.Atime.Sec != -1 {
		t.Errorf("got flags %#x ro %#x atime %v", got.Flags, got.ROFlags, got.Atime)
	}
	binary.LittleEndian.PutUint64(b[64:], 0x1000)
	_, err = ParseInode(b)
	wantCorrupt(t, "unknown inode flag", err)
	_, err = ParseInode(b[:159])
	wantCorrupt(t, "short inode item", err)
}

func TestParseInodeRefs(t *testing.T) {
	many := make([]InodeRef, 77)
	for i := range many {
		many[i] = InodeRef{Index: uint64(42 + i), Name: fmt.Appendf(nil, "l%03d%0196d", i+1, 0)}
	}
	tests := []struct {
		name string
		want []InodeRef
	}{
		{"iref_root", []InodeRef{{0, []byte("..")}}},
		{"iref_two", []InodeRef{{2, []byte("file.txt")}, {3, []byte("link2")}}},
		{"iref_many", many},
	}
	for _, tt := range tests {
		got, err := ParseInodeRefs(readItem(t, tt.name))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	b := readItem(t, "iref_two")
	for _, n := range []int{0, 10, 17, 32} {
		_, err := ParseInodeRefs(b[:n])
		wantCorrupt(t, fmt.Sprintf("inode ref cut to %d bytes", n), err)
	}
}

func TestParseInodeExtrefs(t *testing.T) {
	b := readItem(t, "extref")
	got, err := ParseInodeExtrefs(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []InodeExtref{{Parent: 259, Index: 130, Name: fmt.Appendf(nil, "l089%0196d", 0)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// Two records in one item, as after a hash collision.
	two := append(append([]byte{}, b...), b...)
	if got, err := ParseInodeExtrefs(two); err != nil || len(got) != 2 {
		t.Errorf("two records: got %d records, %v", len(got), err)
	}
	for _, n := range []int{0, 17, len(b) - 1} {
		_, err := ParseInodeExtrefs(b[:n])
		wantCorrupt(t, fmt.Sprintf("extref cut to %d bytes", n), err)
	}
}

func TestParseDirItems(t *testing.T) {
	tests := []struct {
		name string
		want Dir
	}{
		{"dir_item", Dir{Location: ondisk.Key{ObjectID: 260, Type: ondisk.InodeItemKey, Offset: 0}, Transid: 7, Type: FTRegFile, Name: []byte("file.txt"), Data: []byte{}}},
		{"dir_index", Dir{Location: ondisk.Key{ObjectID: 260, Type: ondisk.InodeItemKey, Offset: 0}, Transid: 7, Type: FTRegFile, Name: []byte("file.txt"), Data: []byte{}}},
		// A subvolume made by "subvolume create" is linked with key offset 0.
		{"dir_subvol", Dir{Location: ondisk.Key{ObjectID: 256, Type: ondisk.RootItemKey, Offset: 0}, Transid: 8, Type: FTDir, Name: []byte("sub"), Data: []byte{}}},
		{"dir_default", Dir{Location: ondisk.Key{ObjectID: ondisk.FSTreeObjectID, Type: ondisk.RootItemKey, Offset: math.MaxUint64}, Type: FTDir, Name: []byte("default"), Data: []byte{}}},
		{"xattr", Dir{Transid: 7, Type: FTXattr, Name: []byte("user.color"), Data: []byte("blue")}},
		{"xattr_empty", Dir{Transid: 7, Type: FTXattr, Name: []byte("user.empty"), Data: []byte{}}},
	}
	for _, tt := range tests {
		got, err := ParseDirItems(readItem(t, tt.name))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}

	// Entries sharing a DIR_ITEM after a name hash collision.
	two := append(readItem(t, "xattr"), readItem(t, "xattr_empty")...)
	got, err := ParseDirItems(two)
	if err != nil || len(got) != 2 || string(got[0].Data) != "blue" || string(got[1].Name) != "user.empty" {
		t.Errorf("two entries: got %+v, %v", got, err)
	}

	bad := []struct {
		what string
		edit func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return b[:0] }},
		{"short header", func(b []byte) []byte { return b[:29] }},
		{"name overrun", func(b []byte) []byte { return b[:len(b)-1] }},
		{"type 9", func(b []byte) []byte { b[29] = 9; return b }},
		{"encrypted", func(b []byte) []byte { b[29] |= 0x80; return b }},
		{"location type", func(b []byte) []byte { b[8] = byte(ondisk.DirItemKey); return b }},
		{"data on a file entry", func(b []byte) []byte { b[25] = 1; return append(b, 'x') }},
		{"name_len 256", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[27:], 256)
			return append(b, make([]byte, 256-8)...)
		}},
	}
	for _, tt := range bad {
		_, err := ParseDirItems(tt.edit(readItem(t, "dir_item")))
		wantCorrupt(t, tt.what, err)
	}
}

func TestFileTypeString(t *testing.T) {
	for ft, want := range map[FileType]string{FTUnknown: "UNKNOWN", FTRegFile: "FILE", FTDir: "DIR", FTChrdev: "CHRDEV",
		FTBlkdev: "BLKDEV", FTFifo: "FIFO", FTSock: "SOCK", FTSymlink: "SYMLINK", FTXattr: "XATTR", 9: "UNKNOWN.9"} {
		if got := ft.String(); got != want {
			t.Errorf("FileType(%d).String() = %q, want %q", uint8(ft), got, want)
		}
	}
}

func TestParseFileExtentItem(t *testing.T) {
	tests := []struct {
		name   string
		want   FileExtent
		inline string // expected InlineData, for uncompressed inline extents
	}{
		{"fe_inline", FileExtent{Generation: 11, RAMBytes: 16, Type: FileExtentInline}, "hello, coldsend\n"},
		{"fe_symlink", FileExtent{Generation: 7, RAMBytes: 15, Type: FileExtentInline}, "../dir/file.txt"},
		{"fe_reg", FileExtent{Generation: 7, RAMBytes: 65536, Type: FileExtentReg,
			DiskBytenr: 13631488, DiskNumBytes: 65536, NumBytes: 65536}, ""},
		// dump-tree does not print ram_bytes of prealloc extents; 1 MiB is
		// read from the payload and matches the fallocate length.
		{"fe_prealloc", FileExtent{Generation: 7, RAMBytes: 1 << 20, Type: FileExtentPrealloc,
			DiskBytenr: 63963136, DiskNumBytes: 1 << 20, NumBytes: 1 << 20}, ""},
		{"fe_reg_zlib", FileExtent{Generation: 11, RAMBytes: 69632, Compression: CompressZlib, Type: FileExtentReg,
			DiskBytenr: 13701120, DiskNumBytes: 4096, NumBytes: 69632}, ""},
		{"fe_hole", FileExtent{Generation: 7, RAMBytes: 1044480, Type: FileExtentReg, NumBytes: 1044480}, ""},
		{"fe_owned", FileExtent{Generation: 8, RAMBytes: 8192, Type: FileExtentReg,
			DiskBytenr: 13631488, DiskNumBytes: 8192, NumBytes: 8192}, ""},
	}
	for _, tt := range tests {
		got, err := ParseFileExtent(readItem(t, tt.name))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if string(got.InlineData) != tt.inline {
			t.Errorf("%s: inline data %q, want %q", tt.name, got.InlineData, tt.inline)
		}
		got.InlineData = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}

	got, err := ParseFileExtent(readItem(t, "fe_inline_zlib"))
	if err != nil {
		t.Fatal(err)
	}
	// "inline extent data size 74 ram_bytes 3000 compression 1 (zlib)"
	if got.Type != FileExtentInline || got.Compression != CompressZlib || got.RAMBytes != 3000 || len(got.InlineData) != 74 || got.Generation != 8 {
		t.Errorf("fe_inline_zlib: got %+v", got)
	}

	bad := []struct {
		what, item string
		edit       func(b []byte) []byte
	}{
		{"short", "fe_reg", func(b []byte) []byte { return b[:20] }},
		{"reg 52 bytes", "fe_reg", func(b []byte) []byte { return b[:52] }},
		{"prealloc 54 bytes", "fe_prealloc", func(b []byte) []byte { return append(b, 0) }},
		{"type 3", "fe_reg", func(b []byte) []byte { b[20] = 3; return b }},
		{"compression 4", "fe_reg", func(b []byte) []byte { b[16] = 4; return b }},
		{"encryption", "fe_reg", func(b []byte) []byte { b[17] = 1; return b }},
		{"inline ram_bytes", "fe_inline", func(b []byte) []byte { return b[:len(b)-1] }},
	}
	for _, tt := range bad {
		_, err := ParseFileExtent(tt.edit(readItem(t, tt.item)))
		wantCorrupt(t, tt.what, err)
	}
}

// rootInode is the inode embedded in every ROOT_ITEM of the images; dump-tree
// does not print it, so these values are read from the payloads.
var rootInode = Inode{Generation: 1, Size: 3, Nbytes: 16384, Nlink: 1, Mode: 0o40755, Flags: InodeRootItemInit}

func TestParseRootItem(t *testing.T) {
	tests := []struct {
		name string
		want Root
	}{
		{"root_fs", Root{Inode: rootInode, Generation: 11, RootDirID: 256, Bytenr: 31309824, BytesUsed: 163840,
			Refs: 1, Level: 1, GenerationV2: 11, UUID: mustUUID("e4f41552-7276-41e9-a00c-b80696492889"),
			Ctransid: 11, Ctime: ts(620860398), Otime: ts(0)}},
		{"root_snap", Root{Inode: rootInode, Generation: 8, RootDirID: 256, Bytenr: 30949376, BytesUsed: 16384,
			LastSnapshot: 8, Flags: RootSubvolRDONLY, Refs: 1, GenerationV2: 8,
			UUID:       mustUUID("94946a12-d8e8-0347-b899-204682d59015"),
			ParentUUID: mustUUID("c9688b04-ba8e-d045-b07d-76d80715477e"),
			Ctransid:   8, Otransid: 8, Ctime: ts(611906247), Otime: ts(610734275)}},
		{"root_recv", Root{Inode: rootInode, Generation: 11, RootDirID: 256, Bytenr: 31342592, BytesUsed: 16384,
			Flags: RootSubvolRDONLY, Refs: 1, GenerationV2: 11,
			UUID:         mustUUID("ebb28952-edfb-064f-9f44-4cdb157cd184"),
			ReceivedUUID: mustUUID("94946a12-d8e8-0347-b899-204682d59015"),
			Ctransid:     11, Otransid: 9, Stransid: 8, Rtransid: 9,
			Ctime: ts(620775341), Otime: ts(614734275), Rtime: ts(614734275)}},
	}
	for _, tt := range tests {
		got, err := ParseRoot(readItem(t, tt.name))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
		if !got.ExtendedValid() {
			t.Errorf("%s: extended fields reported invalid", tt.name)
		}
	}

	b := readItem(t, "root_snap")
	legacy, err := ParseRoot(b[:LegacyRootSize])
	if err != nil {
		t.Fatal(err)
	}
	if !legacy.Legacy || legacy.ExtendedValid() || !legacy.UUID.IsZero() || legacy.Generation != 8 || legacy.Flags != RootSubvolRDONLY {
		t.Errorf("legacy root item: got %+v", legacy)
	}
	binary.LittleEndian.PutUint64(b[239:], 7) // written by a kernel unaware of the v2 fields
	if stale, err := ParseRoot(b); err != nil || stale.ExtendedValid() {
		t.Errorf("stale generation_v2: valid %v, err %v", stale.ExtendedValid(), err)
	}

	bad := []struct {
		what string
		edit func(b []byte) []byte
	}{
		{"240 bytes", func(b []byte) []byte { return b[:240] }},
		{"440 bytes", func(b []byte) []byte { return append(b, 0) }},
		{"unknown flag", func(b []byte) []byte { b[208] |= 2; return b }},
		{"level 8", func(b []byte) []byte { b[238] = 8; return b }},
		{"drop level 8", func(b []byte) []byte { b[237] = 8; return b }},
	}
	for _, tt := range bad {
		_, err := ParseRoot(tt.edit(readItem(t, "root_fs")))
		wantCorrupt(t, tt.what, err)
	}
}

func TestParseRootRef(t *testing.T) {
	tests := []struct {
		name string
		want RootRef
	}{
		{"root_ref", RootRef{DirID: 256, Sequence: 12, Name: []byte("snap")}},
		{"root_backref", RootRef{DirID: 312, Sequence: 2, Name: []byte("snap")}},
	}
	for _, tt := range tests {
		got, err := ParseRootRef(readItem(t, tt.name))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	b := readItem(t, "root_ref")
	for _, edit := range [][]byte{b[:17], b[:len(b)-1], append(b, 'x')} {
		_, err := ParseRootRef(edit)
		wantCorrupt(t, fmt.Sprintf("root ref of %d bytes", len(edit)), err)
	}
}

func TestParseExtentItem(t *testing.T) {
	var many []InlineRef
	for _, ino := range []uint64{296, 270, 285, 269, 286, 283, 264, 280, 267, 273, 292, 274, 295, 279, 290, 276, 289,
		277, 288, 278, 291, 275, 294, 272, 293, 281, 266, 282, 265, 268, 287, 271, 284} {
		many = append(many, InlineRef{Type: ondisk.ExtentDataRefKey, Root: ondisk.FSTreeObjectID, ObjectID: ino, Count: 1})
	}
	tests := []struct {
		name    string
		keyType ondisk.ItemType
		want    Extent
	}{
		// 33 inline data refs; the other 9 of the 42 are keyed items.
		{"ext_data_many", ondisk.ExtentItemKey, Extent{Refs: 42, Generation: 7, Flags: ExtentFlagData, Inline: many}},
		{"metadata_item", ondisk.MetadataItemKey, Extent{Refs: 1, Generation: 7, Flags: ExtentFlagTreeBlock,
			Inline: []InlineRef{{Type: ondisk.TreeBlockRefKey, Root: ondisk.FSTreeObjectID, Count: 1}}}},
		{"ext_tree_block", ondisk.ExtentItemKey, Extent{Refs: 2, Generation: 7, Flags: ExtentFlagTreeBlock,
			HasTreeBlockInfo: true, TreeBlockKey: ondisk.Key{ObjectID: 256, Type: ondisk.DirItemKey, Offset: 2272170738},
			Inline: []InlineRef{{Type: ondisk.TreeBlockRefKey, Root: 256, Count: 1}, {Type: ondisk.SharedBlockRefKey, Parent: 31768576, Count: 1}}}},
		{"ext_shared_block", ondisk.ExtentItemKey, Extent{Refs: 1, Generation: 7, Flags: ExtentFlagTreeBlock | BlockFlagFullBackref,
			HasTreeBlockInfo: true, TreeBlockKey: ondisk.Key{ObjectID: 260, Type: ondisk.InodeItemKey, Offset: 0},
			Inline: []InlineRef{{Type: ondisk.SharedBlockRefKey, Parent: 31768576, Count: 1}}}},
		{"ext_shared_data", ondisk.ExtentItemKey, Extent{Refs: 2, Generation: 7, Flags: ExtentFlagData,
			Inline: []InlineRef{{Type: ondisk.ExtentDataRefKey, Root: 256, ObjectID: 3359, Count: 1},
				{Type: ondisk.SharedDataRefKey, Parent: 31703040, Count: 1}}}},
		// progs 6.2 prints no inline refs here (see make.sh); the owner and
		// the data ref are those of fe_owned, inode 257 of the FS tree.
		{"ext_owner", ondisk.ExtentItemKey, Extent{Refs: 1, Generation: 8, Flags: ExtentFlagData,
			Inline: []InlineRef{{Type: ondisk.ExtentOwnerRefKey, Root: ondisk.FSTreeObjectID},
				{Type: ondisk.ExtentDataRefKey, Root: ondisk.FSTreeObjectID, ObjectID: 257, Count: 1}}}},
	}
	for _, tt := range tests {
		got, err := ParseExtent(readItem(t, tt.name), tt.keyType)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}

	if _, err := ParseExtent(readItem(t, "metadata_item"), ondisk.InodeItemKey); err == nil || errors.Is(err, ondisk.ErrCorrupt) {
		t.Errorf("wrong key type: got %v, want a usage error", err)
	}
	bad := []struct {
		what, item string
		keyType    ondisk.ItemType
		edit       func(b []byte) []byte
	}{
		{"v0 item", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { return b[:4] }},
		{"no type flag", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[16] = 0; return b }},
		{"both type flags", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[16] = 3; return b }},
		{"data full backref", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[17] = 1; return b }},
		{"data metadata item", "ext_shared_data", ondisk.MetadataItemKey, func(b []byte) []byte { return b }},
		{"unknown inline type", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[24] = 180; return b }},
		{"cut inline ref", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing byte", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { return append(b, 0) }},
		{"zero count", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[len(b)-4] = 0; return b }},
		{"refs below inline", "ext_shared_data", ondisk.ExtentItemKey, func(b []byte) []byte { b[0] = 1; return b }},
		{"no tree block info", "ext_shared_block", ondisk.ExtentItemKey, func(b []byte) []byte { return b[:30] }},
		{"tree block level 8", "ext_shared_block", ondisk.ExtentItemKey, func(b []byte) []byte { b[24+17] = 8; return b }},
	}
	for _, tt := range bad {
		_, err := ParseExtent(tt.edit(readItem(t, tt.item)), tt.keyType)
		wantCorrupt(t, tt.what, err)
	}
}

func TestParseKeyedRefs(t *testing.T) {
	d, err := ParseExtentDataRef(readItem(t, "edr_keyed"))
	if want := (ExtentDataRef{Root: ondisk.FSTreeObjectID, ObjectID: 297, Count: 1}); err != nil || d != want {
		t.Errorf("edr_keyed: got %+v, %v; want %+v", d, err, want)
	}
	c, err := ParseSharedDataRef(readItem(t, "sdr_keyed"))
	if err != nil || c != 13 {
		t.Errorf("sdr_keyed: got %d, %v; want 13", c, err)
	}
	_, err = ParseExtentDataRef(readItem(t, "edr_keyed")[:27])
	wantCorrupt(t, "short extent data ref", err)
	_, err = ParseExtentDataRef(make([]byte, 28))
	wantCorrupt(t, "extent data ref count 0", err)
	_, err = ParseSharedDataRef([]byte{1, 0, 0})
	wantCorrupt(t, "short shared data ref", err)
	_, err = ParseSharedDataRef(make([]byte, 4))
	wantCorrupt(t, "shared data ref count 0", err)
}

func TestParseBlockGroupItem(t *testing.T) {
	b := readItem(t, "block_group")
	got, err := ParseBlockGroup(b)
	// "block group used 73728 chunk_objectid 256 flags DATA|single"
	if want := (BlockGroup{Used: 73728, ChunkObjectID: 256, Flags: 1}); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	v2 := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint64(append([]byte{}, b...), 1<<20), 3)
	got, err = ParseBlockGroup(v2)
	if err != nil || got.RemapBytes != 1<<20 || got.IdentityRemapCount != 3 || got.Used != 73728 {
		t.Errorf("v2: got %+v, %v", got, err)
	}
	_, err = ParseBlockGroup(b[:23])
	wantCorrupt(t, "short block group item", err)
}

func TestParseDevExtent(t *testing.T) {
	b := readItem(t, "dev_extent")
	got, err := ParseDevExtent(b)
	want := DevExtent{ChunkTree: ondisk.ChunkTreeObjectID, ChunkObjectID: ondisk.FirstChunkTreeObjectID, ChunkOffset: 13631488,
		Length: 8388608, ChunkTreeUUID: mustUUID("0348354d-f302-41d3-b2ca-3bffadf18a45")}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	_, err = ParseDevExtent(b[:47])
	wantCorrupt(t, "short dev extent", err)
}

func TestParseUUIDItem(t *testing.T) {
	for name, want := range map[string]uint64{"uuid_subvol": 257, "uuid_received": 258} {
		got, err := ParseUUID(readItem(t, name))
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: got %v, %v; want [%d]", name, got, err, want)
		}
	}
	if got, err := ParseUUID(make([]byte, 16)); err != nil || len(got) != 2 {
		t.Errorf("two ids: got %v, %v", got, err)
	}
	for _, n := range []int{0, 7, 9} {
		_, err := ParseUUID(make([]byte, n))
		wantCorrupt(t, fmt.Sprintf("uuid item of %d bytes", n), err)
	}

	// Both keys print as (0x4703e8d8126a9494 UUID_KEY_... 0x1590d582462099b8):
	// the snapshot's uuid, which is also the received subvolume's received_uuid.
	snap, err := ParseRoot(readItem(t, "root_snap"))
	if err != nil {
		t.Fatal(err)
	}
	want := ondisk.Key{ObjectID: 0x4703e8d8126a9494, Type: ondisk.UUIDKeySubvol, Offset: 0x1590d582462099b8}
	if got := UUIDTreeKey(snap.UUID, ondisk.UUIDKeySubvol); got != want {
		t.Errorf("UUIDTreeKey = %v, want %v", got, want)
	}
}

func TestParseVerityDescItem(t *testing.T) {
	// Synthetic: the test kernel has no CONFIG_FS_VERITY.
	b := make([]byte, VerityDescSize)
	binary.LittleEndian.PutUint64(b, 256)
	got, err := ParseVerityDesc(b)
	if err != nil || got != (VerityDesc{Size: 256}) {
		t.Errorf("got %+v, %v", got, err)
	}
	_, err = ParseVerityDesc(b[:24])
	wantCorrupt(t, "short verity descriptor item", err)
}

func TestCsumItem(t *testing.T) {
	// "range start 13631488 end 13705216 length 73728" with crc32c sums;
	// the two expected sums were computed from the data by make.sh.
	c, err := ParseCsum(readItem(t, "csum"), 13631488, 4, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if c.End() != 13705216 {
		t.Errorf("End = %d, want 13705216", c.End())
	}
	for _, tt := range []struct {
		bytenr uint64
		sum    uint32
		ok     bool
	}{
		{13631488, 0x59604a79, true},
		{13631488 + 100, 0x59604a79, true},
		{13697024, 0x18c5db5f, true},
		{13631487, 0, false},
		{13705216, 0, false},
	} {
		got, ok := c.Lookup(tt.bytenr)
		if ok != tt.ok || ok && binary.LittleEndian.Uint32(got) != tt.sum {
			t.Errorf("Lookup(%d) = %x, %v; want %#x, %v", tt.bytenr, got, ok, tt.sum, tt.ok)
		}
	}
	_, err = ParseCsum(readItem(t, "csum")[:71], 13631488, 4, 4096)
	wantCorrupt(t, "csum item not a multiple of the csum size", err)
	_, err = ParseCsum(readItem(t, "csum"), 13631489, 4, 4096)
	wantCorrupt(t, "unaligned csum item", err)
	_, err = ParseCsum(readItem(t, "csum"), math.MaxUint64-4095, 4, 4096)
	wantCorrupt(t, "csum item past the address space", err)
	if _, err := ParseCsum(nil, 0, 4, 4000); err == nil || errors.Is(err, ondisk.ErrCorrupt) {
		t.Errorf("bad sector size: got %v, want a usage error", err)
	}
}

// TestDecodersOnPrefixes feeds every prefix of every real payload to every
// decoder: none may panic, and each error must wrap ErrCorrupt.
func TestDecodersOnPrefixes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatal("no payloads", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		step := 1
		if len(b) > 1024 {
			step = 7
		}
		for n := 0; n <= len(b); n += step {
			for name, dec := range allDecoders {
				if err := dec(b[:n]); err != nil && !errors.Is(err, ondisk.ErrCorrupt) {
					t.Fatalf("%s on %d bytes of %s: error %v does not wrap ErrCorrupt", name, n, f, err)
				}
			}
		}
	}
}

// allDecoders runs each decoder for its error alone.
var allDecoders = map[string]func([]byte) error{
	"Inode":         func(b []byte) error { _, err := ParseInode(b); return err },
	"InodeRefs":     func(b []byte) error { _, err := ParseInodeRefs(b); return err },
	"InodeExtrefs":  func(b []byte) error { _, err := ParseInodeExtrefs(b); return err },
	"DirItems":      func(b []byte) error { _, err := ParseDirItems(b); return err },
	"FileExtent":    func(b []byte) error { _, err := ParseFileExtent(b); return err },
	"Root":          func(b []byte) error { _, err := ParseRoot(b); return err },
	"RootRef":       func(b []byte) error { _, err := ParseRootRef(b); return err },
	"Extent":        func(b []byte) error { _, err := ParseExtent(b, ondisk.ExtentItemKey); return err },
	"MetadataItem":  func(b []byte) error { _, err := ParseExtent(b, ondisk.MetadataItemKey); return err },
	"ExtentDataRef": func(b []byte) error { _, err := ParseExtentDataRef(b); return err },
	"SharedDataRef": func(b []byte) error { _, err := ParseSharedDataRef(b); return err },
	"BlockGroup":    func(b []byte) error { _, err := ParseBlockGroup(b); return err },
	"DevExtent":     func(b []byte) error { _, err := ParseDevExtent(b); return err },
	"UUIDItem":      func(b []byte) error { _, err := ParseUUID(b); return err },
	"VerityDesc":    func(b []byte) error { _, err := ParseVerityDesc(b); return err },
	"Csum":          func(b []byte) error { _, err := ParseCsum(b, 0, 4, 4096); return err },
}
