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

// TestEmulateFallocate: where fallocate is missing, a punched hole reads
// as zeros and keeps the size, an allocation extends the size unless
// KEEP_SIZE, and unknown modes are refused.
func TestEmulateFallocate(t *testing.T) {
	for _, tc := range []struct {
		mode     uint32
		off, n   int64
		wantSize int64
		zeroed   bool
		fail     bool
	}{
		{fallocPunchHole | fallocKeepSize, 10, 20, 100, true, false},
		{fallocPunchHole | fallocKeepSize, 90, 50, 100, true, false},
		{0, 50, 100, 150, false, false},
		{fallocKeepSize, 50, 100, 100, false, false},
		{0x10, 0, 10, 100, false, true},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(bytes.Repeat([]byte{7}, 100))
		err = emulateFallocate(f, tc.mode, tc.off, tc.n)
		if (err != nil) != tc.fail {
			t.Fatalf("%+v: %v", tc, err)
		}
		fi, _ := f.Stat()
		b := make([]byte, fi.Size())
		f.ReadAt(b, 0)
		f.Close()
		if fi.Size() != tc.wantSize {
			t.Errorf("%+v: size %d", tc, fi.Size())
		}
		if tc.zeroed && !allZero(b[tc.off:min(tc.off+tc.n, 100)]) || !tc.zeroed && !tc.fail && b[tc.off] != 7 {
			t.Errorf("%+v: contents %v", tc, b[tc.off:min(tc.off+tc.n, int64(len(b)))])
		}
	}
}
