package fstree_test

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// openDev opens the filesystem on one device.
func openDev(t *testing.T, dev *volume.Device) *fstree.FS {
	t.Helper()
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// withInodeSize returns the basic fixture with the i_size of path set to
// size (a checksum-valid edit) and the inode number of path.
func withInodeSize(t *testing.T, path string, size uint64) (*volume.Device, uint64) {
	t.Helper()
	dev, err := imagefile.Load("../fixtures/images/basic/dev0.img.zst")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := openDev(t, dev).Resolve(path)
	if err != nil {
		t.Fatal(err)
	}
	k := ondisk.Key{ObjectID: loc.Ino, Type: ondisk.InodeItemKey}
	bad, err := corrupt.Item(dev, loc.Subvol.Tree, k, func(item []byte) {
		binary.LittleEndian.PutUint64(item[16:], size) // btrfs_inode_item.size
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad, loc.Ino
}

// TestInodeSizeLimit: an i_size past MAX_LFS_FILESIZE is corruption, named
// with its leaf and key; 2^50 with no extents is a sparse file that
// `truncate -s 1P` makes, all zeros.
func TestInodeSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		bad  bool
	}{
		{size: 1<<64 - 1, bad: true},
		{size: 1 << 63, bad: true},
		{size: 1<<63 - 1},
		{size: 1 << 50},
	} {
		dev, ino := withInodeSize(t, "vol.3/medium.txt", tc.size)
		loc, err := openDev(t, dev).Resolve("vol.3/medium.txt")
		if err != nil {
			t.Fatal(err)
		}
		f, err := loc.Subvol.OpenFile(ino)
		if tc.bad {
			var be *ondisk.BlockError
			if !errors.Is(err, ondisk.ErrCorrupt) || !errors.As(err, &be) || be.Key == nil || be.Key.ObjectID != ino || be.Logical == 0 ||
				!strings.Contains(err.Error(), "beyond the largest file size") {
				t.Errorf("size %d: OpenFile: %v; want corruption naming the leaf and key", tc.size, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("size %d: %v", tc.size, err)
		}
		if f.Size() != int64(tc.size) {
			t.Errorf("size %d: Size() = %d", tc.size, f.Size())
		}
		buf := make([]byte, 8192)
		for i := range buf {
			buf[i] = 0xaa
		}
		n, err := f.ReadAt(buf, f.Size()-4096)
		if n != 4096 || !errors.Is(err, io.EOF) || strings.Trim(string(buf[:n]), "\x00") != "" {
			t.Errorf("size %d: last 4 KiB: %d bytes, %v, not all zeros", tc.size, n, err)
		}
	}
}
