package fstree_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log"

	"github.com/coldsend/coldsend/fstree"
)

// Open an image file and list its subvolumes, as btrfs subvolume list
// does. A filesystem on several devices is opened by naming every one.
func Example() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	for sv, err := range fsys.Subvolumes() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("ID %d path %q read-only %v\n", sv.ID, sv.Path, sv.ReadOnly())
	}
	// Output:
	// ID 5 path "" read-only false
	// ID 256 path "vol" read-only false
	// ID 257 path "vol.1" read-only true
	// ID 258 path "vol.2" read-only true
}

// Read a file through io/fs: names are '/'-separated paths inside the
// subvolume.
func ExampleFS_Sub() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	snap, err := fsys.ResolveSubvol("vol.2")
	if err != nil {
		log.Fatal(err)
	}
	data, err := fs.ReadFile(fsys.Sub(snap), "d/inline")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x\n", len(data), sha256.Sum256(data))
	// Output:
	// 300 bytes, sha256 2703aac14a4bb616bd2f677d4b2a0a0ba2a7d36fa2512ed5568dd75a3b83aa73
}

// Walk a subvolume with fs.WalkDir; Sys gives the btrfs inode behind
// each name.
func ExampleFS_Sub_walkDir() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	snap, err := fsys.ResolveSubvol("vol.2")
	if err != nil {
		log.Fatal(err)
	}
	err = fs.WalkDir(fsys.Sub(snap), "e2", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*fstree.Stat)
		fmt.Printf("%-12s %v ino %d nlink %d size %d\n", name, info.Mode(), st.Ino, st.Nlink, info.Size())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// e2           drwxr-xr-x ino 258 nlink 1 size 22
	// e2/hard      -rw-r--r-- ino 259 nlink 2 size 300
	// e2/regular   -rw-r--r-- ino 260 nlink 1 size 9000
}

// Stream a large file without holding it in memory: a File reads at
// offsets (io.ReaderAt) and copies itself out (io.WriterTo), verifying
// data checksums as it goes.
func ExampleSubvol_OpenFile() {
	fsys, err := fstree.OpenFiles([]string{tinyImage}, fstree.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer fsys.Close()
	loc, err := fsys.Resolve("vol.2/sparse")
	if err != nil {
		log.Fatal(err)
	}
	f, err := loc.Subvol.OpenFile(loc.Ino)
	if err != nil {
		log.Fatal(err)
	}
	h := sha256.New()
	n, err := f.WriteTo(h)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, sha256 %x\n", n, h.Sum(nil))
	// Output:
	// 20100 bytes, sha256 12db11290d4edd5c68b4ecdd823c93c92ca084adc55f31a7bb6cadfe300c2a18
}
