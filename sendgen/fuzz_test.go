package sendgen_test

import (
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/sendgen"
)

var fuzzImage struct {
	once   sync.Once
	dev    *ondisk.Device
	blocks []uint64
	err    error
}

// loadFuzzImage loads the basic fixture and lists the blocks of its root,
// extent, checksum and subvolume trees.
func loadFuzzImage() error {
	fuzzImage.once.Do(func() {
		dev, err := imagefile.Load(filepath.Join(fixturestreams.ImagesDir(), "basic", "dev0.img.zst"))
		if err != nil {
			fuzzImage.err = err
			return
		}
		fs, err := openFS(dev)
		if err != nil {
			fuzzImage.err = err
			return
		}
		fuzzImage.dev = dev
		trees := []uint64{ondisk.ExtentTreeObjectID, ondisk.CsumTreeObjectID, 256, 257, 258, 259}
		all := corrupt.Blocks(fs.RootTree())
		for _, id := range trees {
			if t, err := fs.Tree(id); err == nil {
				all = append(all, corrupt.Blocks(t)...)
			}
		}
		fuzzImage.blocks = all
	})
	return fuzzImage.err
}

func openFS(dev *ondisk.Device) (*fstree.FS, error) {
	vol, err := ondisk.Open([]*ondisk.Device{dev}, ondisk.Options{})
	if err != nil {
		return nil, err
	}
	return fstree.Open(vol, fstree.Options{})
}

// FuzzSendCorruptTreeBlock damages one tree block (every copy, checksum
// recomputed) and sends every subvolume, in full and incrementally from
// and to the subvolume before it: errors are expected, panics and hangs
// are bugs.
func FuzzSendCorruptTreeBlock(f *testing.F) {
	if err := loadFuzzImage(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), uint16(101), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint16(7), uint16(300), []byte{0x40})
	f.Add(uint16(12), uint16(118), []byte{0, 0, 0, 0x80})
	f.Add(uint16(20), uint16(1000), []byte("corrupt"))
	f.Add(uint16(30), uint16(16000), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, which, at uint16, data []byte) {
		logical := fuzzImage.blocks[int(which)%len(fuzzImage.blocks)]
		bad, err := corrupt.Block(fuzzImage.dev, logical, int(at), data)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := openFS(bad)
		if err != nil {
			return
		}
		svs, err := fs.Subvolumes()
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var prev *fstree.Subvol
			for _, s := range svs {
				sv, err := fs.OpenSubvol(s.ID)
				if err != nil || s.ID == 5 {
					continue
				}
				_ = sendgen.Send(io.Discard, sv, sendgen.Options{})
				if prev != nil {
					// Incremental from the subvolume before it, and
					// the other way round.
					_ = sendgen.Send(io.Discard, sv, sendgen.Options{Parent: prev})
					_ = sendgen.Send(io.Discard, prev, sendgen.Options{Parent: sv})
				}
				prev = sv
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("send of a corrupt image (block %d) did not finish in 20 s", logical)
		}
	})
}
