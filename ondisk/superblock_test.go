package ondisk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Superblock fixtures made by testdata/make.sh; the progs version is part
// of the file names.
var superFixtures = []string{"crc32c", "xxhash", "sha256", "blake2", "metadata-uuid", "raid10-devid3", "mixed"}

func superFixturePath(name, ext string) string {
	return filepath.Join("testdata", "sb-progs6.2-"+name+ext)
}

func readSuperFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(superFixturePath(name, ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpSuper is what "btrfs inspect-internal dump-super -f" printed for a
// fixture.
type dumpSuper struct {
	fields  map[string]string // top-level "name value" lines, value verbatim
	chunks  []map[string]string
	stripes [][]map[string]string
	backups []map[string]string
}

var (
	dumpField  = regexp.MustCompile(`^([a-z_.]+(?: \(deprecated\))?)\t+(.*)$`)
	dumpPairs  = regexp.MustCompile(`([a-z_]+) (\S+)`)
	dumpBackup = regexp.MustCompile(`^\t\t(\w+):\t+(\d+)(?:\tgen: (\d+)\tlevel: (\d+))?$`)
	dumpKey    = regexp.MustCompile(`^\titem \d+ key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)$`)
)

func parseDumpSuper(t *testing.T, path string) *dumpSuper {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := &dumpSuper{fields: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case dumpField.MatchString(line):
			m := dumpField.FindStringSubmatch(line)
			d.fields[m[1]] = m[2]
		case dumpKey.MatchString(line):
			d.chunks = append(d.chunks, map[string]string{"logical": dumpKey.FindStringSubmatch(line)[1]})
			d.stripes = append(d.stripes, nil)
		case strings.HasPrefix(line, "\tbackup "):
			d.backups = append(d.backups, map[string]string{})
		case len(d.backups) > 0 && dumpBackup.MatchString(line):
			m := dumpBackup.FindStringSubmatch(line)
			d.backups[len(d.backups)-1][m[1]] = m[2]
			if m[3] != "" {
				d.backups[len(d.backups)-1][m[1]+".gen"] = m[3]
				d.backups[len(d.backups)-1][m[1]+".level"] = m[4]
			}
		case len(d.chunks) > 0 && len(d.backups) == 0 && strings.HasPrefix(line, "\t\t\tstripe "):
			s := map[string]string{}
			for _, m := range dumpPairs.FindAllStringSubmatch(line, -1) {
				s[m[1]] = m[2]
			}
			i := len(d.chunks) - 1
			d.stripes[i] = append(d.stripes[i], s)
		case len(d.chunks) > 0 && len(d.backups) == 0 && strings.HasPrefix(line, "\t\t\tdev_uuid "):
			i := len(d.chunks) - 1
			d.stripes[i][len(d.stripes[i])-1]["dev_uuid"] = strings.TrimPrefix(line, "\t\t\tdev_uuid ")
		case len(d.chunks) > 0 && len(d.backups) == 0 && strings.HasPrefix(line, "\t\t"):
			for _, m := range dumpPairs.FindAllStringSubmatch(line, -1) {
				d.chunks[len(d.chunks)-1][m[1]] = m[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// dumpWord returns the first word of a dump value ("0 (crc32c)" -> "0").
func dumpWord(v string) string {
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		return v[:i]
	}
	return v
}

func dumpTypeString(flags uint64) string {
	var parts []string
	for _, b := range []struct {
		bit  uint64
		name string
	}{{BlockGroupData, "DATA"}, {BlockGroupSystem, "SYSTEM"}, {BlockGroupMetadata, "METADATA"}} {
		if flags&b.bit != 0 {
			parts = append(parts, b.name)
		}
	}
	p := strings.ToUpper(ProfileName(flags))
	if p == "SINGLE" {
		p = "single"
	}
	return strings.Join(append(parts, p), "|")
}

// TestParseRealSuperblocks checks every decoded field against what
// btrfs-progs printed for the same bytes.
func TestParseRealSuperblocks(t *testing.T) {
	for _, name := range superFixtures {
		t.Run(name, func(t *testing.T) {
			sb, err := ParseSuperblock(readSuperFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			d := parseDumpSuper(t, superFixturePath(name, ".dump-super.txt"))
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
				got, ok := d.fields[k]
				if !ok {
					t.Errorf("dump-super has no %q", k)
					continue
				}
				if dumpWord(got) != w {
					t.Errorf("%s: parsed %q, dump-super says %q", k, w, got)
				}
			}
			if got := d.fields["label"]; got != sb.Label {
				t.Errorf("label: parsed %q, dump-super says %q", sb.Label, got)
			}
			if len(d.fields) != len(want)+1 {
				t.Errorf("dump-super printed %d fields, test compares %d", len(d.fields), len(want)+1)
			}

			chunks, err := ParseSysChunkArray(sb.SysChunkArray)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != len(d.chunks) {
				t.Fatalf("%d sys chunks, dump-super lists %d", len(chunks), len(d.chunks))
			}
			for i, c := range chunks {
				dc := d.chunks[i]
				got := map[string]string{
					"logical": u(c.Logical), "length": u(c.Length), "owner": u(c.Owner),
					"stripe_len": u(c.StripeLen), "type": dumpTypeString(c.Type),
					"io_align": u(uint64(c.IOAlign)), "io_width": u(uint64(c.IOWidth)),
					"sector_size": u(uint64(c.SectorSize)), "num_stripes": u(uint64(c.NumStripes)),
					"sub_stripes": u(uint64(c.SubStripes)),
				}
				for k, v := range got {
					if dc[k] != v {
						t.Errorf("sys chunk %d %s: parsed %s, dump-super says %s", i, k, v, dc[k])
					}
				}
				for j, s := range c.Stripes {
					ds := d.stripes[i][j]
					if ds["devid"] != u(s.DevID) || ds["offset"] != u(s.Offset) || ds["dev_uuid"] != s.DevUUID.String() {
						t.Errorf("sys chunk %d stripe %d: parsed %+v, dump-super says %v", i, j, s, ds)
					}
				}
			}

			if len(d.backups) != NumBackupRoots {
				t.Fatalf("dump-super lists %d backups", len(d.backups))
			}
			for i, b := range sb.Backups {
				db := d.backups[i]
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
	sb, err := ParseSuperblock(readSuperFixture(t, "metadata-uuid"))
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
	sb, err = ParseSuperblock(readSuperFixture(t, "blake2"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.CsumType != CsumBlake2b || sb.Label != "coldsend blake2" || sb.MetadataFSID() != sb.FSID ||
		sb.FSID.String() != "5eed0000-0000-4000-8000-000000000004" || sb.Bytenr != 65536 {
		t.Errorf("blake2 fixture: csum %v label %q fsid %s bytenr %d", sb.CsumType, sb.Label, sb.FSID, sb.Bytenr)
	}
	sb, err = ParseSuperblock(readSuperFixture(t, "raid10-devid3"))
	if err != nil {
		t.Fatal(err)
	}
	if sb.NumDevices != 4 || sb.DevItem.DevID != 3 || sb.SysChunkArraySize != 17+48+4*32 {
		t.Errorf("raid10 fixture: devices %d devid %d sys array %d", sb.NumDevices, sb.DevItem.DevID, sb.SysChunkArraySize)
	}
	sb, err = ParseSuperblock(readSuperFixture(t, "mixed"))
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
		{"dev item fsid", u8(superDevItemOff+82, 0xff), ErrCorrupt, "dev_item fsid"},
		{"dev item bytes used", u64(superDevItemOff+16, 1<<40), ErrCorrupt, "bytes_used 1099511627776 exceeds"},
		{"metadump", u64(0x38, SuperFlagWritten|SuperFlagMetadump), ErrUnsupported, "metadata dump"},
		{"metadump v2", u64(0x38, SuperFlagMetadumpV2), ErrUnsupported, "metadata dump"},
		{"changing fsid", u64(0x38, SuperFlagChangingFSIDV2), ErrUnsupported, "interrupted metadata_uuid change"},
		{"csum conversion", u64(0x38, SuperFlagChangingDataCsum), ErrUnsupported, "data checksum conversion"},
		{"csum type", func(b []byte) { b[0xc4] = 9 }, ErrUnsupported, "unsupported checksum type 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := readSuperFixture(t, "sha256")
			tc.edit(b)
			_, err := ParseSuperblock(resealSuper(b))
			if err == nil || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("got %v, want %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}
	b := readSuperFixture(t, "crc32c")
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

// sparseDev is an in-memory device holding a few regions; everything else
// reads as zeros.
type sparseDev struct {
	size    int64
	regions map[int64][]byte
}

func (s *sparseDev) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	for start, r := range s.regions {
		lo, hi := max(start, off), min(start+int64(len(r)), off+int64(len(p)))
		if lo < hi {
			copy(p[lo-off:hi-off], r[lo-start:hi-start])
		}
	}
	return len(p), nil
}

// superCopy returns the fixture moved to offset off with generation gen.
func superCopy(t *testing.T, name string, off int64, gen uint64) []byte {
	b := readSuperFixture(t, name)
	binary.LittleEndian.PutUint64(b[0x30:], uint64(off))
	binary.LittleEndian.PutUint64(b[0x48:], gen)
	return resealSuper(b)
}

func TestReadSuperblock(t *testing.T) {
	const mirror = 0x4000000
	big := int64(mirror + 1<<20)
	corrupt := func(b []byte) []byte { b[0x200] ^= 1; return b }
	for _, tc := range []struct {
		name    string
		size    int64
		regions map[int64][]byte
		wantGen uint64 // 0: want an error
		wantOff uint64
		errSub  string
		errKind error
		warnSub string
	}{
		{name: "primary only", size: 1 << 20, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 7)}, wantGen: 7, wantOff: 0x10000},
		{name: "primary and mirror", size: big, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 7), mirror: superCopy(t, "crc32c", mirror, 7)}, wantGen: 7, wantOff: 0x10000},
		{name: "damaged primary", size: big, regions: map[int64][]byte{0x10000: corrupt(superCopy(t, "crc32c", 0x10000, 8)), mirror: superCopy(t, "crc32c", mirror, 7)},
			wantGen: 7, wantOff: mirror, warnSub: "primary superblock at byte offset 65536 is invalid"},
		{name: "newer mirror", size: big, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 7), mirror: superCopy(t, "crc32c", mirror, 9)},
			wantGen: 9, wantOff: mirror, warnSub: "newer than the primary"},
		{name: "mirror of another fs", size: big, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 7), mirror: superCopy(t, "xxhash", mirror, 9)},
			wantGen: 7, wantOff: 0x10000, warnSub: "belongs to another filesystem"},
		{name: "damaged mirror", size: big, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 7), mirror: corrupt(superCopy(t, "crc32c", mirror, 7))},
			wantGen: 7, wantOff: 0x10000, warnSub: "copy at byte offset 67108864 is invalid"},
		{name: "stale bytenr", size: 1 << 20, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", mirror, 7)}, errSub: "records bytenr 67108864", errKind: ErrCorrupt},
		{name: "bad csum", size: 1 << 20, regions: map[int64][]byte{0x10000: corrupt(superCopy(t, "crc32c", 0x10000, 7))}, errSub: "checksum mismatch", errKind: ErrCorrupt},
		{name: "not btrfs", size: 1 << 20, errSub: "bad magic", errKind: ErrNotBtrfs},
		{name: "not btrfs, old mirror", size: big, regions: map[int64][]byte{mirror: superCopy(t, "crc32c", mirror, 7)}, errSub: "remains at byte offset 67108864, probably from an earlier filesystem; --super 1 trusts it", errKind: ErrNotBtrfs},
		{name: "truncated", size: 0x10000 + 100, errSub: "too short", errKind: ErrNotBtrfs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []string
			dev := &Device{Name: "img", R: &sparseDev{tc.size, tc.regions}, Size: tc.size}
			sb, err := ReadSuperblock(dev, func(m string) { warns = append(warns, m) })
			if tc.wantGen == 0 {
				var de *DeviceError
				if !errors.As(err, &de) || de.Device != "img" || de.Offset != 65536 || !errors.Is(err, tc.errKind) || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("got %v, want a DeviceError for img at 65536 containing %q", err, tc.errSub)
				}
				if !strings.HasPrefix(err.Error(), "img: no valid btrfs superblock at byte offset 65536: ") {
					t.Errorf("message %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sb.Generation != tc.wantGen || sb.Bytenr != tc.wantOff {
				t.Errorf("got generation %d at %d, want %d at %d", sb.Generation, sb.Bytenr, tc.wantGen, tc.wantOff)
			}
			joined := strings.Join(warns, "\n")
			if tc.warnSub == "" && joined != "" || !strings.Contains(joined, tc.warnSub) {
				t.Errorf("warnings %q, want %q", joined, tc.warnSub)
			}
		})
	}
}

// FuzzParseSuperblock overlays a few bytes on a kernel-made superblock
// (which of them, where) and parses it, with the checksum as stored and
// resealed so that the field checks are reached. Small inputs keep the
// fuzzer's minimisation cheap; the overlay reaches every byte.
func FuzzParseSuperblock(f *testing.F) {
	bases := make([][]byte, len(superFixtures))
	for i, name := range superFixtures {
		bases[i] = readSuperFixture(f, name)
	}
	f.Add(uint8(0), uint16(0x90), []byte{0, 0x20, 0, 0})          // sectorsize
	f.Add(uint8(1), uint16(0xa0), []byte{0xff, 0x07, 0, 0})       // sys_chunk_array_size
	f.Add(uint8(2), uint16(0x32b+0x11+0x2c), []byte{9, 0})        // num_stripes of the first sys chunk
	f.Add(uint8(3), uint16(0xbc), []byte{0xff, 0xff, 0xff, 0xff}) // incompat flags
	f.Add(uint8(4), uint16(0x40), []byte("_BHRfS_M"))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte) {
		b := bytes.Clone(bases[int(which)%len(bases)])
		copy(b[int(at)%SuperblockSize:], patch)
		check := func(b []byte) {
			sb, err := ParseSuperblock(b)
			if err != nil {
				return
			}
			if len(sb.SysChunkArray) != int(sb.SysChunkArraySize) {
				t.Fatalf("sys array %d bytes, size %d", len(sb.SysChunkArray), sb.SysChunkArraySize)
			}
			if cs, err := ParseSysChunkArray(sb.SysChunkArray); err == nil {
				for _, c := range cs {
					_ = c.checkFS(sb)
				}
			}
			_, _ = CheckFeatures(sb)
		}
		check(b)
		check(resealSuper(b))
	})
}

func TestReadSuperblockCopy(t *testing.T) {
	const mirror = 0x4000000
	big := int64(mirror + 1<<20)
	zeroedPrimary := map[int64][]byte{mirror: superCopy(t, "crc32c", mirror, 7)}
	for _, tc := range []struct {
		name    string
		size    int64
		regions map[int64][]byte
		copy    int
		wantGen uint64 // 0: want an error
		errSub  string
		warnSub string
	}{
		{name: "mirror of a zeroed primary", size: big, regions: zeroedPrimary, copy: 1, wantGen: 7},
		{name: "zeroed primary asked for", size: big, regions: zeroedPrimary, copy: 0, errSub: "superblock copy 0 at byte offset 65536: bad magic"},
		{name: "copy past the device end", size: big, regions: zeroedPrimary, copy: 2, errSub: "superblock copy 2 at byte offset 274877906944: superblock copy lies past the device end"},
		{name: "no such copy", size: big, regions: zeroedPrimary, copy: 3, errSub: "copies are 0 (primary), 1 and 2"},
		{name: "older copy asked for", size: big, copy: 1, wantGen: 7, warnSub: "copy 0 at byte offset 65536 is newer (generation 9)",
			regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", 0x10000, 9), mirror: superCopy(t, "crc32c", mirror, 7)}},
		{name: "stale copy", size: big, copy: 1, errSub: "records bytenr 65536",
			regions: map[int64][]byte{mirror: superCopy(t, "crc32c", 0x10000, 7)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []string
			dev := &Device{Name: "img", R: &sparseDev{tc.size, tc.regions}, Size: tc.size}
			sb, err := ReadSuperblockCopy(dev, tc.copy, func(m string) { warns = append(warns, m) })
			if tc.wantGen == 0 {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("got %v, want an error containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sb.Generation != tc.wantGen || sb.Bytenr != uint64(SuperblockOffsets[tc.copy]) {
				t.Errorf("got generation %d at %d", sb.Generation, sb.Bytenr)
			}
			if joined := strings.Join(warns, "\n"); !strings.Contains(joined, tc.warnSub) || tc.warnSub == "" && joined != "" {
				t.Errorf("warnings %q, want %q", joined, tc.warnSub)
			}
		})
	}
}
