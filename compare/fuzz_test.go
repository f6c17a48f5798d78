package compare_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// A fuzz image and the pair of subvolumes compared on it; the blocks
// damaged are those of the left tree (shared ones are the right's too).
type fuzzTarget struct {
	dev         *volume.Device
	left, right uint64
	blocks      []uint64
}

var fuzzTargets struct {
	once sync.Once
	t    []fuzzTarget
	err  error
}

// loadFuzzTargets loads node4k-xxhash (vol.2 against vol.1) and the shared
// image (b against a), both with 4 KiB nodes and multi-level trees.
func loadFuzzTargets() ([]fuzzTarget, error) {
	fuzzTargets.once.Do(func() {
		for _, src := range []struct {
			path        string
			left, right string
		}{
			{filepath.Join(fixturestreams.ImagesDir(), "node4k-xxhash", "dev0.img.zst"), "vol.2", "vol.1"},
			{filepath.Join("testdata", "shared.img.zst"), "b", "a"},
		} {
			dev, err := imagefile.Load(src.path)
			if err != nil {
				fuzzTargets.err = err
				return
			}
			fs, err := openFS(dev)
			if err != nil {
				fuzzTargets.err = err
				return
			}
			l, err := fs.ResolveSubvol(src.left)
			if err != nil {
				fuzzTargets.err = err
				return
			}
			r, err := fs.ResolveSubvol(src.right)
			if err != nil {
				fuzzTargets.err = err
				return
			}
			fuzzTargets.t = append(fuzzTargets.t, fuzzTarget{dev, l.ID, r.ID, corrupt.Blocks(l.Tree)})
		}
	})
	return fuzzTargets.t, fuzzTargets.err
}

func openFS(dev *volume.Device) (*fstree.FS, error) {
	return fstree.New([]*volume.Device{dev}, fstree.Options{})
}

// FuzzTreesCorruptBlock damages one block of the left tree (every copy,
// checksum recomputed) and compares the pair both ways: errors are
// expected, panics and hangs are bugs.
func FuzzTreesCorruptBlock(f *testing.F) {
	targets, err := loadFuzzTargets()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), uint16(0), uint16(101), []byte{0xff, 0xff, 0xff, 0xff})    // first key or pointer
	f.Add(uint8(0), uint16(1), uint16(96), []byte{1})                          // nritems
	f.Add(uint8(0), uint16(3), uint16(100), []byte{0})                         // level
	f.Add(uint8(1), uint16(0), uint16(118), []byte{0, 0, 0, 0x80})             // a block pointer
	f.Add(uint8(1), uint16(2), uint16(126), []byte{9, 9, 9, 9})                // a pointer generation
	f.Add(uint8(1), uint16(5), uint16(1000), []byte("corrupt"))                // item data
	f.Add(uint8(1), uint16(100), uint16(4000), []byte{1, 2, 3, 4, 5, 6, 7, 8}) // end of a leaf
	f.Fuzz(func(t *testing.T, which uint8, block, at uint16, data []byte) {
		tg := targets[int(which)%len(targets)]
		logical := tg.blocks[int(block)%len(tg.blocks)]
		bad, err := corrupt.Block(tg.dev, logical, int(at), data)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := openFS(bad)
		if err != nil {
			return
		}
		left, err := fs.Tree(tg.left)
		if err != nil {
			return
		}
		right, err := fs.Tree(tg.right)
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			count := func(ondisk.Key, compare.Result, compare.Side, compare.Side) error { return nil }
			_ = compare.Trees(left, right, count)
			_ = compare.Trees(right, left, count)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("comparing a corrupt image (block %d) did not finish in 20 s", logical)
		}
	})
}
