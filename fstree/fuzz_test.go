package fstree

import (
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

var fuzzImage struct {
	once   sync.Once
	dev    *volume.Device
	blocks []uint64 // every tree block of every tree
	err    error
}

func loadFuzzImage() error {
	fuzzImage.once.Do(func() {
		dev, err := imagefile.Load("testdata/unclean-log.img.zst")
		if err != nil {
			fuzzImage.err = err
			return
		}
		fuzzImage.dev = dev
		// The blocks to damage are the image's, not the replayed log's.
		fs, err := New([]*volume.Device{dev}, Options{NoLogReplay: true})
		if err != nil {
			fuzzImage.err = err
			return
		}
		trees := []*btree.Tree{fs.RootTree()}
		c, err := fs.RootTree().First()
		for ; err == nil && c.Valid(); err = c.Next() {
			if c.Key().Type == ondisk.RootItemKey {
				if t, terr := fs.Tree(c.Key().ObjectID); terr == nil {
					trees = append(trees, t)
				}
			}
		}
		fuzzImage.blocks = corrupt.Blocks(trees...)
	})
	return fuzzImage.err
}

// FuzzCorruptTreeBlock overwrites bytes of one tree block (in every copy,
// with a valid checksum, so the damage reaches the decoders) and reads the
// whole filesystem: every subvolume, directory, name, xattr and file. It
// must end with errors, never a panic or a hang.
func FuzzCorruptTreeBlock(f *testing.F) {
	if err := loadFuzzImage(); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), uint16(101), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint16(1), uint16(96), []byte{0x40})
	f.Add(uint16(2), uint16(118), []byte{0, 0, 0, 0x80})
	f.Add(uint16(3), uint16(200), []byte("corrupt"))
	f.Add(uint16(4), uint16(16000), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, which, at uint16, data []byte) {
		blocks := fuzzImage.blocks
		logical := blocks[int(which)%len(blocks)]
		bad, err := corrupt.Block(fuzzImage.dev, logical, int(at), data)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := New([]*volume.Device{bad}, Options{})
		if err != nil {
			return
		}
		readEverything(fs)
	})
}

// readEverything touches every part of the filesystem fstree can read,
// ignoring errors; bounded so a corrupt tree cannot make it run forever.
func readEverything(fs *FS) {
	svs, err := seq.Collect(fs.Subvolumes())
	if err != nil {
		return
	}
	budget := 100000
	// 192 KiB reads take some compressed extents whole (decoded in
	// place) and some in part (through the File's extent buffer).
	buf := make([]byte, 192<<10)
	for _, sv := range svs {
		s, err := fs.OpenSubvol(sv.ID)
		if err != nil {
			continue
		}
		_, _ = fs.SubvolumesByUUID(sv.Item.UUID, false)
		var walk func(dir uint64, depth int)
		walk = func(dir uint64, depth int) {
			if depth > 64 {
				return
			}
			for de, err := range s.Entries(dir) {
				if budget--; err != nil || budget < 0 {
					return
				}
				e := &de
				if e.IsSubvolume() {
					_, _ = s.NestedSubvol(dir, e)
					continue
				}
				ino := e.Location.ObjectID
				_, _ = s.Names(ino)
				_, _ = s.Xattrs(ino)
				_, _ = s.InodePath(ino)
				if f, err := s.OpenFile(ino); err == nil {
					for off := int64(0); off < min(f.Size(), 16<<20); off += int64(len(buf)) {
						if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
							break
						}
					}
				}
				if e.Type == item.FTDir {
					walk(ino, depth+1)
				}
			}
		}
		walk(ondisk.SubvolumeRootDirInodeID, 0)
	}
}
