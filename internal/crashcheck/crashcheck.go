package crashcheck

import (
	"fmt"
	"path/filepath"

	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/sendcheck"
)

// Report is how coldsend's reading of one crash image differs from the
// kernel's after log replay.
type Report struct {
	Name string
	// View lists every difference between coldsend's view of the image
	// and the kernel's manifest after replay (names, types, sizes, modes,
	// owners, nlink, times, xattrs, contents).
	View []string
	// Streams has one entry per kernel stream: "" when coldsend's send
	// of the subvolume equals it apart from the first command, otherwise
	// the first differing command.
	Streams map[string]string
	// Skipped names the kernel streams not compared, with the reason.
	Skipped []string
}

// Differences is the number of view differences plus differing streams.
func (r *Report) Differences() int {
	n := len(r.View)
	for _, d := range r.Streams {
		if d != "" {
			n++
		}
	}
	return n
}

func (r *Report) String() string {
	differ := 0
	for _, d := range r.Streams {
		if d != "" {
			differ++
		}
	}
	return fmt.Sprintf("%s: %d differences from the kernel's view after log replay, %d of %d streams differ (%d not compared)", r.Name, len(r.View), differ, len(r.Streams), len(r.Skipped))
}

// Check opens the crash scenario in dir (read-only, in memory) and
// compares coldsend's reading with the kernel's after replay. An error
// means the comparison could not be made, not that it found differences.
func Check(dir string) (*Report, error) {
	sc, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	if sc.Crash == nil {
		return nil, fmt.Errorf("%s: no crash record in the manifest", sc.Name)
	}
	fs, err := fixturecheck.OpenReplayed(dir, sc, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: opening: %w", sc.Name, err)
	}
	r := &Report{Name: sc.Name, View: fixturecheck.CompareReplayed(fs, sc), Streams: map[string]string{}}
	for _, st := range sc.Crash.Streams {
		if st.Subvol == "" {
			// The kernel sent a snapshot of the top level; the top level
			// itself has no name to send under, in btrfs send as in
			// coldsend.
			r.Skipped = append(r.Skipped, st.File+": of the top level, which coldsend cannot send")
			continue
		}
		want, err := fixturestreams.Stream{Scenario: filepath.Base(dir), Dir: dir, Stream: st}.Read()
		if err != nil {
			return nil, err
		}
		got, err := sendcheck.Generate(fs, st)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", sc.Name, st.File, err)
		}
		if r.Streams[st.File], err = sendcheck.DiffAfterFirstCommand(got, want); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", sc.Name, st.File, err)
		}
	}
	return r, nil
}
