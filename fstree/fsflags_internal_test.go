package fstree

import (
	"testing"

	"github.com/coldsend/coldsend/ondisk/item"
)

// TestApplyCompressionProp: what each btrfs.compression value does to the
// stored compress and nocompress flags, as prop_compression_apply does it;
// other flags are kept.
func TestApplyCompressionProp(t *testing.T) {
	const (
		c    = item.InodeCompress
		nc   = item.InodeNoCompress
		keep = item.InodeNoDump
	)
	for _, tc := range []struct {
		value string
		in    uint32
		want  uint32
	}{
		{"zlib", nc | keep, c | keep},
		{"zstd", nc | c, c},
		{"zstd:3", nc, c},
		{"lzo", 0, c},
		{"no", c | keep, nc | keep},
		{"none", c, nc},
		{"", c | nc | keep, keep},
		{"lz", nc, nc},             // unknown: left alone
		{"brotli", c | nc, c | nc}, // unknown: left alone
		{"nonexistent", c, c},      // neither "no" nor "none"
	} {
		if got := applyCompressionProp(tc.in, []byte(tc.value)); got != tc.want {
			t.Errorf("%q on %#x: %#x, want %#x", tc.value, tc.in, got, tc.want)
		}
	}
}
