// Package compression decodes the compressed extents of btrfs: zlib, LZO
// (in btrfs's own segment framing) and zstd.
//
// A compressed extent is one unit, read whole from disk (disk_num_bytes
// bytes from disk_bytenr) or taken from an inline file extent item (the
// bytes after its 21-byte header), that decodes to at most MaxUnit bytes.
// Decoding follows the kernel's readers rather than the formats' own
// specifications wherever the two differ: zlib's Adler-32 is not checked,
// trailing padding is ignored, and decoding stops as soon as the output is
// full, so corruption after that point goes unnoticed, as in the kernel.
//
// LZO1X is decoded by the package's own port of the kernel's
// lzo1x_decompress_safe (lzo1x.go), which copies 8 and 16 bytes at a time:
// about 2.7 times the speed of github.com/anchore/go-lzo, the library it
// replaced, which its fuzz target now checks it against.
package compression
