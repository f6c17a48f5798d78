package fstree

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// The generations fixture: committed many times by the kernel, with the
// tree recorded after some commits (internal/fixturecheck compares those
// records; these tests check how commits are found and opened).
const generationsDir = "../fixtures/images/generations"

var genImage struct {
	once sync.Once
	dev  *volume.Device
	sc   *manifest.Scenario
	gens []Generation // with the scan
	err  error
}

func loadGenerations(t testing.TB) (*volume.Device, *manifest.Scenario, []Generation) {
	t.Helper()
	genImage.once.Do(func() {
		if genImage.sc, genImage.err = manifest.Load(generationsDir); genImage.err != nil {
			return
		}
		if genImage.dev, genImage.err = imagefile.Load(generationsDir + "/" + genImage.sc.Devices[0].File); genImage.err != nil {
			return
		}
		genImage.gens, genImage.err = Generations([]*volume.Device{genImage.dev}, Options{}, true)
	})
	if genImage.err != nil {
		t.Fatal(genImage.err)
	}
	return genImage.dev, genImage.sc, genImage.gens
}

func TestGenerationsList(t *testing.T) {
	dev, sc, scanned := loadGenerations(t)
	vol, err := volume.Open([]*volume.Device{dev}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb := vol.Super()
	named, err := Generations([]*volume.Device{dev}, Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(named) == 0 || !named[0].Superblock || named[0].Generation != sc.Generation || named[0].Root.Bytenr != sb.Root {
		t.Fatalf("the first generation is not the superblock's %d at %d: %+v", sc.Generation, sb.Root, named)
	}
	// Every backup slot of a commit is listed with its root, once.
	for i, b := range sb.Backups {
		var hits int
		for _, g := range named {
			if slices.Contains(g.Backups, i) {
				hits++
				if g.Generation != b.TreeRootGen || g.Root.Bytenr != b.TreeRoot || g.Root.Level != b.TreeRootLevel {
					t.Errorf("backup %d: listed as %+v, superblock says root %d level %d generation %d", i, g, b.TreeRoot, b.TreeRootLevel, b.TreeRootGen)
				}
			}
		}
		if hits != 1 {
			t.Errorf("backup %d (generation %d) listed %d times", i, b.TreeRootGen, hits)
		}
	}
	for _, g := range named {
		if g.Scanned || !g.Intact() {
			t.Errorf("without a scan: %+v", g)
		}
	}
	// The scan finds every named commit and older ones, newest first, none
	// newer than the superblock's.
	if !slices.IsSortedFunc(scanned, func(a, b Generation) int { return int(b.Generation) - int(a.Generation) }) {
		t.Error("generations are not sorted newest first")
	}
	for _, n := range named {
		i := slices.IndexFunc(scanned, func(g Generation) bool { return g.Root == n.Root })
		if i < 0 || !scanned[i].Scanned {
			t.Errorf("the scan did not find generation %d at %d", n.Generation, n.Root.Bytenr)
		}
	}
	var older, bad int
	for _, g := range scanned {
		if g.Generation > sb.Generation || g.Root.Generation != g.Generation {
			t.Errorf("listed %+v with the superblock at %d", g, sb.Generation)
		}
		if !g.Superblock && len(g.Backups) == 0 {
			older++
		}
		if !g.Intact() {
			bad++
			if g.Bad.Logical == 0 || g.Bad.Tree == 0 || g.Bad.Generation == 0 || g.Bad.Generation > g.Generation || g.Bad.Err == nil {
				t.Errorf("generation %d: bad block not named: %+v", g.Generation, g.Bad)
			}
		}
		// A time, when known, is a root item's of that very transaction.
		if !g.Time.IsZero() && g.Intact() {
			fs, err := New([]*volume.Device{dev}, Options{RootBytenr: g.Root.Bytenr})
			if err != nil {
				t.Fatal(err)
			}
			_, ri, err := fs.TreeRoot(g.TimeOf)
			if err != nil {
				t.Fatal(err)
			}
			if !(ri.Ctransid == g.Generation && ri.Ctime.Sec == g.Time.Unix()) && !(ri.Otransid == g.Generation && ri.Otime.Sec == g.Time.Unix()) {
				t.Errorf("generation %d: time %v from tree %d, whose root item has ctransid %d ctime %d, otransid %d otime %d",
					g.Generation, g.Time, g.TimeOf, ri.Ctransid, ri.Ctime.Sec, ri.Otransid, ri.Otime.Sec)
			}
		}
	}
	if older == 0 || bad == 0 {
		t.Errorf("the scan found %d generations older than the backup roots, %d of them broken; the fixture has both", older, bad)
	}
}

// TestScanFindsEveryBlock checks the scan against the trees: every block
// the current commit's trees reach is found, with its header.
func TestScanFindsEveryBlock(t *testing.T) {
	dev, _, _ := loadGenerations(t)
	fs, err := New([]*volume.Device{dev}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[uint64]ondisk.Header{}
	if err := fs.Volume().ScanTreeBlocks(func(h ondisk.Header) error { found[h.Bytenr] = h; return nil }); err != nil {
		t.Fatal(err)
	}
	trees := []uint64{ondisk.RootTreeObjectID}
	for it, err := range fs.RootTree().Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Key.Type == ondisk.RootItemKey {
			trees = append(trees, it.Key.ObjectID)
		}
	}
	for _, id := range trees {
		tr := fs.RootTree()
		if id != ondisk.RootTreeObjectID {
			if tr, err = fs.Tree(id); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range corrupt.Blocks(tr) {
			n, err := fs.Volume().ReadTreeBlock(volume.Logical(b), ondisk.BlockExpect{Level: found[b].Level})
			if _, ok := found[b]; !ok || err != nil || n.Header != found[b] {
				t.Errorf("tree %d: block %d not found by the scan (%v)", id, b, err)
			}
		}
	}
}

func TestOpenGeneration(t *testing.T) {
	dev, sc, gens := loadGenerations(t)
	devs := []*volume.Device{dev}
	var backup, scanOnly, broken *Generation
	for i := range gens {
		g := &gens[i]
		switch {
		case len(g.Backups) > 0 && !g.Superblock && backup == nil:
			backup = g
		case !g.Superblock && len(g.Backups) == 0 && g.Intact() && scanOnly == nil:
			scanOnly = g
		case !g.Intact() && broken == nil:
			broken = g
		}
	}
	if backup == nil || scanOnly == nil || broken == nil {
		t.Fatalf("the fixture lacks a backup, scanned or broken generation: %v %v %v", backup, scanOnly, broken)
	}
	gone := sc.Commits[0].Generation // the first commit's blocks were reused long ago
	if slices.ContainsFunc(gens, func(g Generation) bool { return g.Generation == gone }) {
		t.Fatalf("generation %d is still listed", gone)
	}
	// The first block of the extent tree: a committed tree block, but not
	// of the root tree.
	cur, err := New(devs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	extent, _, err := cur.TreeRoot(ondisk.ExtentTreeObjectID)
	if err != nil {
		t.Fatal(err)
	}
	rootNode, err := cur.RootTree().RootNode()
	if err != nil || rootNode.Level == 0 {
		t.Fatalf("the root tree's root is a leaf (%v): the fixture has no inner root-tree block", err)
	}
	rootLeaf, _ := rootNode.BlockPtr(0)
	for _, tc := range []struct {
		name    string
		opts    Options
		gen     uint64 // the generation read
		warn    string // in the one WarnGeneration warning, "" for none
		wantErr string
		is      error
	}{
		{name: "latest", gen: sc.Generation},
		{name: "superblock's", opts: Options{Generation: sc.Generation}, gen: sc.Generation},
		{name: "backup", opts: Options{Generation: backup.Generation}, gen: backup.Generation, warn: "backup root"},
		{name: "scanned", opts: Options{Generation: scanOnly.Generation}, gen: scanOnly.Generation, warn: "found by a scan"},
		{name: "root block", opts: Options{RootBytenr: scanOnly.Root.Bytenr}, gen: scanOnly.Generation, warn: "the given root-tree block"},
		{name: "root block and its generation", opts: Options{RootBytenr: scanOnly.Root.Bytenr, Generation: scanOnly.Generation}, gen: scanOnly.Generation, warn: "given"},
		{name: "root block of another generation", opts: Options{RootBytenr: scanOnly.Root.Bytenr, Generation: backup.Generation}, wantErr: "is of generation"},
		{name: "gone", opts: Options{Generation: gone}, wantErr: "no root-tree block of it was found", is: ErrNoGeneration},
		{name: "future", opts: Options{Generation: sc.Generation + 1}, wantErr: "newer than the superblock's", is: ErrNoGeneration},
		{name: "other tree", opts: Options{RootBytenr: extent.Bytenr}, wantErr: "belongs to EXTENT_TREE, not the root tree"},
		{name: "a leaf of the root tree", opts: Options{RootBytenr: rootLeaf}, wantErr: "level 0 root-tree block of generation"},
		{name: "unaligned", opts: Options{RootBytenr: extent.Bytenr + 1}, wantErr: "not aligned"},
		{name: "unmapped", opts: Options{RootBytenr: 1 << 60}, wantErr: "no chunk maps this address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []ondisk.Warning
			tc.opts.Warn = func(w ondisk.Warning) {
				if w.Kind == ondisk.WarnGeneration {
					warns = append(warns, w)
				}
			}
			fs, err := New(devs, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Fatalf("got %v, want one line with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fs.Generation() != tc.gen {
				t.Errorf("reading generation %d, want %d", fs.Generation(), tc.gen)
			}
			readEverything(fs)
			switch {
			case tc.warn == "" && len(warns) > 0:
				t.Errorf("warned %v", warns)
			case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0].Msg, tc.warn)):
				t.Errorf("warnings %v, want one with %q", warns, tc.warn)
			}
		})
	}
}

// TestChunkTreeOfBackup opens a backup's commit with the chunk tree the
// backup names: the superblock's own chunk root is made to point at
// nothing, and only the backup's leads to the chunks. A backup chunk root
// that does not verify falls back to the superblock's, with a warning.
func TestChunkTreeOfBackup(t *testing.T) {
	dev, _, _ := loadGenerations(t)
	vol, err := volume.Open([]*volume.Device{dev}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb := vol.Super()
	slot := slices.IndexFunc(sb.Backups[:], func(b ondisk.BackupRoot) bool { return b.TreeRootGen < sb.Generation && b.TreeRootGen > 0 })
	gen := sb.Backups[slot].TreeRootGen
	bogus := sb.ChunkRoot + uint64(sb.NodeSize) // inside the system chunk, no chunk-tree block
	patch := func(edit func(b []byte)) *volume.Device {
		b := make([]byte, ondisk.SuperblockSize)
		if _, err := dev.R.ReadAt(b, ondisk.SuperblockOffsets[0]); err != nil {
			t.Fatal(err)
		}
		edit(b)
		var sum [ondisk.CsumSize]byte
		sb.CsumType.Sum(&sum, b[ondisk.CsumSize:])
		copy(b, sum[:])
		return &volume.Device{Name: dev.Name, Size: dev.Size, R: &corrupt.PatchedDevice{Base: dev.R, Patches: map[int64][]byte{ondisk.SuperblockOffsets[0]: b}}}
	}
	const backupsOff, chunkRootOff = 0xb2b, 0x58
	backupChunk := func(b []byte) []byte { return b[backupsOff+slot*ondisk.BackupRootSize+16:] }
	for _, tc := range []struct {
		name    string
		edit    func(b []byte)
		warn    string
		wantErr bool
	}{
		{name: "only the backup's chunk tree verifies", edit: func(b []byte) {
			binary.LittleEndian.PutUint64(b[chunkRootOff:], bogus)
			binary.LittleEndian.PutUint64(b[0xa4:], sb.ChunkRootGeneration+1) // and the current one's generation differs
		}},
		{name: "the backup's does not verify", edit: func(b []byte) {
			binary.LittleEndian.PutUint64(backupChunk(b), bogus)
		}, warn: "using the current chunk tree"},
		{name: "neither verifies", edit: func(b []byte) {
			binary.LittleEndian.PutUint64(b[chunkRootOff:], bogus)
			binary.LittleEndian.PutUint64(backupChunk(b), bogus+uint64(sb.NodeSize))
		}, warn: "does not verify", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []string
			fs, err := New([]*volume.Device{patch(tc.edit)}, Options{Generation: gen, Warn: func(w ondisk.Warning) {
				if w.Kind == ondisk.WarnGeneration && w.Tree == ondisk.ChunkTreeObjectID {
					warns = append(warns, w.Msg)
				}
			}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if tc.warn == "" && len(warns) > 0 || tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)) {
				t.Errorf("chunk tree warnings %q, want %q", warns, tc.warn)
			}
			if err == nil && fs.Generation() != gen {
				t.Errorf("read generation %d, want %d", fs.Generation(), gen)
			}
		})
	}
}

// FuzzRootBytenr opens the generations fixture from any address given as
// the root-tree block: a one-line error or a filesystem that reads
// without panicking.
func FuzzRootBytenr(f *testing.F) {
	dev, _, gens := loadGenerations(f)
	for _, g := range gens[:min(len(gens), 8)] {
		f.Add(g.Root.Bytenr, uint64(0))
		f.Add(g.Root.Bytenr+4096, g.Generation)
	}
	f.Add(uint64(0), uint64(1))
	f.Add(^uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, bytenr, gen uint64) {
		fs, err := New([]*volume.Device{dev}, Options{RootBytenr: bytenr, Generation: gen})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		readEverything(fs)
	})
}
