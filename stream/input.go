package stream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression names a container recognised around a stream.
type Compression string

const (
	Uncompressed Compression = ""
	Zstd         Compression = "zstd"
	LZ4          Compression = "lz4"
	Gzip         Compression = "gzip"
)

var magics = []struct {
	magic []byte
	kind  Compression
}{
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd},
	{[]byte{0x04, 0x22, 0x4d, 0x18}, LZ4},
	{[]byte{0x1f, 0x8b}, Gzip},
}

// Decompress recognises zstd, lz4 (frame format) and gzip input by its
// magic number and returns a reader of the decompressed bytes; anything
// else is passed through unchanged. Offsets reported by Reader then refer
// to the decompressed stream. Close releases the decompressor (not r).
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	for _, m := range magics {
		if !bytes.HasPrefix(head, m.magic) {
			continue
		}
		switch m.kind {
		case Zstd:
			d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, "", fmt.Errorf("zstd input: %w", err)
			}
			return zstdCloser{d}, Zstd, nil
		case LZ4:
			return io.NopCloser(lz4.NewReader(br)), LZ4, nil
		case Gzip:
			g, err := gzip.NewReader(br)
			if err != nil {
				return nil, "", fmt.Errorf("gzip input: %w", err)
			}
			return g, Gzip, nil
		}
	}
	return io.NopCloser(br), Uncompressed, nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }
