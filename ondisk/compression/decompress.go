package compression

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// MaxUnit is the most a compressed extent decodes to (BTRFS_MAX_COMPRESSED),
// and also the most it occupies on disk.
const MaxUnit = 128 << 10

// Slack is the spare capacity past len(dst) that lets Decompress decode
// zstd straight into dst with the decoder's fast loops; it may overwrite
// those bytes. Without it, zstd is decoded into a scratch buffer and
// copied.
const Slack = 16

// Decoder decodes compressed extents, keeping its decompressors and
// buffers between calls. The zero value is ready to use. A Decoder must not
// be used concurrently.
type Decoder struct {
	inflate *inflater     // made on first zlib use
	zstd    *zstd.Decoder // made on first zstd use
	scratch []byte        // for output that does not fit in dst
}

var pool = sync.Pool{New: func() any { return new(Decoder) }}

// Decompress decodes src with a pooled Decoder; see Decoder.Decompress.
func Decompress(dst []byte, alg item.Compression, src []byte, sectorSize int) (int, error) {
	d := pool.Get().(*Decoder)
	defer pool.Put(d)
	return d.Decompress(dst, alg, src, sectorSize)
}

// Decompress decodes the compressed extent src, compressed with alg
// (item.CompressZlib, CompressLZO or CompressZstd), into dst, stopping
// once len(dst) bytes are produced. It returns how many bytes it produced;
// when the data ends early that is less than len(dst) and the rest of dst
// is set to zeros, which is what the kernel reads there for regular
// extents (for inline extents it reports an I/O error instead).
// sectorSize is the filesystem's; the LZO framing depends on it.
//
// Corrupt input gives an error wrapping ondisk.ErrCorrupt that names the
// algorithm and the byte offset in src where decoding failed. Bytes written
// to dst before an error are not meaningful.
func (d *Decoder) Decompress(dst []byte, alg item.Compression, src []byte, sectorSize int) (int, error) {
	if sectorSize < 512 || sectorSize > 1<<16 || sectorSize&(sectorSize-1) != 0 {
		return 0, fmt.Errorf("compression: bad sector size %d", sectorSize)
	}
	var n int
	var err error
	switch alg {
	case item.CompressZlib:
		n, err = d.zlib(dst, src)
	case item.CompressLZO:
		n, err = d.lzo(dst, src, sectorSize)
	case item.CompressZstd:
		n, err = d.zstdDecode(dst, src)
	default:
		return 0, fmt.Errorf("compression: unknown compression type %d", uint8(alg))
	}
	if err == nil {
		// Also wipes what the LZO decoder's wide copies left past n.
		clear(dst[n:])
	}
	return n, err
}

// corrupt reports bad compressed data at byte off of the input.
func corrupt(alg string, off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s data at byte %d: %s", ondisk.ErrCorrupt, alg, off, fmt.Sprintf(format, args...))
}

// corruptErr is corrupt for a failure reported by a decompression library.
func corruptErr(alg string, off int, err error) error {
	return fmt.Errorf("%w: %s data at byte %d: %w", ondisk.ErrCorrupt, alg, off, err)
}

// zlib skips a valid zlib header and inflates the raw deflate stream after
// it, so the Adler-32 trailer is never checked; the kernel does the same.
// Whatever follows the end of the stream is padding.
func (d *Decoder) zlib(dst, src []byte) (int, error) {
	if len(src) <= 2 {
		return 0, corrupt("zlib", 0, "%d bytes cannot hold a stream", len(src))
	}
	cmf, flg := src[0], src[1]
	switch {
	case cmf&0x0f != 8 || (uint(cmf)<<8|uint(flg))%31 != 0:
		return 0, corrupt("zlib", 0, "invalid header %#02x %#02x", cmf, flg)
	case flg&0x20 != 0:
		return 0, corrupt("zlib", 1, "header asks for a preset dictionary")
	case cmf>>4 > 7:
		// The kernel's inflateInit2 rejects windows above 32 KiB.
		return 0, corrupt("zlib", 0, "window size 2^%d exceeds 32 KiB", cmf>>4+8)
	}
	if d.inflate == nil {
		d.inflate = new(inflater)
	}
	n, err := d.inflate.inflate(dst, src[2:])
	if err != nil {
		off := 2 + d.inflate.consumed()
		if err == errInflateEOF {
			off = len(src)
		}
		return n, corruptErr("zlib", off, err)
	}
	return n, nil
}

// out returns where to decode up to size bytes meant for dst, with slack
// bytes of spare capacity after them: dst itself when it has the room
// (direct), else the Decoder's scratch buffer, from which the caller
// copies what fits.
func (d *Decoder) out(dst []byte, size, slack int) (buf []byte, direct bool) {
	if len(dst) >= size && cap(dst)-size >= slack {
		return dst[: size : size+slack], true
	}
	if cap(d.scratch) < size+slack {
		d.scratch = make([]byte, max(size, MaxUnit)+slack)
	}
	return d.scratch[: size : size+slack], false
}
