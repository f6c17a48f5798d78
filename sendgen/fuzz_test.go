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
	"github.com/coldsend/coldsend/ondisk"
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

func openFS(dev *ondisk.Device) (*fstree.FS, error) {
	vol, err := ondisk.Open([]*ondisk.Device{dev}, ondisk.Options{})
	if err != nil {
		return nil, err
	}
	return fstree.Open(vol, fstree.Options{})
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
