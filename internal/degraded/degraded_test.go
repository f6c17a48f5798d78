package degraded

import (
	"path/filepath"
	"testing"
)

// TestCommittedFixtures runs the degraded checks on every committed
// multi-device fixture whose profiles keep a copy of everything: each
// device (RAID6, RAID1C3: each pair) omitted, zeroed and overwritten
// with random bytes, except its superblocks.
func TestCommittedFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	var cases, files, streams int
	for _, dir := range dirs {
		n, r, err := CheckAll(dir)
		if err != nil {
			t.Error(err)
		}
		cases += n
		files += r.Files
		streams += r.Streams
	}
	if cases == 0 {
		t.Fatal("no redundant multi-device fixture")
	}
	t.Logf("%d degraded cases: %d file hashes and %d kernel streams equal to the intact filesystem's", cases, files, streams)
}
