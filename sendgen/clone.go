package sendgen

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// cloneRoot mirrors struct clone_root: a subvolume clones may come from,
// and the best source found in it for the extent being sent.
type cloneRoot struct {
	root     *fstree.Subvol
	ino      uint64
	offset   uint64
	numBytes uint64
	foundRef bool
}

// cloneRootIndex finds root id among the clone roots the way the kernel's
// bsearch does (lib/bsearch.c), -1 when it is not one.
func (d *dataState) cloneRootIndex(id uint64) int {
	base, num := 0, len(d.cloneRoots)
	for num > 0 {
		pivot := base + num>>1
		pid := d.cloneRoots[pivot].root.ID
		if id == pid {
			return pivot
		}
		if id > pid {
			base = pivot + 1
			num--
		}
		num >>= 1
	}
	return -1
}

// extentClone is send's backref_ctx: what find_extent_clone knows of the
// extent it searches a source for.
type extentClone struct {
	s         *sender
	found     uint64
	curIno    uint64
	curOffset uint64
	extentLen uint64 // num_bytes, cut at i_size for the last extent
}

// findExtentClone mirrors find_extent_clone for the file extent item
// (k, fe) of the current inode: the clone root holding the best source, or
// nil to write the data (the kernel's -ENOENT, and its "no candidate" for
// extents at or past i_size).
func (s *sender) findExtentClone(k ondisk.Key, fe *item.FileExtent) (*cloneRoot, error) {
	dataOffset, size := k.Offset, s.cur.size
	if dataOffset >= size || fe.Type == item.FileExtentInline || fe.DiskBytenr == 0 {
		return nil, nil
	}
	d := &s.data
	for i := range d.cloneRoots {
		cr := &d.cloneRoots[i]
		cr.ino, cr.offset, cr.numBytes, cr.foundRef = ^uint64(0), 0, 0, false
	}
	cs := &d.cloneSearch
	if cs.iterate == nil {
		cs.iterate = cs.bc.iterateBackrefs
	}
	bc := &cs.bc
	*bc = extentClone{s: s, curIno: k.ObjectID, curOffset: dataOffset, extentLen: fe.NumBytes}
	if dataOffset+fe.NumBytes >= size {
		bc.extentLen = size - dataOffset
	}
	w := &cs.walk
	*w = backrefWalk{
		s: s, bytenr: fe.DiskBytenr, iterate: cs.iterate,
		skipSelf: len(d.cloneRoots) == 1, selfKey: k, selfIno: k.ObjectID, selfOffset: dataOffset - fe.Offset,
	}
	if fe.Compression == item.CompressNone {
		w.extentItemPos = fe.Offset
	}
	if err := w.run(); err != nil {
		return nil, err
	}
	if bc.found == 0 {
		return nil, nil
	}
	var best *cloneRoot
	for i := range d.cloneRoots {
		cr := &d.cloneRoots[i]
		if !cr.foundRef {
			continue
		}
		if best == nil || cr.numBytes > best.numBytes {
			best = cr
			if cr.numBytes >= bc.extentLen {
				break
			}
		}
	}
	return best, nil
}

// iterateBackrefs mirrors iterate_backrefs: it weighs one file extent item
// referring to the extent as a clone source. True stops the walk: a source
// covering the whole extent was found.
func (bc *extentClone) iterateBackrefs(ino, offset, numBytes, root uint64) bool {
	s := bc.s
	i := s.data.cloneRootIndex(root)
	if i < 0 {
		return false
	}
	cr := &s.data.cloneRoots[i]
	if o, _ := cr.root.Orphans(); o.Evicted(ino) {
		return false // orphan cleanup deletes it, and its references
	}
	if cr.root.ID == s.root.ID {
		if ino == bc.curIno && offset == bc.curOffset {
			return false // the extent item being sent
		}
		// Sources the receiver does not have yet: later inodes, and the
		// current inode beyond what was written.
		if ino > bc.curIno {
			return false
		}
		if ino == bc.curIno && offset+bc.extentLen > s.cur.nextWriteOffset {
			return false
		}
	}
	bc.found++
	cr.foundRef = true
	if numBytes > cr.numBytes {
		cr.ino, cr.offset, cr.numBytes = ino, offset, numBytes
		if numBytes >= bc.extentLen {
			return true
		}
	}
	return false
}

// cloneRange mirrors clone_range: it clones [offset, offset+length) of the
// current inode from cr, writing the parts where the source's extent
// items do not refer to the same data (diskByte at dataOffset), its holes,
// and an unaligned source EOF block that would land mid-file.
func (s *sender) cloneRange(k ondisk.Key, fe *item.FileExtent, cr *cloneRoot, diskByte, dataOffset, offset, length uint64) error {
	if cr.offset == 0 && length == s.data.sectorSize {
		// The receiver might inline a sector at offset 0: write it.
		return s.sendExtentData(k, fe, offset, length)
	}
	ii, err := cr.root.Inode(cr.ino)
	if err != nil {
		return fmt.Errorf("clone source: subvolume %d inode %d: %w", cr.root.ID, cr.ino, err)
	}
	srcSize := ii.Size

	key := ondisk.Key{ObjectID: cr.ino, Type: ondisk.ExtentDataKey, Offset: cr.offset}
	c, err := cr.root.Tree.SeekLE(key)
	if err != nil {
		return err
	}
	if !c.Valid() || c.Key().ObjectID != cr.ino || c.Key().Type != ondisk.ExtentDataKey {
		if c, err = cr.root.Tree.Seek(key); err != nil {
			return err
		}
	}
	for first := true; ; first = false {
		if !first {
			if err := c.Next(); err != nil {
				return err
			}
		}
		if !c.Valid() {
			break
		}
		sk := c.Key()
		if sk.ObjectID != cr.ino || sk.Type != ondisk.ExtentDataKey {
			break // maybe an implicit hole at the end: written below
		}
		raw := c.Data()
		var extLen uint64
		if len(raw) > 20 && item.ExtentType(raw[20]) == item.FileExtentInline {
			extLen = pageAlign(binary.LittleEndian.Uint64(raw[8:]))
		} else {
			extLen = rawExtentField(raw, feNumBytes)
		}
		if sk.Offset+extLen <= cr.offset {
			continue
		}
		if sk.Offset > cr.offset {
			// An implicit hole (no-holes) in the source.
			holeLen := min(sk.Offset-cr.offset, length)
			if err := s.sendExtentData(k, fe, offset, holeLen); err != nil {
				return err
			}
			length -= holeLen
			if length == 0 {
				break
			}
			offset += holeLen
			cr.offset += holeLen
			dataOffset += holeLen
		}
		if sk.Offset >= cr.offset+length || sk.Offset >= srcSize {
			break
		}
		crossedSrcSize := false
		if sk.Offset+extLen > srcSize {
			extLen = srcSize - sk.Offset
			crossedSrcSize = true
		}
		// These read the item's fields whatever its type, as the kernel
		// does (an inline item's "disk_bytenr" is inline data).
		srcDisk := rawExtentField(raw, feDiskBytenr)
		srcDataOffset := rawExtentField(raw, feOffset)
		if srcDisk == diskByte {
			cr.offset = sk.Offset
			if srcDataOffset < dataOffset && srcDataOffset+extLen > dataOffset {
				d := dataOffset - srcDataOffset
				extLen -= d
				srcDataOffset += d
				cr.offset += d
			}
		}
		cloneLen := min(extLen, length)
		switch {
		case srcDisk == diskByte && srcDataOffset == dataOffset:
			srcEnd := cr.offset + cloneLen
			// A source EOF block not aligned to the largest sector size
			// must not be cloned into the middle of the file.
			const maxSector = 64 << 10
			if srcEnd == srcSize && srcEnd%maxSector != 0 && offset+cloneLen < s.cur.size {
				slen := (srcEnd - cr.offset) &^ (maxSector - 1)
				if slen > 0 {
					if err := s.sendClone(offset, slen, cr); err != nil {
						return err
					}
				}
				err = s.sendExtentData(k, fe, offset+slen, cloneLen-slen)
			} else {
				err = s.sendClone(offset, cloneLen, cr)
			}
		case crossedSrcSize && cloneLen < length:
			// Past the source's EOF: write the rest in one go below.
			return s.sendExtentData(k, fe, offset, length)
		default:
			err = s.sendExtentData(k, fe, offset, cloneLen)
		}
		if err != nil {
			return err
		}
		length -= cloneLen
		if length == 0 {
			break
		}
		offset += cloneLen
		cr.offset += cloneLen
		// Cloning from the current inode must stay below what the
		// receiver has of it.
		if cr.root.ID == s.root.ID && cr.ino == s.cur.ino && cr.offset >= s.cur.nextWriteOffset {
			break
		}
		dataOffset += cloneLen
	}
	if length > 0 {
		return s.sendExtentData(k, fe, offset, length)
	}
	return nil
}

// Byte offsets of btrfs_file_extent_item fields.
const (
	feDiskBytenr = 21
	feOffset     = 37
	feNumBytes   = 45
)

// rawExtentField reads the u64 at off of a file extent item as the
// kernel's accessors do, whatever the item's type; bytes past a short
// (inline) item read as zeros.
func rawExtentField(raw []byte, off int) uint64 {
	var b [8]byte
	if off < len(raw) {
		copy(b[:], raw[off:])
	}
	return binary.LittleEndian.Uint64(b[:])
}

// pageAlign rounds up to the x86-64 page size (PAGE_ALIGN).
func pageAlign(n uint64) uint64 {
	const page = 4096
	return (n + page - 1) &^ (page - 1)
}

// sendClone mirrors send_clone: CLONE of length bytes at offset from the
// current source position of cr.
func (s *sender) sendClone(offset, length uint64, cr *cloneRoot) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	var src []byte
	if cr.root.ID == s.root.ID {
		ii, err := s.root.Inode(cr.ino)
		if err != nil {
			return fmt.Errorf("clone source inode %d: %w", cr.ino, err)
		}
		if src, err = s.inodePath(cr.ino, ii.Generation); err != nil {
			return err
		}
	} else {
		p, err := cr.root.InodePath(cr.ino)
		if err != nil {
			return fmt.Errorf("clone source: subvolume %d inode %d: %w", cr.root.ID, cr.ino, err)
		}
		src = []byte(p)
	}
	ri := &cr.root.Item
	u := ri.UUID
	if ri.ReceivedUUID != (ondisk.UUID{}) {
		u = ri.ReceivedUUID
	}
	w := s.w
	if err := w.Begin(stream.CmdClone); err != nil {
		return err
	}
	w.PutU64(stream.AttrFileOffset, offset)
	w.PutU64(stream.AttrCloneLen, uint64(uint32(length)))
	w.PutBytes(stream.AttrPath, path)
	w.PutUUID(stream.AttrCloneUUID, stream.UUID(u))
	w.PutU64(stream.AttrCloneCtransid, ri.Ctransid)
	w.PutBytes(stream.AttrClonePath, src)
	w.PutU64(stream.AttrCloneOffset, cr.offset)
	return w.End()
}

// cloneSources returns the clone sources btrfs send passes to the kernel
// (clone_sources): the -c subvolumes, and the parent, which btrfs send
// adds unless it is one of them already.
func cloneSources(opts Options) []*fstree.Subvol {
	srcs := opts.Clones
	if p := opts.Parent; p != nil && !slices.ContainsFunc(srcs, func(sv *fstree.Subvol) bool { return sv.ID == p.ID }) {
		srcs = append(slices.Clip(srcs), p)
	}
	return srcs
}

// sortedCloneRoots returns the send root and the extra clone sources
// ordered by root id, as btrfs_ioctl_send sorts clone_roots.
func sortedCloneRoots(send *fstree.Subvol, extra []*fstree.Subvol) []cloneRoot {
	roots := make([]cloneRoot, 0, len(extra)+1)
	for _, sv := range extra {
		roots = append(roots, cloneRoot{root: sv})
	}
	roots = append(roots, cloneRoot{root: send})
	for i := 1; i < len(roots); i++ {
		for j := i; j > 0 && roots[j].root.ID < roots[j-1].root.ID; j-- {
			roots[j], roots[j-1] = roots[j-1], roots[j]
		}
	}
	return roots
}
