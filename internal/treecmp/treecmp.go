//go:build linux

package treecmp

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/internal/manifest"
)

// Entry is one name in a tree.
type Entry struct {
	Path   string // relative, "" for the top
	Type   string // manifest.Type*
	Mode   uint32 // st_mode
	UID    uint32
	GID    uint32
	Size   int64 // regular files and symlinks
	SHA256 string
	Target string
	Rdev   uint64 // glibc makedev encoding
	Atime  int64  // ns; 0: not compared
	Mtime  int64
	Xattrs map[string]string
	group  uint64 // inode: entries sharing it are one hard-link group
}

// Tree is a recorded tree by path.
type Tree map[string]*Entry

// FromManifest is the tree a manifest subvolume recorded (its nested
// subvolume entries left out: a send does not carry them).
func FromManifest(entries []manifest.Entry) Tree {
	t := Tree{}
	for _, e := range entries {
		if e.Type == manifest.TypeSubvol {
			continue
		}
		x := &Entry{Path: string(e.Path), Type: e.Type, Mode: e.Mode, UID: e.UID, GID: e.GID, SHA256: e.SHA256,
			Target: string(e.Target), Rdev: e.Rdev, Atime: e.Atime, Mtime: e.Mtime, group: e.Ino, Xattrs: map[string]string{}}
		if e.Type == manifest.TypeFile || e.Type == manifest.TypeSymlink {
			x.Size = e.Size
		}
		for _, xa := range e.Xattrs {
			x.Xattrs[string(xa.Name)] = string(xa.Value)
		}
		t[x.Path] = x
	}
	return t
}

var typeOfMode = map[uint32]string{
	unix.S_IFREG: manifest.TypeFile, unix.S_IFDIR: manifest.TypeDir, unix.S_IFLNK: manifest.TypeSymlink,
	unix.S_IFIFO: manifest.TypeFIFO, unix.S_IFSOCK: manifest.TypeSocket,
	unix.S_IFCHR: manifest.TypeChardev, unix.S_IFBLK: manifest.TypeBlockdev,
}

// Record walks dir. Atimes are recorded before anything is read, as
// reading a symlink (or a file, where O_NOATIME is not allowed) updates
// the access time of every name of its inode. SHA256 is the contents'
// sha256, as a manifest has it.
func Record(dir string) (Tree, error) { return record(dir, false) }

// RecordSparse is Record with a digest of the contents that reads only
// the data a file has (SEEK_DATA), so that a terabyte-sized sparse file
// costs what it stores: the non-zero 4 KiB blocks with their offsets, and
// the size. Holes and stored zeros digest alike, as they read alike. Only
// trees recorded this way, in one process, compare with each other; it
// is not safe for concurrent use.
func RecordSparse(dir string) (Tree, error) { return record(dir, true) }

func record(dir string, sparse bool) (Tree, error) {
	t := Tree{}
	if err := t.walk(dir, ""); err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(t)) {
		abs := dir
		if p != "" {
			abs += "/" + p
		}
		if err := t[p].readContents(abs, sparse); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t Tree) walk(abs, rel string) error {
	e, err := stat(abs, rel)
	if err != nil {
		return err
	}
	t[rel] = e
	if e.Type != manifest.TypeDir {
		return nil
	}
	f, err := openNoAtime(abs, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", abs, err)
	}
	slices.Sort(names)
	for _, n := range names {
		crel := n
		if rel != "" {
			crel = rel + "/" + n
		}
		if err := t.walk(abs+"/"+n, crel); err != nil {
			return err
		}
	}
	return nil
}

func stat(abs, rel string) (*Entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		return nil, fmt.Errorf("lstat %s: %w", abs, err)
	}
	e := &Entry{Path: rel, Type: typeOfMode[st.Mode&unix.S_IFMT], Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Atime: st.Atim.Nano(), Mtime: st.Mtim.Nano(), group: st.Ino, Xattrs: map[string]string{}}
	switch e.Type {
	case "":
		return nil, fmt.Errorf("%s: unknown file type in mode %#o", abs, st.Mode)
	case manifest.TypeFile, manifest.TypeSymlink:
		e.Size = st.Size
	case manifest.TypeChardev, manifest.TypeBlockdev:
		e.Rdev = st.Rdev
	}
	return e, nil
}

// readContents fills what needs reading: contents, target, xattrs.
func (e *Entry) readContents(abs string, sparse bool) error {
	switch e.Type {
	case manifest.TypeFile:
		f, err := openNoAtime(abs, 0)
		if err != nil {
			return err
		}
		if sparse {
			e.SHA256, err = sparseDigest(f, e.Size) // not a sha256: see RecordSparse
		} else {
			h := sha256.New()
			_, err = io.Copy(h, f)
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", abs, err)
		}
	case manifest.TypeSymlink:
		target, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		e.Target = target
	}
	names, err := listXattrs(abs)
	if err != nil {
		return err
	}
	for _, n := range names {
		v, err := getXattr(abs, n)
		if err != nil {
			return err
		}
		e.Xattrs[n] = string(v)
	}
	return nil
}

func openNoAtime(abs string, flags int) (*os.File, error) {
	fd, err := unix.Open(abs, flags|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(abs, flags|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	return os.NewFile(uintptr(fd), abs), nil
}

func listXattrs(abs string) ([]string, error) {
	n, err := unix.Llistxattr(abs, nil)
	if err != nil || n == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = unix.Llistxattr(abs, buf); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func getXattr(abs, name string) ([]byte, error) {
	n, err := unix.Lgetxattr(abs, name, nil)
	if err != nil {
		return nil, fmt.Errorf("lgetxattr %s %s: %w", abs, name, err)
	}
	v := make([]byte, n)
	n, err = unix.Lgetxattr(abs, name, v)
	return v[:n], err
}

// Options relax a comparison.
type Options struct {
	NoOwners bool // uid and gid are not compared (an unprivileged receive)
	NoAtime  bool
	// IgnoreXattr leaves out xattrs by name (those the destination cannot
	// hold, or the kernel adds).
	IgnoreXattr func(name string) bool
	// Fresh, when not 0, is when the receive began: a directory whose
	// times in got are later had entries made or renamed in it by the
	// receive and no UTIMES after (the kernel sends none for a directory
	// it did not change, as for the orphan names it passes through the
	// top), so its times are not compared.
	Fresh int64
	// FreshBoth asks want's times to be fresh too (want is another
	// receive, not the sender's view).
	FreshBoth bool
	// Exclude leaves out the names (of want) it returns true for, with
	// every other name of their inodes.
	Exclude func(e *Entry) bool
}

// Diff lists the differences between want and got, at most max of them.
func Diff(want, got Tree, opts Options, max int) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < max {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	if opts.Exclude != nil {
		want, got = maps.Clone(want), maps.Clone(got)
		for p, e := range want {
			if opts.Exclude(e) {
				for q, o := range want {
					if o.group == e.group && o.Type != manifest.TypeDir {
						delete(want, q)
						delete(got, q)
					}
				}
				delete(got, p)
			}
		}
	}
	paths := slices.Sorted(maps.Keys(want))
	for _, p := range paths {
		w, g := want[p], got[p]
		if g == nil {
			add("%q: missing", p)
			continue
		}
		show := func(what string, w, g any) { add("%q: %s %v, want %v", p, what, g, w) }
		switch {
		case g.Type != w.Type:
			show("type", w.Type, g.Type)
			continue
		case g.Mode != w.Mode:
			add("%q: mode %o, want %o", p, g.Mode, w.Mode)
		case !opts.NoOwners && (g.UID != w.UID || g.GID != w.GID):
			show("owner", fmt.Sprintf("%d:%d", w.UID, w.GID), fmt.Sprintf("%d:%d", g.UID, g.GID))
		case g.Size != w.Size:
			show("size", w.Size, g.Size)
		case g.SHA256 != w.SHA256:
			show("sha256", w.SHA256, g.SHA256)
		case g.Target != w.Target:
			show("target", w.Target, g.Target)
		case g.Rdev != w.Rdev:
			show("rdev", w.Rdev, g.Rdev)
		case g.Type == manifest.TypeDir && opts.Fresh != 0 && g.Mtime >= opts.Fresh && (!opts.FreshBoth || w.Mtime >= opts.Fresh):
		case g.Mtime != w.Mtime:
			show("mtime", w.Mtime, g.Mtime)
		case !opts.NoAtime && w.Atime != 0 && g.Atime != w.Atime:
			show("atime", w.Atime, g.Atime)
		}
		wx, gx := filterXattrs(w.Xattrs, opts), filterXattrs(g.Xattrs, opts)
		if !maps.Equal(wx, gx) {
			show("xattrs", wx, gx)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if want[p] == nil {
			add("%q: not expected", p)
		}
	}
	if wg, gg := groups(want), groups(got); !slices.Equal(wg, gg) {
		add("hard-link groups %q, want %q", gg, wg)
	}
	return out
}

func filterXattrs(x map[string]string, opts Options) map[string]string {
	out := map[string]string{}
	for k, v := range x {
		if opts.IgnoreXattr == nil || !opts.IgnoreXattr(k) {
			out[k] = v
		}
	}
	return out
}

// groups lists the hard-link groups of more than one name, each as its
// sorted names joined, sorted.
func groups(t Tree) []string {
	by := map[uint64][]string{}
	for p, e := range t {
		if e.Type != manifest.TypeDir {
			by[e.group] = append(by[e.group], p)
		}
	}
	var out []string
	for _, names := range by {
		if len(names) > 1 {
			slices.Sort(names)
			out = append(out, strings.Join(names, " = "))
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(a, b) })
	return out
}

// DropXattr leaves xattr name out of path's entry and every other name
// of its inode.
func (t Tree) DropXattr(path, name string) {
	e := t[path]
	if e == nil {
		return
	}
	for _, o := range t {
		if o.group == e.group && o.Type != manifest.TypeDir || o == e {
			delete(o.Xattrs, name)
		}
	}
}

// digestBuf and zeroBlock serve sparseDigest, which records use one at a
// time.
var (
	digestBuf = make([]byte, 1<<20)
	zeroBlock = make([]byte, 4096)
)

// digestSeed keys sparseDigest: its digests compare within one process,
// which is all RecordSparse promises.
var digestSeed = maphash.MakeSeed()

// sparseDigest digests the non-zero 4 KiB blocks of f with their offsets,
// reading only its data extents. It is not a cryptographic hash but
// maphash, an order of magnitude faster, as the oracle digests every file
// of every received tree four times.
func sparseDigest(f *os.File, size int64) (string, error) {
	var h maphash.Hash
	h.SetSeed(digestSeed)
	fmt.Fprintf(&h, "size %d\n", size)
	buf := digestBuf
	fd := int(f.Fd())
	for pos := int64(0); pos < size; {
		data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err != nil {
			return "", err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return "", err
		}
		data &^= 4095
		for at := data; at < hole; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), (hole-at+4095)&^4095)], at)
			for i := 0; i < n; i += 4096 {
				b := buf[i:min(i+4096, n)]
				if !bytes.Equal(b, zeroBlock[:len(b)]) {
					fmt.Fprintf(&h, "%d ", at+int64(i))
					h.Write(b)
				}
			}
			at += int64(n)
			if err != nil || n == 0 {
				break
			}
		}
		pos = hole
	}
	return fmt.Sprintf("sparse:%016x", h.Sum64()), nil
}

// FileDigest is the digest RecordSparse gives the regular file at abs.
func FileDigest(abs string) (string, error) {
	f, err := openNoAtime(abs, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	return sparseDigest(f, fi.Size())
}
