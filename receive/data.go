package receive

import (
	"errors"
	"fmt"
	"io"
	"os"

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
	src, err := openNoatime(srcRoot, srcPath)
	if err != nil {
		return err
	}
	defer src.Close()
	off, srcOff, n := int64(c.U64(stream.AttrFileOffset)), int64(c.U64(stream.AttrCloneOffset)), int64(c.U64(stream.AttrCloneLen))
	if off < 0 || srcOff < 0 || n < 0 {
		return fmt.Errorf("clone range out of bounds: offset %d, source offset %d, length %d", off, srcOff, n)
	}
	err = cloneRange(dst, off, src, srcOff, n)
	if err == nil {
		return nil
	}
	if !isUnsupported(err) {
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

// copyRange copies n bytes from src at srcOff to dst at off through a
// bounded buffer; a source shorter than the range copies what it has, as
// a clone of a range past EOF would. Overlapping ranges of one file are
// copied back to front when the destination is the later one.
func copyRange(dst *os.File, off int64, src *os.File, srcOff, n int64) (int64, error) {
	buf := make([]byte, min(n, copyBuffer))
	backwards := sameFile(dst, src) && off > srcOff && off < srcOff+n
	var done int64
	for done < n {
		k := min(n-done, int64(len(buf)))
		at := done
		if backwards {
			at = n - done - k
		}
		m, err := src.ReadAt(buf[:k], srcOff+at)
		if m > 0 {
			if _, werr := dst.WriteAt(buf[:m], off+at); werr != nil {
				return done, werr
			}
		}
		done += int64(m)
		if errors.Is(err, io.EOF) {
			return done, nil
		}
		if err != nil {
			return done, err
		}
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
