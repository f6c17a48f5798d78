package fstree

import (
	"fmt"
	"io"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/compression"
)

// maxReadChunk bounds one device read while streaming file data, so memory
// stays flat whatever the file size.
const maxReadChunk = 1 << 20

// File reads the contents of a regular file (or a symlink's target).
// It is not safe for concurrent use: it keeps buffers and the last
// decompressed extent.
type File struct {
	s      *Subvol
	Ino    uint64
	Inode  *ondisk.InodeItem
	verify bool

	buf   []byte // device read buffer, at most maxReadChunk
	sums  []byte // expected checksums for buf
	have  []bool // which sectors of buf have a checksum
	zAddr uint64 // disk_bytenr of the extent decoded in zBuf, 0 if none
	zBuf  []byte
	dec   *compression.Decoder
}

// OpenFile opens inode ino for reading.
func (s *Subvol) OpenFile(ino uint64) (*File, error) {
	ii, err := s.Inode(ino)
	if err != nil {
		return nil, err
	}
	return &File{
		s: s, Ino: ino, Inode: ii,
		verify: !s.fs.opts.NoDataChecksums && ii.Flags&ondisk.InodeNoDataSum == 0,
	}, nil
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
	end := min(off+int64(len(p)), size)
	tree := f.s.Tree
	c, err := tree.SeekLE(ondisk.Key{ObjectID: f.Ino, Type: ondisk.ExtentDataKey, Offset: uint64(off)})
	if err != nil {
		return 0, err
	}
	if !c.Valid() || c.Key().ObjectID != f.Ino || c.Key().Type != ondisk.ExtentDataKey {
		if c, err = tree.Seek(ondisk.Key{ObjectID: f.Ino, Type: ondisk.ExtentDataKey}); err != nil {
			return 0, err
		}
	}
	pos := off
	for pos < end {
		if !c.Valid() || c.Key().ObjectID != f.Ino || c.Key().Type != ondisk.ExtentDataKey {
			clear(p[pos-off : end-off]) // implicit hole up to i_size
			pos = end
			break
		}
		k := c.Key()
		fe, err := ondisk.ParseFileExtentItem(c.Data())
		if err != nil {
			return int(pos - off), itemError(c, f.s.ID, err)
		}
		extStart := int64(k.Offset)
		extEnd := extStart + fileLength(&fe)
		switch {
		case extEnd <= pos:
			err = c.Next()
		case extStart > pos:
			gapEnd := min(extStart, end)
			clear(p[pos-off : gapEnd-off])
			pos = gapEnd
		default:
			n := min(end, extEnd) - pos
			if err = f.readExtent(p[pos-off:pos-off+n], c, &fe, pos-extStart); err == nil {
				pos += n
				err = c.Next()
			}
		}
		if err != nil {
			return int(pos - off), err
		}
	}
	if pos == size {
		return int(pos - off), io.EOF
	}
	return int(pos - off), nil
}

// readExtent fills dst with the extent's bytes starting at rel, its offset
// within the extent's file range.
func (f *File) readExtent(dst []byte, c *btree.Cursor, fe *ondisk.FileExtentItem, rel int64) error {
	switch {
	case fe.Type == ondisk.FileExtentInline:
		if fe.Compression == ondisk.CompressNone {
			n := copy(dst, fe.InlineData[min(rel, int64(len(fe.InlineData))):])
			clear(dst[n:])
			return nil
		}
		if fe.RAMBytes > uint64(f.s.fs.vol.SectorSize()) {
			return itemError(c, f.s.ID, fmt.Errorf("%w: compressed inline extent claims %d decoded bytes, more than a sector", ondisk.ErrCorrupt, fe.RAMBytes))
		}
		if err := f.decode(fe.Compression, fe.InlineData, int(fe.RAMBytes), 0); err != nil {
			return itemError(c, f.s.ID, err)
		}
		n := copy(dst, f.zBuf[min(rel, int64(len(f.zBuf))):])
		clear(dst[n:])
		return nil
	case fe.Type == ondisk.FileExtentPrealloc || fe.DiskBytenr == 0:
		clear(dst)
		return nil
	case fe.Compression != ondisk.CompressNone:
		if f.zAddr != fe.DiskBytenr {
			f.zAddr = 0
			if fe.DiskNumBytes > compression.MaxUnit || fe.RAMBytes > compression.MaxUnit {
				return itemError(c, f.s.ID, fmt.Errorf("%w: compressed extent of %d bytes (%d decoded) is larger than btrfs writes", ondisk.ErrCorrupt, fe.DiskNumBytes, fe.RAMBytes))
			}
			raw := make([]byte, fe.DiskNumBytes)
			if err := f.readVerified(raw, fe.DiskBytenr); err != nil {
				return err
			}
			if err := f.decode(fe.Compression, raw, int(fe.RAMBytes), fe.DiskBytenr); err != nil {
				return itemError(c, f.s.ID, err)
			}
			f.zAddr = fe.DiskBytenr
		}
		start := int64(fe.Offset) + rel
		n := copy(dst, f.zBuf[min(start, int64(len(f.zBuf))):])
		clear(dst[n:])
		return nil
	default:
		return f.readPlain(dst, fe.DiskBytenr+fe.Offset+uint64(rel))
	}
}

// fileLength is how many bytes of the file an extent covers: its decoded
// size for inline extents, num_bytes otherwise.
func fileLength(fe *ondisk.FileExtentItem) int64 {
	if fe.Type == ondisk.FileExtentInline {
		return int64(fe.RAMBytes)
	}
	return int64(fe.NumBytes)
}

// decode decompresses src into f.zBuf (ramBytes long, zero-filled past what
// the data yields, as the kernel does).
func (f *File) decode(alg uint8, src []byte, ramBytes int, addr uint64) error {
	if cap(f.zBuf) < ramBytes {
		f.zBuf = make([]byte, ramBytes)
	}
	f.zBuf = f.zBuf[:ramBytes]
	if f.dec == nil {
		f.dec = new(compression.Decoder)
	}
	n, err := f.dec.Decompress(f.zBuf, alg, src, int(f.s.fs.vol.SectorSize()))
	if err != nil {
		if addr != 0 {
			return fmt.Errorf("compressed extent at logical %d: %w", addr, err)
		}
		return fmt.Errorf("inline compressed extent: %w", err)
	}
	clear(f.zBuf[n:])
	return nil
}

// readPlain reads uncompressed data at logical into dst, sector-aligned
// and checksum-verified chunk by chunk.
func (f *File) readPlain(dst []byte, logical uint64) error {
	ss := uint64(f.s.fs.vol.SectorSize())
	for len(dst) > 0 {
		start := logical &^ (ss - 1)
		skip := logical - start
		span := min(uint64(maxReadChunk), (skip+uint64(len(dst))+ss-1)&^(ss-1))
		if cap(f.buf) < int(span) {
			f.buf = make([]byte, maxReadChunk)
		}
		buf := f.buf[:span]
		if err := f.readVerified(buf, start); err != nil {
			return err
		}
		n := copy(dst, buf[skip:])
		dst = dst[n:]
		logical += uint64(n)
	}
	return nil
}

// readVerified reads buf at logical (both sector-aligned), checking every
// sector that has a checksum and falling back to other copies.
func (f *File) readVerified(buf []byte, logical uint64) error {
	fs := f.s.fs
	if !f.verify {
		return fs.vol.ReadLogical(buf, logical)
	}
	if err := fs.lookupCsums(logical, len(buf), &f.sums, &f.have); err != nil {
		return err
	}
	return fs.vol.ReadVerified(buf, logical, func(b []byte) error {
		return fs.checkCsums(b, logical, f.sums, f.have)
	})
}
