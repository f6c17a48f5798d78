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
	"github.com/coldsend/coldsend/sendgen"
	"github.com/coldsend/coldsend/stream"
)

// commandStarts lists where each command of a stream starts, then its
// end.
func commandStarts(t *testing.T, whole []byte) []int64 {
	t.Helper()
	r := stream.NewReader(bytes.NewReader(whole))
	var out []int64
	for {
		c, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, c.Offset)
	}
	return append(out, int64(len(whole)))
}

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
				n, r := resumeScenario(t, dir)
				streams.Add(int64(n))
				resumes.Add(int64(r))
			})
		}
	})
	t.Logf("%d streams: Size exact, %d resumed sends equal to the rest of the whole", streams.Load(), resumes.Load())
}

// resumeScenario checks Size and resuming on every stream of a scenario.
func resumeScenario(t *testing.T, dir string) (streams, resumes int) {
	fsys, ss, err := sendcheck.Scenario(dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(dir))))
	for _, s := range ss {
		whole, err := sendcheck.Generate(fsys, s.Stream)
		if err != nil {
			t.Fatal(err)
		}
		subvols, opts, err := sendcheck.Args(fsys, s.Stream)
		if err != nil {
			t.Fatal(err)
		}
		per, err := sendgen.Size(subvols, opts)
		if err != nil {
			t.Fatal(err)
		}
		var sizes sendgen.Stats
		for _, p := range per {
			sizes.Bytes += p.Bytes
			sizes.Commands += p.Commands
		}
		starts := commandStarts(t, whole)
		if sizes.Bytes != int64(len(whole)) || sizes.Commands != len(starts)-1 {
			t.Errorf("%s: Size says %d bytes, %d commands; the stream has %d, %d", s.Name(), sizes.Bytes, sizes.Commands, len(whole), len(starts)-1)
		}
		// Every boundary (the header's end is the first command's
		// start), the header's inside, and 200 offsets inside commands.
		offsets := append([]int64{0, 5}, starts...)
		for range 200 {
			i := rng.IntN(len(starts) - 1)
			if n := starts[i+1] - starts[i]; n > 1 {
				offsets = append(offsets, starts[i]+1+rng.Int64N(n-1))
			}
		}
		for _, off := range offsets {
			var rest bytes.Buffer
			o := opts
			o.Skip = off
			if err := sendgen.SendMany(&rest, subvols, o); err != nil {
				t.Fatalf("%s from %d: %v", s.Name(), off, err)
			}
			if !bytes.Equal(rest.Bytes(), whole[off:]) {
				t.Fatalf("%s resumed from %d: %d bytes, want the %d after it", s.Name(), off, rest.Len(), len(whole)-int(off))
			}
			resumes++
		}
		streams++
	}
	return streams, resumes
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
