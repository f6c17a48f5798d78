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
// LZO1X and DEFLATE are decoded by the package's own code, written for
// speed where the libraries it replaced were the bottleneck of reading
// compressed files (docs/PERFORMANCE.md, *Own decoders for LZO and zlib*):
// lzo1x.go ports the kernel's lzo1x_decompress_safe with wide copies, and
// inflate.go decodes a whole extent straight into its output. Fuzz targets
// check each against an independent decoder (github.com/anchore/go-lzo,
// the standard library's compress/flate). zstd stays with
// github.com/klauspost/compress.
package compression
