package fstree_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
)

// iofsPath turns a manifest path (btrfs bytes, '/'-separated) into the
// io/fs name of the same file.
func iofsPath(p []byte) string {
	parts := bytes.Split(p, []byte("/"))
	names := make([]string, len(parts))
	for i, part := range parts {
		names[i] = fstree.IOFSName(part)
	}
	return strings.Join(names, "/")
}

// TestFSOnEveryFixture runs testing/fstest.TestFS on every subvolume of
// every committed fixture, expecting every entry the kernel's mount showed
// (the manifest), then checks each regular file's contents read through
// io/fs against the kernel's sha256 and each symlink's target.
func TestFSOnEveryFixture(t *testing.T) {
	dirs, err := filepath.Glob("../fixtures/images/*")
	if err != nil {
		t.Fatal(err)
	}
	var subvols, files int
	for _, dir := range dirs {
		sc, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := fixturecheck.Open(dir, sc, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, msv := range sc.Subvolumes {
			sv, err := fsys.OpenSubvol(msv.ID)
			if err != nil {
				t.Fatal(err)
			}
			sub := fsys.Sub(sv)
			var expected []string
			for _, e := range msv.Entries {
				if len(e.Path) > 0 {
					expected = append(expected, iofsPath(e.Path))
				}
			}
			if err := fstest.TestFS(sub, expected...); err != nil {
				t.Errorf("%s subvolume %d (%s): %v", sc.Name, msv.ID, msv.Path, err)
				continue
			}
			subvols++
			for _, e := range msv.Entries {
				name := iofsPath(e.Path)
				checkStat(t, sub, name, e)
				switch e.Type {
				case "file":
					b, err := fs.ReadFile(sub, name)
					sum := sha256.Sum256(b)
					if err != nil || hex.EncodeToString(sum[:]) != e.SHA256 {
						t.Errorf("%s %s: %q: %v, sha256 %x, kernel read %s", sc.Name, msv.Path, name, err, sum, e.SHA256)
					}
					files++
				case "symlink":
					target, err := fs.ReadLink(sub, name)
					if err != nil || target != string(e.Target) {
						t.Errorf("%s %s: %q: ReadLink %q, %v; want %q", sc.Name, msv.Path, name, target, err, e.Target)
					}
				}
			}
		}
	}
	t.Logf("fstest.TestFS passed on %d subvolumes; %d files read through io/fs as the kernel read them", subvols, files)
}

// checkStat compares what Stat's Sys says of name with what the kernel's
// mount showed: the inode number, st_mode, owner, link count, device
// number, times and extended attributes.
func checkStat(t *testing.T, sub fs.FS, name string, e manifest.Entry) {
	t.Helper()
	if name == "" {
		name = "."
	}
	info, err := fs.Stat(sub, name)
	if err != nil {
		t.Errorf("%q: %v", name, err)
		return
	}
	st, ok := info.Sys().(*fstree.Stat)
	if !ok {
		t.Errorf("%q: Sys is %T", name, info.Sys())
		return
	}
	if e.Type == "subvol" { // the manifest records only where a subvolume is
		if st.Ino != e.Ino {
			t.Errorf("%q: Sys ino %d; the kernel showed %d", name, st.Ino, e.Ino)
		}
		return
	}
	major, minor := e.Rdev>>8&0xfff|e.Rdev>>32&^0xfff, e.Rdev&0xff|e.Rdev>>12&^0xff
	if st.Ino != e.Ino || st.Mode != e.Mode || st.UID != e.UID || st.GID != e.GID || st.Nlink != e.Nlink ||
		st.Major() != major || st.Minor() != minor || st.Mtime.UnixNano() != e.Mtime || st.Ctime.UnixNano() != e.Ctime ||
		e.Otime != 0 && st.Otime.UnixNano() != e.Otime || e.Atime != 0 && st.Atime.UnixNano() != e.Atime {
		t.Errorf("%q: Sys %+v; the kernel showed %+v", name, *st, e)
	}
	if info.Mode().Perm() != fs.FileMode(e.Mode&0o777) || e.Type == "file" && info.Size() != e.Size {
		t.Errorf("%q: FileInfo mode %v size %d; the kernel showed mode %o size %d", name, info.Mode(), info.Size(), e.Mode, e.Size)
	}
	xattrs, err := st.Xattrs()
	if err != nil {
		t.Errorf("%q: Xattrs: %v", name, err)
	}
	got := map[string]string{}
	for _, x := range xattrs {
		got[string(x.Name)] = string(x.Value)
	}
	want := map[string]string{}
	for _, x := range e.Xattrs {
		want[string(x.Name)] = string(x.Value)
	}
	if !maps.Equal(got, want) {
		t.Errorf("%q: xattrs %q; the kernel showed %q", name, got, want)
	}
}

// TestIOFSNames: the io/fs name of every btrfs name maps back to it, and
// only names io/fs cannot carry are escaped.
func TestIOFSNames(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
	}{
		{"plain", "plain"},
		{"ä-utf8", "ä-utf8"},
		{"back\\slash", "back\uf75cslash"},
		{"bad\xffbyte", "bad\uf7ffbyte"},
		{"\uf700-pua", "\uf7ef\uf79c\uf780-pua"},
		{"new\nline", "new\nline"},
	} {
		got := fstree.IOFSName([]byte(tc.raw))
		if got != tc.want || string(fstree.RawName(got)) != tc.raw || !fs.ValidPath(got) || strings.Contains(got, "\\") {
			t.Errorf("%q: io/fs name %q (want %q), back %q", tc.raw, got, tc.want, fstree.RawName(got))
		}
	}
}

// TestIOFSWalkAndServe walks a subvolume with fs.WalkDir and serves one
// of its files with http.FileServer.
func TestIOFSWalkAndServe(t *testing.T) {
	dir := "../fixtures/images/basic"
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fixturecheck.Open(dir, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := fsys.ResolveSubvol("vol.3")
	if err != nil {
		t.Fatal(err)
	}
	sub := fsys.Sub(sv)
	var walked int
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		walked++
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*fstree.Stat)
		if st.Ino == 0 || st.Otime.IsZero() && !st.Placeholder {
			t.Errorf("%s: Sys %+v", p, st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want int
	for _, msv := range sc.Subvolumes {
		if msv.Path == "vol.3" {
			want = len(msv.Entries)
		}
	}
	if walked != want {
		t.Errorf("WalkDir met %d entries, the manifest has %d", walked, want)
	}
	srv := httptest.NewServer(http.FileServer(http.FS(sub)))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/inline-2000")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	direct, err := fs.ReadFile(sub, "inline-2000")
	if err != nil || res.StatusCode != 200 || !bytes.Equal(body, direct) || len(body) != 2000 {
		t.Errorf("http: %d, %d bytes, equal %v, %v", res.StatusCode, len(body), bytes.Equal(body, direct), err)
	}
}

// TestConcurrentReaders walks one subvolume from eight goroutines at once
// through the same SubFS (sharing its tree's remembered search paths and
// its inode cache) and checks that each sees what one walk alone sees.
// Run it with -race too.
func TestConcurrentReaders(t *testing.T) {
	dir := "../fixtures/images/reflink"
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fixturecheck.Open(dir, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := fsys.OpenSubvol(sc.Subvolumes[len(sc.Subvolumes)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	signature := func(sub fs.FS) (string, error) {
		h := sha256.New()
		err := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st := info.Sys().(*fstree.Stat)
			fmt.Fprintf(h, "%s %d %o %d %d\n", p, st.Ino, st.Mode, st.Size, st.Nlink)
			if d.Type().IsRegular() {
				f, err := sub.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				if _, err := io.Copy(h, f); err != nil {
					return err
				}
			}
			return nil
		})
		return hex.EncodeToString(h.Sum(nil)), err
	}
	want, err := signature(fsys.Sub(sv))
	if err != nil {
		t.Fatal(err)
	}
	shared := fsys.Sub(sv)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := signature(shared)
			if err == nil && got != want {
				err = fmt.Errorf("concurrent walk saw %s, a walk alone %s", got, want)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
