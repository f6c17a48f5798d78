package cli

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// TestExportCLI runs coldsend export as a user would: into a directory
// with --hashes and --bodyfile, as a tar file and to standard output, and
// the refusals and exit statuses.
func TestExportCLI(t *testing.T) {
	img, sc := unpackFixture(t)
	tmp := t.TempDir()
	dest, hashes, body := filepath.Join(tmp, "out"), filepath.Join(tmp, "sums"), filepath.Join(tmp, "body")
	st, out, errOut := runCLI("export", "--one-subvolume", "--hashes", hashes, "--bodyfile", body, img, "vol", dest)
	if st != 0 || out != "" || !strings.Contains(errOut, "coldsend export: ") {
		t.Fatalf("export: status %d, stdout %q, stderr %q", st, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dest, export.IncompleteMarker)); err == nil {
		t.Error("a whole export left its incomplete marker")
	}
	msv := sc.Subvolume("vol")
	var files int
	for _, e := range msv.Entries {
		if e.Type == "file" {
			files++
		}
	}
	sums, _ := os.ReadFile(hashes)
	if n := strings.Count(string(sums), "\n"); n != files {
		t.Errorf("--hashes has %d lines for %d regular files' names", n, files)
	}
	bf, _ := os.ReadFile(body)
	for _, l := range strings.Split(strings.TrimSpace(string(bf)), "\n") {
		if f := strings.Split(l, "|"); len(f) < 11 || !strings.HasPrefix(f[1], "/vol/") && f[1] != "/vol/" {
			t.Errorf("bodyfile line %q: want 11 fields and names under /vol", l)
			break
		}
	}

	if _, err := exec.LookPath("mactime"); err == nil {
		out, err := exec.Command("mactime", "-b", body, "-z", "UTC", "-d").CombinedOutput()
		lines := strings.Count(string(out), "\n")
		if err != nil || lines < strings.Count(string(bf), "\n")/2 {
			t.Errorf("mactime -b on the bodyfile: %v, %d lines: %.500s", err, lines, out)
		}
	} else {
		t.Log("mactime (sleuthkit) is not installed: the bodyfile is checked by its fields only")
	}

	// Refusals: a non-empty directory, both --generation and --root.
	if st, _, errOut := runCLI("export", img, "vol", dest); st != 1 || !strings.Contains(errOut, "not empty") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("export into a non-empty directory: status %d, stderr %q", st, errOut)
	}
	if st, _, _ := runCLI("export", "--generation", "1", "--root", "2", img, "vol", filepath.Join(tmp, "x")); st != 2 {
		t.Errorf("--generation with --root: status %d, want 2", st)
	}
	if st, _, errOut := runCLI("export", img, "vol/no-such", filepath.Join(tmp, "y")); st != 1 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("export of a missing path: status %d, stderr %q", st, errOut)
	}

	// Tar to a file and to standard output: the same archive.
	tarFile := filepath.Join(tmp, "vol.tar")
	if st, _, errOut := runCLI("export", "-q", "--tar", img, "vol", tarFile); st != 0 || errOut != "" {
		t.Fatalf("export --tar -q: status %d, stderr %q", st, errOut)
	}
	st, stdout, _ := runCLI("export", "-q", "--tar", img, "vol", "-")
	fromFile, _ := os.ReadFile(tarFile)
	if st != 0 || len(stdout) == 0 {
		t.Fatalf("export --tar -: status %d, %d bytes", st, len(stdout))
	}
	for name, b := range map[string][]byte{"file": fromFile, "stdout": []byte(stdout)} {
		r := tar.NewReader(bytes.NewReader(b))
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			n++
		}
		if n < len(msv.Entries)/2 {
			t.Errorf("%s: %d entries in the archive", name, n)
		}
	}
	if st, _, _ := runCLI("export", "--tar", img, "vol", tarFile); st != 1 {
		t.Errorf("--tar onto an existing file: status %d, want 1 (it is not overwritten)", st)
	}
}

// TestExportKeepGoingCLI: a data sector destroyed on every copy makes
// export fail (status 1, one line) and export --keep-going finish with
// status 3, the loss listed on stderr and in the partial marker.
func TestExportKeepGoingCLI(t *testing.T) {
	img, sc := unpackFixture(t)
	fsys, err := fstree.OpenFiles([]string{img}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msv := sc.Subvolume("vol")
	sv, err := fsys.OpenSubvol(msv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var at uint64
	var victim string
	for _, e := range msv.Entries {
		if e.Type != "file" || at != 0 {
			continue
		}
		for it, err := range sv.Tree.ObjectItems(e.Ino, ondisk.ExtentDataKey) {
			if err != nil {
				t.Fatal(err)
			}
			fe, err := item.ParseFileExtent(it.Data)
			if err == nil && fe.Type == item.FileExtentReg && fe.DiskBytenr != 0 && fe.Compression == item.CompressNone {
				at, victim = fe.DiskBytenr+fe.Offset, string(e.Path)
				break
			}
		}
	}
	vol := fsys.Volume()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for m := 0; m < vol.NumCopies(volume.Logical(at)); m++ {
		_, phys, err := vol.MapPhysical(volume.Logical(at), m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), int64(phys)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	fsys.Close()

	tmp := t.TempDir()
	st, _, errOut := runCLI("export", "-q", "--one-subvolume", img, "vol", filepath.Join(tmp, "a"))
	if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "inode") {
		t.Errorf("export of a damaged subvolume: status %d, stderr %q; want 1 and one line naming the inode", st, errOut)
	}
	if _, err := os.Stat(filepath.Join(tmp, "a", export.IncompleteMarker)); err != nil {
		t.Errorf("a stopped export has no incomplete marker: %v", err)
	}
	st, _, errOut = runCLI("export", "-q", "--one-subvolume", "--keep-going", img, "vol", filepath.Join(tmp, "b"))
	if st != 3 || !strings.Contains(errOut, "unreadable: \""+victim) || !strings.Contains(errOut, "partial export") {
		t.Errorf("export --keep-going: status %d, stderr %q; want 3, %q listed and the partial line", st, errOut, victim)
	}
	if b, err := os.ReadFile(filepath.Join(tmp, "b", export.PartialMarker)); err != nil || !strings.Contains(string(b), victim) {
		t.Errorf("partial marker %q, %v: want it to list %q", b, err, victim)
	}
}

// TestExportProgress: --progress draws a bar that ends at the exact total
// of file content, and -q silences it with the summary.
func TestExportProgress(t *testing.T) {
	img, _ := unpackFixture(t)
	tmp := t.TempDir()
	st, _, errOut := runCLI("export", "--progress", "--one-subvolume", img, "vol", filepath.Join(tmp, "a"))
	if st != 0 || !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "MiB") {
		t.Errorf("export --progress: status %d, stderr %q; want a bar at 100%%", st, errOut)
	}
	if st, _, errOut := runCLI("export", "-q", "--progress", img, "vol", filepath.Join(tmp, "b")); st != 0 || errOut != "" {
		t.Errorf("export -q --progress: status %d, stderr %q; want nothing", st, errOut)
	}
}

// TestReadingLeavesImageUnchanged runs every command that reads an image
// on a fixture and checks that the image file's bytes and times are as
// before: coldsend opens images read-only and never writes to them.
func TestReadingLeavesImageUnchanged(t *testing.T) {
	img, _ := unpackFixture(t)
	sum := func() (string, time.Time) {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:]), fi.ModTime()
	}
	before, mtime := sum()
	tmp := t.TempDir()
	for i, args := range [][]string{
		{"show", img},
		{"subvolume", "list", img},
		{"subvolume", "show", img, "vol"},
		{"ls", "-l", "-R", img, "vol"},
		{"cat", img, "vol/inline-2000"},
		{"send", "-q", "-f", filepath.Join(tmp, "s"), img, "vol.1"},
		{"send", "--size", img, "vol.1"},
		{"export", "-q", img, "vol", filepath.Join(tmp, "dir")},
		{"export", "-q", "--tar", img, "vol", filepath.Join(tmp, "tar")},
		{"generations", "--scan", img},
		{"ls", "--generation", "0", img, "vol"},
	} {
		if st, _, errOut := runCLI(args...); st != 0 {
			t.Errorf("%d %v: status %d: %s", i, args, st, errOut)
		}
		if after, m := sum(); after != before || !m.Equal(mtime) {
			t.Fatalf("%v changed the image (sha256 %s -> %s, mtime %v -> %v)", args, before, after, mtime, m)
		}
	}
}

// TestLogReplayFlag reads a kernel-made crash image: by default its log
// is replayed (the notice says so, and the listing shows what only the
// log holds); with --no-log-replay the last commit is read. Neither
// writes to the image.
func TestLogReplayFlag(t *testing.T) {
	paths, err := imagefile.Unpack("../../fixtures/images/crash-files", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := paths[0]
	before, _ := os.ReadFile(img)
	st, replayed, errOut := runCLI("ls", "-R", img, "/")
	if st != 0 || !strings.Contains(errOut, "log tree was replayed in memory") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("ls of a crash image: status %d, stderr %q; want one notice of the replay", st, errOut)
	}
	st, committed, errOut := runCLI("ls", "-R", "--no-log-replay", img, "/")
	if st != 0 || !strings.Contains(errOut, "without them") {
		t.Fatalf("ls --no-log-replay: status %d, stderr %q; want the warning that the log is left out", st, errOut)
	}
	if replayed == committed {
		t.Error("the replayed listing equals the last commit's: the fixture's log changed nothing?")
	}
	if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
		t.Error("reading a crash image changed it")
	}
}
