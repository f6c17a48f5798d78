package fstree

import (
	"io"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

func openImage(t *testing.T, path string) (*FS, []string) {
	t.Helper()
	return openImageWith(t, path, Options{})
}

func openImageWith(t *testing.T, path string, opts Options) (*FS, []string) {
	t.Helper()
	dev, err := imagefile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	warn := func(w ondisk.Warning) { warnings = append(warnings, w.Msg) }
	opts.Warn = warn
	fs, err := New([]*volume.Device{dev}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fs, warnings
}

func readFile(t *testing.T, fs *FS, path string) (string, error) {
	t.Helper()
	loc, err := fs.Resolve(path)
	if err != nil {
		return "", err
	}
	f, err := loc.Subvol.OpenFile(loc.Ino)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	_, err = io.Copy(&b, io.NewSectionReader(f, 0, f.Size()))
	return b.String(), err
}

// TestUncleanLogTree reads a copy of a live filesystem whose superblock
// names a log tree. By default the log is replayed: the fsynced file and
// append appear, and the notice names the subvolumes. With NoLogReplay
// the committed state is read, the log is reported with the subvolumes it
// touches, and nothing from it leaks in. (The crash fixtures compare the
// replayed view with the kernel's.)
func TestUncleanLogTree(t *testing.T) {
	fs, warnings := openImage(t, "testdata/unclean-log.img.zst")
	if len(warnings) != 1 || !strings.Contains(warnings[0], "replayed in memory for subvolumes 5, 256") {
		t.Fatalf("warnings %q: want one saying the log was replayed for subvolumes 5 and 256", warnings)
	}
	if s, err := readFile(t, fs, "committed.txt"); err != nil || !strings.HasPrefix(s, "committed\n") || len(s) <= len("committed\n") {
		t.Errorf("replayed committed.txt = %q, %v; want the committed contents and the fsynced append", s, err)
	}
	if _, err := readFile(t, fs, "sv/fsynced.txt"); err != nil {
		t.Errorf("replayed sv/fsynced.txt: %v", err)
	}

	fs, warnings = openImageWith(t, "testdata/unclean-log.img.zst", Options{NoLogReplay: true})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "not cleanly unmounted") || !strings.Contains(warnings[0], "subvolumes 5, 256") {
		t.Fatalf("warnings %q: want one naming subvolumes 5 and 256", warnings)
	}
	if got := fs.LogTreeOf; len(got) != 2 || got[0] != 5 || got[1] != 256 {
		t.Errorf("LogTreeOf = %v", got)
	}
	if s, err := readFile(t, fs, "committed.txt"); err != nil || s != "committed\n" {
		t.Errorf("committed.txt = %q, %v; want the committed contents without the fsynced append", s, err)
	}
	if s, err := readFile(t, fs, "snap/committed.txt"); err != nil || s != "committed\n" {
		t.Errorf("snap/committed.txt = %q, %v", s, err)
	}
	if _, err := readFile(t, fs, "sv/fsynced.txt"); err == nil || !isNoSuchFile(err) {
		t.Errorf("sv/fsynced.txt exists only in the log, got err %v", err)
	}
}

func isNoSuchFile(err error) bool { return strings.Contains(err.Error(), "no such file") }

func TestSubvolumesByUUID(t *testing.T) {
	fs, _ := openImage(t, "testdata/unclean-log.img.zst")
	svs, err := seq.Collect(fs.Subvolumes())
	if err != nil {
		t.Fatal(err)
	}
	if len(svs) != 3 {
		t.Fatalf("got %d subvolumes, want 3 (top level, sv, snap)", len(svs))
	}
	for _, sv := range svs {
		if sv.Item.UUID.IsZero() {
			continue
		}
		ids, err := fs.SubvolumesByUUID(sv.Item.UUID, false)
		if err != nil || len(ids) != 1 || ids[0] != sv.ID {
			t.Errorf("subvolume %d (%s): SubvolumesByUUID = %v, %v", sv.ID, sv.Path, ids, err)
		}
	}
	if ids, err := fs.SubvolumesByUUID(ondisk.UUID{1, 2, 3}, false); err != nil || len(ids) != 0 {
		t.Errorf("unknown uuid: %v, %v", ids, err)
	}
}
