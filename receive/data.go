package receive

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/coldsend/coldsend/internal/destfs"

	"github.com/coldsend/coldsend/ondisk/compression"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// clone applies CLONE: a reflink of the range where the filesystem can,
// a copy of its bytes otherwise.
func (r *receiver) clone(c *stream.Command, p string) error {
	srcRoot, err := r.cloneSource(c)
	if err != nil {
		return err
	}
	srcPath, err := streamPath(c.CString(stream.AttrClonePath))
	if err != nil {
		return err
	}
	dst, err := r.writeFile(p)
	if err != nil {
		return err
	}
	// Reading the source must not change its access time, which the
	// stream may already have set.
	src, err := destfs.OpenRegular(srcRoot, srcPath, os.O_RDONLY|destfs.ONoatime)
	if destfs.IsPermission(err) {
		src, err = destfs.OpenRegular(srcRoot, srcPath, os.O_RDONLY)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	off, srcOff, n := int64(c.U64(stream.AttrFileOffset)), int64(c.U64(stream.AttrCloneOffset)), int64(c.U64(stream.AttrCloneLen))
	if off < 0 || srcOff < 0 || n < 0 {
		return fmt.Errorf("clone range out of bounds: offset %d, source offset %d, length %d", off, srcOff, n)
	}
	err = destfs.CloneRange(dst, off, src, srcOff, n)
	if err == nil {
		return nil
	}
	if !destfs.IsUnsupported(err) {
		return err
	}
	if err := r.skip(SkipReflink, err); err != nil {
		return err
	}
	copied, err := copyRange(dst, off, src, srcOff, n)
	r.sum.DataBytes += copied
	return err
}

// copyBuffer is the largest piece a copy moves at once.
const copyBuffer = 1 << 20

// copyRange copies n bytes from src at srcOff to dst at off, as a clone
// would leave them: a source shorter than the range copies what it has.
// Only the source's data is read; its holes become holes (or zeros) in
// dst, so a stream cannot make the receive read or write terabytes of a
// sparse file. Overlapping ranges of one file are copied through a
// bounded buffer in the safe direction.
func copyRange(dst *os.File, off int64, src *os.File, srcOff, n int64) (int64, error) {
	fi, err := src.Stat()
	if err != nil {
		return 0, err
	}
	n = max(0, min(n, fi.Size()-srcOff))
	if sameFile(dst, src) && off < srcOff+n && srcOff < off+n {
		return copyOverlapping(dst, off, srcOff, n)
	}
	var copied int64
	buf := make([]byte, min(n, copyBuffer))
	for pos, end := srcOff, srcOff+n; pos < end; {
		data, hole := destfs.DataExtent(src, pos, end)
		if data > pos {
			if err := destfs.ZeroRange(dst, off+pos-srcOff, data-pos); err != nil {
				return copied, err
			}
		}
		for at := data; at < hole; {
			k := min(hole-at, int64(len(buf)))
			m, err := src.ReadAt(buf[:k], at)
			if m > 0 {
				if _, werr := dst.WriteAt(buf[:m], off+at-srcOff); werr != nil {
					return copied, werr
				}
				copied += int64(m)
			}
			if errors.Is(err, io.EOF) || m == 0 && err == nil {
				break // the file shrank under us: copy what there is
			}
			if err != nil {
				return copied, err
			}
			at += int64(m)
		}
		pos = hole
	}
	// A clone ending in a hole still makes the file that long.
	if dfi, err := dst.Stat(); err == nil && dfi.Size() < off+n {
		return copied, dst.Truncate(off + n)
	}
	return copied, nil
}

// copyOverlapping copies within one file, back to front when the
// destination is the later range.
func copyOverlapping(f *os.File, off, srcOff, n int64) (int64, error) {
	buf := make([]byte, min(n, copyBuffer))
	var done int64
	for done < n {
		k := min(n-done, int64(len(buf)))
		at := done
		if off > srcOff {
			at = n - done - k
		}
		if _, err := f.ReadAt(buf[:k], srcOff+at); err != nil && !errors.Is(err, io.EOF) {
			return done, err
		}
		if _, err := f.WriteAt(buf[:k], off+at); err != nil {
			return done, err
		}
		done += k
	}
	return done, nil
}

func sameFile(a, b *os.File) bool {
	fa, err1 := a.Stat()
	fb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// encodedWrite applies ENCODED_WRITE by decompressing, as btrfs receive
// --force-decompress does: the unencoded_file_len bytes at
// unencoded_offset of the decompressed data go to the file offset.
func (r *receiver) encodedWrite(c *stream.Command, p string) error {
	if enc := c.U64(stream.AttrEncryption); enc != 0 {
		return fmt.Errorf("encrypted data (encryption %d) cannot be written", enc)
	}
	alg, sector, err := encodedCompression(c.U64(stream.AttrCompression))
	if err != nil {
		return err
	}
	fileLen, unLen, unOff := c.U64(stream.AttrUnencodedFileLen), c.U64(stream.AttrUnencodedLen), c.U64(stream.AttrUnencodedOffset)
	if unLen > compression.MaxUnit || unOff > unLen || fileLen > unLen-unOff {
		return fmt.Errorf("unencoded_len %d, unencoded_offset %d, unencoded_file_len %d: out of bounds (at most %d bytes decompress)", unLen, unOff, fileLen, compression.MaxUnit)
	}
	buf := make([]byte, unLen)
	if _, err := compression.Decompress(buf, alg, c.Bytes(stream.AttrData), sector); err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	f, err := r.writeFile(p)
	if err != nil {
		return err
	}
	n, err := f.WriteAt(buf[unOff:unOff+fileLen], int64(c.U64(stream.AttrFileOffset)))
	r.sum.DataBytes += int64(n)
	return err
}

// encodedCompression maps the stream's BTRFS_ENCODED_IO_COMPRESSION_*
// value to the extent compression and, for LZO, its sector size.
func encodedCompression(v uint64) (item.Compression, int, error) {
	switch {
	case v == 1:
		return item.CompressZlib, 4096, nil
	case v == 2:
		return item.CompressZstd, 4096, nil
	case v >= 3 && v <= 7: // LZO with 4 KiB to 64 KiB sectors
		return item.CompressLZO, 1 << (v - 3 + 12), nil
	}
	return 0, 0, fmt.Errorf("compression %d is not one btrfs encodes", v)
}
