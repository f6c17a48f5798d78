package sendcheck

import (
	"bytes"
	"fmt"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/sendgen"
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
