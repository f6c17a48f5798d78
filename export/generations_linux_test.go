package export_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
)

// TestOlderGenerations exports every subvolume of every commit recorded
// in the generations fixture (the kernel's mount as it was right after
// that commit) from the image as it is now, opened at that generation:
// every commit whose blocks all still verify exports equal to its record.
func TestOlderGenerations(t *testing.T) {
	dir := "../fixtures/images/generations"
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := fixturecheck.Devices(dir, sc)
	if err != nil {
		t.Fatal(err)
	}
	gens, err := fstree.Generations(devs, fstree.Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	intact := map[uint64]bool{}
	for _, g := range gens {
		if g.Intact() {
			intact[g.Generation] = true
		}
	}
	extractors := exportcheck.Extractors()
	var exported, lost int
	for i := range sc.Commits {
		rc := &sc.Commits[i]
		t.Run(fmt.Sprint(rc.Generation), func(t *testing.T) {
			fsys, err := fstree.New(devs, fstree.Options{Generation: rc.Generation})
			if !intact[rc.Generation] {
				lost++
				switch {
				case errors.Is(err, fstree.ErrNoGeneration):
				case err != nil:
					t.Fatal(err)
				default:
					brokenExport(t, fsys, rc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for j := range rc.Subvolumes {
				msv := &rc.Subvolumes[j]
				sv, err := fsys.OpenSubvol(msv.ID)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := exportcheck.Subvolume(sv, msv, t.TempDir(), extractors); err != nil {
					t.Fatalf("subvolume %q at generation %d: %v", msv.Path, rc.Generation, err)
				}
			}
			exported++
		})
	}
	if exported == 0 {
		t.Fatal("no recorded commit is intact: the fixture no longer tests older generations")
	}
	t.Logf("%d of %d recorded commits intact and exported equal to their records (%d lost to reused blocks); --scan lists %d generations", exported, len(sc.Commits), lost, len(gens))
}

// brokenExport exports a commit some of whose blocks were reused since:
// without KeepGoing the export of a subvolume that needs one stops with an
// error naming the block and the generation; with it, the export goes on
// and lists what it lost.
func brokenExport(t *testing.T, fsys *fstree.FS, rc *manifest.Commit) {
	var stopped, partial int
	for j := range rc.Subvolumes {
		msv := &rc.Subvolumes[j]
		sv, err := fsys.OpenSubvol(msv.ID)
		if err != nil {
			continue // the root tree's own block was reused
		}
		start := fstree.Location{Subvol: sv, Ino: 256}
		_, err = export.ToDir(filepath.Join(t.TempDir(), "out"), start, export.Options{})
		var ow *fstree.OverwrittenError
		switch {
		case err == nil:
			continue
		case !errors.As(err, &ow) || !strings.Contains(err.Error(), fmt.Sprintf("generation %d", rc.Generation)) || !strings.Contains(err.Error(), "logical"):
			t.Errorf("subvolume %q: %v, want an error naming the overwritten block and generation %d", msv.Path, err, rc.Generation)
		}
		stopped++
		sum, err := export.ToDir(filepath.Join(t.TempDir(), "out"), start, export.Options{KeepGoing: true})
		if err != nil || !sum.Partial() {
			t.Errorf("subvolume %q with KeepGoing: err %v, partial %v", msv.Path, err, sum != nil && sum.Partial())
			continue
		}
		partial++
	}
	if stopped == 0 {
		t.Errorf("generation %d is not intact, yet every subvolume exported whole", rc.Generation)
	}
	t.Logf("generation %d: %d subvolumes stop at a reused block, and export partially with KeepGoing", rc.Generation, partial)
}
