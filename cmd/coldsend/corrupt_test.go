package main

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/ondisk"
)

// damagedFixture unpacks the basic fixture to a file, lets damage change
// it through the library (checksum-valid edits), and writes the result
// back into the file, for commands to run on.
func damagedFixture(t *testing.T, damage func(dev *ondisk.Device, fs *fstree.FS) (*ondisk.Device, error)) string {
	t.Helper()
	img, _ := unpackFixture(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dev := &ondisk.Device{Name: img, R: f, Size: st.Size()}
	vol, err := ondisk.Open([]*ondisk.Device{dev}, ondisk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := fstree.Open(vol, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := damage(dev, fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.R.(*corrupt.PatchedDevice).ApplyTo(f); err != nil {
		t.Fatal(err)
	}
	return img
}

// editItem is a damage function changing the payload of one item of the
// subvolume that path lives in; key picks the item from path's inode.
func editItem(path string, key func(ino uint64) ondisk.Key, edit func([]byte)) func(*ondisk.Device, *fstree.FS) (*ondisk.Device, error) {
	return func(dev *ondisk.Device, fs *fstree.FS) (*ondisk.Device, error) {
		loc, err := fs.Resolve(path)
		if err != nil {
			return nil, err
		}
		return corrupt.Item(dev, loc.Subvol.Tree, key(loc.Ino), edit)
	}
}

func inodeKey(ino uint64) ondisk.Key { return ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey} }

// TestImpossibleInodeSize: cat and send of a file whose i_size is past
// MAX_LFS_FILESIZE fail with one line naming the corruption (cat used to
// print nothing and exit 0).
func TestImpossibleInodeSize(t *testing.T) {
	img := damagedFixture(t, editItem("vol.3/medium.txt", inodeKey, func(item []byte) {
		binary.LittleEndian.PutUint64(item[16:], 1<<64-1)
	}))
	for _, args := range [][]string{{"cat", img, "vol.3/medium.txt"}, {"send", "-f", os.DevNull, img, "vol.3"}} {
		st, out, errOut := runCLI(args...)
		errOut = strings.TrimPrefix(errOut, "At subvol vol.3\n")
		if st != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "corrupt: ") ||
			!strings.Contains(errOut, "18446744073709551615") || !strings.Contains(errOut, "INODE_ITEM") {
			t.Errorf("%v: status %d, stdout %d bytes, stderr %q", args, st, len(out), errOut)
		}
	}
}
