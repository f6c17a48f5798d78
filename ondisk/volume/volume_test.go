package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
)

func openTestFS(t *testing.T, devs []*Device) (*Volume, []string) {
	t.Helper()
	var warns []string
	var mu sync.Mutex
	v, err := Open(devs, Options{Warn: func(w ondisk.Warning) { mu.Lock(); warns = append(warns, w.Msg); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return v, warns
}

// tfsReadSpans are (offset, length) pairs inside the chunk that start and end
// on and off 64 KiB stripe boundaries.
var tfsReadSpans = [][2]uint64{
	{0, tfsNodeSize}, {ondisk.StripeLen - 100, 300}, {ondisk.StripeLen, ondisk.StripeLen}, {3*ondisk.StripeLen - 5000, 2*ondisk.StripeLen + 10000},
	{0, 0}, // whole chunk, filled in per test
}

func TestVolumeProfiles(t *testing.T) {
	for _, p := range tfsProfiles {
		t.Run(p.name, func(t *testing.T) {
			f := newTestFS(p.profile, p.ndev)
			v, warns := openTestFS(t, f.build())
			if len(warns) != 0 {
				t.Errorf("warnings: %q", warns)
			}
			c := &f.chunk
			if cs := v.Chunks(); len(cs) != 1 || cs[0].Logical != tfsLogical || cs[0].Length != c.Length {
				t.Fatalf("chunks %+v", cs)
			}
			if d := v.Devices(); len(d) != p.ndev || !d[p.ndev-1].Present || d[0].UUID != tfsDevUUID(uint64(1)) || d[0].Name != "dev1" || d[0].Item.TotalBytes != tfsDevSize {
				t.Errorf("devices %+v", d)
			}
			if v.NodeSize() != tfsNodeSize || v.SectorSize() != 4096 || v.CsumType() != ondisk.CsumCRC32C || v.Super().Generation != tfsGen {
				t.Errorf("accessors: %d %d %v", v.NodeSize(), v.SectorSize(), v.CsumType())
			}
			n, err := v.ReadTreeBlock(tfsRoot, ondisk.BlockExpect{Level: 0, Generation: tfsGen, Owner: ondisk.RootTreeObjectID})
			if err != nil || n.Bytenr != tfsRoot || n.NumItems() != 0 {
				t.Fatalf("root: %v %v", n, err)
			}
			copies := v.NumCopies(tfsLogical)
			if copies != c.NumCopies() {
				t.Errorf("NumCopies = %d", copies)
			}
			for _, sp := range tfsReadSpans {
				if sp[1] == 0 {
					sp[1] = c.Length
				}
				want := f.content[sp[0] : sp[0]+sp[1]]
				got := make([]byte, sp[1])
				for m := range copies {
					clear(got)
					if err := v.ReadMirror(got, tfsLogical+Logical(sp[0]), m); err != nil || !bytes.Equal(got, want) {
						t.Fatalf("ReadMirror(%d+%d, mirror %d): %v, equal %v", sp[0], sp[1], m, err, bytes.Equal(got, want))
					}
				}
				clear(got)
				if err := v.ReadLogical(got, tfsLogical+Logical(sp[0])); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("ReadLogical(%d+%d): %v", sp[0], sp[1], err)
				}
			}
			for off := uint64(0); off < c.Length; off += 12345 {
				for m := range copies {
					if c.parity() > 0 && m > 0 {
						break
					}
					wd, wp := tfsExpectPhysical(c, off, m)
					gd, gp, err := v.MapPhysical(tfsLogical+Logical(off), m)
					if err != nil || gd != wd || gp != wp {
						t.Fatalf("MapPhysical(+%d, %d) = %d, %d, %v; want %d, %d", off, m, gd, gp, err, wd, wp)
					}
				}
			}
			if copies > 1 && c.parity() > 0 {
				if _, _, err := v.MapPhysical(tfsLogical, 1); err == nil {
					t.Error("MapPhysical of a parity rebuild succeeded")
				}
			}
		})
	}
}

// tfsReadable says, by the profile rules, whether a chunk survives
// the loss of the devices in gone.
func tfsReadable(c *Chunk, gone map[DevID]bool) bool {
	lost := 0
	for _, s := range c.Stripes {
		if gone[s.DevID] {
			lost++
		}
	}
	switch c.Profile() {
	case ondisk.BlockGroupRAID1, ondisk.BlockGroupRAID1C3, ondisk.BlockGroupRAID1C4, ondisk.BlockGroupDUP:
		return lost < len(c.Stripes)
	case ondisk.BlockGroupRAID10:
		for i := 0; i < len(c.Stripes); i += 2 {
			if gone[c.Stripes[i].DevID] && gone[c.Stripes[i+1].DevID] {
				return false
			}
		}
		return true
	case ondisk.BlockGroupRAID5:
		return lost <= 1
	case ondisk.BlockGroupRAID6:
		return lost <= 2
	}
	return lost == 0
}

// TestVolumeMissingDevices leaves out every proper subset of devices: Open
// must succeed exactly when every chunk stays readable, and then every
// copy that can still be read must return the original bytes, rebuilt from
// parity where needed.
func TestVolumeMissingDevices(t *testing.T) {
	for _, p := range tfsProfiles {
		if p.ndev < 2 {
			continue
		}
		f := newTestFS(p.profile, p.ndev)
		all := f.build()
		for mask := 1; mask < 1<<p.ndev-1; mask++ {
			gone := map[DevID]bool{}
			var devs []*Device
			for i, d := range all {
				if mask&(1<<i) != 0 {
					gone[DevID(i+1)] = true
				} else {
					devs = append(devs, d)
				}
			}
			name := fmt.Sprintf("%s/without%v", p.name, gone)
			var warns []string
			v, err := Open(devs, Options{Warn: func(w ondisk.Warning) { warns = append(warns, w.Msg) }})
			if !tfsReadable(&f.chunk, gone) {
				if err == nil || !errors.Is(err, ErrMissingDevice) || !strings.Contains(err.Error(), "pass ") {
					t.Errorf("%s: Open = %v, want a missing-device error", name, err)
				}
				// Every device holds a stripe of the one chunk, so the
				// error must name all the missing ones.
				for id := range gone {
					if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("devid %d (uuid %s)", id, tfsDevUUID(id))) {
						t.Errorf("%s: error does not name devid %d: %v", name, id, err)
					}
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: Open: %v", name, err)
				continue
			}
			if len(v.MissingDevices()) != len(gone) || len(warns) != len(gone) || !strings.Contains(warns[0], "is missing; reading degraded") {
				t.Errorf("%s: missing %v, warnings %q", name, v.MissingDevices(), warns)
			}
			if _, err := v.ReadTreeBlock(tfsRoot, ondisk.BlockExpect{Generation: tfsGen, Owner: ondisk.RootTreeObjectID}); err != nil {
				t.Errorf("%s: root: %v", name, err)
			}
			got := make([]byte, f.chunk.Length)
			if err := v.ReadLogical(got, tfsLogical); err != nil || !bytes.Equal(got, f.content) {
				t.Errorf("%s: ReadLogical: %v", name, err)
			}
			if f.chunk.parity() > 0 {
				// Mirror 0 rebuilds what the missing devices held.
				clear(got)
				if err := v.ReadMirror(got, tfsLogical, 0); err != nil || !bytes.Equal(got, f.content) {
					t.Errorf("%s: ReadMirror 0: %v", name, err)
				}
			}
			if len(warns) != len(gone) {
				t.Errorf("%s: reads warned: %q", name, warns[len(gone):])
			}
		}
	}
}

// TestRAID56Rebuild checks every rebuild path of one full stripe directly:
// each data index from P, from Q, and with any second data stripe lost.
func TestRAID56Rebuild(t *testing.T) {
	for _, p := range tfsProfiles {
		if p.profile != ondisk.BlockGroupRAID5 && p.profile != ondisk.BlockGroupRAID6 {
			continue
		}
		f := newTestFS(p.profile, p.ndev)
		devs := f.build()
		c := &f.chunk
		d := tfsDataStripes(c)
		for fs := range uint64(2) {
			for _, so := range []uint64{0, 4096, ondisk.StripeLen - 512} {
				const n = 512
				for target := range d {
					want := f.content[(fs*uint64(d)+uint64(target))*ondisk.StripeLen+so:][:n]
					for lose := -1; lose < d+c.parity(); lose++ {
						rowDevs := make([]*Device, len(devs))
						for i, s := range c.Stripes {
							rowDevs[i] = devs[s.DevID-1]
						}
						row := raidRow{c: c, devs: rowDevs, fs: fs, so: so, d: d}
						if lose >= 0 {
							rowDevs[row.stripeIndex(lose)] = nil
						}
						for _, skipP := range []bool{false, true} {
							out := make([]byte, n)
							used, err := row.rebuild(out, target, row.lostSet(target, nil, skipP))
							lostData := 1
							if lose >= 0 && lose < d && lose != target {
								lostData = 2
							}
							pOK := !skipP && lose != d
							qOK := c.parity() == 2 && lose != d+1
							possible := lostData == 1 && (pOK || qOK) || lostData == 2 && pOK && qOK
							if !possible {
								if err == nil {
									t.Errorf("%s fs %d target %d lose %d skipP %v: rebuilt from %s", p.name, fs, target, lose, skipP, used)
								}
								continue
							}
							if err != nil || !bytes.Equal(out, want) {
								t.Errorf("%s fs %d so %d target %d lose %d skipP %v: %v (used %s)", p.name, fs, so, target, lose, skipP, err, used)
							}
						}
					}
				}
			}
		}
	}
}

func TestGFTables(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			if gfMul(byte(a), byte(b)) != slowGFMul(byte(a), byte(b)) {
				t.Fatalf("gfMul(%d, %d)", a, b)
			}
		}
		if a != 0 && gfMul(byte(a), gfInv(byte(a))) != 1 {
			t.Fatalf("gfInv(%d)", a)
		}
	}
	x := byte(1)
	for i := range 300 {
		if gfPow2(i) != x {
			t.Fatalf("gfPow2(%d)", i)
		}
		x = slowGFMul(x, 2)
	}
}

// tfsRewrite replaces the copy of a tree block that mirror m of the DUP
// test filesystem holds.
func tfsRewrite(f *testFS, logical uint64, m int, b []byte) {
	s := f.chunk.Stripes[m]
	copy(f.devs[s.DevID-1][uint64(s.Offset)+logical-tfsLogical:], b)
}

func TestReadTreeBlockCopies(t *testing.T) {
	f := newTestFS(ondisk.BlockGroupDUP, 1)
	devs := f.build()
	v, _ := openTestFS(t, devs)
	want := ondisk.BlockExpect{Level: 0, Generation: tfsGen, Owner: ondisk.RootTreeObjectID}
	var warns []string
	v.warn = func(w ondisk.Warning) { warns = append(warns, w.Msg) }

	// Mirror 1 damaged: the block still reads, with a warning.
	f.devs[0][tfsPhysical+tfsRoot-tfsLogical+500] ^= 0xff
	if _, err := v.ReadTreeBlock(tfsRoot, want); err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "checksum mismatch") || !strings.Contains(warns[0], "used mirror 2") {
		t.Errorf("warnings %q", warns)
	}
	// Mirror 2 a valid block from elsewhere: both copies fail, each named.
	tfsRewrite(f, tfsRoot, 1, tfsSeal(tfsLeaf(tfsRoot+tfsNodeSize, ondisk.RootTreeObjectID, nil), ondisk.CsumCRC32C))
	_, err := v.ReadTreeBlock(tfsRoot, want)
	var be *ondisk.BlockError
	if !errors.As(err, &be) || be.Logical != tfsRoot || be.Tree != ondisk.RootTreeObjectID || !errors.Is(err, ondisk.ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
	wantMsg := fmt.Sprintf("logical %d in ROOT_TREE: checksum mismatch (stored ", tfsRoot)
	wantTail := fmt.Sprintf(") on mirror 1 (devid 1 physical %d), bytenr mismatch (header says %d) on mirror 2 (devid 1 physical %d)",
		tfsPhysical+tfsRoot-tfsLogical, tfsRoot+tfsNodeSize, tfsPhysical+tfsStripe+tfsRoot-tfsLogical)
	if msg := err.Error(); !strings.HasPrefix(msg, wantMsg) || !strings.HasSuffix(msg, wantTail) {
		t.Errorf("message %q\nwant %q...%q", msg, wantMsg, wantTail)
	}
}

func TestReadTreeBlockChecks(t *testing.T) {
	f := newTestFS(0, 1)
	devs := f.build()
	v, _ := openTestFS(t, devs)
	rootKey := ondisk.Key{ObjectID: 1, Type: 2, Offset: 3}
	leafKey := ondisk.Key{ObjectID: ondisk.DevItemsObjectID, Type: ondisk.DevItemKey, Offset: 1}
	for _, tc := range []struct {
		name    string
		logical Logical
		want    ondisk.BlockExpect
		substr  string
	}{
		{"ok", tfsChunkRoot, ondisk.BlockExpect{Generation: tfsGen, FirstKey: &leafKey}, ""},
		{"no generation check", tfsChunkRoot, ondisk.BlockExpect{}, ""},
		{"level", tfsRoot, ondisk.BlockExpect{Level: 1}, "level mismatch (header has 0, expected 1) on mirror 1 (devid 1 physical"},
		{"generation", tfsRoot, ondisk.BlockExpect{Generation: 9}, "generation mismatch (header has 10, expected 9)"},
		{"first key", tfsChunkRoot, ondisk.BlockExpect{FirstKey: &rootKey}, "first key mismatch (block has (ROOT_TREE DEV_ITEM 1), expected (ROOT_TREE UNKNOWN.2 3))"},
		{"empty with key", tfsRoot, ondisk.BlockExpect{FirstKey: &rootKey}, "block is empty"},
		{"pattern bytes", tfsLogical + 5*tfsNodeSize, ondisk.BlockExpect{}, "checksum mismatch"},
		{"unaligned", tfsRoot + 512, ondisk.BlockExpect{}, "not aligned to sectorsize 4096"},
		{"zero", 0, ondisk.BlockExpect{}, "not aligned"},
		{"unmapped", 1 << 40, ondisk.BlockExpect{}, "no chunk maps this address"},
		{"past chunk end", tfsLogical + Logical(f.chunk.Length) - 4096, ondisk.BlockExpect{}, "16384 bytes run past the end of the single chunk"},
	} {
		n, err := v.ReadTreeBlock(tc.logical, tc.want)
		if tc.substr == "" {
			if err != nil || n == nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var be *ondisk.BlockError
		if !errors.As(err, &be) || be.Logical != uint64(tc.logical) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.substr)
		}
	}

	// A block of another filesystem, and one whose items overflow.
	other := tfsLeaf(tfsRoot, ondisk.RootTreeObjectID, nil)
	other[32] = 9
	tfsRewrite(f, tfsRoot, 0, tfsSeal(other, ondisk.CsumCRC32C))
	if _, err := v.ReadTreeBlock(tfsRoot, ondisk.BlockExpect{}); err == nil || !strings.Contains(err.Error(), "fsid mismatch (header has 091d0000-") {
		t.Errorf("fsid: %v", err)
	}
	bad := tfsLeaf(tfsRoot, ondisk.RootTreeObjectID, []tfsItem{{ondisk.Key{ObjectID: 1, Type: 1, Offset: 0}, []byte("x")}})
	bad[ondisk.HeaderSize+17] = 0xff // item offset far outside the block
	tfsRewrite(f, tfsRoot, 0, tfsSeal(bad, ondisk.CsumCRC32C))
	if _, err := v.ReadTreeBlock(tfsRoot, ondisk.BlockExpect{}); err == nil || !strings.Contains(err.Error(), "lies outside the item area") {
		t.Errorf("structure: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	f := newTestFS(ondisk.BlockGroupRAID1, 2)
	devs := f.build()
	v, _ := openTestFS(t, devs)
	p := make([]byte, 4096)
	if err := v.ReadMirror(p, tfsLogical, 2); err == nil || !strings.Contains(err.Error(), "mirror 2 does not exist: the raid1 chunk at logical 16777216 has 2 copies") {
		t.Errorf("mirror range: %v", err)
	}
	if err := v.ReadMirror(p, 5, 0); err == nil || !strings.Contains(err.Error(), "logical 5: no chunk maps this address") {
		t.Errorf("unmapped: %v", err)
	}
	if v.NumCopies(5) != 0 {
		t.Error("NumCopies of an unmapped address")
	}
	// Device 1 truncated: mirror 1 fails with a device error, ReadLogical
	// falls back to mirror 2 and ReadVerified names both failures.
	devs[0].Size = tfsPhysical + 1000
	err := v.ReadMirror(p, tfsLogical, 0)
	var de *DeviceError
	if !errors.As(err, &de) || de.Device != "dev1" || de.Offset != tfsPhysical {
		t.Errorf("truncated device: %v", err)
	}
	if err := v.ReadLogical(p, tfsLogical); err != nil || !bytes.Equal(p, f.content[:4096]) {
		t.Errorf("ReadLogical: %v", err)
	}
	err = v.ReadVerified(p, tfsLogical, 0, func([]byte, Logical) error { return errors.New("nope") })
	if err == nil || !strings.Contains(err.Error(), "past the device end 1049576 on mirror 1 (devid 1 physical 1048576), nope on mirror 2 (devid 2 physical 1048576)") {
		t.Errorf("ReadVerified: %v", err)
	}
	calls := 0
	if err := v.ReadVerified(p, tfsLogical+4096, 0, func([]byte, Logical) error { calls++; return nil }); err != nil || calls != 1 || !bytes.Equal(p, f.content[4096:8192]) {
		t.Errorf("ReadVerified ok: %v after %d checks", err, calls)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(f *testFS)
		devs   func(d []*Device) []*Device
		kind   error
		substr string
	}{
		{name: "no devices", devs: func([]*Device) []*Device { return nil }, substr: "no devices given"},
		{name: "same device twice", devs: func(d []*Device) []*Device { return []*Device{d[0], d[0]} }, substr: "devices dev1 and dev1 both claim devid 1"},
		{name: "missing dev item", setup: func(f *testFS) { f.devItems = f.devItems[:1] }, substr: "dev2 (devid 2, uuid d0020000-0000-0000-0000-000000000000) is not a member"},
		{name: "device uuid", setup: func(f *testFS) { f.devItems[1].UUID = ondisk.UUID{7} }, substr: "device dev2 has uuid d0020000-"},
		{name: "seed device", setup: func(f *testFS) { f.devItems[1].FSID = ondisk.UUID{7} }, kind: ondisk.ErrUnsupported, substr: "seed devices are not supported"},
		{name: "unknown devid", setup: func(f *testFS) {
			c := testChunk(64<<20, ondisk.BlockGroupData, 1)
			c.Stripes[0].DevID = 9
			f.extra = append(f.extra, c)
		}, kind: ondisk.ErrCorrupt, substr: "logical 67108864 in CHUNK_TREE: corrupt: stripe 0 of the single chunk is on devid 9, which has no DEV_ITEM"},
		{name: "stripe uuid", setup: func(f *testFS) {
			c := testChunk(64<<20, ondisk.BlockGroupData, 1)
			c.Stripes[0].DevUUID = ondisk.UUID{5}
			f.extra = append(f.extra, c)
		}, kind: ondisk.ErrCorrupt, substr: "stripe 0 names devid 1 with uuid 05000000-"},
		{name: "overlapping chunk", setup: func(f *testFS) { f.extra = append(f.extra, testChunk(tfsLogical+4096, ondisk.BlockGroupData, 1)) }, kind: ondisk.ErrCorrupt, substr: "overlaps"},
		{name: "mixed chunk", setup: func(f *testFS) {
			f.extra = append(f.extra, testChunk(64<<20, ondisk.BlockGroupData|ondisk.BlockGroupMetadata, 1))
		}, kind: ondisk.ErrCorrupt, substr: "mixed_groups is not set"},
		{name: "chunk tree loop", setup: func(f *testFS) { f.loop = true }, kind: ondisk.ErrCorrupt, substr: "referenced twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFS(ondisk.BlockGroupRAID1, 2)
			if tc.setup != nil {
				tc.setup(f)
			}
			devs := f.build()
			if tc.devs != nil {
				devs = tc.devs(devs)
			}
			_, err := Open(devs, Options{})
			if err == nil || tc.kind != nil && !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("got %v, want %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}

	// Devices of two filesystems.
	a := newTestFS(0, 1).build()
	other := newTestFS(0, 1)
	otherDevs := other.build()
	sb := otherDevs[0].R.(*tfsMemDev).b[ondisk.SuperblockOffsets[0]:]
	sb[0x20] ^= 1
	sb[ondisk.SuperDevItemOffset+82] ^= 1
	resealSuper(sb)
	if _, err := Open([]*Device{a[0], otherDevs[0]}, Options{}); err == nil || !strings.Contains(err.Error(), "device dev1 belongs to filesystem f41d0000-") {
		t.Errorf("two filesystems: %v", err)
	}
}

func TestOpenWarnings(t *testing.T) {
	f := newTestFS(ondisk.BlockGroupRAID1, 2)
	devs := f.build()
	// Device 2 missed a commit; device 1 has the newer superblock.
	sb := f.devs[1][ondisk.SuperblockOffsets[0]:]
	sb[0x48]--
	resealSuper(sb)
	// And the superblock counts a device the chunk tree does not have.
	for i := range f.devs {
		sb := f.devs[i][ondisk.SuperblockOffsets[0]:]
		sb[0x88] = 3
		resealSuper(sb)
	}
	v, warns := openTestFS(t, devs)
	all := strings.Join(warns, "\n")
	for _, w := range []string{"dev2: superblock generation 9 is older than generation 10 of dev1", "superblock says 3 devices but the chunk tree has 2 DEV_ITEMs"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q lack %q", all, w)
		}
	}
	if v.Super().Generation != tfsGen {
		t.Errorf("used superblock generation %d", v.Super().Generation)
	}
}

func TestConcurrentReads(t *testing.T) {
	f := newTestFS(ondisk.BlockGroupRAID6, 4)
	devs := f.build()
	v, _ := openTestFS(t, devs[1:])
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := v.ReadTreeBlock(tfsChunkRoot, ondisk.BlockExpect{Generation: tfsGen}); err != nil {
					errs <- err
					return
				}
				p := make([]byte, 3*ondisk.StripeLen)
				if err := v.ReadMirror(p, tfsLogical+ondisk.StripeLen, 1); err != nil || !bytes.Equal(p, f.content[ondisk.StripeLen:4*ondisk.StripeLen]) {
					errs <- fmt.Errorf("read: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzOpen overlays a few bytes on the chunk tree's root block (a leaf,
// or a node pointing twice at one leaf), reseals its checksum so that
// parsing decides, and opens the filesystem and reads from every chunk
// with every copy. The devices are built once.
func FuzzOpen(f *testing.F) {
	type base struct {
		devs  [][]byte
		block []byte
	}
	var bases []base
	for _, loop := range []bool{false, true} {
		fs := newTestFS(ondisk.BlockGroupRAID1, 2)
		fs.loop = loop
		fs.build()
		bases = append(bases, base{fs.devs, bytes.Clone(fs.content[:tfsNodeSize])})
	}
	f.Add(uint8(0), uint16(ondisk.HeaderSize+17), []byte{0xff, 0xff, 0, 0}) // first item's offset
	f.Add(uint8(0), uint16(96), []byte{200})                                // nritems
	f.Add(uint8(1), uint16(ondisk.HeaderSize+17), []byte{0, 0, 0x01, 0x01}) // a child pointer
	f.Add(uint8(0), uint16(3000), []byte{5, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte) {
		bs := bases[int(which)%len(bases)]
		b := bytes.Clone(bs.block)
		copy(b[ondisk.CsumSize+int(at)%(tfsNodeSize-ondisk.CsumSize):], patch)
		tfsSeal(b, ondisk.CsumCRC32C)
		devs := make([]*Device, len(bs.devs))
		for i, img := range bs.devs {
			// The chunk root opens the chunk on both mirrors.
			devs[i] = &Device{Name: "dev", R: &overlayDev{img, tfsPhysical, b}, Size: tfsDevSize}
		}
		v, err := Open(devs, Options{})
		if err != nil {
			return
		}
		for _, c := range v.Chunks() {
			p := make([]byte, min(c.Length, 3*ondisk.StripeLen))
			for m := range v.NumCopies(c.Logical) {
				_ = v.ReadMirror(p, c.End()-Logical(len(p)), m)
			}
		}
	})
}

// overlayDev reads base with patch laid over it at off.
type overlayDev struct {
	base  []byte
	off   int64
	patch []byte
}

func (o *overlayDev) ReadAt(p []byte, off int64) (int, error) {
	n, err := (&tfsMemDev{o.base}).ReadAt(p, off)
	lo, hi := max(o.off, off), min(o.off+int64(len(o.patch)), off+int64(n))
	if lo < hi {
		copy(p[lo-off:hi-off], o.patch[lo-o.off:hi-o.off])
	}
	return n, err
}

// TestVolumeWrongDevices damages whole devices that are present: zeroed
// or overwritten with random bytes past the superblock, as a disk that was
// wiped, replaced or overwritten looks. For every set of devices the
// profile can lose (RAID5 each device, RAID6 each pair, mirrors all but
// one copy), Open must read the chunk tree, the root tree block must
// verify, and every 4 KiB sector of the chunk, checked against its known
// checksum as data is against the checksum tree, must read back intact;
// the warnings must name a damaged device as holding the bad bytes.
func TestVolumeWrongDevices(t *testing.T) {
	for _, p := range tfsProfiles {
		if p.ndev < 2 {
			continue
		}
		f := newTestFS(p.profile, p.ndev)
		f.build()
		c := &f.chunk
		sums := make([]uint32, len(f.content)/4096)
		for i := range sums {
			sums[i] = crc32cSum(f.content[i*4096 : (i+1)*4096])
		}
		for mask := 1; mask < 1<<p.ndev-1; mask++ {
			gone := map[DevID]bool{}
			for i := range p.ndev {
				if mask&(1<<i) != 0 {
					gone[DevID(i+1)] = true
				}
			}
			if !tfsReadable(c, gone) {
				continue
			}
			for _, how := range []string{"zeroed", "random"} {
				name := fmt.Sprintf("%s/%s%v", p.name, how, slices.Sorted(maps.Keys(gone)))
				devs := f.build()
				for id := range gone {
					b := f.devs[id-1][tfsPhysical:]
					if how == "zeroed" {
						clear(b)
					} else {
						x := uint32(id) * 2654435761
						for i := range b {
							x = x*1103515245 + 12345
							b[i] = byte(x >> 16)
						}
					}
				}
				var warns []string
				v, err := Open(devs, Options{Warn: func(w ondisk.Warning) { warns = append(warns, w.Msg) }})
				if err != nil {
					t.Errorf("%s: Open: %v", name, err)
					continue
				}
				if _, err := v.ReadTreeBlock(tfsRoot, ondisk.BlockExpect{Generation: tfsGen, Owner: ondisk.RootTreeObjectID}); err != nil {
					t.Errorf("%s: root: %v", name, err)
				}
				got := make([]byte, c.Length)
				err = v.ReadVerified(got, tfsLogical, 4096, func(b []byte, at Logical) error {
					if crc32cSum(b) != sums[(at-tfsLogical)/4096] {
						return errors.New("sector checksum mismatch")
					}
					return nil
				})
				if err != nil || !bytes.Equal(got, f.content) {
					t.Errorf("%s: ReadVerified: %v", name, err)
				}
				// The normal read uses the first copy (RAID5/6: every
				// device); damage elsewhere goes unnoticed, as it should.
				normal := false
				for off := uint64(0); off < c.Length; off += 4096 {
					devid, _, _ := v.MapPhysical(tfsLogical+Logical(off), 0)
					normal = normal || gone[devid]
				}
				if normal && len(warns) == 0 {
					t.Errorf("%s: no warning", name)
				}
				if sum := v.RepairSummary(); normal {
					_, list, _ := strings.Cut(sum, "bad bytes on ")
					for _, part := range strings.Split(list, ", ") {
						var id DevID
						var n uint64
						if _, err := fmt.Sscanf(part, "devid %d (%d)", &id, &n); err != nil || !gone[id] {
							t.Errorf("%s: summary %q blames devid %d", name, sum, id)
						}
					}
				}
				for _, w := range warns {
					named := false
					for id := range gone {
						named = named || strings.Contains(w, fmt.Sprintf("devid %d physical", id)) || strings.Contains(w, fmt.Sprintf("treating devid %d", id)) ||
							strings.Contains(w, fmt.Sprintf("and %d as bad", id))
					}
					if !named {
						t.Errorf("%s: warning names no damaged device: %s", name, w)
					}
				}
			}
		}
	}
}

func crc32cSum(b []byte) uint32 {
	var s [ondisk.CsumSize]byte
	ondisk.CsumCRC32C.Sum(&s, b)
	return binary.LittleEndian.Uint32(s[:])
}

// TestRAID5RepairMessages: a RAID5 device zeroed past its superblock is
// named as holding the bad bytes, with the rebuild used; with two devices
// zeroed nothing can be rebuilt and the error names the sector and what
// every attempt found.
func TestRAID5RepairMessages(t *testing.T) {
	f := newTestFS(ondisk.BlockGroupRAID5, 3)
	f.build()
	// Bytes [56 KiB, 64 KiB) of the chunk: in the first full stripe, data
	// index 0, which lies on devid 1 (devid 2 holds data index 1, devid 3
	// P), at the same physical offsets on every device.
	const at, n = 56 << 10, 8 << 10
	wipe := func(ids ...int) *Volume {
		devs := f.build()
		for _, id := range ids {
			clear(f.devs[id-1][tfsPhysical+at:][:n])
		}
		v, err := Open(devs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	check := func(b []byte, logical Logical) error {
		if !bytes.Equal(b, f.content[logical-tfsLogical:][:len(b)]) {
			return errors.New("sector checksum mismatch")
		}
		return nil
	}
	v := wipe(1)
	var warns []string
	v.warn = func(w ondisk.Warning) { warns = append(warns, w.Msg) }
	p := make([]byte, n)
	if err := v.ReadVerified(p, tfsLogical+at, 4096, check); err != nil || !bytes.Equal(p, f.content[at:at+n]) {
		t.Fatal(err)
	}
	want := fmt.Sprintf("logical %d: sector checksum mismatch on mirror 1 (devid 1 physical %d); used a rebuild from P treating devid 1 as bad (2 of the 2 sectors read here were bad)",
		tfsLogical+at, tfsPhysical+at)
	if len(warns) != 1 || warns[0] != want {
		t.Errorf("warnings %q\nwant %q", warns, want)
	}
	if sum := v.RepairSummary(); sum != "1 reads were repaired from other copies or parity (2 sectors or blocks); bad bytes on devid 1 (2)" {
		t.Errorf("summary %q", sum)
	}

	v = wipe(1, 2)
	err := v.ReadVerified(p, tfsLogical+at, 4096, check)
	wantErr := fmt.Sprintf("logical %d: sector checksum mismatch on mirror 1 (devid 1 physical %d), sector checksum mismatch on a rebuild from P treating devid 1 as bad", tfsLogical+at, tfsPhysical+at)
	var be *ondisk.BlockError
	if !errors.As(err, &be) || be.Logical != tfsLogical+at || err.Error() != wantErr {
		t.Errorf("got %v\nwant %s", err, wantErr)
	}
}
