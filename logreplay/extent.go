package logreplay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

var errNotSupported = errors.New("operation not supported") // -EOPNOTSUPP

// File extent item field offsets.
const (
	feDiskBytenr   = 21
	feDiskNumBytes = 29
	feOffset       = 37
	feNumBytes     = 45
)

func extentDataKey(ino, off uint64) ondisk.Key {
	return ondisk.Key{ObjectID: ino, Type: ondisk.ExtentDataKey, Offset: off}
}

// replayOneExtent is replay_one_extent: a logged file extent replaces
// whatever the file had over its range. A regular or prealloc extent
// takes a reference on its data extent (adding the extent to the extent
// tree when the log alone had it), and its checksums come from the log's
// checksum items into the checksum tree; the inode's byte count follows.
func (w *walk) replayOneExtent() error {
	src := w.logItem()
	fe, err := item.ParseFileExtent(src)
	if err != nil {
		return err
	}
	start := w.key.Offset
	var extentEnd, nbytes uint64
	switch fe.Type {
	case item.FileExtentReg, item.FileExtentPrealloc:
		extentEnd = start + fe.NumBytes
		if fe.DiskBytenr != 0 {
			nbytes = fe.NumBytes
		}
	case item.FileExtentInline:
		nbytes = fe.RAMBytes
		extentEnd = alignUp(start+nbytes, w.r.sectorSize)
	default:
		return fmt.Errorf("file extent type %d: %w", fe.Type, errBadItem)
	}
	in, err := w.iget(w.key.ObjectID)
	if err != nil {
		return err
	}
	defer w.iput(in)

	// The file may already point at exactly this extent.
	if fe.Type != item.FileExtentInline {
		if cur, ok, err := w.root.get(w.key); err != nil {
			return err
		} else if ok && len(cur) >= item.FileExtentSize && bytes.Equal(cur[:item.FileExtentSize], src) {
			return nil
		}
	}
	found, err := w.dropExtents(in, start, extentEnd)
	if err != nil {
		return fmt.Errorf("dropping extents of inode %d in [%d, %d): %w", in.ino, start, extentEnd, err)
	}
	switch {
	case fe.Type == item.FileExtentInline:
		if err := w.overwriteItem(src); err != nil {
			return err
		}
	case fe.DiskBytenr == 0 && w.r.noHoles:
	default:
		if ins, err := w.root.insert(w.key, src); err != nil {
			return err
		} else if !ins {
			return fmt.Errorf("file extent %v: %w", w.key, errExist)
		}
		if fe.DiskBytenr != 0 {
			if err := w.referenceExtent(fe); err != nil {
				return err
			}
		}
	}
	in.updateBytes(nbytes, found)
	return w.updateInode(in)
}

// referenceExtent is the data side of replay_one_extent: a reference to
// the data extent (btrfs_inc_extent_ref when the extent tree has it,
// btrfs_alloc_logged_file_extent when not), then the log's checksums of
// the range the file uses (the whole extent when compressed) replace the
// checksum tree's.
func (w *walk) referenceExtent(fe item.FileExtent) error {
	ref := dataRef{root: w.root.id, owner: w.key.ObjectID, offset: w.key.Offset - fe.Offset}
	exists, err := w.r.lookupDataExtent(fe.DiskBytenr, fe.DiskNumBytes)
	if err != nil {
		return err
	}
	if exists {
		w.r.refs.add(fe.DiskBytenr, fe.DiskNumBytes, ref, 1)
	} else if err := w.r.allocLoggedFileExtent(fe.DiskBytenr, fe.DiskNumBytes, ref); err != nil {
		return err
	}
	csumStart, csumEnd := fe.DiskBytenr+fe.Offset, fe.DiskBytenr+fe.Offset+fe.NumBytes
	if fe.Compression != item.CompressNone {
		csumStart, csumEnd = fe.DiskBytenr, fe.DiskBytenr+fe.DiskNumBytes
	}
	if csumEnd <= csumStart {
		return nil
	}
	sums, err := w.r.lookupCsumsList(w.log, csumStart, csumEnd-1)
	if err != nil {
		return err
	}
	ct, err := w.r.csumTree()
	if err != nil {
		return err
	}
	for _, s := range sums {
		if err := w.r.delCsums(ct, s.logical, s.length(w.r)); err != nil {
			return err
		}
		if err := w.r.csumFileBlocks(ct, s); err != nil {
			return err
		}
	}
	return nil
}

// dropExtents is btrfs_drop_extents for [start, end) of a file in a
// subvolume: extents inside the range are deleted, extents crossing its
// edges trimmed or split, their data references dropped or added as the
// kernel does. It returns the bytes of data (and inline) extents the
// range covered, which the caller takes off the inode's byte count.
func (w *walk) dropExtents(in *inode, start, end uint64) (bytesFound uint64, err error) {
	ino := in.ino
	searchStart := start
	// The extent before start may reach into the range.
	cur, ok, err := w.root.next(extentDataKey(ino, searchStart))
	if err != nil {
		return 0, err
	}
	if !ok || cur.key != extentDataKey(ino, searchStart) {
		if p, pok, err := w.root.prev(extentDataKey(ino, searchStart)); err != nil {
			return 0, err
		} else if pok && p.key.ObjectID == ino && p.key.Type == ondisk.ExtentDataKey {
			cur, ok = p, true
		}
	}
	le := binary.LittleEndian
	var diskBytenr, numBytes, extentOffset uint64
	for ok {
		key := cur.key
		advance := func() error {
			cur, ok, err = w.root.after(key)
			return err
		}
		if key.ObjectID > ino {
			break
		}
		if key.ObjectID < ino || key.Type < ondisk.ExtentDataKey {
			if err := advance(); err != nil {
				return 0, err
			}
			continue
		}
		if key.Type > ondisk.ExtentDataKey || key.Offset >= end {
			break
		}
		fi := cur.data
		fe, err := item.ParseFileExtent(fi)
		if err != nil {
			return 0, fmt.Errorf("%v: %w", key, err)
		}
		var extentEnd uint64
		switch fe.Type {
		case item.FileExtentReg, item.FileExtentPrealloc:
			diskBytenr, numBytes, extentOffset = fe.DiskBytenr, fe.DiskNumBytes, fe.Offset
			extentEnd = key.Offset + fe.NumBytes
		case item.FileExtentInline:
			extentEnd = key.Offset + fe.RAMBytes
		}
		inline := fe.Type == item.FileExtentInline

		deleteItem := false
		switch {
		case extentEnd == key.Offset && extentEnd >= searchStart:
			// An extent of no bytes (old kernels made them): it goes.
			deleteItem = true
		case extentEnd <= searchStart:
			if err := advance(); err != nil {
				return 0, err
			}
			continue
		}
		if !deleteItem {
			// (The kernel restarts its search at max(key.Offset, start)
			// here when its path must be re-taken; nothing changes.)
			// The range is inside the extent: split it in two, the
			// second part continuing below as the extent at start.
			if start > key.Offset && end < extentEnd {
				if inline {
					return 0, errNotSupported
				}
				head := bytes.Clone(fi)
				le.PutUint64(head[feNumBytes:], start-key.Offset)
				if err := w.root.put(key, head); err != nil {
					return 0, err
				}
				extentOffset += start - key.Offset
				tail := bytes.Clone(fi)
				le.PutUint64(tail[feOffset:], extentOffset)
				le.PutUint64(tail[feNumBytes:], extentEnd-start)
				key.Offset = start
				if err := w.root.put(key, tail); err != nil {
					return 0, err
				}
				fi = tail
				if diskBytenr > 0 {
					w.r.refs.add(diskBytenr, numBytes, dataRef{root: w.root.id, owner: ino, offset: start - extentOffset}, 1)
				}
			}
			// The range covers the extent's start: its start moves to end.
			if start <= key.Offset && end < extentEnd {
				if inline {
					return 0, errNotSupported
				}
				extentOffset += end - key.Offset
				moved := bytes.Clone(fi)
				le.PutUint64(moved[feOffset:], extentOffset)
				le.PutUint64(moved[feNumBytes:], extentEnd-end)
				if err := w.root.del(key); err != nil {
					return 0, err
				}
				if err := w.root.put(extentDataKey(ino, end), moved); err != nil {
					return 0, err
				}
				if diskBytenr > 0 {
					bytesFound += end - key.Offset
				}
				break
			}
			searchStart = extentEnd
			// The range covers the extent's end: it is cut at start.
			if start > key.Offset && end >= extentEnd {
				if inline {
					return 0, errNotSupported
				}
				cut := bytes.Clone(fi)
				le.PutUint64(cut[feNumBytes:], start-key.Offset)
				if err := w.root.put(key, cut); err != nil {
					return 0, err
				}
				if diskBytenr > 0 {
					bytesFound += extentEnd - start
				}
				if end == extentEnd {
					break
				}
				if err := advance(); err != nil {
					return 0, err
				}
				continue
			}
		}
		// The range covers the whole extent: it goes.
		if err := w.root.del(key); err != nil {
			return 0, err
		}
		switch {
		case inline:
			bytesFound += extentEnd - key.Offset
			extentEnd = alignUp(extentEnd, w.r.sectorSize)
		case diskBytenr > 0:
			w.r.refs.add(diskBytenr, numBytes, dataRef{root: w.root.id, owner: ino, offset: key.Offset - extentOffset}, -1)
			bytesFound += extentEnd - key.Offset
		}
		if end == extentEnd {
			break
		}
		if err := advance(); err != nil {
			return 0, err
		}
	}
	return bytesFound, nil
}
