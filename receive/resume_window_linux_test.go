package receive

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/stream"
)

// TestResumeRecordAhead resumes receives killed in the windows where the
// record is already saved and the progress record not yet: after a
// subvolume's END made it complete, and after the next subvolume's entry
// was saved (and its directory made). The progress names the last
// command before the END, so the resumed input starts there; the rest of
// the completed subvolume must be skipped, not applied to the next one.
func TestResumeRecordAhead(t *testing.T) {
	const dir = "../fixtures/images/tiny/"
	full, err := os.ReadFile(dir + "vol.1.full.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	incr, err := os.ReadFile(dir + "vol.2.incr-vol.1.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	both := append(append([]byte{}, full...), incr...)
	// The reader reuses its command: find indexes, then read each again.
	var beforeEndIdx, snapshotIdx int
	r := stream.NewReader(bytes.NewReader(both))
	for last := 0; ; {
		c, err := r.Next()
		if err != nil {
			break
		}
		switch {
		case c.Cmd == stream.CmdEnd && beforeEndIdx == 0:
			beforeEndIdx = last
		case c.Cmd == stream.CmdSnapshot:
			snapshotIdx = c.Index
		}
		last = c.Index
	}
	if beforeEndIdx == 0 || snapshotIdx == 0 {
		t.Fatal("the fixture streams lack an END or a SNAPSHOT")
	}
	commandAt := func(index int) *stream.Command {
		r := stream.NewReader(bytes.NewReader(both))
		for {
			c, err := r.Next()
			if err != nil {
				t.Fatalf("command %d: %v", index, err)
			}
			if c.Index == index {
				return c
			}
		}
	}
	start := time.Now().Add(-time.Second).UnixNano()
	want := t.TempDir()
	if _, err := Receive(bytes.NewReader(both), want, Options{}); err != nil {
		t.Fatal(err)
	}
	// Recorded once: reading a symlink can update its atime (relatime).
	wantTrees := map[string]treecmp.Tree{}
	for _, sub := range []string{"vol.1", "vol.2"} {
		if wantTrees[sub], err = treecmp.Record(filepath.Join(want, sub)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		begun bool // the snapshot's entry saved
		made  bool // and its directory made
	}{
		{"after END", false, false},
		{"after the next entry", true, false},
		{"after the next directory", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			if _, err := Receive(bytes.NewReader(full), dest, Options{}); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dest)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if tc.begun {
				snapshot := commandAt(snapshotIdx)
				rec, err := loadRecord(root)
				if err != nil {
					t.Fatal(err)
				}
				rec.Subvolumes = append(rec.Subvolumes, &Received{Name: "vol.2", UUID: snapshot.UUID(stream.AttrUUID).String(), BeganAt: snapshot.Offset})
				if err := rec.save(root); err != nil {
					t.Fatal(err)
				}
			}
			if tc.made {
				if err := root.Mkdir("vol.2", 0o700); err != nil {
					t.Fatal(err)
				}
			}
			p, err := openProgress(root)
			if err != nil {
				t.Fatal(err)
			}
			beforeEnd := commandAt(beforeEndIdx)
			if err := p.record(beforeEnd, true); err != nil {
				t.Fatal(err)
			}
			p.f.Close()
			n, ok, err := ResumePoint(dest)
			if err != nil || !ok || n != beforeEnd.Offset {
				t.Fatalf("resume point %d, %v, %v; want %d", n, ok, err, beforeEnd.Offset)
			}
			if _, err := Receive(bytes.NewReader(both[n:]), dest, Options{Resume: true}); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"vol.1", "vol.2"} {
				g, err := treecmp.Record(filepath.Join(dest, sub))
				if err != nil {
					t.Fatal(err)
				}
				if d := treecmp.Diff(wantTrees[sub], g, treecmp.Options{Fresh: start, FreshBoth: true}, 5); len(d) > 0 {
					t.Fatalf("%s differs:\n%s", sub, strings.Join(d, "\n"))
				}
			}
		})
	}
}
