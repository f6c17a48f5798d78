package sendcheck

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/sendgen"
	"github.com/coldsend/coldsend/stream"
)

// Supported reports whether sendgen can make a stream of this kind: every
// kind the kernel reference emits (protocols 1 and 2, full and
// incremental, with or without data, compressed data passed through).
func Supported(s fixturestreams.Stream) bool {
	return s.Proto == 1 || s.Proto == 2
}

// Scenario opens the scenario in dir and returns its filesystem and the
// streams sendgen supports.
func Scenario(dir string) (*fstree.FS, []fixturestreams.Stream, error) {
	sc, err := manifest.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	all, err := fixturestreams.Scenario(dir)
	if err != nil {
		return nil, nil, err
	}
	var streams []fixturestreams.Stream
	for _, s := range all {
		if Supported(s) {
			streams = append(streams, s)
		}
	}
	if len(streams) == 0 {
		return nil, nil, nil
	}
	fs, err := fixturecheck.Open(dir, sc, nil)
	if err != nil {
		return nil, nil, err
	}
	return fs, streams, nil
}

// Stream regenerates one kernel stream through sendgen.SendMany, as the
// CLI sends, and returns nil when the bytes are identical, otherwise an
// error describing the first differing command.
func Stream(fs *fstree.FS, s fixturestreams.Stream) error {
	want, err := s.Read()
	if err != nil {
		return err
	}
	got, err := Generate(fs, s.Stream)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if d := streamdiff.First(got, want); d != "" {
		return fmt.Errorf("%s: coldsend send differs from the kernel's stream: %s", s.Name(), d)
	}
	return nil
}

// Generate makes coldsend's stream for what the manifest says the kernel
// sent: the same subvolume, parent, clone sources and flags, through
// SendMany as the CLI sends (btrfs send -c without -p picks the parent).
func Generate(fs *fstree.FS, s manifest.Stream) ([]byte, error) {
	subvols, opts, err := Args(fs, s)
	if err != nil {
		return nil, err
	}
	var got bytes.Buffer
	if err := sendgen.SendMany(&got, subvols, opts); err != nil {
		return nil, fmt.Errorf("coldsend send: %w", err)
	}
	return got.Bytes(), nil
}

// Args are SendMany's arguments for what the manifest says the kernel
// sent.
func Args(fs *fstree.FS, s manifest.Stream) ([]*fstree.Subvol, sendgen.ManyOptions, error) {
	var opts sendgen.ManyOptions
	sv, err := fs.ResolveSubvol(s.Subvol)
	if err != nil {
		return nil, opts, err
	}
	opts.Proto, opts.NoData, opts.CompressedData = uint32(s.Proto), s.NoData, s.CompressedData
	if s.Parent != "" {
		if opts.Parent, err = fs.ResolveSubvol(s.Parent); err != nil {
			return nil, opts, fmt.Errorf("parent: %w", err)
		}
	}
	for _, c := range s.Clones {
		sv, err := fs.ResolveSubvol(c)
		if err != nil {
			return nil, opts, fmt.Errorf("clone source: %w", err)
		}
		opts.Clones = append(opts.Clones, sv)
	}
	return []*fstree.Subvol{sv}, opts, nil
}

// Resumes checks resuming on every stream sendgen supports in the
// scenario in dir, and on up to three of the scenario's full sends sent
// together (with and without -e framing; around the framing and at 10
// other offsets): Size gives the stream's exact bytes and
// commands, and a send resumed at command boundaries, inside the header,
// and at inner offsets random picks writes exactly the rest of the whole
// stream. sample 0 tests every boundary and 200 inner offsets per stream;
// sample > 0 that many of each, picked at random (each resume generates
// the stream again). It returns the streams and resumes checked.
func Resumes(dir string, rng *rand.Rand, sample int) (streams, resumes int, err error) {
	fsys, ss, err := Scenario(dir)
	if err != nil {
		return 0, 0, err
	}
	var fulls []*fstree.Subvol
	var fullOpts sendgen.ManyOptions
	seen := map[string]bool{}
	for _, s := range ss {
		subvols, opts, err := Args(fsys, s.Stream)
		if err != nil {
			return streams, resumes, err
		}
		n, err := checkResumes(s.Name(), subvols, opts, rng, sample)
		if err != nil {
			return streams, resumes, err
		}
		streams, resumes = streams+1, resumes+n
		if st := s.Stream; st.Parent == "" && len(st.Clones) == 0 && !seen[st.Subvol] && len(fulls) < 3 {
			seen[st.Subvol] = true
			fulls = append(fulls, subvols[0])
			fullOpts = opts
		}
	}
	if len(fulls) < 2 {
		return streams, resumes, nil
	}
	// The parts were checked above at every boundary: what is new is the
	// framing between them, so resume around it, and at a few others.
	for _, chain := range []bool{false, true} {
		opts := fullOpts
		opts.Chain = chain
		n, err := checkResumes(fmt.Sprintf("%d full sends together (-e %v)", len(fulls), chain), fulls, opts, rng, -1)
		if err != nil {
			return streams, resumes, err
		}
		streams, resumes = streams+1, resumes+n
	}
	return streams, resumes, nil
}

// checkResumes checks Size and resuming on SendMany(subvols, opts); name
// says which send for errors. sample is Resumes', or -1: within two
// commands of every SUBVOL, SNAPSHOT and END, inside the headers, and 10
// offsets picked at random.
func checkResumes(name string, subvols []*fstree.Subvol, opts sendgen.ManyOptions, rng *rand.Rand, sample int) (resumes int, err error) {
	var buf bytes.Buffer
	if err := sendgen.SendMany(&buf, subvols, opts); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	whole := buf.Bytes()
	per, err := sendgen.Size(subvols, opts)
	if err != nil {
		return 0, fmt.Errorf("%s: size: %w", name, err)
	}
	var size sendgen.Stats
	for _, p := range per {
		size.Bytes += p.Bytes
		size.Commands += p.Commands
	}
	var starts []int64
	var framing []int // command indexes
	rd := stream.NewReader(bytes.NewReader(whole))
	for {
		c, err := rd.Next()
		if err != nil {
			break
		}
		if c.Cmd == stream.CmdSubvol || c.Cmd == stream.CmdSnapshot || c.Cmd == stream.CmdEnd {
			framing = append(framing, len(starts))
		}
		starts = append(starts, c.Offset)
	}
	starts = append(starts, int64(len(whole)))
	if size.Bytes != int64(len(whole)) || size.Commands != len(starts)-1 {
		return 0, fmt.Errorf("%s: Size says %d bytes, %d commands; the stream has %d, %d", name, size.Bytes, size.Commands, len(whole), len(starts)-1)
	}
	offsets, inner := append([]int64{0, 5}, starts...), 200
	switch {
	case sample < 0:
		offsets, inner = []int64{0, 5}, 10
		for _, i := range framing {
			for j := max(0, i-2); j <= min(len(starts)-1, i+2); j++ {
				offsets = append(offsets, starts[j], max(0, starts[j]-5))
			}
		}
		for range 10 {
			offsets = append(offsets, starts[rng.IntN(len(starts))])
		}
	case sample > 0 && len(starts) > sample:
		offsets, inner = []int64{0, 5, starts[len(starts)-1]}, sample
		for range sample {
			offsets = append(offsets, starts[rng.IntN(len(starts))])
		}
	}
	for range inner {
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
			return resumes, fmt.Errorf("%s resumed from %d: %w", name, off, err)
		}
		if !bytes.Equal(rest.Bytes(), whole[off:]) {
			return resumes, fmt.Errorf("%s resumed from %d: %d bytes, want the %d after it", name, off, rest.Len(), len(whole)-int(off))
		}
		resumes++
	}
	return resumes, nil
}
