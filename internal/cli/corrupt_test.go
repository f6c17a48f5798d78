package cli

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// damagedFixture unpacks the basic fixture to a file, lets damage change
// it through the library (checksum-valid edits), and writes the result
// back into the file, for commands to run on.
func damagedFixture(t *testing.T, damage func(dev *volume.Device, fs *fstree.FS) (*volume.Device, error)) string {
	t.Helper()
	return damagedImage(t, fixtureDir, damage)
}

// damagedImage is damagedFixture for the one-device scenario in dir.
func damagedImage(t *testing.T, dir string, damage func(dev *volume.Device, fs *fstree.FS) (*volume.Device, error)) string {
	t.Helper()
	paths, err := imagefile.Unpack(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := paths[0]
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dev := &volume.Device{Name: img, R: f, Size: st.Size()}
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
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
func editItem(path string, key func(ino uint64) ondisk.Key, edit func([]byte)) func(*volume.Device, *fstree.FS) (*volume.Device, error) {
	return func(dev *volume.Device, fs *fstree.FS) (*volume.Device, error) {
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

// pointEntry is a damage function that points the entry of path (its
// DIR_INDEX, and with both its DIR_ITEM too) at the directory target.
func pointEntry(path, target string, both bool) func(*volume.Device, *fstree.FS) (*volume.Device, error) {
	return func(dev *volume.Device, fs *fstree.FS) (*volume.Device, error) {
		dirPath, name := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
		dir, err := fs.Resolve(dirPath)
		if err != nil {
			return nil, err
		}
		to, err := fs.Resolve(target)
		if err != nil {
			return nil, err
		}
		point := func(item []byte) { binary.LittleEndian.PutUint64(item[0:], to.Ino) } // btrfs_dir_item.location.objectid
		for e, err := range dir.Subvol.Entries(dir.Ino) {
			if err != nil {
				return nil, err
			}
			if string(e.Name) != name {
				continue
			}
			bad, err := corrupt.Item(dev, dir.Subvol.Tree, ondisk.Key{ObjectID: dir.Ino, Type: ondisk.DirIndexKey, Offset: e.Index}, point)
			if err != nil || !both {
				return bad, err
			}
			// The DIR_ITEM is read from the damaged image, not the intact one.
			bfs, err := fstree.New([]*volume.Device{bad}, fstree.Options{})
			if err != nil {
				return nil, err
			}
			bdir, err := bfs.Resolve(dirPath)
			if err != nil {
				return nil, err
			}
			return corrupt.Item(bad, bdir.Subvol.Tree, ondisk.Key{ObjectID: dir.Ino, Type: ondisk.DirItemKey, Offset: ondisk.NameHash([]byte(name))}, point)
		}
		return nil, fmt.Errorf("%s: no entry %q", dirPath, name)
	}
}

// TestLsDirectoryLoops points directory entries of a 4 KiB-node image at
// the directory itself, at the subvolume root and at another directory
// (checksum-valid edits; ls -R used to print d00/f00/f00/... until memory
// ran out). Each bad entry is reported once on stderr, naming the inode
// and both paths; the rest of the tree is listed; the exit status is 1.
func TestLsDirectoryLoops(t *testing.T) {
	const dir = "../../fixtures/images/node4k-xxhash"
	intact, _ := imagefile.Unpack(dir, t.TempDir())
	st, want, errOut := runCLI("ls", "-R", intact[0], "vol")
	if st != 0 {
		t.Fatalf("intact: %d %s", st, errOut)
	}
	wantLines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	for _, tc := range []struct {
		name, entry, target string
		both                bool
		report              string
	}{
		{"index alone, at itself", "vol/d00/f00", "vol/d00", false, `is reached again at "d00/f00", inside itself (it is already at "d00")`},
		{"index and item, at itself", "vol/d00/f00", "vol/d00", true, `is reached again at "d00/f00", inside itself (it is already at "d00")`},
		{"index alone, at the root", "vol/d01/f03", "vol", false, `is reached again at "d01/f03", inside itself (it is already at the start of the walk)`},
		{"index and item, at the root", "vol/d01/f03", "vol", true, `is reached again at "d01/f03", inside itself (it is already at the start of the walk)`},
		{"cross-link to a sibling", "vol/d02/f01", "vol/d00", false, `is reached at "d02/f01", but its one link is name "d00" (index 2) in directory inode 256 of subvolume 256, path "d00"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := damagedImage(t, dir, pointEntry(tc.entry, tc.target, tc.both))
			st, out, errOut := runCLI("ls", "-R", img, "vol")
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if st != 1 || len(lines) != 2 || !strings.Contains(lines[0], tc.report) || !strings.Contains(lines[0], "corrupt: directory inode ") ||
				!strings.Contains(lines[1], "1 directory entry links a directory a second time") {
				t.Fatalf("status %d, stderr:\n%s", st, errOut)
			}
			got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(got) != len(wantLines) {
				t.Fatalf("listed %d entries, the intact image %d", len(got), len(wantLines))
			}
			for i := range got {
				if got[i] != wantLines[i] {
					t.Fatalf("line %d: %q, intact %q", i, got[i], wantLines[i])
				}
			}
		})
	}
}
