package compression

import (
	"bytes"
	"testing"

	"github.com/anchore/go-lzo"

	"github.com/coldsend/coldsend/ondisk/item"
)

// FuzzLZO1X compares lzo1x with an independent LZO1X decoder
// (github.com/anchore/go-lzo, which coldsend used before lzo1x): both
// must accept the same inputs and decode them to the same bytes. Inputs
// are the kernel's segments, damaged, into output buffers of any size.
func FuzzLZO1X(f *testing.F) {
	for _, e := range loadExtents(f) {
		if e.alg != item.CompressLZO {
			continue
		}
		for _, seg := range lzoSegments(f, e.src, e.sectorSize) {
			f.Add(seg, uint16(0), uint8(0), uint16(lzoWorst(4096)))
		}
	}
	f.Fuzz(func(t *testing.T, seg []byte, at uint16, b uint8, outLen uint16) {
		seg = bytes.Clone(seg)
		if len(seg) > 0 && b != 0 {
			seg[int(at)%len(seg)] ^= b
		}
		got := make([]byte, outLen)
		n, err := lzo1x(got, seg)
		if n < 0 || n > len(got) {
			t.Fatalf("produced %d bytes into %d", n, len(got))
		}
		want := make([]byte, outLen)
		wn, werr := lzo.Decompress(seg, want)
		// The reference knows nothing of the lzo-rle version byte, which
		// the kernel's decoder (and so lzo1x) reads.
		if len(seg) >= 5 && seg[0] == 17 {
			return
		}
		if (werr == nil) != (err == nil) {
			t.Fatalf("reference: %d bytes, %v; lzo1x: %d bytes, %v", wn, werr, n, err)
		}
		if err == nil && (n != wn || !bytes.Equal(got[:n], want[:wn])) {
			t.Fatalf("reference decoded %d bytes, lzo1x %d, equal %v", wn, n, bytes.Equal(got[:n], want[:min(n, wn)]))
		}
	})
}

// TestLZO1XVersioned covers the lzo-rle form the kernel's decoder also
// reads (btrfs never writes it): a leading 17 and a version byte, after
// which an M4 instruction with distance bits all set is a run of zeros.
func TestLZO1XVersioned(t *testing.T) {
	body := []byte{
		21, 'a', 'b', 'c', 'd', // the first instruction: 4 literals
		0x18, 0xfc, 0xff, 0x00, // with a version: 4 zeros; without: an M4 match
		0x11, 0x00, 0x00, // the end marker
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"rle", append([]byte{17, 1}, body...), "abcd\x00\x00\x00\x00", nil},
		{"version 0", append([]byte{17, 0}, body...), "abcd", errLZOLookbehindOverrun},
		{"no version", body, "abcd", errLZOLookbehindOverrun},
		{"rle output overrun", append([]byte{17, 1}, body...), "abcd", errLZOOutputOverrun},
	} {
		out := make([]byte, 64)
		if tc.wantErr == errLZOOutputOverrun {
			out = out[:6]
		}
		n, err := lzo1x(out, tc.in)
		if err != tc.wantErr || string(out[:n]) != tc.want {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, out[:n], err, tc.want, tc.wantErr)
		}
	}
}
