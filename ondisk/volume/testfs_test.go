package volume

import (
	"encoding/binary"
	"io"

	"github.com/coldsend/coldsend/ondisk"
)

// A synthetic filesystem for Volume tests: one SYSTEM chunk of any profile
// holding the chunk tree (one leaf, or a node over it) and an empty root
// tree leaf, with every other byte of the chunk a known pattern. Devices
// are rendered with the B4 placement formulas written out independently
// of volume.go, parity included.

const (
	tfsLogical  = 16 << 20             // logical start of the chunk
	tfsPhysical = 1 << 20              // physical start of every stripe
	tfsStripe   = 8 * ondisk.StripeLen // bytes per device stripe
	tfsDevSize  = 4 << 20
	tfsGen      = 10
	tfsNodeSize = 16384
)

var tfsFSID = ondisk.UUID{0xf5, 0x1d}

func tfsDevUUID[T ~uint64](devid T) ondisk.UUID { return ondisk.UUID{0xd0, byte(devid)} }

type tfsMemDev struct{ b []byte }

func (m *tfsMemDev) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

type testFS struct {
	chunk    Chunk
	content  []byte // logical content of the chunk
	ndev     int
	devItems []ondisk.DevItem
	extra    []Chunk // further CHUNK_ITEMs in the chunk tree
	loop     bool    // chunk root is a node pointing twice at the leaf
	csum     ondisk.CsumType
	devs     [][]byte // rendered, by devid-1
}

func tfsDataStripes(c *Chunk) int {
	n := len(c.Stripes)
	switch c.Profile() {
	case ondisk.BlockGroupRAID0:
		return n
	case ondisk.BlockGroupRAID10:
		return n / 2
	case ondisk.BlockGroupRAID5:
		return n - 1
	case ondisk.BlockGroupRAID6:
		return n - 2
	}
	return 1
}

func newTestFS(profile uint64, ndev int) *testFS {
	c := Chunk{Logical: tfsLogical, Owner: ondisk.ExtentTreeObjectID, StripeLen: ondisk.StripeLen, Type: ondisk.BlockGroupSystem | profile,
		IOAlign: ondisk.StripeLen, IOWidth: ondisk.StripeLen, SectorSize: 4096, NumStripes: uint16(ndev), SubStripes: 1}
	if profile == ondisk.BlockGroupRAID10 {
		c.SubStripes = 2
	}
	if profile == ondisk.BlockGroupDUP {
		c.NumStripes = 2
	}
	for i := range int(c.NumStripes) {
		s := Stripe{DevID: DevID(i + 1), Offset: tfsPhysical}
		if profile == ondisk.BlockGroupDUP {
			s = Stripe{DevID: 1, Offset: tfsPhysical + Physical(i)*tfsStripe}
		}
		s.DevUUID = tfsDevUUID(s.DevID)
		c.Stripes = append(c.Stripes, s)
	}
	c.Length = tfsStripe * uint64(tfsDataStripes(&c))
	f := &testFS{chunk: c, ndev: ndev, csum: ondisk.CsumCRC32C}
	for d := range ndev {
		devid := uint64(d + 1)
		f.devItems = append(f.devItems, ondisk.DevItem{DevID: devid, TotalBytes: tfsDevSize, BytesUsed: 2 * tfsStripe,
			IOAlign: 4096, IOWidth: 4096, SectorSize: 4096, UUID: tfsDevUUID(devid), FSID: tfsFSID})
	}
	return f
}

func encodeDevItem(d ondisk.DevItem) []byte {
	le := binary.LittleEndian
	b := make([]byte, ondisk.DevItemSize)
	le.PutUint64(b[0:], d.DevID)
	le.PutUint64(b[8:], d.TotalBytes)
	le.PutUint64(b[16:], d.BytesUsed)
	le.PutUint32(b[24:], d.IOAlign)
	le.PutUint32(b[28:], d.IOWidth)
	le.PutUint32(b[32:], d.SectorSize)
	copy(b[66:], d.UUID[:])
	copy(b[82:], d.FSID[:])
	return b
}

type tfsItem struct {
	key  ondisk.Key
	data []byte
}

func tfsPutHeader(b []byte, bytenr, owner uint64, nritems int, level uint8) {
	le := binary.LittleEndian
	copy(b[32:], tfsFSID[:])
	le.PutUint64(b[48:], bytenr)
	le.PutUint64(b[56:], 1|1<<56) // WRITTEN, mixed backref revision
	le.PutUint64(b[80:], tfsGen)
	le.PutUint64(b[88:], owner)
	le.PutUint32(b[96:], uint32(nritems))
	b[100] = level
}

func tfsSeal(b []byte, ct ondisk.CsumType) []byte {
	var sum [ondisk.CsumSize]byte
	ct.Sum(&sum, b[ondisk.CsumSize:])
	copy(b, sum[:])
	return b
}

func tfsLeaf(bytenr, owner uint64, items []tfsItem) []byte {
	b := make([]byte, tfsNodeSize)
	tfsPutHeader(b, bytenr, owner, len(items), 0)
	end := tfsNodeSize - ondisk.HeaderSize
	for i, it := range items {
		end -= len(it.data)
		h := b[ondisk.HeaderSize+i*ondisk.ItemHdrSize:]
		ondisk.PutKey(h, it.key)
		binary.LittleEndian.PutUint32(h[17:], uint32(end))
		binary.LittleEndian.PutUint32(h[21:], uint32(len(it.data)))
		copy(b[ondisk.HeaderSize+end:], it.data)
	}
	return b
}

func tfsNode(bytenr, owner uint64, level uint8, keys []ondisk.Key, ptrs []uint64) []byte {
	b := make([]byte, tfsNodeSize)
	tfsPutHeader(b, bytenr, owner, len(keys), level)
	for i, k := range keys {
		p := b[ondisk.HeaderSize+i*ondisk.KeyPtrSize:]
		ondisk.PutKey(p, k)
		binary.LittleEndian.PutUint64(p[17:], ptrs[i])
		binary.LittleEndian.PutUint64(p[25:], tfsGen)
	}
	return b
}

// Logical addresses of the synthetic trees inside the chunk.
const (
	tfsChunkRoot = tfsLogical
	tfsRoot      = tfsLogical + tfsNodeSize
	tfsChunkLeaf = tfsLogical + 2*tfsNodeSize // used when loop is set
)

func (f *testFS) chunkLeafItems() []tfsItem {
	var items []tfsItem
	for _, d := range f.devItems {
		items = append(items, tfsItem{ondisk.Key{ObjectID: ondisk.DevItemsObjectID, Type: ondisk.DevItemKey, Offset: d.DevID}, encodeDevItem(d)})
	}
	for _, c := range append([]Chunk{f.chunk}, f.extra...) {
		items = append(items, tfsItem{ondisk.Key{ObjectID: ondisk.FirstChunkTreeObjectID, Type: ondisk.ChunkItemKey, Offset: uint64(c.Logical)}, encodeChunk(c)})
	}
	return items
}

// build renders the filesystem and returns its devices by devid-1.
func (f *testFS) build() []*Device {
	f.content = make([]byte, f.chunk.Length)
	x := uint32(12345)
	for i := range f.content {
		x = x*1103515245 + 12345
		f.content[i] = byte(x >> 16)
	}
	place := func(logical uint64, b []byte) { copy(f.content[logical-tfsLogical:], tfsSeal(b, f.csum)) }
	items := f.chunkLeafItems()
	if f.loop {
		place(tfsChunkRoot, tfsNode(tfsChunkRoot, ondisk.ChunkTreeObjectID, 1,
			[]ondisk.Key{items[0].key, items[1].key}, []uint64{tfsChunkLeaf, tfsChunkLeaf}))
		place(tfsChunkLeaf, tfsLeaf(tfsChunkLeaf, ondisk.ChunkTreeObjectID, items))
	} else {
		place(tfsChunkRoot, tfsLeaf(tfsChunkRoot, ondisk.ChunkTreeObjectID, items))
	}
	place(tfsRoot, tfsLeaf(tfsRoot, ondisk.RootTreeObjectID, nil))

	f.devs = make([][]byte, f.ndev)
	for i := range f.devs {
		f.devs[i] = make([]byte, tfsDevSize)
	}
	tfsRender(&f.chunk, f.content, f.devs)

	devs := make([]*Device, f.ndev)
	for i := range f.devs {
		copy(f.devs[i][ondisk.SuperblockOffsets[0]:], f.superblock(i))
		devs[i] = &Device{Name: "dev" + string(rune('1'+i)), R: &tfsMemDev{f.devs[i]}, Size: tfsDevSize}
	}
	return devs
}

func (f *testFS) superblock(i int) []byte {
	le := binary.LittleEndian
	b := make([]byte, ondisk.SuperblockSize)
	copy(b[0x20:], tfsFSID[:])
	le.PutUint64(b[0x30:], uint64(ondisk.SuperblockOffsets[0]))
	le.PutUint64(b[0x38:], ondisk.SuperFlagWritten)
	le.PutUint64(b[0x40:], ondisk.SuperMagic)
	le.PutUint64(b[0x48:], tfsGen)
	le.PutUint64(b[0x50:], tfsRoot)
	le.PutUint64(b[0x58:], tfsChunkRoot)
	le.PutUint64(b[0x70:], uint64(f.ndev)*tfsDevSize)
	le.PutUint64(b[0x78:], 1<<20)
	le.PutUint64(b[0x80:], ondisk.RootTreeDirObjectID)
	le.PutUint64(b[0x88:], uint64(len(f.devItems)))
	le.PutUint32(b[0x90:], 4096)
	le.PutUint32(b[0x94:], tfsNodeSize)
	le.PutUint32(b[0x98:], tfsNodeSize)
	le.PutUint32(b[0x9c:], 4096)
	sys := encodeSysArray(f.chunk)
	le.PutUint32(b[0xa0:], uint32(len(sys)))
	le.PutUint64(b[0xa4:], tfsGen)
	le.PutUint64(b[0xbc:], ondisk.IncompatMixedBackref|ondisk.IncompatRAID56|ondisk.IncompatRAID1C34|ondisk.IncompatNoHoles)
	le.PutUint16(b[0xc4:], uint16(f.csum))
	if f.loop {
		b[0xc7] = 1
	}
	dev := ondisk.DevItem{DevID: uint64(i + 1), TotalBytes: tfsDevSize, UUID: tfsDevUUID(uint64(i + 1)), FSID: tfsFSID}
	copy(b[ondisk.SuperDevItemOffset:], encodeDevItem(dev))
	copy(b[ondisk.SuperSysArrayOffset:], sys)
	return resealSuper(b)
}

// tfsRender lays the logical content of c onto the devices by the
// placement formulas: mirrors copy everything, RAID0/10 rotate 64 KiB
// elements over the stripes, RAID5/6 rotate data and parity per full
// stripe with P = xor and Q = sum of g^i * D_i.
func tfsRender(c *Chunk, content []byte, devs [][]byte) {
	n := len(c.Stripes)
	put := func(i int, devOff uint64, b []byte) {
		s := c.Stripes[i]
		copy(devs[s.DevID-1][uint64(s.Offset)+devOff:], b)
	}
	elem := func(sn int) []byte { return content[sn*ondisk.StripeLen : (sn+1)*ondisk.StripeLen] }
	elems := len(content) / ondisk.StripeLen
	switch c.Profile() {
	case ondisk.BlockGroupRAID0:
		for sn := range elems {
			put(sn%n, uint64(sn/n)*ondisk.StripeLen, elem(sn))
		}
	case ondisk.BlockGroupRAID10:
		groups := n / 2
		for sn := range elems {
			for m := range 2 {
				put((sn%groups)*2+m, uint64(sn/groups)*ondisk.StripeLen, elem(sn))
			}
		}
	case ondisk.BlockGroupRAID5, ondisk.BlockGroupRAID6:
		np := 1
		if c.Profile() == ondisk.BlockGroupRAID6 {
			np = 2
		}
		d := n - np
		for fs := 0; fs*d < elems; fs++ {
			p, q := make([]byte, ondisk.StripeLen), make([]byte, ondisk.StripeLen)
			coef := byte(1)
			for i := range d {
				e := elem(fs*d + i)
				put((fs+i)%n, uint64(fs)*ondisk.StripeLen, e)
				for k := range e {
					p[k] ^= e[k]
					q[k] ^= slowGFMul(coef, e[k])
				}
				coef = slowGFMul(coef, 2)
			}
			put((fs+d)%n, uint64(fs)*ondisk.StripeLen, p)
			if np == 2 {
				put((fs+d+1)%n, uint64(fs)*ondisk.StripeLen, q)
			}
		}
	default:
		for i := range n {
			put(i, 0, content)
		}
	}
}

// slowGFMul multiplies in GF(2^8) mod x^8+x^4+x^3+x^2+1 bit by bit.
func slowGFMul(a, b byte) byte {
	var r byte
	for b != 0 {
		if b&1 != 0 {
			r ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1d
		}
		b >>= 1
	}
	return r
}

// tfsExpectPhysical is where byte off of the chunk lives for a mirror (the
// data stripe for RAID5/6), by the B4 formulas.
func tfsExpectPhysical(c *Chunk, off uint64, mirror int) (DevID, Physical) {
	n := uint64(len(c.Stripes))
	sn, so := off/ondisk.StripeLen, off%ondisk.StripeLen
	var idx, rel uint64
	switch c.Profile() {
	case ondisk.BlockGroupRAID0:
		idx, rel = sn%n, (sn/n)*ondisk.StripeLen+so
	case ondisk.BlockGroupRAID10:
		idx, rel = (sn%(n/2))*2+uint64(mirror), (sn/(n/2))*ondisk.StripeLen+so
	case ondisk.BlockGroupRAID5, ondisk.BlockGroupRAID6:
		d := uint64(tfsDataStripes(c))
		fs := sn / d
		idx, rel = (fs+sn%d)%n, fs*ondisk.StripeLen+so
	default:
		idx, rel = uint64(mirror), off
	}
	return c.Stripes[idx].DevID, c.Stripes[idx].Offset + Physical(rel)
}

// Profiles exercised by the Volume tests.
var tfsProfiles = []struct {
	name    string
	profile uint64
	ndev    int
}{
	{"single", 0, 1},
	{"dup", ondisk.BlockGroupDUP, 1},
	{"raid0x1", ondisk.BlockGroupRAID0, 1},
	{"raid0x3", ondisk.BlockGroupRAID0, 3},
	{"raid1", ondisk.BlockGroupRAID1, 2},
	{"raid1c3", ondisk.BlockGroupRAID1C3, 3},
	{"raid1c4", ondisk.BlockGroupRAID1C4, 4},
	{"raid10x2", ondisk.BlockGroupRAID10, 2},
	{"raid10x4", ondisk.BlockGroupRAID10, 4},
	{"raid10x6", ondisk.BlockGroupRAID10, 6},
	{"raid5x2", ondisk.BlockGroupRAID5, 2},
	{"raid5x3", ondisk.BlockGroupRAID5, 3},
	{"raid5x5", ondisk.BlockGroupRAID5, 5},
	{"raid6x3", ondisk.BlockGroupRAID6, 3},
	{"raid6x4", ondisk.BlockGroupRAID6, 4},
	{"raid6x6", ondisk.BlockGroupRAID6, 6},
}
