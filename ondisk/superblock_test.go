package ondisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/superfixture"
)

// TestParseRealSuperblocks checks every decoded field against what
// btrfs-progs printed for the same bytes.
func TestParseRealSuperblocks(t *testing.T) {
	for _, name := range superfixture.Names {
		t.Run(name, func(t *testing.T) {
			sb, err := ParseSuperblock(superfixture.Read(t, name))
			if err != nil {
				t.Fatal(err)
			}
			d := superfixture.ParseDump(t, name)
			n := sb.CsumType.Size()
			u := func(v uint64) string { return strconv.FormatUint(v, 10) }
			x := func(v uint64) string { return fmt.Sprintf("%#x", v) }
			want := map[string]string{
				"csum_type":                     u(uint64(sb.CsumType)),
				"csum_size":                     u(uint64(n)),
				"csum":                          fmt.Sprintf("0x%x", sb.Csum[:n]),
				"bytenr":                        u(sb.Bytenr),
				"flags":                         x(sb.Flags),
				"magic":                         string(binary.LittleEndian.AppendUint64(nil, sb.Magic)),
				"fsid":                          sb.FSID.String(),
				"metadata_uuid":                 sb.MetadataFSID().String(),
				"generation":                    u(sb.Generation),
				"root":                          u(sb.Root),
				"sys_array_size":                u(uint64(sb.SysChunkArraySize)),
				"chunk_root_generation":         u(sb.ChunkRootGeneration),
				"root_level":                    u(uint64(sb.RootLevel)),
				"chunk_root":                    u(sb.ChunkRoot),
				"chunk_root_level":              u(uint64(sb.ChunkRootLevel)),
				"log_root":                      u(sb.LogRoot),
				"log_root_transid (deprecated)": u(sb.LogRootTransID),
				"log_root_level":                u(uint64(sb.LogRootLevel)),
				"total_bytes":                   u(sb.TotalBytes),
				"bytes_used":                    u(sb.BytesUsed),
				"sectorsize":                    u(uint64(sb.SectorSize)),
				"nodesize":                      u(uint64(sb.NodeSize)),
				"leafsize (deprecated)":         u(uint64(sb.LeafSize)),
				"stripesize":                    u(uint64(sb.StripeSize)),
				"root_dir":                      u(sb.RootDirObjectID),
				"num_devices":                   u(sb.NumDevices),
				"compat_flags":                  x(sb.CompatFlags),
				"compat_ro_flags":               x(sb.CompatROFlags),
				"incompat_flags":                x(sb.IncompatFlags),
				"cache_generation":              u(sb.CacheGeneration),
				"uuid_tree_generation":          u(sb.UUIDTreeGeneration),
				"dev_item.uuid":                 sb.DevItem.UUID.String(),
				"dev_item.fsid":                 sb.DevItem.FSID.String(),
				"dev_item.type":                 u(sb.DevItem.Type),
				"dev_item.total_bytes":          u(sb.DevItem.TotalBytes),
				"dev_item.bytes_used":           u(sb.DevItem.BytesUsed),
				"dev_item.io_align":             u(uint64(sb.DevItem.IOAlign)),
				"dev_item.io_width":             u(uint64(sb.DevItem.IOWidth)),
				"dev_item.sector_size":          u(uint64(sb.DevItem.SectorSize)),
				"dev_item.devid":                u(sb.DevItem.DevID),
				"dev_item.dev_group":            u(uint64(sb.DevItem.DevGroup)),
				"dev_item.seek_speed":           u(uint64(sb.DevItem.SeekSpeed)),
				"dev_item.bandwidth":            u(uint64(sb.DevItem.Bandwidth)),
				"dev_item.generation":           u(sb.DevItem.Generation),
			}
			for k, w := range want {
				got, ok := d.Fields[k]
				if !ok {
					t.Errorf("dump-super has no %q", k)
					continue
				}
				if superfixture.Word(got) != w {
					t.Errorf("%s: parsed %q, dump-super says %q", k, w, got)
				}
			}
			if got := d.Fields["label"]; got != sb.Label {
				t.Errorf("label: parsed %q, dump-super says %q", sb.Label, got)
			}
			if len(d.Fields) != len(want)+1 {
				t.Errorf("dump-super printed %d fields, test compares %d", len(d.Fields), len(want)+1)
			}

			if len(d.Backups) != NumBackupRoots {
				t.Fatalf("dump-super lists %d backups", len(d.Backups))
			}
			for i, b := range sb.Backups {
				db := d.Backups[i]
				got := map[string]uint64{
					"backup_tree_root": b.TreeRoot, "backup_tree_root.gen": b.TreeRootGen, "backup_tree_root.level": uint64(b.TreeRootLevel),
					"backup_chunk_root": b.ChunkRoot, "backup_chunk_root.gen": b.ChunkRootGen, "backup_chunk_root.level": uint64(b.ChunkRootLevel),
					"backup_extent_root": b.ExtentRoot, "backup_extent_root.gen": b.ExtentRootGen, "backup_extent_root.level": uint64(b.ExtentRootLevel),
					"backup_fs_root": b.FSRoot, "backup_fs_root.gen": b.FSRootGen, "backup_fs_root.level": uint64(b.FSRootLevel),
					"backup_dev_root": b.DevRoot, "backup_dev_root.gen": b.DevRootGen, "backup_dev_root.level": uint64(b.DevRootLevel),
					"csum_root": b.CsumRoot, "csum_root.gen": b.CsumRootGen, "csum_root.level": uint64(b.CsumRootLevel),
					"backup_total_bytes": b.TotalBytes, "backup_bytes_used": b.BytesUsed, "backup_num_devices": b.NumDevices,
				}
				for k, v := range got {
					if db[k] != u(v) {
						t.Errorf("backup %d %s: parsed %d, dump-super says %s", i, k, v, db[k])
					}
				}
			}
			if _, err := CheckFeatures(sb); err != nil {
				t.Errorf("CheckFeatures: %v", err)
			}
		})
	}
}

// A few values spelled out, so a broken dump-super parser cannot hide a
// broken superblock parser.
func TestParseRealSuperblockValues(t *testing.T) {
	sb, err := ParseSuperblock(superfixture.Read(t, "metadata-uuid"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.FSID.String() != "5eed0000-0000-4000-8000-0000000000bb" ||
		sb.MetadataUUID.String() != "5eed0000-0000-4000-8000-0000000000aa" ||
		sb.MetadataFSID() != sb.MetadataUUID || sb.DevItem.FSID != sb.MetadataUUID {
		t.Errorf("metadata_uuid fixture: fsid %s metadata_uuid %s dev_item.fsid %s", sb.FSID, sb.MetadataUUID, sb.DevItem.FSID)
	}
	if sb.IncompatFlags != 0x741 || sb.SectorSize != 4096 || sb.NodeSize != 16384 || sb.NumDevices != 1 {
		t.Errorf("metadata_uuid fixture: incompat %#x sectorsize %d nodesize %d devices %d", sb.IncompatFlags, sb.SectorSize, sb.NodeSize, sb.NumDevices)
	}
	sb, err = ParseSuperblock(superfixture.Read(t, "blake2"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.CsumType != CsumBlake2b || sb.Label != "coldsend blake2" || sb.MetadataFSID() != sb.FSID ||
		sb.FSID.String() != "5eed0000-0000-4000-8000-000000000004" || sb.Bytenr != 65536 {
		t.Errorf("blake2 fixture: csum %v label %q fsid %s bytenr %d", sb.CsumType, sb.Label, sb.FSID, sb.Bytenr)
	}
	sb, err = ParseSuperblock(superfixture.Read(t, "raid10-devid3"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.NumDevices != 4 || sb.DevItem.DevID != 3 || sb.SysChunkArraySize != 17+48+4*32 {
		t.Errorf("raid10 fixture: devices %d devid %d sys array %d", sb.NumDevices, sb.DevItem.DevID, sb.SysChunkArraySize)
	}
	sb, err = ParseSuperblock(superfixture.Read(t, "mixed"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.NodeSize != sb.SectorSize || sb.IncompatFlags&IncompatMixedGroups == 0 {
		t.Errorf("mixed fixture: nodesize %d sectorsize %d incompat %#x", sb.NodeSize, sb.SectorSize, sb.IncompatFlags)
	}
}

// resealSuper recomputes the checksum of a superblock after a test edit.
func resealSuper(b []byte) []byte {
	ct := CsumType(binary.LittleEndian.Uint16(b[0xc4:]))
	var sum [CsumSize]byte
	ct.Sum(&sum, b[CsumSize:SuperblockSize])
	copy(b, sum[:])
	return b
}

func TestSuperblockValidation(t *testing.T) {
	le := binary.LittleEndian
	type edit func(b []byte)
	u32 := func(off int, v uint32) edit { return func(b []byte) { le.PutUint32(b[off:], v) } }
	u64 := func(off int, v uint64) edit { return func(b []byte) { le.PutUint64(b[off:], v) } }
	u8 := func(off int, v byte) edit { return func(b []byte) { b[off] = v } }
	for _, tc := range []struct {
		name   string
		edit   edit
		kind   error
		substr string
	}{
		{"sectorsize small", u32(0x90, 2048), ErrCorrupt, "invalid sectorsize 2048"},
		{"sectorsize not pow2", u32(0x90, 12288), ErrCorrupt, "invalid sectorsize 12288"},
		{"nodesize below sectorsize", func(b []byte) {
			le.PutUint32(b[0x90:], 16384)
			le.PutUint32(b[0x94:], 8192)
			le.PutUint32(b[0x98:], 8192)
		}, ErrCorrupt, "invalid nodesize 8192"},
		{"nodesize huge", func(b []byte) { le.PutUint32(b[0x94:], 131072); le.PutUint32(b[0x98:], 131072) }, ErrCorrupt, "invalid nodesize 131072"},
		{"leafsize", u32(0x98, 4096), ErrCorrupt, "leafsize 4096 differs"},
		{"stripesize", u32(0x9c, 8192), ErrCorrupt, "invalid stripesize"},
		{"root level", u8(0xc6, 8), ErrCorrupt, "root level 8"},
		{"chunk root level", u8(0xc7, 200), ErrCorrupt, "chunk_root level 200"},
		{"log root level", u8(0xc8, 8), ErrCorrupt, "log_root level 8"},
		{"root unaligned", u64(0x50, 30441472+512), ErrCorrupt, "root address 30441984 is not aligned"},
		{"chunk root zero", u64(0x58, 0), ErrCorrupt, "chunk_root 0 is zero"},
		{"total bytes", u64(0x70, 0), ErrCorrupt, "total_bytes is 0"},
		{"bytes used", u64(0x78, 4096), ErrCorrupt, "bytes_used 4096"},
		{"no devices", u64(0x88, 0), ErrCorrupt, "num_devices is 0"},
		{"sys array big", u32(0xa0, 2049), ErrCorrupt, "sys_chunk_array_size 2049"},
		{"sys array small", u32(0xa0, 64), ErrCorrupt, "sys_chunk_array_size 64"},
		{"dev item fsid", u8(SuperDevItemOffset+82, 0xff), ErrCorrupt, "dev_item fsid"},
		{"dev item bytes used", u64(SuperDevItemOffset+16, 1<<40), ErrCorrupt, "bytes_used 1099511627776 exceeds"},
		{"metadump", u64(0x38, SuperFlagWritten|SuperFlagMetadump), ErrUnsupported, "metadata dump"},
		{"metadump v2", u64(0x38, SuperFlagMetadumpV2), ErrUnsupported, "metadata dump"},
		{"changing fsid", u64(0x38, SuperFlagChangingFSIDV2), ErrUnsupported, "interrupted metadata_uuid change"},
		{"csum conversion", u64(0x38, SuperFlagChangingDataCsum), ErrUnsupported, "data checksum conversion"},
		{"csum type", func(b []byte) { b[0xc4] = 9 }, ErrUnsupported, "unsupported checksum type 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := superfixture.Read(t, "sha256")
			tc.edit(b)
			_, err := ParseSuperblock(resealSuper(b))
			if err == nil || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("got %v, want %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}
	b := superfixture.Read(t, "crc32c")
	if _, err := ParseSuperblock(b[:4000]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	b[0x100]++
	if _, err := ParseSuperblock(b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("bad csum: %v", err)
	}
	b[0x40] = 'X'
	if _, err := ParseSuperblock(b); !errors.Is(err, ErrNotBtrfs) || !strings.Contains(err.Error(), "bad magic") {
		t.Errorf("bad magic: %v", err)
	}
}

func TestDevItem(t *testing.T) {
	sb, err := ParseSuperblock(superfixture.Read(t, "raid10-devid3"))
	if err != nil {
		t.Fatal(err)
	}
	b := superfixture.Read(t, "raid10-devid3")[SuperDevItemOffset : SuperDevItemOffset+DevItemSize]
	d, err := ParseDevItem(b)
	if err != nil || d != sb.DevItem || d.DevID != 3 || d.TotalBytes != 256<<20 {
		t.Errorf("ParseDevItem = %+v, %v", d, err)
	}
	if _, err := ParseDevItem(b[:97]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short dev item: %v", err)
	}
}
