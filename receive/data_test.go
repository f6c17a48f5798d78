package receive

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyRangeOverlap: a clone copied within one file gives what the
// kernel's clone gives, whichever way the ranges overlap.
func TestCopyRangeOverlap(t *testing.T) {
	for _, tc := range []struct{ off, srcOff, n int64 }{{10, 0, 50}, {0, 10, 50}, {5, 5, 20}, {60, 0, 40}} {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		orig := make([]byte, 100)
		for i := range orig {
			orig[i] = byte(i)
		}
		f.Write(orig)
		want := bytes.Clone(orig)
		copy(want[tc.off:tc.off+tc.n], orig[tc.srcOff:tc.srcOff+tc.n])
		if _, err := copyRange(f, tc.off, f, tc.srcOff, tc.n); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 100)
		f.ReadAt(got, 0)
		f.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: %v", tc, got)
		}
	}
}
