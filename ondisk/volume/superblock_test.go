package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/superfixture"
	"github.com/coldsend/coldsend/ondisk"
)

// resealSuper recomputes the checksum of superblock b.
func resealSuper(b []byte) []byte {
	ct := ondisk.CsumType(binary.LittleEndian.Uint16(b[0xc4:]))
	var sum [ondisk.CsumSize]byte
	ct.Sum(&sum, b[ondisk.CsumSize:ondisk.SuperblockSize])
	copy(b, sum[:])
	return b
}

// TestParseRealSysChunkArrays checks the sys_chunk_array of every
// superblock fixture against what btrfs-progs printed for it.
func TestParseRealSysChunkArrays(t *testing.T) {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, name := range superfixture.Names {
		t.Run(name, func(t *testing.T) {
			sb, err := ondisk.ParseSuperblock(superfixture.Read(t, name))
			if err != nil {
				t.Fatal(err)
			}
			d := superfixture.ParseDump(t, name)
			chunks, err := ParseSysChunkArray(sb.SysChunkArray)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != len(d.Chunks) {
				t.Fatalf("%d sys chunks, dump-super lists %d", len(chunks), len(d.Chunks))
			}
			for i, c := range chunks {
				dc := d.Chunks[i]
				got := map[string]string{
					"logical": u(uint64(c.Logical)), "length": u(c.Length), "owner": u(c.Owner),
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
					ds := d.Stripes[i][j]
					if ds["devid"] != u(uint64(s.DevID)) || ds["offset"] != u(uint64(s.Offset)) || ds["dev_uuid"] != s.DevUUID.String() {
						t.Errorf("sys chunk %d stripe %d: parsed %+v, dump-super says %v", i, j, s, ds)
					}
				}
			}

		})
	}
}

func dumpTypeString(flags uint64) string {
	var parts []string
	for _, b := range []struct {
		bit  uint64
		name string
	}{{ondisk.BlockGroupData, "DATA"}, {ondisk.BlockGroupSystem, "SYSTEM"}, {ondisk.BlockGroupMetadata, "METADATA"}} {
		if flags&b.bit != 0 {
			parts = append(parts, b.name)
		}
	}
	p := strings.ToUpper(ondisk.ProfileName(flags))
	if p == "SINGLE" {
		p = "single"
	}
	return strings.Join(append(parts, p), "|")
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
	b := superfixture.Read(t, name)
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
		{name: "stale bytenr", size: 1 << 20, regions: map[int64][]byte{0x10000: superCopy(t, "crc32c", mirror, 7)}, errSub: "records bytenr 67108864", errKind: ondisk.ErrCorrupt},
		{name: "bad csum", size: 1 << 20, regions: map[int64][]byte{0x10000: corrupt(superCopy(t, "crc32c", 0x10000, 7))}, errSub: "checksum mismatch", errKind: ondisk.ErrCorrupt},
		{name: "not btrfs", size: 1 << 20, errSub: "bad magic", errKind: ondisk.ErrNotBtrfs},
		{name: "not btrfs, old mirror", size: big, regions: map[int64][]byte{mirror: superCopy(t, "crc32c", mirror, 7)}, errSub: "remains at byte offset 67108864, probably from an earlier filesystem; --super 1 trusts it", errKind: ondisk.ErrNotBtrfs},
		{name: "truncated", size: 0x10000 + 100, errSub: "too short", errKind: ondisk.ErrNotBtrfs},
		{name: "zstd file", size: 50000, regions: map[int64][]byte{0: []byte("\x28\xb5\x2f\xfd\x04\x58")}, errSub: "starts like a zstd file, so it is probably a compressed image: decompress it first (zstd -d img)", errKind: ondisk.ErrNotBtrfs},
		{name: "gzip file", size: 1 << 20, regions: map[int64][]byte{0: []byte("\x1f\x8b\x08\x00\x00\x00")}, errSub: "gzip file", errKind: ondisk.ErrNotBtrfs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []string
			dev := &Device{Name: "img", R: &sparseDev{tc.size, tc.regions}, Size: tc.size}
			sb, err := ReadSuperblock(dev, func(w ondisk.Warning) { warns = append(warns, w.Msg) })
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
			sb, err := ReadSuperblockCopy(dev, tc.copy, func(w ondisk.Warning) { warns = append(warns, w.Msg) })
			if tc.wantGen == 0 {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("got %v, want an error containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sb.Generation != tc.wantGen || sb.Bytenr != uint64(ondisk.SuperblockOffsets[tc.copy]) {
				t.Errorf("got generation %d at %d", sb.Generation, sb.Bytenr)
			}
			if joined := strings.Join(warns, "\n"); !strings.Contains(joined, tc.warnSub) || tc.warnSub == "" && joined != "" {
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
	bases := make([][]byte, len(superfixture.Names))
	for i, name := range superfixture.Names {
		bases[i] = superfixture.Read(f, name)
	}
	f.Add(uint8(0), uint16(0x90), []byte{0, 0x20, 0, 0})          // sectorsize
	f.Add(uint8(1), uint16(0xa0), []byte{0xff, 0x07, 0, 0})       // sys_chunk_array_size
	f.Add(uint8(2), uint16(0x32b+0x11+0x2c), []byte{9, 0})        // num_stripes of the first sys chunk
	f.Add(uint8(3), uint16(0xbc), []byte{0xff, 0xff, 0xff, 0xff}) // incompat flags
	f.Add(uint8(4), uint16(0x40), []byte("_BHRfS_M"))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte) {
		b := bytes.Clone(bases[int(which)%len(bases)])
		copy(b[int(at)%ondisk.SuperblockSize:], patch)
		check := func(b []byte) {
			sb, err := ondisk.ParseSuperblock(b)
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
			_, _ = ondisk.CheckFeatures(sb)
		}
		check(b)
		check(resealSuper(b))
	})
}
