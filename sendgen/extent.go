package sendgen

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// dataState is the part of send_ctx that file contents and clones use.
type dataState struct {
	s *sender
	// sectorSize is the filesystem's sector size; readSize is
	// max_send_read_size, the most file data one WRITE carries.
	sectorSize uint64
	readSize   uint64
	// cloneRoots are the clone sources, the send root among them, sorted
	// by root id (clone_roots).
	cloneRoots []cloneRoot
	// backrefs is backref_cache.
	backrefs backrefCache
	// extentTree and trees are opened on first use.
	extentTree *btree.Tree
	trees      map[uint64]*btree.Tree
	// files read file data, one per stream.Writer worker: the current
	// inode's (sctx->cur_inode), or on a pipelined Writer whichever inode
	// the worker's last command was from.
	files []*fstree.File
	// cloneSearch is findExtentClone's state, reused from one extent to
	// the next; iterate is its bound iterateBackrefs, made once.
	cloneSearch struct {
		bc      extentClone
		walk    backrefWalk
		iterate func(ino, offset, numBytes, root uint64) bool
	}
}

// init sets up the data state of a send of s.root.
func (d *dataState) init(s *sender) {
	d.s = s
	d.sectorSize = uint64(s.fs.Volume().SectorSize())
	d.readSize = uint64(stream.MaxCommandSize(s.opts.Proto)) - 16<<10
	d.cloneRoots = sortedCloneRoots(s.root, cloneSources(s.opts))
	d.trees = map[uint64]*btree.Tree{}
	d.files = make([]*fstree.File, s.w.Workers())
}

// File mode type bits.
const (
	modeType = 0o170000
	modeReg  = 0o100000
	modeLink = 0o120000
)

func (s *sender) curIsReg() bool  { return s.cur.mode&modeType == modeReg }
func (s *sender) curIsLink() bool { return s.cur.mode&modeType == modeLink }

// changedExtent mirrors changed_extent: a new or changed extent item of
// the current inode (deleted ones need nothing: the truncate or the holes
// sent for their range do). An item that changed without its inode item
// (relocation, deduplication) belongs to no current inode and is skipped.
func (s *sender) changedExtent(res compare.Result) error {
	if s.cur.ino != s.cmpKey.ObjectID {
		return nil
	}
	if s.cur.newGen || s.cur.deleted || res == compare.Deleted {
		return nil
	}
	return s.processExtent(s.cmpKey, s.leftPath)
}

// processExtent mirrors process_extent for the send root's file extent
// item k at item.
func (s *sender) processExtent(k ondisk.Key, side compare.Side) error {
	if s.curIsLink() {
		return nil
	}
	fe, err := item.ParseFileExtent(side.Data())
	if err != nil {
		return fmt.Errorf("subvolume %d, key %v: %w", s.root.ID, k, err)
	}
	if s.inodes.parentRoot != nil && !s.cur.isNew {
		unchanged, err := s.isExtentUnchanged(k, &fe)
		if err != nil {
			return err
		}
		if unchanged {
			return s.maybeSendHole(k, side)
		}
	} else if fe.Type == item.FileExtentPrealloc || (fe.Type == item.FileExtentReg && fe.DiskBytenr == 0) {
		// Prealloc extents and holes of new files: the final truncate
		// gives the file its size.
		return nil
	}
	clone, err := s.findExtentClone(k, &fe)
	if err != nil {
		return err
	}
	if err := s.sendWriteOrClone(k, &fe, clone); err != nil {
		return err
	}
	return s.maybeSendHole(k, side)
}

// processAllExtents mirrors process_all_extents: every extent item of the
// current inode in the send root (a new generation of an inode number).
func (s *sender) processAllExtents() error {
	ino := s.cmpKey.ObjectID
	c, err := s.root.Tree.Seek(ondisk.Key{ObjectID: ino, Type: ondisk.ExtentDataKey})
	if err != nil {
		return err
	}
	for ; c.Valid(); err = c.Next() {
		k := c.Key()
		if k.ObjectID != ino || k.Type != ondisk.ExtentDataKey {
			return nil
		}
		leaf, slot := c.Leaf()
		if err := s.processExtent(k, compare.Side{Leaf: leaf, Slot: slot}); err != nil {
			return err
		}
	}
	return err
}

// fileExtentEnd mirrors btrfs_file_extent_end: inline extents end at the
// sector size (they only exist at offset 0).
func (d *dataState) fileExtentEnd(k ondisk.Key, raw []byte) uint64 {
	if len(raw) > 20 && item.ExtentType(raw[20]) == item.FileExtentInline {
		return d.sectorSize
	}
	return k.Offset + rawExtentField(raw, feNumBytes)
}

// sendWriteOrClone mirrors send_write_or_clone.
func (s *sender) sendWriteOrClone(k ondisk.Key, fe *item.FileExtent, cr *cloneRoot) error {
	offset := k.Offset
	end := k.Offset + fe.NumBytes
	if fe.Type == item.FileExtentInline {
		end = s.data.sectorSize
	}
	end = min(end, s.cur.size)
	if offset >= end {
		return nil
	}
	numBytes := end - offset
	doClone := false
	switch {
	case cr == nil:
	case end%s.data.sectorSize == 0:
		doClone = true
	case end != s.cur.size:
	default:
		// An unaligned end can only be cloned to EOF from the source's
		// EOF.
		ii, err := cr.root.Inode(cr.ino)
		if err != nil {
			return fmt.Errorf("clone source: subvolume %d inode %d: %w", cr.root.ID, cr.ino, err)
		}
		if cr.offset+numBytes == ii.Size {
			if s.inodes.parentRoot != nil {
				if err := s.sendTruncate(offset); err != nil {
					return err
				}
			}
			doClone = true
		}
	}
	var err error
	if doClone {
		err = s.cloneRange(k, fe, cr, fe.DiskBytenr, fe.Offset, offset, numBytes)
	} else {
		err = s.sendExtentData(k, fe, offset, numBytes)
	}
	s.cur.nextWriteOffset = end
	return err
}

// sendExtentData mirrors send_extent_data: length bytes of the current
// inode at offset, which lie in the file extent item (k, fe).
func (s *sender) sendExtentData(k ondisk.Key, fe *item.FileExtent, offset, length uint64) error {
	if s.opts.NoData {
		return s.sendUpdateExtent(offset, length)
	}
	if s.opts.CompressedData && fe.Compression != item.CompressNone {
		// Compressed bytes go as they are unless they are more than the
		// range (a part of the extent, or a tail clone_range writes).
		if fe.Type == item.FileExtentInline {
			if uint64(len(fe.InlineData)) <= length {
				return s.sendEncodedInlineExtent(k, fe, offset, length)
			}
		} else if fe.DiskNumBytes <= length {
			return s.sendEncodedExtent(k, fe, offset, length)
		}
	}
	// An uncompressed inline extent's bytes are in the item at hand: no
	// reason to have a worker look them up again.
	var inline []byte
	if fe.Type == item.FileExtentInline && fe.Compression == item.CompressNone {
		inline = fe.InlineData[min(offset-k.Offset, uint64(len(fe.InlineData))):]
	}
	for sent := uint64(0); sent < length; {
		n := min(length-sent, s.data.readSize)
		if err := s.sendWrite(offset+sent, n, inline[min(sent, uint64(len(inline))):]); err != nil {
			return err
		}
		sent += n
	}
	s.w.BatchPoint()
	return nil
}

// fileFor returns worker's reader of inode ino's data, opened on first
// use. Workers read ahead of the send, so a data error names the inode it
// was read for rather than the one being sent when it comes back.
func (d *dataState) fileFor(worker int, ino uint64) (*fstree.File, error) {
	f := d.files[worker]
	var err error
	switch {
	case f == nil:
		f, err = d.s.root.OpenFile(ino)
		d.files[worker] = f
	case f.Ino != ino:
		err = f.Reopen(ino)
	}
	if err != nil {
		return nil, &dataError{ino: ino, err: err}
	}
	return f, nil
}

// dataError is a failure to read the data of inode ino.
type dataError struct {
	ino uint64
	err error
}

func (e *dataError) Error() string { return e.err.Error() }

func (e *dataError) Unwrap() error { return e.err }

// sendWrite mirrors send_write: one WRITE of length bytes at offset, read
// from the file straight into the command, or when inline is not nil
// taken from it (an inline extent's bytes from offset on; zeros past its
// end, as reading the file gives).
func (s *sender) sendWrite(offset, length uint64, inline []byte) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdWrite); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU64(stream.AttrFileOffset, offset)
	if inline != nil {
		if buf := w.DataBuffer(int(uint32(length))); buf != nil {
			clear(buf[copy(buf, inline):])
		}
		return w.End()
	}
	ino := s.cur.ino
	w.DataLater(int(uint32(length)), func(buf []byte, worker int) error {
		f, err := s.data.fileFor(worker, ino)
		if err != nil {
			return err
		}
		n, err := f.ReadAt(buf, int64(offset))
		if err != nil && !errors.Is(err, io.EOF) {
			return &dataError{ino: ino, err: err}
		}
		clear(buf[n:])
		return nil
	})
	return w.End()
}

// sendUpdateExtent mirrors send_update_extent (--no-data).
func (s *sender) sendUpdateExtent(offset, length uint64) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdUpdateExtent); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU64(stream.AttrFileOffset, offset)
	w.PutU64(stream.AttrSize, uint64(uint32(length)))
	return w.End()
}

// sendTruncate mirrors send_truncate for the current inode.
func (s *sender) sendTruncate(size uint64) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdTruncate); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU64(stream.AttrSize, size)
	return w.End()
}

// sendFallocate mirrors send_fallocate.
func (s *sender) sendFallocate(mode uint32, offset, length uint64) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdFallocate); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU32(stream.AttrFallocateMode, mode)
	w.PutU64(stream.AttrFileOffset, offset)
	w.PutU64(stream.AttrSize, length)
	return w.End()
}

// sendHole mirrors send_hole: the range from the last extent's end to end
// becomes a punched hole (v2) or zeros (v1, within i_size).
func (s *sender) sendHole(end uint64) error {
	offset := s.cur.lastExtent
	if s.opts.Proto >= 2 {
		const punchHoleKeepSize = 0x2 | 0x1 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
		return s.sendFallocate(punchHoleKeepSize, offset, end-offset)
	}
	if offset >= s.cur.size {
		return nil
	}
	end = min(end, s.cur.size)
	if s.opts.NoData {
		return s.sendUpdateExtent(offset, end-offset)
	}
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	for offset < end {
		n := min(end-offset, s.data.readSize)
		if err := w.Begin(stream.CmdWrite); err != nil {
			return err
		}
		w.PutBytes(stream.AttrPath, path)
		w.PutU64(stream.AttrFileOffset, offset)
		clear(w.DataBuffer(int(n)))
		if err := w.End(); err != nil {
			return err
		}
		offset += n
	}
	s.cur.nextWriteOffset = offset
	return nil
}

// sendEncodedInlineExtent mirrors send_encoded_inline_extent: a compressed
// inline extent as it is stored.
func (s *sender) sendEncodedInlineExtent(k ondisk.Key, fe *item.FileExtent, offset, length uint64) error {
	comp, err := s.encodedCompression(fe.Compression)
	if err != nil {
		return err
	}
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdEncodedWrite); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU64(stream.AttrFileOffset, offset)
	w.PutU64(stream.AttrUnencodedFileLen, min(k.Offset+fe.RAMBytes-offset, length))
	w.PutU64(stream.AttrUnencodedLen, fe.RAMBytes)
	w.PutU64(stream.AttrUnencodedOffset, offset-k.Offset)
	w.PutU32(stream.AttrCompression, comp)
	w.PutData(fe.InlineData)
	return w.End()
}

// sendEncodedExtent mirrors send_encoded_extent: a compressed extent's
// bytes as they are on disk.
func (s *sender) sendEncodedExtent(k ondisk.Key, fe *item.FileExtent, offset, length uint64) error {
	path, err := s.curPath()
	if err != nil {
		return err
	}
	w := s.w
	if err := w.Begin(stream.CmdEncodedWrite); err != nil {
		return err
	}
	w.PutBytes(stream.AttrPath, path)
	w.PutU64(stream.AttrFileOffset, offset)
	w.PutU64(stream.AttrUnencodedFileLen, min(k.Offset+fe.NumBytes-offset, length))
	w.PutU64(stream.AttrUnencodedLen, fe.RAMBytes)
	w.PutU64(stream.AttrUnencodedOffset, offset-k.Offset+fe.Offset)
	comp, err := s.encodedCompression(fe.Compression)
	if err != nil {
		return err
	}
	w.PutU32(stream.AttrCompression, comp)
	w.PutU32(stream.AttrEncryption, 0)
	// The kernel reads the data into the send buffer at the next page
	// boundary after the DATA header and fails when it does not fit.
	max := uint64(stream.MaxCommandSize(s.opts.Proto))
	used := max - uint64(w.Room())
	if dataAt := pageAlign(used); dataAt > max || max-dataAt < fe.DiskNumBytes {
		return corruptf("encoded write of %d bytes at offset %d does not fit a command", fe.DiskNumBytes, offset)
	}
	ino, addr := s.cur.ino, fe.DiskBytenr
	w.DataLater(int(fe.DiskNumBytes), func(buf []byte, worker int) error {
		f, err := s.data.fileFor(worker, ino)
		if err != nil {
			return err
		}
		if err := f.ReadRaw(buf, addr); err != nil {
			return &dataError{ino: ino, err: fmt.Errorf("compressed extent: %w", err)}
		}
		return nil
	})
	return w.End()
}

// encodedCompression mirrors btrfs_encoded_io_compression_from_extent.
func (s *sender) encodedCompression(c item.Compression) (uint32, error) {
	switch c {
	case item.CompressNone:
		return 0, nil
	case item.CompressZlib:
		return 1, nil
	case item.CompressZstd:
		return 2, nil
	case item.CompressLZO:
		ss := s.data.sectorSize
		if ss < 4<<10 || ss > 64<<10 {
			return 0, ondisk.Errorf(ondisk.ErrUnsupported, "lzo with sector size %d has no encoded-write compression value", ss)
		}
		bits := uint32(0)
		for ; ss > 1; ss >>= 1 {
			bits++
		}
		return 3 + bits - 12, nil
	}
	return 0, fmt.Errorf("unknown compression type %d: %w", c, ondisk.ErrCorrupt)
}

// needSendHole mirrors need_send_hole: holes are only sent for regular
// files that existed in the parent.
func (s *sender) needSendHole() bool {
	return s.inodes.parentRoot != nil && !s.cur.isNew && !s.cur.newGen && !s.cur.deleted && s.curIsReg()
}

// maybeSendHole mirrors maybe_send_hole for the send root's file extent
// item k at item: a gap before it (no-holes, or leaves skipped by the tree
// comparison, which the first item of a leaf may follow) is sent as a hole
// unless the parent has one there.
func (s *sender) maybeSendHole(k ondisk.Key, side compare.Side) error {
	if s.cur.ino != k.ObjectID || !s.needSendHole() {
		return nil
	}
	if s.cur.lastExtent == math.MaxUint64 || (side.Slot == 0 && s.cur.lastExtent < k.Offset) {
		if err := s.getLastExtent(k.Offset - 1); err != nil {
			return err
		}
	}
	if s.cur.lastExtent < k.Offset {
		hole, err := s.rangeIsHoleInParent(s.cur.lastExtent, k.Offset)
		if err != nil {
			return err
		}
		if !hole {
			if err := s.sendHole(k.Offset); err != nil {
				return err
			}
		}
	}
	s.cur.lastExtent = s.data.fileExtentEnd(k, side.Data())
	return nil
}

// getLastExtent mirrors get_last_extent: the end of the current inode's
// extent item at or before offset (or, failing that, the first after).
func (s *sender) getLastExtent(offset uint64) error {
	s.cur.lastExtent = 0
	key := ondisk.Key{ObjectID: s.cur.ino, Type: ondisk.ExtentDataKey, Offset: offset}
	c, err := s.root.Tree.SeekLE(key)
	if err != nil {
		return err
	}
	if !c.Valid() {
		if c, err = s.root.Tree.Seek(key); err != nil || !c.Valid() {
			return err
		}
	}
	k := c.Key()
	if k.ObjectID != s.cur.ino || k.Type != ondisk.ExtentDataKey {
		return nil
	}
	s.cur.lastExtent = s.data.fileExtentEnd(k, c.Data())
	return nil
}

// rangeIsHoleInParent mirrors range_is_hole_in_parent: whether the parent
// has only holes (explicit or implicit) in [start, end) of the current
// inode.
func (s *sender) rangeIsHoleInParent(start, end uint64) (bool, error) {
	t := s.inodes.parentRoot.Tree
	key := ondisk.Key{ObjectID: s.cur.ino, Type: ondisk.ExtentDataKey, Offset: start}
	c, err := t.SeekLE(key)
	if err != nil {
		return false, err
	}
	if !c.Valid() {
		if c, err = t.Seek(key); err != nil {
			return false, err
		}
	}
	for searchStart := start; searchStart < end && c.Valid(); {
		k := c.Key()
		switch {
		case k.ObjectID < s.cur.ino || k.Type < ondisk.ExtentDataKey:
		case k.ObjectID > s.cur.ino || k.Type > ondisk.ExtentDataKey || k.Offset >= end:
			return true, nil
		default:
			raw := c.Data()
			extentEnd := s.data.fileExtentEnd(k, raw)
			if extentEnd > start {
				if rawExtentField(raw, feDiskBytenr) != 0 {
					return false, nil
				}
				searchStart = extentEnd
			}
		}
		if err := c.Next(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// isExtentUnchanged mirrors is_extent_unchanged: whether the parent's
// extent items over the range of (k, fe) refer to the same data at the
// same offsets with the same generation.
func (s *sender) isExtentUnchanged(k ondisk.Key, fe *item.FileExtent) (bool, error) {
	if fe.Type != item.FileExtentReg {
		return false, nil
	}
	leftDisk, leftLen, leftOffset, leftGen := fe.DiskBytenr, fe.NumBytes, fe.Offset, fe.Generation
	t := s.inodes.parentRoot.Tree
	key := ondisk.Key{ObjectID: k.ObjectID, Type: ondisk.ExtentDataKey, Offset: k.Offset}
	c, err := t.SeekLE(key)
	if err != nil {
		return false, err
	}
	if !c.Valid() {
		return false, nil
	}
	found := c.Key()
	if found.ObjectID != key.ObjectID || found.Type != key.Type {
		// No extents on the right: a hole is unchanged.
		return leftDisk == 0, nil
	}
	key = found
	for key.Offset < k.Offset+leftLen {
		raw := c.Data()
		if len(raw) <= 20 {
			return false, fmt.Errorf("parent subvolume %d, key %v: short file extent item: %w", s.inodes.parentRoot.ID, found, ondisk.ErrCorrupt)
		}
		rightType := item.ExtentType(raw[20])
		if rightType != item.FileExtentReg && rightType != item.FileExtentInline {
			return false, nil
		}
		var rightLen uint64
		if rightType == item.FileExtentInline {
			rightLen = pageAlign(rawExtentField(raw, 8))
		} else {
			rightLen = rawExtentField(raw, feNumBytes)
		}
		if found.Offset+rightLen <= k.Offset {
			return leftDisk == 0, nil
		}
		if rightType == item.FileExtentInline {
			return false, nil
		}
		rightDisk := rawExtentField(raw, feDiskBytenr)
		rightOffset := rawExtentField(raw, feOffset)
		rightGen := rawExtentField(raw, 0)
		leftOffsetFixed := leftOffset
		if key.Offset < k.Offset {
			rightOffset += k.Offset - key.Offset
		} else {
			leftOffsetFixed += key.Offset - k.Offset
		}
		if leftDisk != rightDisk || leftOffsetFixed != rightOffset || leftGen != rightGen {
			return false, nil
		}
		if err := c.Next(); err != nil {
			return false, err
		}
		if c.Valid() {
			found = c.Key()
		}
		if !c.Valid() || found.ObjectID != key.ObjectID || found.Type != key.Type {
			key.Offset += rightLen
			break
		}
		if found.Offset != key.Offset+rightLen {
			return false, nil
		}
		key = found
	}
	return key.Offset >= k.Offset+leftLen, nil
}

// finishInodeData is the file-data part of finish_inode_if_needed for a
// regular file: a hole up to i_size (incremental sends) and the TRUNCATE
// that gives the file its size when the data sent did not.
func (s *sender) finishInodeData() error {
	if !s.curIsReg() {
		return nil
	}
	needTruncate := true
	if s.inodes.parentRoot == nil || s.cur.isNew {
		if s.cur.nextWriteOffset == s.cur.size {
			needTruncate = false
		}
	} else {
		ii, err := s.inodes.parentRoot.Inode(s.cur.ino)
		if err != nil {
			return fmt.Errorf("parent subvolume %d inode %d: %w", s.inodes.parentRoot.ID, s.cur.ino, err)
		}
		oldSize := ii.Size
		if oldSize == s.cur.size || (s.cur.size > oldSize && s.cur.nextWriteOffset == s.cur.size) {
			needTruncate = false
		}
	}
	if s.needSendHole() {
		if s.cur.lastExtent == math.MaxUint64 || s.cur.lastExtent < s.cur.size {
			if err := s.getLastExtent(math.MaxUint64); err != nil {
				return err
			}
		}
		if s.cur.lastExtent < s.cur.size {
			hole, err := s.rangeIsHoleInParent(s.cur.lastExtent, s.cur.size)
			if err != nil {
				return err
			}
			if !hole {
				if err := s.sendHole(s.cur.size); err != nil {
					return err
				}
			}
		}
	}
	if needTruncate {
		return s.sendTruncate(s.cur.size)
	}
	return nil
}
