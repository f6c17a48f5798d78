package corrupt

import (
	"fmt"
	"io"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// PatchedDevice serves a device's bytes with some ranges replaced.
type PatchedDevice struct {
	Base    io.ReaderAt
	Patches map[int64][]byte // physical offset -> replacement bytes
}

// ReadAt reads from Base and overlays the patches.
func (p *PatchedDevice) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.Base.ReadAt(b, off)
	for at, data := range p.Patches {
		lo, hi := max(at, off), min(at+int64(len(data)), off+int64(n))
		if lo < hi {
			copy(b[lo-off:hi-off], data[lo-at:hi-at])
		}
	}
	return n, err
}

// ApplyTo writes the patches, those of patched bases first, into w: an
// image file holding a copy of the base then holds the damaged image, for
// tests that run commands on files.
func (p *PatchedDevice) ApplyTo(w io.WriterAt) error {
	if base, ok := p.Base.(*PatchedDevice); ok {
		if err := base.ApplyTo(w); err != nil {
			return err
		}
	}
	for at, data := range p.Patches {
		if _, err := w.WriteAt(data, at); err != nil {
			return err
		}
	}
	return nil
}

// Blocks returns the logical address of every block reachable in trees.
func Blocks(trees ...*btree.Tree) []uint64 {
	var out []uint64
	for _, t := range trees {
		var visit func(n *ondisk.Node)
		visit = func(n *ondisk.Node) {
			out = append(out, n.Bytenr)
			for i := 0; n.Level > 0 && i < n.NumItems(); i++ {
				if child, err := t.Child(n, i); err == nil {
					visit(child)
				}
			}
		}
		if root, err := t.RootNode(); err == nil {
			visit(root)
		}
	}
	return out
}

// Image is a device opened once for many damaged copies: fuzzers damage
// one block per run and must not pay for opening the volume each time.
type Image struct {
	Dev *volume.Device
	Vol *volume.Volume
}

// NewImage opens the volume on dev.
func NewImage(dev *volume.Device) (*Image, error) {
	vol, err := volume.Open([]*volume.Device{dev}, volume.Options{})
	if err != nil {
		return nil, err
	}
	return &Image{Dev: dev, Vol: vol}, nil
}

// Block returns dev with data written into the tree block at logical, at
// byte at (taken modulo the space after the checksum), in every copy, with
// the checksum recomputed.
func Block(dev *volume.Device, logical uint64, at int, data []byte) (*volume.Device, error) {
	im, err := NewImage(dev)
	if err != nil {
		return nil, err
	}
	return im.Block(logical, at, data)
}

// Block is the package's Block on im.
func (im *Image) Block(logical uint64, at int, data []byte) (*volume.Device, error) {
	return im.Rewrite(logical, func(block []byte) error {
		off := ondisk.CsumSize + at%(len(block)-ondisk.CsumSize)
		copy(block[off:], data)
		return nil
	})
}

// Rewrite returns dev with the tree block at logical changed by edit in
// every copy, its checksum recomputed: damage that passes verification.
func Rewrite(dev *volume.Device, logical uint64, edit func(block []byte) error) (*volume.Device, error) {
	im, err := NewImage(dev)
	if err != nil {
		return nil, err
	}
	return im.Rewrite(logical, edit)
}

// Rewrite is the package's Rewrite on im.
func (im *Image) Rewrite(addr uint64, edit func(block []byte) error) (*volume.Device, error) {
	vol, logical := im.Vol, volume.Logical(addr)
	block := make([]byte, vol.NodeSize())
	if err := vol.ReadLogical(block, logical); err != nil {
		return nil, err
	}
	if err := edit(block); err != nil {
		return nil, err
	}
	var sum [ondisk.CsumSize]byte
	vol.CsumType().Sum(&sum, block[ondisk.CsumSize:])
	copy(block, sum[:])
	pd := &PatchedDevice{Base: im.Dev.R, Patches: map[int64][]byte{}}
	for m := 0; m < vol.NumCopies(logical); m++ {
		_, phys, err := vol.MapPhysical(logical, m)
		if err != nil {
			return nil, err
		}
		pd.Patches[int64(phys)] = block
	}
	return &volume.Device{Name: im.Dev.Name, R: pd, Size: im.Dev.Size}, nil
}

// Item returns dev with the payload of the item at key k of tree t
// (opened on dev) changed in place by edit, in every copy of its leaf,
// checksum recomputed: a checksum-valid edit of metadata, such as a
// directory entry pointed at another inode or an impossible i_size.
func Item(dev *volume.Device, t *btree.Tree, k ondisk.Key, edit func(payload []byte)) (*volume.Device, error) {
	im, err := NewImage(dev)
	if err != nil {
		return nil, err
	}
	return im.Item(t, k, edit)
}

// Item is the package's Item on im.
func (im *Image) Item(t *btree.Tree, k ondisk.Key, edit func(payload []byte)) (*volume.Device, error) {
	c, err := t.Seek(k)
	if err != nil {
		return nil, err
	}
	if !c.Valid() || c.Key() != k {
		return nil, fmt.Errorf("tree %d has no item %v", t.Root().ID, k)
	}
	leaf, slot := c.Leaf()
	return im.Rewrite(leaf.Bytenr, func(block []byte) error {
		n, err := ondisk.ParseNode(block)
		if err != nil {
			return err
		}
		edit(n.ItemData(slot))
		return nil
	})
}
