package fixturecheck

import (
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/internal/manifest"
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

// TestGenerationsFixture reads the generations fixture as of each commit
// it recorded and guards what makes it worth having: some recorded
// commits still read as recorded, some were overwritten by later ones,
// and the scan finds more than the superblock's backup roots.
func TestGenerationsFixture(t *testing.T) {
	dir := "../../fixtures/images/generations"
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, diffs := CheckCommits(dir, sc)
	t.Log(rep)
	for _, d := range diffs {
		t.Error(d)
	}
	if rep.Intact == 0 || rep.Broken+rep.Gone == 0 || rep.Scanned == 0 || rep.Scanned == rep.ScannedIntact {
		t.Errorf("the fixture no longer covers intact, broken and scanned generations: %v", rep)
	}
}
