package stream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAhead reads inputs of several sizes through ReadAhead, in reads
// of random sizes and from readers that return little at a time, and
// wants the same bytes, then the input's own error.
func TestReadAhead(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	errBroken := errors.New("broken pipe")
	for _, size := range []int{0, 1, readAheadMin - 1, readAheadMin, readAheadSize, 3*readAheadSize + 12345, 9 * readAheadSize} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		for _, tc := range []struct {
			name string
			in   func() io.Reader
			err  error
		}{
			{"whole", func() io.Reader { return bytes.NewReader(data) }, io.EOF},
			{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, io.EOF},
			{"error", func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBroken)) }, errBroken},
		} {
			ra := ReadAhead(tc.in())
			var got bytes.Buffer
			p := make([]byte, 1+r.IntN(200<<10))
			var err error
			for {
				var n int
				n, err = ra.Read(p[:1+r.IntN(len(p))])
				got.Write(p[:n])
				if err != nil {
					break
				}
			}
			ra.Close()
			if err != tc.err || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("%d bytes, %s: read %d bytes (equal: %v), error %v, want %v", size, tc.name, got.Len(), bytes.Equal(got.Bytes(), data), err, tc.err)
			}
		}
	}
}

// TestReadAheadClose stops a read-ahead part way through a long input.
func TestReadAheadClose(t *testing.T) {
	ra := ReadAhead(io.LimitReader(zeros{}, 1<<40))
	p := make([]byte, 4096)
	if _, err := io.ReadFull(ra, p); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	if _, err := ra.Read(p); err == nil {
		t.Fatal("Read after Close did not fail")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
