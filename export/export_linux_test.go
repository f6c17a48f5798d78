package export_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
)

// TestFixtures exports every subvolume of every committed fixture into a
// directory and as a tar archive, and compares each with what the
// kernel's mount showed (the fixture's manifest): names, types, modes,
// owners (as root), sizes, contents, targets, device numbers, times,
// xattrs, hard-link groups, the hash list and the holes; the archive read
// back by archive/tar and extracted by GNU tar and bsdtar where installed.
func TestFixtures(t *testing.T) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	extractors := exportcheck.Extractors()
	if len(extractors) < 2 {
		t.Logf("extracting with %d of GNU tar and bsdtar (install tar and libarchive-tools for both)", len(extractors))
	}
	var total exportcheck.Result
	var subvols int
	for _, dir := range dirs {
		sc, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := fixturecheck.Open(dir, sc, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sc.Subvolumes {
			msv := &sc.Subvolumes[i]
			t.Run(filepath.Base(dir)+"/"+strings.ReplaceAll(msv.Path, "/", "_"), func(t *testing.T) {
				sv, err := fsys.OpenSubvol(msv.ID)
				if err != nil {
					t.Fatal(err)
				}
				res, err := exportcheck.Subvolume(sv, msv, t.TempDir(), extractors)
				if err != nil {
					t.Fatal(err)
				}
				total.Entries += res.Entries
				total.Files += res.Files
				total.Extractions += res.Extractions
				subvols++
			})
		}
	}
	t.Logf("%d subvolumes (%d entries, %d files) exported to directories and archives equal to the kernel's manifests; %d extractions", subvols, total.Entries, total.Files, total.Extractions)
}
