package crashcheck

import (
	"path/filepath"
	"testing"
)

// TestCrashFixtures compares coldsend with the kernel on every committed
// crash image: the view coldsend shows after replaying the log in memory
// and its send of every subvolume the log touched must equal the kernel's
// after its own replay (the stream apart from its first command).
func TestCrashFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../../fixtures/images/crash-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no crash fixtures under fixtures/images")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r, err := Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(r)
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
