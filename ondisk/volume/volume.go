package volume

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/coldsend/coldsend/ondisk"
)

// Options tune Open.
type Options struct {
	// Warn receives findings that do not stop reading: missing devices
	// of a degraded filesystem, stale or damaged superblock copies,
	// unknown compat_ro features, tree blocks read from a later copy
	// because an earlier one was bad. Reads may call it concurrently.
	// nil discards them.
	Warn func(ondisk.Warning)
	// Super says which superblock copy to trust on every device; the
	// zero value is SuperAuto.
	Super SuperChoice
	// Generation, when not zero and one of the superblock's backup roots
	// is of that commit, reads the chunk tree that backup names instead
	// of the superblock's. When it does not verify, Open warns and reads
	// the superblock's.
	Generation uint64
}

// TreeRoot locates the root block of a tree: its logical address, level
// and the generation its header must carry.
type TreeRoot struct {
	Bytenr     uint64
	Level      uint8
	Generation uint64
}

// SuperChoice selects the superblock copy Open reads on each device.
type SuperChoice int

// SuperAuto reads the primary superblock, or the newest valid mirror when
// the primary is damaged (but not when it lacks the magic: see
// ReadSuperblock).
const SuperAuto SuperChoice = 0

// SuperCopy trusts copy i (0 the primary, 1 and 2 the mirrors) on every
// device, as btrfs-progs' --super does: the way out when the primary is
// zeroed or destroyed and a mirror is intact.
func SuperCopy(i int) SuperChoice { return SuperChoice(i + 1) }

// DeviceInfo describes one device of the filesystem, given or missing.
type DeviceInfo struct {
	DevID   DevID
	UUID    ondisk.UUID
	Name    string // name of the given device; empty when missing
	Size    int64  // size of the given device; 0 when missing
	Present bool
	Item    ondisk.DevItem // the chunk tree's DEV_ITEM for the device
}

// Volume is an assembled, read-only btrfs filesystem: its devices and the
// chunk map from logical addresses to device stripes. It is immutable
// after Open and safe for concurrent use.
type Volume struct {
	sb       *ondisk.Superblock
	metaFSID ondisk.UUID
	warn     func(ondisk.Warning)
	devices  []DeviceInfo // by devid
	chunks   *ChunkMap
	stripes  [][]*Device // [chunk][stripe], nil where the device is missing
	repairs  repairLog
	// chunkRoot is the chunk tree the chunk map was loaded from.
	chunkRoot TreeRoot
}

// givenDevice is a device passed to Open with the identity its
// superblock claims.
type givenDevice struct {
	dev *Device
	sb  *ondisk.Superblock
}

// Open assembles a filesystem from its devices: it reads every device's
// superblock, takes the newest as the filesystem's, checks features,
// bootstraps the chunk map from sys_chunk_array and then loads the whole
// chunk tree. Missing devices are tolerated when every chunk stays
// readable from the remaining copies or parity; Open then warns.
func Open(devs []*Device, opts Options) (*Volume, error) {
	warn := opts.Warn
	if warn == nil {
		warn = func(ondisk.Warning) {}
	}
	given, best, err := readSuperblocks(devs, opts.Super, warn)
	if err != nil {
		return nil, err
	}
	sb := given[best].sb
	warnings, err := ondisk.CheckFeatures(sb)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		warn(w)
	}
	if sb.Flags&ondisk.SuperFlagError != 0 {
		warn(ondisk.Warning{Kind: ondisk.WarnFilesystem, Msg: "the filesystem recorded an error in its superblock (ERROR flag); reading anyway"})
	}
	present := map[DevID]givenDevice{}
	for _, g := range given {
		id := DevID(g.sb.DevItem.DevID)
		if id == 0 {
			warn(ondisk.Warning{Kind: ondisk.WarnDevice, Device: g.dev.Name,
				Msg: fmt.Sprintf("%s is the target of an unfinished device replace (devid 0); ignoring it and reading the source device", g.dev.Name)})
			continue
		}
		if other, dup := present[id]; dup {
			return nil, fmt.Errorf("devices %s and %s both claim devid %d", other.dev.Name, g.dev.Name, id)
		}
		present[id] = g
	}

	v := &Volume{sb: sb, metaFSID: sb.MetadataFSID(), warn: warn}
	sys, err := ParseSysChunkArray(sb.SysChunkArray)
	if err == nil {
		for i := range sys {
			if err = sys[i].checkFS(sb); err != nil {
				break
			}
		}
	}
	var boot *ChunkMap
	if err == nil {
		boot, err = NewChunkMap(sys)
	}
	if err != nil {
		return nil, &DeviceError{Device: given[best].dev.Name, Offset: Physical(sb.Bytenr) + ondisk.SuperSysArrayOffset, What: "superblock sys_chunk_array", Err: err}
	}
	if err := v.setChunks(boot, present); err != nil {
		return nil, err
	}
	if err := v.checkReadable(); err != nil {
		return nil, err
	}
	treeChunks, devItems, err := v.loadChunkTree(opts.Generation)
	if err != nil {
		return nil, err
	}
	expected, err := v.checkDevices(devItems, present)
	if err != nil {
		return nil, err
	}

	all := slices.Clone(sys)
	for _, c := range treeChunks {
		// The chunk tree repeats the system chunks; like the kernel, keep
		// the sys_chunk_array copy that bootstrapped the read.
		if bc, ok := boot.Lookup(c.Logical); ok && bc.Logical == c.Logical && bc.Length == c.Length {
			continue
		}
		all = append(all, c)
	}
	for i := range all {
		if err := checkChunkDevices(&all[i], sb, expected); err != nil {
			return nil, err
		}
	}
	m, err := NewChunkMap(all)
	if err != nil {
		return nil, &ondisk.BlockError{Logical: sb.ChunkRoot, Tree: ondisk.ChunkTreeObjectID, Err: err}
	}
	if err := v.setChunks(m, present); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(expected)) {
		g, ok := present[id]
		info := DeviceInfo{DevID: id, UUID: expected[id].UUID, Item: expected[id], Present: ok}
		if ok {
			info.Name, info.Size = g.dev.Name, g.dev.Size
		}
		v.devices = append(v.devices, info)
	}
	if err := v.checkReadable(); err != nil {
		return nil, err
	}
	for _, d := range v.MissingDevices() {
		warn(ondisk.Warning{Kind: ondisk.WarnDevice, Msg: fmt.Sprintf("device devid %d (uuid %s) is missing; reading degraded", d.DevID, d.UUID)})
	}
	return v, nil
}

// readSuperblocks reads the superblock of every device, insists they all
// belong to one filesystem and returns the index of the newest.
func readSuperblocks(devs []*Device, choice SuperChoice, warn func(ondisk.Warning)) ([]givenDevice, int, error) {
	if len(devs) == 0 {
		return nil, 0, errors.New("no devices given")
	}
	given := make([]givenDevice, len(devs))
	best := 0
	for i, d := range devs {
		var sb *ondisk.Superblock
		var err error
		if choice == SuperAuto {
			sb, err = ReadSuperblock(d, warn)
		} else {
			sb, err = ReadSuperblockCopy(d, int(choice)-1, warn)
		}
		if err != nil {
			return nil, 0, err
		}
		given[i] = givenDevice{d, sb}
		if first := given[0]; sb.FSID != first.sb.FSID || sb.MetadataFSID() != first.sb.MetadataFSID() {
			return nil, 0, fmt.Errorf("device %s belongs to filesystem %s, not %s like %s", d.Name, sb.FSID, first.sb.FSID, first.dev.Name)
		}
		if sb.Generation > given[best].sb.Generation {
			best = i
		}
	}
	for _, g := range given {
		if g.sb.Generation < given[best].sb.Generation {
			warn(ondisk.Warning{Kind: ondisk.WarnDevice, Device: g.dev.Name, Msg: fmt.Sprintf("%s: superblock generation %d is older than generation %d of %s; the device missed commits and its copies may be stale",
				g.dev.Name, g.sb.Generation, given[best].sb.Generation, given[best].dev.Name)})
		}
	}
	return given, best, nil
}

// checkDevices matches the chunk tree's DEV_ITEMs against the given
// devices and returns the DEV_ITEMs by devid.
func (v *Volume) checkDevices(devItems []ondisk.DevItem, present map[DevID]givenDevice) (map[DevID]ondisk.DevItem, error) {
	expected := map[DevID]ondisk.DevItem{}
	for _, it := range devItems {
		if it.FSID != v.metaFSID {
			return nil, unsupportedf("devid %d belongs to filesystem %s, not %s: seed devices are not supported", it.DevID, it.FSID, v.metaFSID)
		}
		expected[DevID(it.DevID)] = it
	}
	if uint64(len(expected)) != v.sb.NumDevices {
		v.warn(ondisk.Warning{Kind: ondisk.WarnFilesystem, Msg: fmt.Sprintf("superblock says %d devices but the chunk tree has %d DEV_ITEMs; trusting the chunk tree", v.sb.NumDevices, len(expected))})
	}
	for _, id := range slices.Sorted(maps.Keys(present)) {
		g := present[id]
		it, ok := expected[id]
		if !ok {
			return nil, fmt.Errorf("device %s (devid %d, uuid %s) is not a member of this filesystem: the chunk tree has no DEV_ITEM for it", g.dev.Name, id, g.sb.DevItem.UUID)
		}
		if it.UUID != g.sb.DevItem.UUID {
			return nil, fmt.Errorf("device %s has uuid %s, but devid %d of this filesystem has uuid %s", g.dev.Name, g.sb.DevItem.UUID, id, it.UUID)
		}
		if uint64(g.dev.Size) < it.TotalBytes {
			v.warn(ondisk.Warning{Kind: ondisk.WarnDevice, Device: g.dev.Name, Msg: fmt.Sprintf("%s is %d bytes, smaller than the %d bytes devid %d had; reads past its end will fail", g.dev.Name, g.dev.Size, it.TotalBytes, id)})
		}
	}
	return expected, nil
}

// checkChunkDevices validates c against the filesystem and checks that
// every stripe names a device of the chunk tree by devid and uuid.
func checkChunkDevices(c *Chunk, sb *ondisk.Superblock, expected map[DevID]ondisk.DevItem) error {
	fail := func(err error) error {
		return &ondisk.BlockError{Logical: uint64(c.Logical), Tree: ondisk.ChunkTreeObjectID, Err: err}
	}
	if err := c.checkFS(sb); err != nil {
		return fail(err)
	}
	for j, s := range c.Stripes {
		it, ok := expected[s.DevID]
		if !ok {
			return fail(corruptf("stripe %d of the %s chunk is on devid %d, which has no DEV_ITEM", j, c.ProfileName(), s.DevID))
		}
		if it.UUID != s.DevUUID {
			return fail(corruptf("stripe %d names devid %d with uuid %s, but that device has uuid %s", j, s.DevID, s.DevUUID, it.UUID))
		}
	}
	return nil
}

// setChunks installs m and resolves every stripe to a given device, or nil
// when its devid was not given. A given device with the right devid but
// another uuid is the wrong device, not a missing one.
func (v *Volume) setChunks(m *ChunkMap, present map[DevID]givenDevice) error {
	stripes := make([][]*Device, len(m.chunks))
	for i := range m.chunks {
		c := &m.chunks[i]
		stripes[i] = make([]*Device, len(c.Stripes))
		for j, s := range c.Stripes {
			g, ok := present[s.DevID]
			if !ok {
				continue
			}
			if g.sb.DevItem.UUID != s.DevUUID {
				return &ondisk.BlockError{Logical: uint64(c.Logical), Tree: ondisk.ChunkTreeObjectID,
					Err: fmt.Errorf("stripe %d names devid %d with uuid %s, but %s is devid %d with uuid %s", j, s.DevID, s.DevUUID, g.dev.Name, s.DevID, g.sb.DevItem.UUID)}
			}
			stripes[i][j] = g.dev
		}
	}
	v.chunks, v.stripes = m, stripes
	return nil
}

// readable reports whether every byte of chunk i can be read from the
// devices that are present.
func (v *Volume) readable(i int) bool {
	c, devs := &v.chunks.chunks[i], v.stripes[i]
	missing := 0
	for _, d := range devs {
		if d == nil {
			missing++
		}
	}
	switch c.Profile() {
	case ondisk.BlockGroupDUP, ondisk.BlockGroupRAID1, ondisk.BlockGroupRAID1C3, ondisk.BlockGroupRAID1C4:
		return missing < len(devs)
	case ondisk.BlockGroupRAID10:
		for g := 0; g < len(devs); g += int(c.SubStripes) {
			if !slices.ContainsFunc(devs[g:g+int(c.SubStripes)], func(d *Device) bool { return d != nil }) {
				return false
			}
		}
		return true
	case ondisk.BlockGroupRAID5, ondisk.BlockGroupRAID6:
		return missing <= c.parity()
	}
	return missing == 0
}

// checkReadable fails naming the missing devices of the first chunk that
// cannot be read without them.
func (v *Volume) checkReadable() error {
	var bad []int
	for i := range v.chunks.chunks {
		if !v.readable(i) {
			bad = append(bad, i)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	c := &v.chunks.chunks[bad[0]]
	var lost []Stripe
	for j, s := range c.Stripes {
		if v.stripes[bad[0]][j] == nil && !slices.ContainsFunc(lost, func(l Stripe) bool { return l.DevID == s.DevID }) {
			lost = append(lost, s)
		}
	}
	slices.SortFunc(lost, func(a, b Stripe) int { return cmp.Compare(a.DevID, b.DevID) })
	names := make([]string, len(lost))
	for i, s := range lost {
		names[i] = fmt.Sprintf("devid %d (uuid %s)", s.DevID, s.DevUUID)
	}
	subject, verb, obj := "device "+names[0], "is", "it"
	if len(names) > 1 {
		subject, verb, obj = "devices "+strings.Join(names, ", "), "are", "them"
	}
	more := ""
	if len(bad) > 1 {
		more = fmt.Sprintf(" (%d chunks in all cannot be read)", len(bad))
	}
	return missingf("%s %s missing and the %s chunk at logical %d (%s) needs %s%s; pass %s with --device",
		subject, verb, ondisk.BlockGroupTypeName(c.Type), c.Logical, c.ProfileName(), obj, more, obj)
}

// loadChunkTree reads the chunk tree the backup root of commit gen
// names, or the superblock's when there is none, it is the same, or it
// does not verify (with a warning: an older commit's chunk tree may have
// been overwritten since, and the current one still maps every chunk
// that was not removed).
func (v *Volume) loadChunkTree(gen uint64) ([]Chunk, []ondisk.DevItem, error) {
	cur := TreeRoot{Bytenr: v.sb.ChunkRoot, Level: v.sb.ChunkRootLevel, Generation: v.sb.ChunkRootGeneration}
	for _, b := range v.sb.Backups {
		want := TreeRoot{Bytenr: b.ChunkRoot, Level: b.ChunkRootLevel, Generation: b.ChunkRootGen}
		if gen == 0 || b.TreeRootGen != gen || want == cur {
			continue
		}
		chunks, devItems, err := v.readChunkTree(want)
		if err == nil {
			v.chunkRoot = want
			return chunks, devItems, nil
		}
		v.warn(ondisk.Warning{Kind: ondisk.WarnGeneration, Logical: want.Bytenr, Tree: ondisk.ChunkTreeObjectID,
			Msg: fmt.Sprintf("generation %d: its chunk tree at logical %d does not verify (%v); using the current chunk tree, generation %d", gen, want.Bytenr, err, cur.Generation)})
		break
	}
	v.chunkRoot = cur
	return v.readChunkTree(cur)
}

// readChunkTree walks the whole chunk tree from root and returns its
// chunks and devices. Child levels must decrease, and a block reached
// twice is an error, so corrupt pointers cannot make the walk loop.
func (v *Volume) readChunkTree(root TreeRoot) ([]Chunk, []ondisk.DevItem, error) {
	var chunks []Chunk
	var devItems []ondisk.DevItem
	seenDev := map[uint64]bool{}
	visited := map[uint64]bool{}
	var walk func(logical uint64, want ondisk.BlockExpect) error
	walk = func(logical uint64, want ondisk.BlockExpect) error {
		if visited[logical] {
			return &ondisk.BlockError{Logical: logical, Tree: ondisk.ChunkTreeObjectID, Err: corruptf("tree block is referenced twice (pointer loop)")}
		}
		visited[logical] = true
		n, err := v.ReadTreeBlock(Logical(logical), want)
		if err != nil {
			return err
		}
		for i := range n.NumItems() {
			k := n.Key(i)
			if n.Level > 0 {
				child, gen := n.BlockPtr(i)
				if err := walk(child, ondisk.BlockExpect{Level: n.Level - 1, Generation: gen, Owner: ondisk.ChunkTreeObjectID, FirstKey: &k}); err != nil {
					return err
				}
				continue
			}
			switch k.Type {
			case ondisk.ChunkItemKey:
				c, err := ParseChunk(Logical(k.Offset), n.ItemData(i))
				if err != nil {
					return &ondisk.BlockError{Logical: logical, Tree: ondisk.ChunkTreeObjectID, Key: &k, Err: err}
				}
				chunks = append(chunks, c)
			case ondisk.DevItemKey:
				d, err := ondisk.ParseDevItem(n.ItemData(i))
				if err == nil && d.DevID != k.Offset {
					err = corruptf("dev item has devid %d, key says %d", d.DevID, k.Offset)
				}
				if err == nil && seenDev[d.DevID] {
					err = corruptf("second DEV_ITEM for devid %d", d.DevID)
				}
				if err != nil {
					return &ondisk.BlockError{Logical: logical, Tree: ondisk.ChunkTreeObjectID, Key: &k, Err: err}
				}
				seenDev[d.DevID] = true
				devItems = append(devItems, d)
			}
		}
		return nil
	}
	err := walk(root.Bytenr, ondisk.BlockExpect{Level: root.Level, Generation: root.Generation, Owner: ondisk.ChunkTreeObjectID})
	return chunks, devItems, err
}

// ChunkRoot is the chunk tree the chunk map was loaded from.
func (v *Volume) ChunkRoot() TreeRoot { return v.chunkRoot }

// Super returns the superblock the filesystem was opened with (the newest
// among the devices). It must not be modified.
func (v *Volume) Super() *ondisk.Superblock { return v.sb }

// NodeSize is the size of every tree block.
func (v *Volume) NodeSize() uint32 { return v.sb.NodeSize }

// SectorSize is the data block size, the unit of data checksums.
func (v *Volume) SectorSize() uint32 { return v.sb.SectorSize }

// CsumType is the checksum algorithm of the filesystem.
func (v *Volume) CsumType() ondisk.CsumType { return v.sb.CsumType }

// Chunks returns every chunk in logical order. It must not be modified.
func (v *Volume) Chunks() []Chunk { return v.chunks.Chunks() }

// Devices describes every device of the filesystem, ordered by devid.
func (v *Volume) Devices() []DeviceInfo { return slices.Clone(v.devices) }

// MissingDevices describes the devices of the filesystem that were not
// given to Open.
func (v *Volume) MissingDevices() []DeviceInfo {
	var out []DeviceInfo
	for _, d := range v.devices {
		if !d.Present {
			out = append(out, d)
		}
	}
	return out
}

// NumCopies is how many mirrors ReadMirror accepts for logical, or 0 when
// no chunk maps it.
func (v *Volume) NumCopies(logical Logical) int {
	c, ok := v.chunks.Lookup(logical)
	if !ok {
		return 0
	}
	return c.NumCopies()
}
