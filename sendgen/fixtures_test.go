package sendgen_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/sendcheck"
)

// TestFixtureStreams regenerates every committed kernel stream sendgen
// supports (full and incremental, see sendcheck.Supported) from its
// scenario's image and compares the bytes. Run one with
// -run 'TestFixtureStreams/basic/vol.2.incr-vol.1.v1'.
func TestFixtureStreams(t *testing.T) {
	dirs, err := os.ReadDir(fixturestreams.ImagesDir())
	if err != nil {
		t.Fatal(err)
	}
	identical, total := 0, 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			fs, streams, err := sendcheck.Scenario(filepath.Join(fixturestreams.ImagesDir(), d.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range streams {
				total++
				t.Run(s.File, func(t *testing.T) {
					if err := sendcheck.Stream(fs, s); err != nil {
						t.Fatal(err)
					}
					identical++
				})
			}
		})
	}
	if total == 0 {
		t.Fatal("no fixture streams to compare")
	}
	t.Logf("%d of %d kernel streams reproduced byte for byte", identical, total)
}
