package export

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestModeString checks the bodyfile's mode strings against what ls
// shows.
func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		mode uint32
		want string
	}{
		{0o100644, "r/rrw-r--r--"},
		{0o041777, "d/drwxrwxrwt"},
		{0o104755, "r/rrwsr-xr-x"},
		{0o102644, "r/rrw-r-Sr--"},
		{0o120777, "l/lrwxrwxrwx"},
		{0o010600, "p/prw-------"},
	} {
		if got := modeString(tc.mode); got != tc.want {
			t.Errorf("%o: %s, want %s", tc.mode, got, tc.want)
		}
	}
}

// TestHashLine checks sha256sum's escaping of names.
func TestHashLine(t *testing.T) {
	sum := make([]byte, 32)
	zero := "0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct{ name, want string }{
		{"a/b c", zero + "  a/b c\n"},
		{"back\\slash", "\\" + zero + "  back\\\\slash\n"},
		{"new\nline", "\\" + zero + "  new\\nline\n"},
	} {
		if got := hashLine(sum, tc.name); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestUstarHeaderExtremes: values beyond a ustar field (the PAX records
// carry them) never break the header.
func TestUstarHeaderExtremes(t *testing.T) {
	for _, mt := range []time.Time{time.Unix(1<<40, 0), time.Unix(-1<<40, 0), time.Unix(0, 0)} {
		for _, size := range []int64{0, maxOctal11 + 1, 1<<63 - 1} {
			b := ustarHeader(tar.TypeReg, strings.Repeat("n", 300), 0o7777, 1<<32-1, 1<<32-1, size, mt)
			if len(b) != blockSize {
				t.Fatalf("header of %d bytes", len(b))
			}
			if _, err := tar.NewReader(bytes.NewReader(append(b, make([]byte, 2*blockSize)...))).Next(); err != nil && size <= maxOctal11 {
				t.Errorf("mtime %v size %d: archive/tar cannot read the header: %v", mt, size, err)
			}
		}
	}
}
