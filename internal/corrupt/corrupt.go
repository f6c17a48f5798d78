// Package corrupt damages tree blocks of an in-memory image for fuzz
// tests: bytes of one block are overwritten in every copy and the block's
// checksum is recomputed, so the damage gets past verification and reaches
// the decoders. It imports only ondisk and btree.
package corrupt

import (
	"io"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
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

// Block returns dev with data written into the tree block at logical, at
// byte at (taken modulo the space after the checksum), in every copy, with
// the checksum recomputed.
func Block(dev *ondisk.Device, logical uint64, at int, data []byte) (*ondisk.Device, error) {
	vol, err := ondisk.Open([]*ondisk.Device{dev}, ondisk.Options{})
	if err != nil {
		return nil, err
	}
	nodesize := int(vol.NodeSize())
	block := make([]byte, nodesize)
	if err := vol.ReadLogical(block, logical); err != nil {
		return nil, err
	}
	off := ondisk.CsumSize + at%(nodesize-ondisk.CsumSize)
	copy(block[off:], data)
	var sum [ondisk.CsumSize]byte
	vol.CsumType().Sum(&sum, block[ondisk.CsumSize:])
	copy(block, sum[:])
	pd := &PatchedDevice{Base: dev.R, Patches: map[int64][]byte{}}
	for m := 0; m < vol.NumCopies(logical); m++ {
		_, phys, err := vol.MapPhysical(logical, m)
		if err != nil {
			return nil, err
		}
		pd.Patches[int64(phys)] = block
	}
	return &ondisk.Device{Name: dev.Name, R: pd, Size: dev.Size}, nil
}
