package fstree

import (
	"bytes"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
)

// lookupCsums collects the data checksums of the sectors of
// [logical, logical+n) from the checksum tree into f.sums (csum_size bytes
// per sector) and marks in f.have which sectors have one. It seeks with
// f.csum, which after sequential reads is already in the right leaf.
func (f *File) lookupCsums(logical uint64, n int) error {
	fs := f.s.fs
	ss := uint64(fs.vol.SectorSize())
	csz := fs.vol.CsumType().Size()
	nsec := (uint64(n) + ss - 1) / ss
	if uint64(cap(f.have)) < nsec {
		f.have = make([]bool, nsec)
		f.sums = make([]byte, int(nsec)*csz)
	}
	f.have = f.have[:nsec]
	f.sums = f.sums[:int(nsec)*csz]
	clear(f.have)
	if fs.csumTree == nil {
		return nil
	}
	end := logical + nsec*ss
	k := ondisk.Key{ObjectID: ondisk.ExtentCsumObjectID, Type: ondisk.ExtentCsumKey, Offset: logical}
	var err error
	if f.csum == nil {
		f.csum, err = fs.csumTree.SeekLE(k)
	} else {
		err = f.csum.SeekLE(k)
	}
	if err != nil {
		return err
	}
	c := f.csum
	if !c.Valid() {
		if err := c.Seek(ondisk.Key{}); err != nil {
			return err
		}
	}
	for c.Valid() {
		k := c.Key()
		if k.ObjectID != ondisk.ExtentCsumObjectID || k.Type != ondisk.ExtentCsumKey {
			if k.ObjectID > ondisk.ExtentCsumObjectID {
				break
			}
		} else {
			if k.Offset >= end {
				break
			}
			data := c.Data()
			if len(data)%csz != 0 {
				return itemError(c, ondisk.CsumTreeObjectID, fmt.Errorf("%w: checksum item of %d bytes is not a multiple of %d", ondisk.ErrCorrupt, len(data), csz))
			}
			itemEnd := k.Offset + uint64(len(data)/csz)*ss
			for a := max(k.Offset, logical); a < min(itemEnd, end); a += ss {
				i := (a - logical) / ss
				j := (a - k.Offset) / ss
				copy(f.sums[int(i)*csz:], data[int(j)*csz:int(j+1)*csz])
				f.have[i] = true
			}
		}
		if err := c.Next(); err != nil {
			return err
		}
	}
	return nil
}

// checkCsums verifies each sector of b (read at logical) that has an
// expected checksum; sums and have start at b's first sector.
func (fs *FS) checkCsums(b []byte, logical uint64, sums []byte, have []bool) error {
	ss := int(fs.vol.SectorSize())
	ct := fs.vol.CsumType()
	csz := ct.Size()
	var got [ondisk.CsumSize]byte
	for i := range have {
		if i*ss >= len(b) {
			break
		}
		if !have[i] {
			continue
		}
		sec := b[i*ss : min((i+1)*ss, len(b))]
		ct.Sum(&got, sec)
		if !bytes.Equal(got[:csz], sums[i*csz:(i+1)*csz]) {
			// A copy for the message, so that got stays on the stack.
			return ondisk.Invalidf("data checksum mismatch at logical %d: have %x, checksum tree says %x", logical+uint64(i*ss), bytes.Clone(got[:csz]), sums[i*csz:(i+1)*csz])
		}
	}
	return nil
}
