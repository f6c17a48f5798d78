package sendgen_test

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/sendcheck"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// TestResumeAndSize: on every fixture stream, Size is the stream's exact
// length and command count, and a send resumed at every command boundary,
// and at 200 random offsets inside commands, writes exactly the rest.
func TestResumeAndSize(t *testing.T) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	var streams, resumes atomic.Int64
	t.Run("fixtures", func(t *testing.T) {
		for _, dir := range dirs {
			t.Run(filepath.Base(dir), func(t *testing.T) {
				t.Parallel()
				n, r, err := sendcheck.Resumes(dir, rand.New(rand.NewPCG(1, uint64(len(dir)))), 0)
				if err != nil {
					t.Fatal(err)
				}
				streams.Add(int64(n))
				resumes.Add(int64(r))
			})
		}
	})
	t.Logf("%d streams: Size exact, %d resumed sends equal to the rest of the whole", streams.Load(), resumes.Load())
}

// TestDeterministic: the stream does not depend on the block cache's
// size, GOMAXPROCS or map order (each run ranges over maps in a new
// order): every fixture stream made with a 64 KiB cache on one CPU equals
// the one made with the default cache on all of them, three times over.
func TestDeterministic(t *testing.T) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, dir := range dirs {
		sc, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		var devs []*volume.Device
		for _, d := range sc.Devices {
			dev, err := imagefile.Load(filepath.Join(dir, d.File))
			if err != nil {
				t.Fatal(err)
			}
			devs = append(devs, dev)
		}
		small, err := fstree.New(devs, fstree.Options{CacheBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		big, err := fstree.New(devs, fstree.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sc.Streams {
			if !sendcheck.Supported(fixturestreams.Stream{Stream: st}) {
				continue
			}
			var first []byte
			for i := range 3 {
				procs := runtime.GOMAXPROCS(1 + i%2*(runtime.NumCPU()-1))
				fsys := small
				if i%2 == 1 {
					fsys = big
				}
				got, err := sendcheck.Generate(fsys, st)
				runtime.GOMAXPROCS(procs)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = got
				} else if !bytes.Equal(got, first) {
					t.Fatalf("%s/%s: run %d differs from run 0", sc.Name, st.File, i)
				}
			}
			n++
		}
	}
	t.Logf("%d streams identical with a 64 KiB or default cache, on 1 or %d CPUs", n, runtime.NumCPU())
}
