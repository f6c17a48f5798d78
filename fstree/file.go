package fstree

import (
	"fmt"
	"io"
	"iter"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/compression"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// maxReadChunk bounds one device read while streaming file data, so memory
// stays flat whatever the file size.
const maxReadChunk = 1 << 20

// File reads the contents of a regular file (or a symlink's target).
// It is not safe for concurrent use: it keeps buffers, cursors and the
// last decompressed extent.
type File struct {
	s      *Subvol
	Ino    uint64
	Inode  *item.Inode
	inode  item.Inode // what Inode points to
	verify bool

	// Cursors on the file's extent items and on the checksum items, kept
	// between reads so that sequential reads step through the leaves
	// instead of searching from the root each time.
	ext  *btree.Cursor
	csum *btree.Cursor

	buf   []byte // device read buffer, at most maxReadChunk
	sums  []byte // expected checksums for buf
	have  []bool // which sectors of buf have a checksum
	raw   []byte // a compressed extent as stored
	zAddr uint64 // disk_bytenr of the extent decoded in zBuf, 0 if none
	zBuf  []byte
	// direct, during ReadAt, is what of the caller's buffer is still to
	// be filled: whole sectors of plain extents are read straight into
	// it instead of through buf.
	direct []byte
}

// OpenFile opens inode ino for reading.
func (s *Subvol) OpenFile(ino uint64) (*File, error) {
	f := &File{s: s}
	if err := f.Reopen(ino); err != nil {
		return nil, err
	}
	return f, nil
}

// Reopen makes f read inode ino of the same subvolume, keeping its
// buffers: one File can serve a run of small files without allocating
// for each. On error f is unchanged.
func (f *File) Reopen(ino uint64) error {
	s := f.s
	ii, err := s.Inode(ino)
	if err != nil {
		return err
	}
	if ii.Size > item.MaxFileSize {
		var leaf *ondisk.Node
		if _, leaf, err = s.inodeAt(ino); err != nil {
			return err
		}
		k := ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey}
		return &ondisk.BlockError{Logical: leaf.Bytenr, Tree: s.ID, Key: k.Ptr(), Err: fmt.Errorf("%w: inode %d has i_size %d, beyond the largest file size btrfs allows (%d)", ondisk.ErrCorrupt, ino, ii.Size, int64(item.MaxFileSize))}
	}
	f.Ino, f.inode = ino, ii
	f.Inode = &f.inode
	f.verify = !s.fs.opts.NoDataChecksums && ii.Flags&item.InodeNoDataSum == 0
	f.zAddr = 0
	return nil
}

// maxSymlink bounds a symlink target: PATH_MAX, which btrfs enforces.
const maxSymlink = 4096

// ReadLink returns the target of symlink ino, as stored.
func (s *Subvol) ReadLink(ino uint64) ([]byte, error) {
	f, err := s.OpenFile(ino)
	if err != nil {
		return nil, err
	}
	if f.Inode.Mode&item.ModeTypeMask != item.ModeSymlink {
		return nil, fmt.Errorf("subvolume %d: inode %d is not a symlink", s.ID, ino)
	}
	if f.Size() > maxSymlink {
		return nil, corruptf("subvolume %d: symlink inode %d has a target of %d bytes, over PATH_MAX", s.ID, ino, f.Size())
	}
	b := make([]byte, f.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Size is the file's i_size.
func (f *File) Size() int64 { return int64(f.Inode.Size) }

func (f *File) errorf(off int64, format string, args ...any) error {
	return fmt.Errorf("subvolume %d inode %d offset %d: %s", f.s.ID, f.Ino, off, fmt.Sprintf(format, args...))
}

// ReadAt reads len(p) bytes at off, as the file reads through the kernel:
// holes, prealloc extents and gaps read as zeros; reading stops at i_size.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	size := f.Size()
	if off < 0 {
		return 0, f.errorf(off, "negative offset")
	}
	if off >= size {
		return 0, io.EOF
	}
	end := size
	if int64(len(p)) < size-off { // not off+len(p): it may overflow
		end = off + int64(len(p))
	}
	n := 0
	f.direct = p
	err := f.stream(off, end, func(data []byte, zeros int64) error {
		switch {
		case data == nil:
			clear(p[n : n+int(zeros)])
			n += int(zeros)
		case len(data) > 0 && &data[0] == &p[n]: // read in place
			n += len(data)
		default:
			n += copy(p[n:], data)
		}
		f.direct = p[n:]
		return nil
	})
	f.direct = nil
	if err == nil && end == size {
		err = io.EOF
	}
	return n, err
}

// WriteTo writes the file's contents to w, the bytes ReadAt reads, in one
// pass over the extent and checksum items and through buffers of at most
// 1 MiB: memory does not grow with the file. A file of more than 2 MiB is
// read by several goroutines (Options.Workers) a few MiB ahead of w.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if workers := f.workers(); workers > 1 && f.Size() > 2*chunkBytes {
		return f.writeToParallel(w, workers)
	}
	var n int64
	err := f.stream(0, f.Size(), func(data []byte, zeros int64) error {
		for zeros > 0 {
			// The read buffer serves as zeros, cleared for each write in
			// case the writer broke the rule not to modify it.
			z := f.buffer(int(min(zeros, maxReadChunk)))
			clear(z)
			zeros -= int64(len(z))
			if err := writeCounted(w, z, &n); err != nil {
				return err
			}
		}
		return writeCounted(w, data, &n)
	})
	return n, err
}

// writeCounted writes all of p to w, adding what was written to *n.
func writeCounted(w io.Writer, p []byte, n *int64) error {
	if len(p) == 0 {
		return nil
	}
	m, err := w.Write(p)
	*n += int64(m)
	if err == nil && m < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// emitFunc receives a file's bytes in order: data, which is only valid
// during the call, or when data is nil a run of zeros.
type emitFunc func(data []byte, zeros int64) error

// stream produces the file's bytes in [off, end), end <= i_size, walking
// the extent items in file order.
func (f *File) stream(off, end int64, emit emitFunc) error {
	c, err := f.seekExtent(off)
	if err != nil {
		return err
	}
	for pos := off; pos < end; {
		if !f.onExtent(c) {
			return emit(nil, end-pos) // implicit hole up to i_size
		}
		k := c.Key()
		fe, err := item.ParseFileExtent(c.Data())
		if err != nil {
			return itemError(c, f.s.ID, err)
		}
		if l := fileLen(&fe); k.Offset > item.MaxFileSize || l > item.MaxFileSize-k.Offset {
			return itemError(c, f.s.ID, fmt.Errorf("%w: extent of %d bytes at file offset %d ends past the largest file size", ondisk.ErrCorrupt, l, k.Offset))
		}
		extStart := int64(k.Offset)
		extEnd := extStart + int64(fileLen(&fe))
		switch {
		case extEnd <= pos:
			err = c.Next()
		case extStart > pos:
			gapEnd := min(extStart, end)
			err = emit(nil, gapEnd-pos)
			pos = gapEnd
		default:
			n := min(end, extEnd) - pos
			if err = f.emitExtent(c, &fe, pos-extStart, n, emit); err == nil {
				pos += n
				if pos < end {
					err = c.Next()
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// seekExtent positions f.ext on the extent item covering off, or the
// file's first extent item when none starts at or before off.
func (f *File) seekExtent(off int64) (*btree.Cursor, error) {
	k := ondisk.Key{ObjectID: f.Ino, Type: ondisk.ExtentDataKey, Offset: uint64(off)}
	var err error
	if f.ext == nil {
		f.ext, err = f.s.Tree.SeekLE(k)
	} else {
		err = f.ext.SeekLE(k)
	}
	if err != nil {
		return nil, err
	}
	if !f.onExtent(f.ext) {
		k.Offset = 0
		if err := f.ext.Seek(k); err != nil {
			return nil, err
		}
	}
	return f.ext, nil
}

func (f *File) onExtent(c *btree.Cursor) bool {
	if !c.Valid() {
		return false
	}
	k := c.Key()
	return k.ObjectID == f.Ino && k.Type == ondisk.ExtentDataKey
}

// emitExtent emits n bytes of the extent starting at rel, its offset
// within the extent's file range.
func (f *File) emitExtent(c *btree.Cursor, fe *item.FileExtent, rel, n int64, emit emitFunc) error {
	switch {
	case fe.Type == item.FileExtentInline:
		data := fe.InlineData
		if fe.Compression != item.CompressNone {
			if fe.RAMBytes > uint64(f.s.fs.vol.SectorSize()) {
				return itemError(c, f.s.ID, fmt.Errorf("%w: compressed inline extent claims %d decoded bytes, more than a sector", ondisk.ErrCorrupt, fe.RAMBytes))
			}
			f.zAddr = 0 // zBuf is about to hold something else
			if err := f.decode(fe.Compression, fe.InlineData, int(fe.RAMBytes), 0); err != nil {
				return itemError(c, f.s.ID, err)
			}
			data = f.zBuf
		}
		return emitPadded(data, uint64(rel), n, emit)
	case fe.Type == item.FileExtentPrealloc || fe.DiskBytenr == 0:
		return emit(nil, n)
	case fe.Compression != item.CompressNone:
		if f.zAddr != fe.DiskBytenr {
			f.zAddr = 0
			if fe.DiskNumBytes > compression.MaxUnit || fe.RAMBytes > compression.MaxUnit {
				return itemError(c, f.s.ID, fmt.Errorf("%w: compressed extent of %d bytes (%d decoded) is larger than btrfs writes", ondisk.ErrCorrupt, fe.DiskNumBytes, fe.RAMBytes))
			}
			if f.raw == nil {
				f.raw = make([]byte, compression.MaxUnit)
			}
			raw := f.raw[:fe.DiskNumBytes]
			if err := f.readVerified(raw, fe.DiskBytenr); err != nil {
				return err
			}
			// A ReadAt that takes the whole extent gets it decoded in
			// place, saving a copy through zBuf (capacity capped at the
			// caller's length: past it is not ours to write).
			if fe.Offset == 0 && rel == 0 && uint64(n) == fe.RAMBytes && int64(len(f.direct)) >= n {
				dst := f.direct[:n:len(f.direct)]
				if err := f.decodeInto(dst, fe.Compression, raw, fe.DiskBytenr); err != nil {
					return itemError(c, f.s.ID, err)
				}
				return emit(dst, 0)
			}
			if err := f.decode(fe.Compression, raw, int(fe.RAMBytes), fe.DiskBytenr); err != nil {
				return itemError(c, f.s.ID, err)
			}
			f.zAddr = fe.DiskBytenr
		}
		start := uint64(len(f.zBuf))
		if fe.Offset < start {
			start = fe.Offset + uint64(rel)
		}
		return emitPadded(f.zBuf, start, n, emit)
	default:
		return f.emitPlain(fe.DiskBytenr+fe.Offset+uint64(rel), n, emit)
	}
}

// emitPadded emits n bytes of data from start on, zeros past its end.
func emitPadded(data []byte, start uint64, n int64, emit emitFunc) error {
	data = data[min(start, uint64(len(data))):]
	m := min(int64(len(data)), n)
	if m > 0 {
		if err := emit(data[:m], 0); err != nil {
			return err
		}
	}
	if m < n {
		return emit(nil, n-m)
	}
	return nil
}

// fileLen is how many bytes of the file an extent covers: its decoded
// size for inline extents, num_bytes otherwise.
func fileLen(fe *item.FileExtent) uint64 {
	if fe.Type == item.FileExtentInline {
		return fe.RAMBytes
	}
	return fe.NumBytes
}

// decode decompresses src into f.zBuf (ramBytes long, zero-filled past what
// the data yields, as the kernel does).
func (f *File) decode(alg item.Compression, src []byte, ramBytes int, addr uint64) error {
	if cap(f.zBuf) < ramBytes+compression.Slack {
		f.zBuf = make([]byte, ramBytes, ramBytes+compression.Slack)
	}
	f.zBuf = f.zBuf[:ramBytes]
	return f.decodeInto(f.zBuf, alg, src, addr)
}

// decodeInto decompresses src into all of dst, zero-filled past what the
// data yields; addr is the extent's logical address, 0 for inline data.
func (f *File) decodeInto(dst []byte, alg item.Compression, src []byte, addr uint64) error {
	// Decoders come from a pool rather than one per File: a zstd decoder
	// allocates some 190 KiB on first use, a lot for a small file.
	_, err := compression.Decompress(dst, alg, src, int(f.s.fs.vol.SectorSize()))
	if err != nil {
		if addr != 0 {
			return fmt.Errorf("compressed extent at logical %d: %w", addr, err)
		}
		return fmt.Errorf("inline compressed extent: %w", err)
	}
	return nil
}

// buffer returns f.buf resized to n bytes (n <= maxReadChunk), growing it
// only as far as reads need, so small files keep small buffers.
func (f *File) buffer(n int) []byte {
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	return f.buf[:n]
}

// emitPlain emits n bytes of uncompressed data at logical, read
// sector-aligned and checksum-verified in chunks of at most maxReadChunk.
func (f *File) emitPlain(logical uint64, n int64, emit emitFunc) error {
	ss := uint64(f.s.fs.vol.SectorSize())
	for n > 0 {
		start := logical &^ (ss - 1)
		skip := logical - start
		if whole := min(uint64(n), uint64(len(f.direct)), maxReadChunk) &^ (ss - 1); skip == 0 && whole > 0 {
			buf := f.direct[:whole]
			if err := f.readVerified(buf, start); err != nil {
				return err
			}
			if err := emit(buf, 0); err != nil {
				return err
			}
			logical += whole
			n -= int64(whole)
			continue
		}
		span := min(uint64(maxReadChunk), (skip+uint64(n)+ss-1)&^(ss-1))
		buf := f.buffer(int(span))
		if err := f.readVerified(buf, start); err != nil {
			return err
		}
		m := min(uint64(n), span-skip)
		if err := emit(buf[skip:skip+m], 0); err != nil {
			return err
		}
		logical += m
		n -= int64(m)
	}
	return nil
}

// ReadRaw reads the stored bytes of one of the file's extents, compressed
// or not, at logical (sector-aligned, as extents are): the bytes as they
// are on disk, verified against the checksum tree with fallback to other
// copies, for passing compressed data through without decoding it.
func (f *File) ReadRaw(p []byte, logical uint64) error {
	if err := f.readVerified(p, logical); err != nil {
		return fmt.Errorf("subvolume %d inode %d: extent at logical %d: %w", f.s.ID, f.Ino, logical, err)
	}
	return nil
}

// readVerified reads buf at logical (both sector-aligned), checking every
// sector that has a checksum and falling back to other copies.
func (f *File) readVerified(buf []byte, logical uint64) error {
	fs := f.s.fs
	if !f.verify {
		return fs.vol.ReadLogical(buf, volume.Logical(logical))
	}
	if err := f.lookupCsums(logical, len(buf)); err != nil {
		return err
	}
	ss := int(fs.vol.SectorSize())
	return fs.vol.ReadVerified(buf, volume.Logical(logical), ss, func(b []byte, at volume.Logical) error {
		i := int(uint64(at)-logical) / ss
		return fs.checkCsums(b, uint64(at), f.sums[i*fs.vol.CsumType().Size():], f.have[i:])
	})
}

// Range is a byte range of a file.
type Range struct {
	Off, Len int64
}

// DataRanges iterates, in order and merged where adjacent, the ranges of
// the file that hold data as lseek's SEEK_DATA and SEEK_HOLE report them
// on the kernel's mount: regular and inline extents are data, in whole
// sectors; holes (explicit, or gaps between extents) and preallocated
// extents are not, since the kernel's lseek counts unwritten extents as
// holes. Ranges stop at i_size. Only extent items are read, not data.
func (f *File) DataRanges() iter.Seq2[Range, error] {
	return func(yield func(Range, error) bool) {
		size := f.Size()
		sector := int64(f.s.fs.vol.SectorSize())
		var cur Range
		for it, err := range f.s.Tree.ObjectItems(f.Ino, ondisk.ExtentDataKey) {
			if err != nil {
				yield(Range{}, err)
				return
			}
			fe, err := item.ParseFileExtent(it.Data)
			if err != nil {
				k := it.Key
				yield(Range{}, &ondisk.BlockError{Tree: f.s.ID, Key: k.Ptr(), Err: err})
				return
			}
			if fe.Type == item.FileExtentPrealloc || fe.Type != item.FileExtentInline && fe.DiskBytenr == 0 || it.Key.Offset >= uint64(size) {
				continue
			}
			// size <= MaxFileSize (OpenFile checks it): the sum cannot wrap.
			// The kernel's lseek works in whole sectors: an inline extent
			// shorter than its sector, followed by a hole, is data up to the
			// sector's end. (GNU tar also needs every range but the last to
			// be a whole number of its 512-byte blocks.)
			start := int64(it.Key.Offset) &^ (sector - 1)
			end := int64(min(it.Key.Offset+min(fileLen(&fe), item.MaxFileSize), uint64(size)))
			end = min((end+sector-1)&^(sector-1), size)
			if start >= end {
				continue
			}
			if cur.Len > 0 && cur.Off+cur.Len >= start {
				cur.Len = max(cur.Len, end-cur.Off)
				continue
			}
			if cur.Len > 0 && !yield(cur, nil) {
				return
			}
			cur = Range{start, end - start}
		}
		if cur.Len > 0 {
			yield(cur, nil)
		}
	}
}
