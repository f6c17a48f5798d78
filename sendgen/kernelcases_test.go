package sendgen_test

import (
	"testing"

	"github.com/coldsend/coldsend/internal/sendcheck"
)

// TestKernelCases sends the cases testdata/kernelcases/make.sh built with
// the kernel, the paths of send the committed fixtures never take: a
// delayed directory move and a directory removed after its child moved
// out, a recorded path refreshed after its directory was orphanized,
// data references resolved across leaves of another owner, an extent over
// the clone reference cap, and empty ACL values.
func TestKernelCases(t *testing.T) {
	checked, err := sendcheck.KernelSends("testdata/kernelcases", "kernelcases.img.zst")
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) < 6 {
		t.Fatalf("only %d cases checked: %v", len(checked), checked)
	}
	t.Logf("%d sends equal to the kernel's: %v", len(checked), checked)
}
