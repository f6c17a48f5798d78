package export_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/ondisk/item"
)

// fixtureSubvols calls fn for every subvolume of every committed fixture
// (the kernel's manifest of it, as its mount showed it) that a reader
// can open.
func fixtureSubvols(t *testing.T, fn func(t *testing.T, fsys *fstree.FS, sv *manifest.Subvolume)) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
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
			sv := &sc.Subvolumes[i]
			t.Run(filepath.Base(dir)+"/"+strings.ReplaceAll(sv.Path, "/", "_"), func(t *testing.T) { fn(t, fsys, sv) })
		}
	}
}

// want is the kernel's view of sv, as an export without nested
// subvolumes shows it: their entries are empty directories, left out of
// both sides.
func want(sv *manifest.Subvolume) (treecmp.Tree, map[string]bool) {
	nested := map[string]bool{}
	for _, e := range sv.Entries {
		if e.Type == manifest.TypeSubvol {
			nested[string(e.Path)] = true
		}
	}
	return treecmp.FromManifest(sv.Entries), nested
}

func compareOpts(dest string) treecmp.Options {
	privileged := os.Geteuid() == 0
	return treecmp.Options{
		NoOwners: !privileged,
		IgnoreXattr: func(name string) bool {
			return !privileged && (strings.HasPrefix(name, "trusted.") || strings.HasPrefix(name, "security."))
		},
	}
}

// TestToDirFixtures exports every fixture subvolume into a directory and
// compares it with what the kernel's mount showed: names, types, modes,
// owners (as root), sizes, contents, targets, device numbers, times,
// xattrs and hard-link groups; then the holes, against the extents.
func TestToDirFixtures(t *testing.T) {
	var subvols, entries int
	fixtureSubvols(t, func(t *testing.T, fsys *fstree.FS, sv *manifest.Subvolume) {
		opened, err := fsys.OpenSubvol(sv.ID)
		if err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "out")
		var hashes bytes.Buffer
		sum, err := export.ToDir(dest, fstree.Location{Subvol: opened, Ino: 256}, export.Options{OneSubvolume: true, Owners: os.Geteuid() == 0, Hashes: &hashes})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Partial() {
			t.Fatalf("partial export of an intact image: %v", sum.Errors)
		}
		got, err := treecmp.Record(dest)
		if err != nil {
			t.Fatal(err)
		}
		w, nested := want(sv)
		for p := range nested {
			delete(got, p)
		}
		dropUnstorable(t, dest, w)
		if d := treecmp.Diff(w, got, compareOpts(dest), 20); len(d) > 0 {
			t.Errorf("export differs from the kernel's mount:\n%s", strings.Join(d, "\n"))
		}
		checkHashes(t, dest, hashes.String(), w)
		checkHoles(t, dest, opened, sv)
		subvols++
		entries += len(w)
	})
	t.Logf("%d subvolumes, %d entries exported and compared with the kernel's manifests", subvols, entries)
}

// dropUnstorable leaves out of w the xattrs dest's filesystem cannot
// store (btrfs's own properties, values larger than a block): the export
// counts them as skipped.
func dropUnstorable(t *testing.T, dest string, w treecmp.Tree) {
	t.Helper()
	file, dir := filepath.Join(dest, "..", "xattr-probe"), filepath.Join(dest, "..", "xattr-probe-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	for p, e := range w {
		probe := file
		if e.Type == manifest.TypeDir {
			probe = dir // default ACLs only go on directories
		}
		for name, v := range e.Xattrs {
			if err := unix.Lsetxattr(probe, name, []byte(v), 0); err != nil {
				w.DropXattr(p, name)
			}
		}
	}
}

// checkHashes checks the hash list names every regular file once with
// the kernel's sha256.
func checkHashes(t *testing.T, dest, list string, w treecmp.Tree) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if strings.HasPrefix(sum, "\\") {
			sum = sum[1:]
			name = strings.NewReplacer("\\\\", "\\", "\\n", "\n", "\\r", "\r").Replace(name)
		}
		e := w[name]
		if !ok || e == nil || e.SHA256 != sum {
			t.Errorf("hash line %q: the kernel's file has %v", line, e)
		}
		seen[name] = true
	}
	for p, e := range w {
		if e.Type == manifest.TypeFile && !seen[p] {
			t.Errorf("%q has no hash line", p)
		}
	}
}

// checkHoles compares each exported file's data and holes (SEEK_DATA,
// SEEK_HOLE) with the extents DataRanges reports.
func checkHoles(t *testing.T, dest string, sv *fstree.Subvol, msv *manifest.Subvolume) {
	t.Helper()
	for _, e := range msv.Entries {
		if e.Type != manifest.TypeFile {
			continue
		}
		f, err := sv.OpenFile(e.Ino)
		if err != nil {
			t.Fatal(err)
		}
		var want []fstree.Range
		for r, err := range f.DataRanges() {
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
		got, err := seekMap(filepath.Join(dest, string(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if !equalRanges(got, want) {
			t.Errorf("%q: data at %v, the extents have it at %v", e.Path, got, want)
		}
	}
}

func equalRanges(a, b []fstree.Range) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// seekMap lists a file's data ranges as lseek finds them.
func seekMap(p string) ([]fstree.Range, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var out []fstree.Range
	for pos := int64(0); pos < fi.Size(); {
		d, err := unix.Seek(int(f.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return nil, err
		}
		h, err := unix.Seek(int(f.Fd()), d, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		out = append(out, fstree.Range{Off: d, Len: h - d})
		pos = h
	}
	return out, nil
}

// TestToTarFixtures writes every fixture subvolume as a tar archive,
// reads it back with archive/tar (which reads GNU sparse 1.0) and checks
// every entry against the kernel's manifest; where GNU tar and bsdtar
// are installed, extracts it with each and compares the trees.
func TestToTarFixtures(t *testing.T) {
	extractors := map[string][]string{}
	if _, err := exec.LookPath("tar"); err == nil {
		extractors["gnu-tar"] = []string{"tar", "--xattrs", "--xattrs-include=*", "--same-permissions", "--numeric-owner", "--warning=no-unknown-keyword", "-xf", "-"}
	}
	if _, err := exec.LookPath("bsdtar"); err == nil {
		extractors["bsdtar"] = []string{"bsdtar", "--xattrs", "-p", "--numeric-owner", "-xf", "-"}
	}
	if len(extractors) < 2 {
		t.Logf("extracting with %d of GNU tar and bsdtar (install tar and libarchive-tools for both)", len(extractors))
	}
	var archives int
	fixtureSubvols(t, func(t *testing.T, fsys *fstree.FS, sv *manifest.Subvolume) {
		opened, err := fsys.OpenSubvol(sv.ID)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		sum, err := export.ToTar(&buf, fstree.Location{Subvol: opened, Ino: 256}, export.Options{OneSubvolume: true})
		if err != nil {
			t.Fatal(err)
		}
		w, nested := want(sv)
		checkTar(t, buf.Bytes(), w, nested)
		for name, argv := range extractors {
			dest := t.TempDir()
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir, cmd.Stdin = dest, bytes.NewReader(buf.Bytes())
			if out, err := cmd.CombinedOutput(); err != nil && !onlyXattrErrors(string(out)) {
				t.Fatalf("%s: %v: %s", name, err, out)
			}
			got, err := treecmp.Record(dest)
			if err != nil {
				t.Fatal(err)
			}
			for p := range nested {
				delete(got, p)
			}
			wx := treecmp.FromManifest(sv.Entries)
			dropUnstorable(t, dest, wx)
			opts := compareOpts(dest)
			opts.Exclude = func(e *treecmp.Entry) bool { return e.Type == manifest.TypeSocket }
			// GNU tar sets access times to the time of extraction.
			opts.NoAtime = name == "gnu-tar"
			if name == "bsdtar" {
				for p, g := range got {
					w := wx[p]
					switch {
					case w == nil:
					case p == "":
						// bsdtar leaves the times of the directory it
						// extracts into.
						g.Atime, g.Mtime = w.Atime, w.Mtime
					case w.Mtime < 0 && w.Mtime%1e9 != 0 || w.Atime < 0 && w.Atime%1e9 != 0:
						// libarchive reads "-1.5" as -0.5: a fraction
						// before 1970 counts the wrong way.
						g.Atime, g.Mtime = w.Atime, w.Mtime
					}
				}
			}
			w := wx
			if d := treecmp.Diff(w, got, opts, 20); len(d) > 0 {
				t.Errorf("%s extraction differs from the kernel's mount:\n%s", name, strings.Join(d, "\n"))
			}
		}
		if sum.Partial() {
			t.Fatalf("partial: %v", sum.Errors)
		}
		archives++
	})
	t.Logf("%d archives checked with archive/tar and %d extractors", archives, len(extractors))
}

// onlyXattrErrors reports whether an extractor failed only for xattrs
// the destination filesystem cannot store (dropUnstorable leaves those
// out of the comparison).
func onlyXattrErrors(out string) bool {
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, "Cannot restore extended attributes") && !strings.Contains(l, "Error exit delayed") {
			return false
		}
	}
	return true
}

// checkTar reads an archive back with archive/tar and compares each
// entry with the manifest.
func checkTar(t *testing.T, b []byte, w treecmp.Tree, nested map[string]bool) {
	t.Helper()
	r := tar.NewReader(bytes.NewReader(b))
	seen := map[string]bool{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == "." {
			name = ""
		}
		seen[name] = true
		e := w[name]
		if nested[name] {
			continue
		}
		if e == nil {
			t.Errorf("%q in the archive, not on the mount", name)
			continue
		}
		if h.Typeflag == tar.TypeLink {
			continue
		}
		if h.Mode != int64(e.Mode&0o7777) || h.Uid != int(e.UID) || h.Gid != int(e.GID) || h.ModTime.UnixNano() != e.Mtime {
			t.Errorf("%q: mode %o uid %d gid %d mtime %d, want %o %d %d %d", name, h.Mode, h.Uid, h.Gid, h.ModTime.UnixNano(), e.Mode&0o7777, e.UID, e.GID, e.Mtime)
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords["SCHILY.xattr."+k] != v {
				t.Errorf("%q: xattr %s missing or different", name, k)
			}
		}
		if e.Type == manifest.TypeFile {
			hs := sha256.New()
			if _, err := io.Copy(hs, r); err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			if sum := hex.EncodeToString(hs.Sum(nil)); sum != e.SHA256 {
				t.Errorf("%q: content sha256 %s, want %s", name, sum, e.SHA256)
			}
		}
	}
	for p, e := range w {
		if !seen[p] && e.Type != manifest.TypeSocket {
			t.Errorf("%q is not in the archive", p)
		}
	}
}

// TestModeString checks the bodyfile's mode strings against what ls
// shows.
func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		mode uint32
		want string
	}{
		{item.ModeRegular | 0o644, "r/rrw-r--r--"},
		{item.ModeDir | 0o1777, "d/drwxrwxrwt"},
		{item.ModeRegular | 0o4755, "r/rrwsr-xr-x"},
		{item.ModeRegular | 0o2644, "r/rrw-r-Sr--"},
		{item.ModeSymlink | 0o777, "l/lrwxrwxrwx"},
		{item.ModeFIFO | 0o600, "p/prw-------"},
	} {
		if got := export.ModeString(tc.mode); got != tc.want {
			t.Errorf("%o: %s, want %s", tc.mode, got, tc.want)
		}
	}
}
