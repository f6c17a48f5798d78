package fixturecheck

import (
	"path/filepath"
	"testing"
)

// TestCommittedFixtures compares every committed scenario with its
// manifest: the images were made by the kernel, the manifests recorded from
// the mounted filesystem.
func TestCommittedFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../../fixtures/images/*/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no committed fixtures found under fixtures/images")
	}
	for _, m := range dirs {
		dir := filepath.Dir(m)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if err := CheckScenario(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}
