package stream

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func TestDecompress(t *testing.T) {
	plain := cat(header(1), mkdirCmd, endCmd, header(2), mkdirCmd, endCmd)
	compress := map[Compression]func(io.Writer) io.WriteCloser{
		Zstd: func(w io.Writer) io.WriteCloser { e, _ := zstd.NewWriter(w); return e },
		LZ4:  func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) },
		Gzip: func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
	}
	inputs := map[Compression][]byte{Uncompressed: plain}
	for kind, newW := range compress {
		var b bytes.Buffer
		w := newW(&b)
		if _, err := w.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		inputs[kind] = b.Bytes()
	}
	for kind, in := range inputs {
		rc, got, err := Decompress(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", kind, err)
		}
		if got != kind {
			t.Errorf("recognised %q as %q", kind, got)
		}
		r := NewReader(rc)
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%q: %v", kind, err)
			}
			n++
		}
		if n != 4 || r.Offset() != int64(len(plain)) {
			t.Errorf("%q: %d commands, %d bytes", kind, n, r.Offset())
		}
		rc.Close()
	}
	// A short or empty input is passed through for the Reader to judge.
	for _, in := range [][]byte{nil, {0x28}} {
		rc, kind, err := Decompress(bytes.NewReader(in))
		if err != nil || kind != Uncompressed {
			t.Errorf("%x: %q %v", in, kind, err)
			continue
		}
		if b, _ := io.ReadAll(rc); !bytes.Equal(b, in) {
			t.Errorf("%x passed through as %x", in, b)
		}
	}
}
