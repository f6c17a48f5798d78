// Command renamexattr renames an extended attribute inside an unmounted
// btrfs image, in place: the new name must be as long as the old, the item
// key takes the new name's hash and the leaf's checksum is recomputed in
// every copy. sendgen/testdata/kernelcases/make.sh uses it to store what
// setxattr never lets through: an access ACL with an empty value.
//
//	renamexattr IMAGE SUBVOL FILE OLD NEW
//
// FILE is a name in SUBVOL's top directory. The image is written.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: renamexattr IMAGE SUBVOL FILE OLD NEW")
		os.Exit(2)
	}
	a := os.Args[1:]
	if err := run(a[0], a[1], a[2], []byte(a[3]), []byte(a[4])); err != nil {
		fmt.Fprintln(os.Stderr, "renamexattr:", err)
		os.Exit(1)
	}
}

func run(image, subvol, file string, old, new []byte) error {
	if len(old) != len(new) {
		return fmt.Errorf("%q and %q differ in length", old, new)
	}
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	dev := &volume.Device{Name: image, R: f, Size: fi.Size()}
	fsys, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		return err
	}
	sv, err := fsys.ResolveSubvol(subvol)
	if err != nil {
		return err
	}
	e, err := sv.Lookup(ondisk.FirstFreeObjectID, []byte(file))
	if err != nil {
		return err
	}
	key := ondisk.Key{ObjectID: e.Location.ObjectID, Type: ondisk.XattrItemKey, Offset: ondisk.NameHash(old)}
	c, err := sv.Tree.Seek(key)
	if err != nil {
		return err
	}
	if !c.Valid() || c.Key() != key {
		return fmt.Errorf("%s: no xattr %q", file, old)
	}
	leaf, slot := c.Leaf()
	if slot == 0 {
		return fmt.Errorf("%s: xattr %q is the first item of leaf %d, whose parent's key would change too", file, old, leaf.Bytenr)
	}
	newKey := key
	newKey.Offset = ondisk.NameHash(new)
	if prev := leaf.Key(slot - 1); prev.Compare(newKey) >= 0 {
		return fmt.Errorf("%s: the renamed key would sort before %v", file, prev)
	}
	if slot+1 < leaf.NumItems() {
		if next := leaf.Key(slot + 1); next.Compare(newKey) <= 0 {
			return fmt.Errorf("%s: the renamed key would sort after %v", file, next)
		}
	}
	patched, err := corrupt.Rewrite(dev, leaf.Bytenr, func(b []byte) error {
		hdr := b[ondisk.HeaderSize+slot*ondisk.ItemHdrSize:]
		binary.LittleEndian.PutUint64(hdr[9:], newKey.Offset)
		// The dir item: location key, transid, data_len, name_len and
		// type come before the name.
		const nameAt = 17 + 8 + 2 + 2 + 1
		p := b[ondisk.HeaderSize+int(binary.LittleEndian.Uint32(hdr[17:])):]
		if int(binary.LittleEndian.Uint16(p[27:])) != len(old) || !bytes.Equal(p[nameAt:nameAt+len(old)], old) {
			return fmt.Errorf("%s: the item at %v does not hold the one xattr %q", file, key, old)
		}
		copy(p[nameAt:], new)
		return nil
	})
	if err != nil {
		return err
	}
	return patched.R.(*corrupt.PatchedDevice).ApplyTo(f)
}
