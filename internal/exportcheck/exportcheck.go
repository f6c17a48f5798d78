//go:build linux

// Package exportcheck compares coldsend's exports of a subvolume with the
// kernel's view of it (a manifest recorded from its mount): into a
// directory, and as a tar archive read back by archive/tar and extracted
// by GNU tar and bsdtar. The export tests and the kernel oracle share it.
package exportcheck

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/treecmp"
)

// maxDiffs bounds the differences reported per comparison.
const maxDiffs = 20

// Extractors are the tar programs installed here, by name, with the
// arguments that extract standard input into the working directory
// keeping everything they can.
func Extractors() map[string][]string {
	ex := map[string][]string{}
	if _, err := exec.LookPath("tar"); err == nil {
		ex["gnu-tar"] = []string{"tar", "--xattrs", "--xattrs-include=*", "--same-permissions", "--numeric-owner", "--warning=no-unknown-keyword", "--warning=no-timestamp", "-xf", "-"}
	}
	if _, err := exec.LookPath("bsdtar"); err == nil {
		// -P: libarchive strips a leading backslash from names (a
		// Windows path to it), and btrfs names may begin with one.
		ex["bsdtar"] = []string{"bsdtar", "--xattrs", "-p", "-P", "--numeric-owner", "-xf", "-"}
	}
	return ex
}

// Result counts what a check compared.
type Result struct {
	Entries, Files int
	Extractions    int
}

// Subvolume exports sv (the manifest's subvolume msv) under tmp into a
// directory and as a tar archive, extracts the archive with every
// extractor, and compares each tree with the manifest, the hash list with
// the kernel's sha256s and the exported files' holes with the extents'.
// Nested subvolumes are not entered. The error lists the differences.
func Subvolume(sv *fstree.Subvol, msv *manifest.Subvolume, tmp string, extractors map[string][]string) (Result, error) {
	var res Result
	start := fstree.Location{Subvol: sv, Ino: 256}
	var diffs []string
	fail := func(what string, d []string) {
		for _, l := range d {
			diffs = append(diffs, what+": "+l)
		}
	}

	dest := filepath.Join(tmp, "dir")
	var hashes bytes.Buffer
	sum, err := export.ToDir(dest, start, export.Options{OneSubvolume: true, Owners: os.Geteuid() == 0, Hashes: &hashes})
	if err != nil {
		return res, err
	}
	if sum.Partial() {
		return res, fmt.Errorf("partial export of an intact image: %v", sum.Errors)
	}
	w, nested := want(msv)
	if err := dropUnstorable(tmp, w); err != nil {
		return res, err
	}
	got, err := treecmp.Record(dest)
	if err != nil {
		return res, err
	}
	for p := range nested {
		delete(got, p)
	}
	fail("directory", treecmp.Diff(w, got, compareOpts(), maxDiffs))
	fail("hashes", checkHashes(hashes.String(), w))
	if _, err := exec.LookPath("sha256sum"); err == nil && hashes.Len() > 0 {
		list := filepath.Join(tmp, "sha256sums")
		if err := os.WriteFile(list, hashes.Bytes(), 0o644); err != nil {
			return res, err
		}
		cmd := exec.Command("sha256sum", "-c", "--quiet", "--strict", list)
		cmd.Dir = dest
		if out, err := cmd.CombinedOutput(); err != nil {
			diffs = append(diffs, fmt.Sprintf("sha256sum -c: %v: %.2000s", err, out))
		}
	}
	holes, err := checkHoles(dest, sv, msv)
	if err != nil {
		return res, err
	}
	fail("holes", holes)
	res.Entries = len(w)
	for _, e := range w {
		if e.Type == manifest.TypeFile {
			res.Files++
		}
	}

	var archive bytes.Buffer
	if _, err := export.ToTar(&archive, start, export.Options{OneSubvolume: true}); err != nil {
		return res, err
	}
	fail("archive/tar", checkTar(archive.Bytes(), w, nested))
	for name, argv := range extractors {
		dest := filepath.Join(tmp, name)
		if err := os.Mkdir(dest, 0o755); err != nil {
			return res, err
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Stdin = dest, bytes.NewReader(archive.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil && !onlyXattrErrors(string(out)) {
			return res, fmt.Errorf("%s: %v: %s", name, err, out)
		}
		got, err := treecmp.Record(dest)
		if err != nil {
			return res, err
		}
		for p := range nested {
			delete(got, p)
		}
		opts := compareOpts()
		// tar cannot hold sockets.
		opts.Exclude = func(e *treecmp.Entry) bool { return e.Type == manifest.TypeSocket }
		// GNU tar sets access times to the time of extraction.
		opts.NoAtime = name == "gnu-tar"
		if name == "bsdtar" {
			bsdtarTimes(w, got)
			bsdtarXattrNames(w, got)
		}
		fail(name, treecmp.Diff(w, got, opts, maxDiffs))
		res.Extractions++
	}
	if len(diffs) > 0 {
		return res, errors.New(strings.Join(diffs, "\n"))
	}
	return res, nil
}

// bsdtarTimes forgives what libarchive does not restore: the times of
// the directory it extracts into, and fractions of times before 1970,
// which it reads counting the wrong way ("-1.5" as -0.5).
func bsdtarTimes(w, got treecmp.Tree) {
	for p, g := range got {
		e := w[p]
		switch {
		case e == nil:
		case p == "", e.Mtime < 0 && e.Mtime%1e9 != 0 || e.Atime < 0 && e.Atime%1e9 != 0:
			g.Atime, g.Mtime = e.Atime, e.Mtime
		}
	}
}

// bsdtarXattrNames forgives libarchive's restoring an xattr whose name
// holds '%' or '=' under the percent-encoded name of the SCHILY.xattr
// key (GNU tar decodes it; libarchive 3.6 does not).
func bsdtarXattrNames(w, got treecmp.Tree) {
	const prefix = "SCHILY.xattr."
	for p, g := range got {
		e := w[p]
		if e == nil {
			continue
		}
		for k, v := range e.Xattrs {
			enc := strings.TrimPrefix(export.PAXXattrKey([]byte(k)), prefix)
			if enc == k {
				continue
			}
			if gv, ok := g.Xattrs[enc]; ok && gv == v {
				delete(g.Xattrs, enc)
				g.Xattrs[k] = v
			}
		}
	}
}

// want is the kernel's view of msv as an export that does not enter
// nested subvolumes shows it; their entries (empty directories in the
// export) are left out of both sides.
func want(msv *manifest.Subvolume) (treecmp.Tree, map[string]bool) {
	nested := map[string]bool{}
	for _, e := range msv.Entries {
		if e.Type == manifest.TypeSubvol {
			nested[string(e.Path)] = true
		}
	}
	return treecmp.FromManifest(msv.Entries), nested
}

func compareOpts() treecmp.Options {
	privileged := os.Geteuid() == 0
	return treecmp.Options{
		NoOwners: !privileged,
		IgnoreXattr: func(name string) bool {
			return !privileged && (strings.HasPrefix(name, "trusted.") || strings.HasPrefix(name, "security."))
		},
	}
}

// dropUnstorable leaves out of w the xattrs the filesystem under tmp
// cannot store (btrfs's own properties, values larger than a block): an
// export counts them as skipped.
func dropUnstorable(tmp string, w treecmp.Tree) error {
	file, dir := filepath.Join(tmp, "xattr-probe"), filepath.Join(tmp, "xattr-probe-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		return err
	}
	defer os.Remove(file)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
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
	return nil
}

// checkHashes checks that the hash list names every regular file once,
// with the kernel's sha256.
func checkHashes(list string, w treecmp.Tree) []string {
	var out []string
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
		if e := w[name]; !ok || e == nil || e.SHA256 != sum {
			out = append(out, fmt.Sprintf("line %q: the kernel's file has %v", line, e))
		}
		seen[name] = true
	}
	for p, e := range w {
		if e.Type == manifest.TypeFile && !seen[p] {
			out = append(out, fmt.Sprintf("%q has no line", p))
		}
	}
	return out
}

// checkHoles compares each exported file's data and holes (SEEK_DATA,
// SEEK_HOLE) with the data ranges of its extents.
func checkHoles(dest string, sv *fstree.Subvol, msv *manifest.Subvolume) ([]string, error) {
	var out []string
	for _, e := range msv.Entries {
		if e.Type != manifest.TypeFile {
			continue
		}
		want, err := DataRanges(sv, e.Ino)
		if err != nil {
			return nil, err
		}
		got, err := SeekMap(filepath.Join(dest, string(e.Path)))
		if err != nil {
			return nil, err
		}
		if !equalRanges(got, want) {
			out = append(out, fmt.Sprintf("%q: data at %v, the extents have it at %v", e.Path, got, want))
		}
	}
	return out, nil
}

// DataRanges lists inode ino's data ranges as coldsend reads them.
func DataRanges(sv *fstree.Subvol, ino uint64) ([]fstree.Range, error) {
	f, err := sv.OpenFile(ino)
	if err != nil {
		return nil, err
	}
	var out []fstree.Range
	for r, err := range f.DataRanges() {
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
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

// SeekMap lists a file's data ranges as lseek finds them.
func SeekMap(p string) ([]fstree.Range, error) {
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
			return nil, fmt.Errorf("lseek SEEK_DATA %s at %d: %w", p, pos, err)
		}
		h, err := unix.Seek(int(f.Fd()), d, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("lseek SEEK_HOLE %s at %d: %w", p, d, err)
		}
		out = append(out, fstree.Range{Off: d, Len: h - d})
		pos = h
	}
	return out, nil
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
func checkTar(b []byte, w treecmp.Tree, nested map[string]bool) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < maxDiffs {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	r := tar.NewReader(bytes.NewReader(b))
	seen := map[string]bool{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			add("reading: %v", err)
			return out
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == "." {
			name = ""
		}
		seen[name] = true
		e := w[name]
		switch {
		case nested[name], h.Typeflag == tar.TypeLink && e != nil:
			continue
		case e == nil:
			add("%q in the archive, not on the mount", name)
			continue
		}
		if h.Mode != int64(e.Mode&0o7777) || h.Uid != int(e.UID) || h.Gid != int(e.GID) || h.ModTime.UnixNano() != e.Mtime {
			add("%q: mode %o uid %d gid %d mtime %d, want %o %d %d %d", name, h.Mode, h.Uid, h.Gid, h.ModTime.UnixNano(), e.Mode&0o7777, e.UID, e.GID, e.Mtime)
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords[export.PAXXattrKey([]byte(k))] != v {
				add("%q: xattr %s missing or different", name, k)
			}
		}
		if e.Type == manifest.TypeFile {
			hs := sha256.New()
			if _, err := io.Copy(hs, r); err != nil {
				add("%q: %v", name, err)
			} else if sum := hex.EncodeToString(hs.Sum(nil)); sum != e.SHA256 {
				add("%q: content sha256 %s, want %s", name, sum, e.SHA256)
			}
		}
	}
	for p, e := range w {
		if !seen[p] && e.Type != manifest.TypeSocket {
			add("%q is not in the archive", p)
		}
	}
	return out
}
