package sendgen_test

import (
	"testing"

	"github.com/coldsend/coldsend/internal/sendcheck"
)

// TestOrphanCleanup sends the subvolumes of an image of a running system
// that hold ORPHAN_ITEMs (files unlinked while open, an O_TMPFILE never
// linked) and compares with what the kernel sent after mounting a copy,
// which runs orphan cleanup (testdata/orphans/make.sh). The last inode's
// chown, chmod and utimes used to come once more per orphan item.
func TestOrphanCleanup(t *testing.T) {
	n, err := sendcheck.Orphans("testdata/orphans")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sends equal to the kernel's after orphan cleanup", n)
}
