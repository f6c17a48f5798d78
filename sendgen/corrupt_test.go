package sendgen_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/sendgen"
)

// TestSendDirectoryCycle keeps the input FuzzSendCorruptTreeBlock once
// hung on: byte 453 of tree block 47 (modulo their number) of the basic fixture set to
// '0' makes a directory its own ancestor, and get_cur_path looped until
// send bounded paths by PATH_MAX as fs_path does. Every send must end,
// with corruption as the only error.
func TestSendDirectoryCycle(t *testing.T) {
	dev, err := imagefile.Load(filepath.Join(fixturestreams.ImagesDir(), "basic", "dev0.img.zst"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := openFS(dev)
	if err != nil {
		t.Fatal(err)
	}
	blocks := corrupt.Blocks(fs.RootTree())
	for _, id := range []uint64{ondisk.ExtentTreeObjectID, ondisk.CsumTreeObjectID, 256, 257, 258, 259} {
		if tr, err := fs.Tree(id); err == nil {
			blocks = append(blocks, corrupt.Blocks(tr)...)
		}
	}
	bad, err := corrupt.Block(dev, blocks[47%len(blocks)], 453, []byte("0"))
	if err != nil {
		t.Fatal(err)
	}
	if fs, err = openFS(bad); err != nil {
		t.Fatal(err)
	}
	svs, err := seq.Collect(fs.Subvolumes())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var sendErrs []error
	go func() {
		defer close(done)
		var prev *fstree.Subvol
		for _, s := range svs {
			sv, err := fs.OpenSubvol(s.ID)
			if err != nil || s.ID == 5 {
				continue
			}
			sendErrs = append(sendErrs, sendgen.Send(io.Discard, sv, sendgen.Options{}))
			if prev != nil {
				sendErrs = append(sendErrs, sendgen.Send(io.Discard, sv, sendgen.Options{Parent: prev}),
					sendgen.Send(io.Discard, prev, sendgen.Options{Parent: sv}))
			}
			prev = sv
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("sends of the corrupt image did not finish in 60 s")
	}
	failed := 0
	for _, err := range sendErrs {
		if err != nil {
			failed++
			if !errors.Is(err, ondisk.ErrCorrupt) {
				t.Errorf("error not classified as corruption: %v", err)
			}
		}
	}
	if failed == 0 {
		t.Error("no send noticed the cycle")
	}
}
