package compression

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
)

// FuzzDecompress checks that no input panics, that errors wrap
// ErrCorrupt, and that a Decoder reused across inputs gives the same
// result as a fresh one.
func FuzzDecompress(f *testing.F) {
	for _, e := range loadExtents(f) {
		f.Add(e.alg, e.src, uint32(e.ram), uint8(0))
	}
	reused := new(Decoder)
	f.Fuzz(func(t *testing.T, alg uint8, src []byte, dstLen uint32, sectorShift uint8) {
		alg = 1 + alg%3
		sectorSize := 4096 << (sectorShift % 5)
		dst := make([]byte, dstLen%(2*MaxUnit))
		n, err := reused.Decompress(dst, alg, src, sectorSize)
		if err != nil && !errors.Is(err, ondisk.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if n < 0 || n > len(dst) {
			t.Fatalf("produced %d bytes into %d", n, len(dst))
		}
		if err != nil {
			return
		}
		fresh := make([]byte, len(dst))
		n2, err2 := new(Decoder).Decompress(fresh, alg, src, sectorSize)
		if err2 != nil || n2 != n || !bytes.Equal(fresh[:n2], dst[:n]) {
			t.Fatalf("fresh decoder: %d bytes, %v; reused: %d bytes", n2, err2, n)
		}
	})
}
