package compression

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// FuzzDecompress checks that no input panics, that errors wrap
// ErrCorrupt, that a success leaves zeros in dst past what it produced,
// and that a Decoder reused across inputs gives the same result as a
// fresh one (into a buffer without Slack). An input damages one of the
// kernel's extents: a few bytes overlaid somewhere, optionally cut short,
// decoded as any algorithm into a buffer of any size, with or without
// Slack. Small inputs keep the fuzzer's minimisation (quadratic in the
// input's length) cheap.
func FuzzDecompress(f *testing.F) {
	exts := loadExtents(f)
	for i, e := range exts {
		f.Add(uint8(i), uint16(0), []byte{}, uint16(0), uint8(e.alg-1), uint32(e.ram), uint8(0))
	}
	f.Add(uint8(0), uint16(2), []byte{0xff, 0xff}, uint16(0), uint8(0), uint32(MaxUnit), uint8(0))
	f.Add(uint8(13), uint16(4), []byte{0, 0, 0, 0x40}, uint16(100), uint8(1), uint32(MaxUnit), uint8(0))
	reused := new(Decoder)
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, cut uint16, algPick uint8, dstLen uint32, sectorShift uint8) {
		src := bytes.Clone(exts[int(which)%len(exts)].src)
		if len(src) > 0 {
			copy(src[int(at)%len(src):], patch)
			if cut > 0 {
				src = src[:int(cut)%len(src)]
			}
		}
		alg := item.Compression(1 + algPick%3)
		sectorSize := 4096 << (sectorShift % 5)
		dst := bytes.Repeat([]byte{0xa5}, int(dstLen%(2*MaxUnit)))
		if sectorShift&0x80 != 0 {
			dst = append(dst, make([]byte, Slack)...)[:len(dst)]
		}
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
		if i := bytes.IndexFunc(dst[n:], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("byte %d past the %d produced is not zero", i, n)
		}
		fresh := make([]byte, len(dst))
		n2, err2 := new(Decoder).Decompress(fresh, alg, src, sectorSize)
		if err2 != nil || n2 != n || !bytes.Equal(fresh[:n2], dst[:n]) {
			t.Fatalf("fresh decoder: %d bytes, %v; reused: %d bytes", n2, err2, n)
		}
	})
}
