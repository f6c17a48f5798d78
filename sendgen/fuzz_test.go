package sendgen_test

import (
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
	"github.com/coldsend/coldsend/sendgen"
)

// The fuzzers damage the tiny fixture: a score of files on 4K nodes, so
// that one corrupt copy is opened and sent in well under a millisecond.
var fuzzImage struct {
	once   sync.Once
	im     *corrupt.Image
	blocks []uint64 // root, extent, checksum and subvolume tree blocks
	err    error
}

func loadFuzzImage() error {
	fuzzImage.once.Do(func() {
		dev, err := imagefile.Load(filepath.Join(fixturestreams.ImagesDir(), "tiny", "dev0.img.zst"))
		if err != nil {
			fuzzImage.err = err
			return
		}
		if fuzzImage.im, err = corrupt.NewImage(dev); err != nil {
			fuzzImage.err = err
			return
		}
		fs, err := openFS(dev)
		if err != nil {
			fuzzImage.err = err
			return
		}
		all := corrupt.Blocks(fs.RootTree())
		for _, id := range []uint64{ondisk.ExtentTreeObjectID, ondisk.CsumTreeObjectID, 256, 257, 258} {
			if t, err := fs.Tree(id); err == nil {
				all = append(all, corrupt.Blocks(t)...)
			}
		}
		fuzzImage.blocks = all
	})
	return fuzzImage.err
}

func openFS(dev *volume.Device) (*fstree.FS, error) {
	return fstree.New([]*volume.Device{dev}, fstree.Options{})
}

// fuzzSends are the sends one fuzz input picks from: full sends of the
// writable subvolume and both snapshots, incrementals both ways, and the
// protocol 2 variants.
var fuzzSends = []struct {
	subvol, parent, clone uint64
	opts                  sendgen.Options
}{
	{subvol: 256}, {subvol: 257}, {subvol: 258},
	{subvol: 258, parent: 257}, {subvol: 257, parent: 258}, {subvol: 256, parent: 258},
	{subvol: 258, opts: sendgen.Options{Proto: 2, CompressedData: true}},
	{subvol: 258, parent: 257, opts: sendgen.Options{Proto: 2, CompressedData: true}},
	{subvol: 258, parent: 257, opts: sendgen.Options{Proto: 2, NoData: true}},
	{subvol: 258, clone: 257},
}

// sendCorrupt runs one of fuzzSends on fs. The send must end, and fail
// only with an error that says the image is corrupt: anything else (a
// bare not-found, an internal inconsistency) misleads the user about why.
func sendCorrupt(t *testing.T, fs *fstree.FS, which uint8, what string) {
	sd := fuzzSends[int(which)%len(fuzzSends)]
	sv, err := fs.OpenSubvol(sd.subvol)
	if err != nil {
		return // the damage hid the subvolume: nothing to send
	}
	opts := sd.opts
	if sd.parent != 0 {
		if opts.Parent, err = fs.OpenSubvol(sd.parent); err != nil {
			return
		}
	}
	if sd.clone != 0 {
		c, err := fs.OpenSubvol(sd.clone)
		if err != nil {
			return
		}
		opts.Clones = append(opts.Clones, c)
	}
	done := make(chan error, 1)
	go func() { done <- sendgen.Send(io.Discard, sv, opts) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ondisk.ErrCorrupt) {
			t.Fatalf("send %d (parent %d) of %s: error not classified as corruption: %v", sd.subvol, sd.parent, what, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("send %d (parent %d) of %s did not finish in 20 s", sd.subvol, sd.parent, what)
	}
}

// FuzzSendCorruptTreeBlock damages one tree block (every copy, checksum
// recomputed) and sends a subvolume, in full or incrementally: errors
// must say corruption; panics, hangs and other errors are bugs.
func FuzzSendCorruptTreeBlock(f *testing.F) {
	if err := loadFuzzImage(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), uint16(101), []byte{0xff, 0xff, 0xff, 0xff}, uint8(0))
	f.Add(uint16(7), uint16(300), []byte{0x40}, uint8(3))
	f.Add(uint16(12), uint16(118), []byte{0, 0, 0, 0x80}, uint8(4))
	f.Add(uint16(20), uint16(1000), []byte("corrupt"), uint8(6))
	f.Add(uint16(30), uint16(4000), []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(8))
	f.Fuzz(func(t *testing.T, which, at uint16, data []byte, send uint8) {
		logical := fuzzImage.blocks[int(which)%len(fuzzImage.blocks)]
		bad, err := fuzzImage.im.Block(logical, int(at), data)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := openFS(bad)
		if err != nil {
			return
		}
		sendCorrupt(t, fs, send, "an image with block "+strconv.FormatUint(logical, 10)+" damaged")
	})
}

// linkTargets is what FuzzDirLinks points directory entries at, loaded
// from the intact tiny image: every entry, with its subvolume, directory
// and path, and the directories of each subvolume.
var linkTargets struct {
	once    sync.Once
	entries []linkEntry
	dirs    map[uint64][]uint64 // subvolume -> directory inodes
	count   map[uint64]int      // subvolume -> entries a walk meets
	err     error
}

type linkEntry struct {
	subvol, dir uint64
	index       uint64
	name        []byte
	path        string // from the subvolume root
}

func loadLinkTargets() error {
	linkTargets.once.Do(func() {
		if err := loadFuzzImage(); err != nil {
			linkTargets.err = err
			return
		}
		fs, err := openFS(fuzzImage.im.Dev)
		if err != nil {
			linkTargets.err = err
			return
		}
		linkTargets.dirs = map[uint64][]uint64{}
		linkTargets.count = map[uint64]int{}
		for _, id := range []uint64{256, 257, 258} {
			sv, err := fs.OpenSubvol(id)
			if err != nil {
				linkTargets.err = err
				return
			}
			linkTargets.dirs[id] = append(linkTargets.dirs[id], ondisk.SubvolumeRootDirInodeID)
			for e, err := range fstree.Walk(fstree.Location{Subvol: sv, Ino: ondisk.SubvolumeRootDirInodeID}) {
				if err != nil {
					linkTargets.err = err
					return
				}
				linkTargets.count[id]++
				dir, _, _ := cutLast(string(e.Path))
				dirLoc, err := fs.Resolve("id:" + strconv.FormatUint(id, 10) + "/" + dir)
				if err != nil {
					linkTargets.err = err
					return
				}
				linkTargets.entries = append(linkTargets.entries, linkEntry{subvol: id, dir: dirLoc.Ino, index: e.Index, name: e.Name, path: string(e.Path)})
				if e.IsDir() {
					linkTargets.dirs[id] = append(linkTargets.dirs[id], e.Loc.Ino)
				}
			}
		}
	})
	return linkTargets.err
}

func cutLast(p string) (dir, name string, ok bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return "", p, false
}

// FuzzDirLinks is the checksum-valid corruption campaign against
// directory structure: one directory entry (its DIR_INDEX, and with mode
// bit 2 its DIR_ITEM too) is pointed at a directory of the same subvolume
// (often an ancestor, the entry's own directory or the root: a cycle), at
// another directory (a cross-link), or at a subvolume root; mode bit 3 also
// makes the entry's type a directory. Then every reader that walks runs on
// the image: a recursive walk of each subvolume (ls -R, and tomorrow
// export and the mount), a lookup through the damaged entry, the
// subvolume list and one send. None may hang; a walk may meet no more
// entries than the intact tree holds (memory bounded by the tree, not by
// what a loop produces); sends fail only with corruption.
func FuzzDirLinks(f *testing.F) {
	if err := loadLinkTargets(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), uint16(0), uint8(0))
	f.Add(uint16(5), uint16(1), uint8(1|4))
	f.Add(uint16(9), uint16(2), uint8(2|8))
	f.Add(uint16(14), uint16(1), uint8(3|4|8))
	f.Add(uint16(30), uint16(3), uint8(0|4|16))
	f.Fuzz(func(t *testing.T, entryPick, targetPick uint16, mode uint8) {
		e := linkTargets.entries[int(entryPick)%len(linkTargets.entries)]
		checkDirLink(t, e, linkTarget(e, targetPick, mode), mode)
	})
}

// TestDirLinks runs FuzzDirLinks' check on every entry of the tiny image
// pointed at every directory of its subvolume and every subvolume root,
// with and without its DIR_ITEM and type changed.
func TestDirLinks(t *testing.T) {
	if err := loadLinkTargets(); err != nil {
		t.Fatal(err)
	}
	cases := 0
	for i, e := range linkTargets.entries {
		for mode := uint8(0); mode < 16; mode++ {
			n := 1
			switch mode & 3 {
			case 0:
				n = len(linkTargets.dirs[e.subvol])
			case 3:
				n = 3
			}
			for target := range n {
				// Each case sends one of the sends in turn.
				checkDirLink(t, e, linkTarget(e, uint16(target), mode), mode|uint8(cases%len(fuzzSends))<<4)
				cases++
			}
		}
		if t.Failed() {
			t.Fatalf("stopped after entry %d", i)
		}
	}
	t.Logf("%d damaged entries walked, looked up, listed and sent", cases)
}

// linkTarget picks where FuzzDirLinks points entry e (see there).
func linkTarget(e linkEntry, targetPick uint16, mode uint8) ondisk.Key {
	dirs := linkTargets.dirs[e.subvol]
	loc := ondisk.Key{Type: ondisk.InodeItemKey}
	switch mode & 3 {
	case 0:
		loc.ObjectID = dirs[int(targetPick)%len(dirs)]
	case 1:
		loc.ObjectID = e.dir
	case 2:
		loc.ObjectID = ondisk.SubvolumeRootDirInodeID
	case 3:
		loc = ondisk.Key{ObjectID: 256 + uint64(targetPick)%3, Type: ondisk.RootItemKey, Offset: ^uint64(0)}
	}
	return loc
}

// checkDirLink points entry e at loc (mode as in FuzzDirLinks) and runs
// the readers on the result.
func checkDirLink(t *testing.T, e linkEntry, loc ondisk.Key, mode uint8) {
	t.Helper()
	point := func(payload []byte) {
		ondisk.PutKey(payload, loc)
		if mode&8 != 0 {
			payload[ondisk.KeySize+8+2+2] = byte(item.FTDir) // after transid, data_len, name_len
		}
	}
	fs, err := openFS(fuzzImage.im.Dev)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := fs.OpenSubvol(e.subvol)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := fuzzImage.im.Item(sv.Tree, ondisk.Key{ObjectID: e.dir, Type: ondisk.DirIndexKey, Offset: e.index}, point)
	if err != nil {
		t.Fatal(err)
	}
	if mode&4 != 0 {
		im, err := corrupt.NewImage(bad)
		if err != nil {
			t.Fatal(err)
		}
		bfs, err := openFS(bad)
		if err != nil {
			t.Fatal(err)
		}
		bsv, err := bfs.OpenSubvol(e.subvol)
		if err != nil {
			t.Fatal(err)
		}
		if bad, err = im.Item(bsv.Tree, ondisk.Key{ObjectID: e.dir, Type: ondisk.DirItemKey, Offset: ondisk.NameHash(e.name)}, point); err != nil {
			t.Fatal(err)
		}
	}
	if fs, err = openFS(bad); err != nil {
		t.Fatal(err)
	}
	what := "an image with entry " + strconv.Quote(e.path) + " of subvolume " + strconv.FormatUint(e.subvol, 10) + " pointed at " + loc.String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, id := range []uint64{256, 257, 258} {
			sv, err := fs.OpenSubvol(id)
			if err != nil {
				t.Errorf("%s: subvolume %d: %v", what, id, err)
				return
			}
			met := 0
			for _, err := range fstree.Walk(fstree.Location{Subvol: sv, Ino: ondisk.SubvolumeRootDirInodeID}) {
				var le *fstree.LinkError
				switch {
				case errors.As(err, &le):
				case err != nil && !errors.Is(err, ondisk.ErrCorrupt) && !fstree.IsNotFound(err):
					t.Errorf("%s: walk of subvolume %d: %v", what, id, err)
				case err == nil:
					if met++; met > linkTargets.count[id] {
						t.Errorf("%s: walk of subvolume %d meets more entries than the intact tree holds", what, id)
						return
					}
				}
			}
		}
		_, _ = fs.Resolve("id:" + strconv.FormatUint(e.subvol, 10) + "/" + e.path + "/x/y")
		_, _ = seq.Collect(fs.Subvolumes())
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("walking %s did not finish in 20 s", what)
	}
	sendCorrupt(t, fs, mode>>4, what)
}
