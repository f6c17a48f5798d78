package compression

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/ondisk/item"
)

// referenceInflate decodes with the standard library's streaming decoder,
// stopping once out is full, as coldsend did with klauspost's before
// inflater. (klauspost's is no reference: for a block whose literal code
// has no symbols it keeps decoding with the previous table, where zlib and
// the standard library fail.)
func referenceInflate(out, in []byte) (int, error) {
	r := stdflate.NewReader(bytes.NewReader(in))
	n := 0
	for n < len(out) {
		m, err := r.Read(out[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// FuzzInflate compares inflater with the standard library's: both must accept
// the same streams and decode them to the same bytes. Inputs are the
// kernel's zlib extents, damaged, decoded into buffers of any size. One
// difference is expected: when the output fills exactly where the stream
// turns bad, the reference reports the error with the last bytes and
// inflater, like the kernel, stops at a full output without looking on.
func FuzzInflate(f *testing.F) {
	for _, e := range loadExtents(f) {
		if e.alg == item.CompressZlib {
			f.Add(e.src[2:], uint16(0), uint8(0), uint32(e.ram))
		}
	}
	// Stored, fixed-code and Huffman-only blocks, which the kernel's
	// extents do not show.
	for _, level := range []int{stdflate.HuffmanOnly, stdflate.NoCompression, stdflate.BestSpeed, stdflate.BestCompression} {
		for _, text := range []string{"", "a", "abcabcabcabcabcabcabc", strings.Repeat("btrfs send stream ", 300)} {
			var buf bytes.Buffer
			w, _ := stdflate.NewWriter(&buf, level)
			w.Write([]byte(text))
			w.Close()
			f.Add(buf.Bytes(), uint16(0), uint8(0), uint32(len(text)))
		}
	}
	var inf inflater
	f.Fuzz(func(t *testing.T, in []byte, at uint16, b uint8, outLen uint32) {
		in = bytes.Clone(in)
		if len(in) > 0 && b != 0 {
			in[int(at)%len(in)] ^= b
		}
		outLen %= 2 * MaxUnit
		got := make([]byte, outLen)
		n, err := inf.inflate(got, in)
		if n < 0 || n > len(got) {
			t.Fatalf("produced %d bytes into %d", n, len(got))
		}
		want := make([]byte, outLen)
		wn, werr := referenceInflate(want, in)
		if werr != nil && err == nil && wn == len(want) && n == wn {
			werr = nil
		}
		if (werr == nil) != (err == nil) {
			t.Fatalf("reference: %d bytes, %v; inflater: %d bytes, %v", wn, werr, n, err)
		}
		if err == nil && (n != wn || !bytes.Equal(got[:n], want[:wn])) {
			t.Fatalf("reference decoded %d bytes, inflater %d, equal %v", wn, n, bytes.Equal(got[:n], want[:min(n, wn)]))
		}
	})
}
