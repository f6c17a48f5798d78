package volume

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/superfixture"
	"github.com/coldsend/coldsend/ondisk"
)

// encodeChunk is the inverse of ParseChunk, for building test items.
func encodeChunk(c Chunk) []byte {
	le := binary.LittleEndian
	b := make([]byte, ondisk.ChunkItemSize+len(c.Stripes)*ondisk.ChunkStripeSize)
	le.PutUint64(b[0:], c.Length)
	le.PutUint64(b[8:], c.Owner)
	le.PutUint64(b[16:], c.StripeLen)
	le.PutUint64(b[24:], c.Type)
	le.PutUint32(b[32:], c.IOAlign)
	le.PutUint32(b[36:], c.IOWidth)
	le.PutUint32(b[40:], c.SectorSize)
	le.PutUint16(b[44:], c.NumStripes)
	le.PutUint16(b[46:], c.SubStripes)
	for i, s := range c.Stripes {
		p := b[ondisk.ChunkItemSize+i*ondisk.ChunkStripeSize:]
		le.PutUint64(p[0:], uint64(s.DevID))
		le.PutUint64(p[8:], uint64(s.Offset))
		copy(p[16:], s.DevUUID[:])
	}
	return b
}

// testChunk builds a valid chunk of the given profile over n stripes on
// devids 1..n, each stripe at physical 1 MiB.
func testChunk(logical Logical, typ uint64, n int) Chunk {
	c := Chunk{Logical: logical, Length: 4 << 20, Owner: ondisk.ExtentTreeObjectID, StripeLen: ondisk.StripeLen, Type: typ,
		IOAlign: ondisk.StripeLen, IOWidth: ondisk.StripeLen, SectorSize: 4096, NumStripes: uint16(n), SubStripes: 1}
	if typ&ondisk.BlockGroupRAID10 != 0 {
		c.SubStripes = 2
	}
	for i := range n {
		devid := DevID(i + 1)
		if typ&ondisk.BlockGroupDUP != 0 {
			devid = 1
		}
		c.Stripes = append(c.Stripes, Stripe{DevID: devid, Offset: 1<<20 + Physical(i)*(8<<20), DevUUID: tfsDevUUID(devid)})
	}
	return c
}

func TestParseChunk(t *testing.T) {
	ok := []struct {
		typ     uint64
		n       int
		profile string
		copies  int
	}{
		{ondisk.BlockGroupData, 1, "single", 1},
		{ondisk.BlockGroupMetadata | ondisk.BlockGroupDUP, 2, "dup", 2},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID0, 1, "raid0", 1},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID0, 3, "raid0", 1},
		{ondisk.BlockGroupSystem | ondisk.BlockGroupRAID1, 2, "raid1", 2},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID1C3, 3, "raid1c3", 3},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID1C4, 4, "raid1c4", 4},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID10, 2, "raid10", 2},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID10, 6, "raid10", 2},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID5, 2, "raid5", 2},
		{ondisk.BlockGroupData | ondisk.BlockGroupRAID6, 3, "raid6", 3},
		{ondisk.BlockGroupData | ondisk.BlockGroupMetadata | ondisk.BlockGroupRAID6, 7, "raid6", 3},
	}
	for _, tc := range ok {
		want := testChunk(1<<30, tc.typ, tc.n)
		c, err := ParseChunk(1<<30, encodeChunk(want))
		if err != nil {
			t.Errorf("%s/%d: %v", tc.profile, tc.n, err)
			continue
		}
		if c.Length != want.Length || c.Type != want.Type || len(c.Stripes) != tc.n || c.Stripes[tc.n-1] != want.Stripes[tc.n-1] ||
			c.Logical != 1<<30 || c.End() != 1<<30+4<<20 || c.IOAlign != ondisk.StripeLen || c.SubStripes != want.SubStripes || c.Owner != 2 {
			t.Errorf("%s/%d: parsed %+v, want %+v", tc.profile, tc.n, c, want)
		}
		if c.ProfileName() != tc.profile || c.NumCopies() != tc.copies {
			t.Errorf("%s/%d: profile %s copies %d", tc.profile, tc.n, c.ProfileName(), c.NumCopies())
		}
	}

	type edit func(c *Chunk)
	bad := []struct {
		name   string
		base   Chunk
		edit   edit
		substr string
	}{
		{"no stripes", testChunk(0, ondisk.BlockGroupData, 1), func(c *Chunk) { c.NumStripes, c.Stripes = 0, nil }, "no stripes"},
		{"zero length", testChunk(0, ondisk.BlockGroupData, 1), func(c *Chunk) { c.Length = 0 }, "length is 0"},
		{"overflow", testChunk(1<<63, ondisk.BlockGroupData, 1), func(c *Chunk) { c.Length = 1 << 63 }, "overflows"},
		{"stripe len", testChunk(0, ondisk.BlockGroupData, 1), func(c *Chunk) { c.StripeLen = 4096 }, "stripe_len 4096"},
		{"unknown type bit", testChunk(0, ondisk.BlockGroupData, 1), func(c *Chunk) { c.Type |= 1 << 20 }, "unsupported type flags 0x100000"},
		{"remapped", testChunk(0, ondisk.BlockGroupData, 1), func(c *Chunk) { c.Type |= ondisk.BlockGroupRemapped }, "unsupported type flags 0x800"},
		{"two profiles", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID1, 2), func(c *Chunk) { c.Type |= ondisk.BlockGroupDUP }, "more than one profile"},
		{"no type", testChunk(0, ondisk.BlockGroupRAID1, 2), nil, "no data/metadata/system bit"},
		{"system and data", testChunk(0, ondisk.BlockGroupSystem|ondisk.BlockGroupData, 1), nil, "system chunk also has data"},
		{"single with 2", testChunk(0, ondisk.BlockGroupData, 2), nil, "invalid num_stripes:sub_stripes 2:1 for profile single"},
		{"dup with 3", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupDUP, 3), nil, "3:1 for profile dup"},
		{"raid1 with 3", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID1, 3), nil, "for profile raid1"},
		{"raid1c3 with 2", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID1C3, 2), nil, "for profile raid1c3"},
		{"raid1c4 with 3", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID1C4, 3), nil, "for profile raid1c4"},
		{"raid10 odd", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID10, 3), nil, "3:2 for profile raid10"},
		{"raid10 sub 1", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID10, 4), func(c *Chunk) { c.SubStripes = 1 }, "4:1 for profile raid10"},
		{"raid5 with 1", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID5, 1), nil, "for profile raid5"},
		{"raid6 with 2", testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID6, 2), nil, "for profile raid6"},
	}
	for _, tc := range bad {
		c := tc.base
		if tc.edit != nil {
			tc.edit(&c)
		}
		_, err := ParseChunk(c.Logical, encodeChunk(c))
		if err == nil || !errors.Is(err, ondisk.ErrCorrupt) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.substr)
		}
	}

	b := encodeChunk(testChunk(0, ondisk.BlockGroupData|ondisk.BlockGroupRAID1, 2))
	for _, n := range []int{0, 47, len(b) - 1} {
		if _, err := ParseChunk(0, b[:n]); !errors.Is(err, ondisk.ErrCorrupt) {
			t.Errorf("ParseChunk of %d bytes: %v", n, err)
		}
	}
	if _, err := ParseChunk(0, append(b, 0)); err == nil || !strings.Contains(err.Error(), "2 stripes need 112") {
		t.Errorf("ParseChunk with a trailing byte: %v", err)
	}
}

func TestChunkCheckFS(t *testing.T) {
	sb := &ondisk.Superblock{SectorSize: 4096}
	c := testChunk(1<<20, ondisk.BlockGroupData|ondisk.BlockGroupMetadata, 1)
	if err := c.checkFS(sb); err == nil || !strings.Contains(err.Error(), "mixed_groups is not set") {
		t.Errorf("mixed without feature: %v", err)
	}
	sb.IncompatFlags = ondisk.IncompatMixedGroups
	if err := c.checkFS(sb); err != nil {
		t.Errorf("mixed with feature: %v", err)
	}
	c.Logical += 512
	if err := c.checkFS(sb); err == nil || !strings.Contains(err.Error(), "not aligned") {
		t.Errorf("unaligned: %v", err)
	}
	c.Logical -= 512
	c.SectorSize = 65536
	if err := c.checkFS(sb); err == nil || !strings.Contains(err.Error(), "sector_size 65536") {
		t.Errorf("sector size: %v", err)
	}
}

func encodeSysArray(chunks ...Chunk) []byte {
	var b []byte
	for _, c := range chunks {
		var k [ondisk.KeySize]byte
		ondisk.PutKey(k[:], ondisk.Key{ObjectID: ondisk.FirstChunkTreeObjectID, Type: ondisk.ChunkItemKey, Offset: uint64(c.Logical)})
		b = append(append(b, k[:]...), encodeChunk(c)...)
	}
	return b
}

func TestParseSysChunkArray(t *testing.T) {
	for _, name := range superfixture.Names {
		sb, err := ondisk.ParseSuperblock(superfixture.Read(t, name))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ParseSysChunkArray(sb.SysChunkArray)
		if err != nil || len(cs) != 1 || cs[0].Type&ondisk.BlockGroupSystem == 0 {
			t.Errorf("%s: %v %v", name, cs, err)
		}
	}
	sys1 := testChunk(1<<20, ondisk.BlockGroupSystem|ondisk.BlockGroupDUP, 2)
	sys2 := testChunk(16<<20, ondisk.BlockGroupSystem|ondisk.BlockGroupRAID1, 2)
	cs, err := ParseSysChunkArray(encodeSysArray(sys1, sys2))
	if err != nil || len(cs) != 2 || cs[1].Logical != 16<<20 || cs[1].Stripes[1].DevID != 2 {
		t.Errorf("two chunks: %+v %v", cs, err)
	}
	two := encodeSysArray(sys1, sys2)
	for _, tc := range []struct {
		name   string
		b      []byte
		substr string
	}{
		{"empty", nil, "sys_chunk_array is empty"},
		{"short key", two[:len(encodeSysArray(sys1))+5], "too short for a key"},
		{"short chunk", two[:ondisk.KeySize+40], "shorter than 48"},
		{"short stripes", two[:ondisk.KeySize+ondisk.ChunkItemSize+40], "only 88 present"},
		{"bad key", func() []byte { b := encodeSysArray(sys1); b[8] = byte(ondisk.DevItemKey); return b }(), "is not a chunk item"},
		{"bad objectid", func() []byte { b := encodeSysArray(sys1); b[0] = 1; return b }(), "is not a chunk item"},
		{"not system", encodeSysArray(testChunk(0, ondisk.BlockGroupMetadata, 1)), "not system"},
		{"bad chunk", encodeSysArray(testChunk(0, ondisk.BlockGroupSystem, 2)), "sys_chunk_array offset 17: corrupt: chunk at logical 0: invalid num_stripes"},
	} {
		if _, err := ParseSysChunkArray(tc.b); err == nil || !errors.Is(err, ondisk.ErrCorrupt) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.substr)
		}
	}
}

func TestChunkMap(t *testing.T) {
	a := testChunk(1<<20, ondisk.BlockGroupSystem, 1)    // [1M, 5M)
	b := testChunk(16<<20, ondisk.BlockGroupData, 1)     // [16M, 20M)
	c := testChunk(20<<20, ondisk.BlockGroupMetadata, 1) // [20M, 24M)
	m, err := NewChunkMap([]Chunk{c, a, b})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		logical Logical
		want    Logical // chunk start, 0 for none
	}{
		{0, 0}, {1<<20 - 1, 0}, {1 << 20, 1 << 20}, {5<<20 - 1, 1 << 20}, {5 << 20, 0},
		{16 << 20, 16 << 20}, {20<<20 - 1, 16 << 20}, {20 << 20, 20 << 20}, {24<<20 - 1, 20 << 20}, {24 << 20, 0}, {^Logical(0), 0},
	} {
		got, ok := m.Lookup(tc.logical)
		switch {
		case tc.want == 0 && ok:
			t.Errorf("Lookup(%d) found chunk %d", tc.logical, got.Logical)
		case tc.want != 0 && (!ok || got.Logical != tc.want):
			t.Errorf("Lookup(%d) = %v, %v; want chunk %d", tc.logical, got, ok, tc.want)
		}
	}
	if cs := m.Chunks(); len(cs) != 3 || cs[0].Logical != a.Logical || cs[2].Logical != c.Logical {
		t.Errorf("Chunks not sorted: %v", cs)
	}
	d := testChunk(18<<20, ondisk.BlockGroupData, 1)
	if _, err := NewChunkMap([]Chunk{a, b, d}); err == nil || !strings.Contains(err.Error(), "chunk [16777216, 20971520) overlaps chunk [18874368, 23068672)") {
		t.Errorf("overlap: %v", err)
	}
	if _, err := NewChunkMap([]Chunk{a, a}); err == nil {
		t.Error("duplicate chunk accepted")
	}
	empty, _ := NewChunkMap(nil)
	if _, ok := empty.Lookup(0); ok {
		t.Error("empty map found a chunk")
	}
}

func TestProfileNames(t *testing.T) {
	for flags, want := range map[uint64]string{
		ondisk.BlockGroupData: "single", ondisk.BlockGroupDUP: "dup", ondisk.BlockGroupRAID0: "raid0", ondisk.BlockGroupRAID1: "raid1",
		ondisk.BlockGroupRAID1C3: "raid1c3", ondisk.BlockGroupRAID1C4: "raid1c4", ondisk.BlockGroupRAID10: "raid10",
		ondisk.BlockGroupRAID5: "raid5", ondisk.BlockGroupRAID6: "raid6", ondisk.BlockGroupRAID0 | ondisk.BlockGroupRAID1: "profile-0x18",
	} {
		if got := ondisk.ProfileName(flags); got != want {
			t.Errorf("ProfileName(%#x) = %q, want %q", flags, got, want)
		}
	}
	for flags, want := range map[uint64]string{
		ondisk.BlockGroupData: "data", ondisk.BlockGroupSystem | ondisk.BlockGroupRAID1: "system", ondisk.BlockGroupData | ondisk.BlockGroupMetadata: "data+metadata", 0: "none",
	} {
		if got := ondisk.BlockGroupTypeName(flags); got != want {
			t.Errorf("BlockGroupTypeName(%#x) = %q, want %q", flags, got, want)
		}
	}
}

func FuzzParseChunk(f *testing.F) {
	for _, name := range superfixture.Names {
		sb, err := ondisk.ParseSuperblock(superfixture.Read(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint64(22020096), sb.SysChunkArray[ondisk.KeySize:])
	}
	f.Add(uint64(1<<30), encodeChunk(testChunk(1<<30, ondisk.BlockGroupData|ondisk.BlockGroupRAID6, 5)))
	f.Fuzz(func(t *testing.T, logical uint64, b []byte) {
		c, err := ParseChunk(Logical(logical), b)
		if err != nil {
			return
		}
		if len(c.Stripes) != int(c.NumStripes) || c.End() < c.Logical || c.NumCopies() < 1 {
			t.Fatalf("inconsistent chunk %+v", c)
		}
		// Mapping any offset must stay inside the stripe list.
		for _, off := range []uint64{0, c.Length / 2, c.Length - 1} {
			if c.parity() == 0 {
				for m := range c.NumCopies() {
					idx, _, n := c.mapStripe(off, m)
					if idx < 0 || idx >= len(c.Stripes) || n == 0 {
						t.Fatalf("mapStripe(%d, %d) = %d, %d", off, m, idx, n)
					}
				}
			}
		}
	})
}

func FuzzParseSysChunkArray(f *testing.F) {
	for _, name := range superfixture.Names {
		sb, err := ondisk.ParseSuperblock(superfixture.Read(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sb.SysChunkArray)
	}
	f.Add(encodeSysArray(testChunk(1<<20, ondisk.BlockGroupSystem|ondisk.BlockGroupDUP, 2), testChunk(16<<20, ondisk.BlockGroupSystem|ondisk.BlockGroupRAID10, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseSysChunkArray(b)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Type&ondisk.BlockGroupSystem == 0 || len(c.Stripes) == 0 {
				t.Fatalf("bad chunk accepted: %+v", c)
			}
		}
		_, _ = NewChunkMap(cs)
	})
}
