package destfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

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
		{FallocPunchHole | FallocKeepSize, 10, 20, 100, true, false},
		{FallocPunchHole | FallocKeepSize, 90, 50, 100, true, false},
		{0, 50, 100, 150, false, false},
		{FallocKeepSize, 50, 100, 100, false, false},
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
		if tc.zeroed && !bytes.Equal(b[tc.off:min(tc.off+tc.n, 100)], make([]byte, min(tc.off+tc.n, 100)-tc.off)) || !tc.zeroed && !tc.fail && b[tc.off] != 7 {
			t.Errorf("%+v: contents %v", tc, b[tc.off:min(tc.off+tc.n, int64(len(b)))])
		}
	}
}
