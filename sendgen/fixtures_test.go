package sendgen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/sendcheck"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/sendgen"
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

// TestFixtureStreamsWorkers regenerates every fixture stream with the
// data read on the caller's goroutine (Workers 1) and on eight workers:
// the bytes must be the kernel's whatever the pipeline (TestFixtureStreams
// runs with the default, GOMAXPROCS).
func TestFixtureStreamsWorkers(t *testing.T) {
	dirs, err := os.ReadDir(fixturestreams.ImagesDir())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		fs, streams, err := sendcheck.Scenario(filepath.Join(fixturestreams.ImagesDir(), d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range streams {
			want, err := s.Read()
			if err != nil {
				t.Fatal(err)
			}
			subvols, opts, err := sendcheck.Args(fs, s.Stream)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 8} {
				opts.Workers = workers
				var got bytes.Buffer
				if err := sendgen.SendMany(&got, subvols, opts); err != nil {
					t.Fatalf("%s, %d workers: %v", s.Name(), workers, err)
				}
				if d := streamdiff.First(got.Bytes(), want); d != "" {
					t.Fatalf("%s, %d workers: differs from the kernel's stream: %s", s.Name(), workers, d)
				}
				checked++
			}
		}
	}
	t.Logf("%d sends (1 and 8 workers) equal to the kernel's streams", checked)
}
