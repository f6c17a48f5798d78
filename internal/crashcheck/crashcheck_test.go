package crashcheck

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCrashFixtures compares coldsend with the kernel on every committed
// crash image. Coldsend does not replay the log yet (issue 15), so the
// view and the streams differ where the log holds fsynced changes; the
// test only requires the comparison to run and logs the counts, unless
// COLDSEND_LOGREPLAY=1, which makes every difference an error. Once log
// replay works, drop the variable and always require equality, here and
// in the oracle's crash scenarios.
func TestCrashFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../../fixtures/images/crash-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no crash fixtures under fixtures/images")
	}
	strict := os.Getenv("COLDSEND_LOGREPLAY") == "1"
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r, err := Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(r)
			if !strict {
				return
			}
			for _, d := range r.View {
				t.Error(d)
			}
			for f, d := range r.Streams {
				if d != "" {
					t.Errorf("%s: %s", f, d)
				}
			}
		})
	}
}
