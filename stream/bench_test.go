package stream_test

import (
	"io"
	"testing"

	"github.com/coldsend/coldsend/internal/synthstream"
	"github.com/coldsend/coldsend/stream"
)

// BenchmarkDecode decodes a 2 GiB stream of 48 KiB writes (CRC checked,
// attributes parsed, data handed out in place).
func BenchmarkDecode(b *testing.B) {
	const size = 2 << 30
	b.SetBytes(size)
	for b.Loop() {
		src, err := synthstream.New(size, 1)
		if err != nil {
			b.Fatal(err)
		}
		r := stream.NewReader(src)
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
