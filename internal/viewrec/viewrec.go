//go:build linux

// Package viewrec records what a mounted directory tree shows as a
// manifest's entries, with the system calls any program would use:
// statx (with the birth time), reads of every file without touching
// atime, readlink, FS_IOC_GETFLAGS and the xattrs. The scenario builder
// records the kernel's mount with it, the FUSE checks coldsend's mount.
package viewrec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/internal/manifest"
)

// Rules say how a walk tells subvolumes apart and numbers inodes.
type Rules struct {
	// Nested reports whether a directory below the root (st; root is the
	// root's) is the root of another subvolume, or the placeholder of one:
	// it is recorded as one entry of type subvol, with Ino's number, and
	// not entered.
	Nested func(st, root *unix.Statx_t) bool
	// Ino gives the inode number to record for the entry at abs, or an
	// error when st_ino is not what it should be.
	Ino func(abs string, st *unix.Statx_t) (uint64, error)
	// Atime records access times (where reading cannot change them).
	Atime bool
	// Skip, if set, leaves out the entries it names (paths from the root).
	Skip func(rel []byte) bool
}

// Record walks the subvolume whose root directory is root and returns its
// entries sorted by path, the root first ("").
func Record(root string, r Rules) ([]manifest.Entry, error) {
	st, err := Statx(root)
	if err != nil {
		return nil, err
	}
	w := &walker{rules: r, root: st}
	if err := w.add(root, []byte{}, st); err != nil {
		return nil, err
	}
	if err := w.walk(root, nil); err != nil {
		return nil, err
	}
	slices.SortFunc(w.entries, func(a, b manifest.Entry) int { return bytes.Compare(a.Path, b.Path) })
	return w.entries, nil
}

type walker struct {
	rules   Rules
	root    *unix.Statx_t
	entries []manifest.Entry
}

// Statx is lstat with the birth time.
func Statx(p string) (*unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
		unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if err != nil {
		return nil, fmt.Errorf("statx %s: %w", p, err)
	}
	return &st, nil
}

func (w *walker) walk(abs string, rel []byte) error {
	ents, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	for _, de := range ents {
		cabs := abs + "/" + de.Name()
		crel := []byte(de.Name())
		if len(rel) > 0 {
			crel = slices.Concat(rel, []byte("/"), crel)
		}
		if w.rules.Skip != nil && w.rules.Skip(crel) {
			continue
		}
		st, err := Statx(cabs)
		if err != nil {
			return err
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if isDir && w.rules.Nested(st, w.root) {
			ino, err := w.rules.Ino(cabs, st)
			if err != nil {
				return err
			}
			w.entries = append(w.entries, manifest.Entry{Path: crel, Ino: ino, Type: manifest.TypeSubvol})
			continue
		}
		if err := w.add(cabs, crel, st); err != nil {
			return err
		}
		if isDir {
			if err := w.walk(cabs, crel); err != nil {
				return err
			}
		}
	}
	return nil
}

var typeOfMode = map[uint32]string{
	unix.S_IFREG: manifest.TypeFile, unix.S_IFDIR: manifest.TypeDir, unix.S_IFLNK: manifest.TypeSymlink,
	unix.S_IFIFO: manifest.TypeFIFO, unix.S_IFSOCK: manifest.TypeSocket,
	unix.S_IFCHR: manifest.TypeChardev, unix.S_IFBLK: manifest.TypeBlockdev,
}

func ns(t unix.StatxTimestamp) int64 { return t.Sec*1e9 + int64(t.Nsec) }

func (w *walker) add(abs string, rel []byte, st *unix.Statx_t) error {
	ino, err := w.rules.Ino(abs, st)
	if err != nil {
		return err
	}
	mode := uint32(st.Mode)
	e := manifest.Entry{
		Path: rel, Ino: ino, Type: typeOfMode[mode&unix.S_IFMT], Mode: mode,
		UID: st.Uid, GID: st.Gid, Size: int64(st.Size), Nlink: st.Nlink,
		Mtime: ns(st.Mtime), Ctime: ns(st.Ctime), Otime: ns(st.Btime),
	}
	if e.Type == "" {
		return fmt.Errorf("%s: unknown file type in mode %#o", abs, mode)
	}
	if st.Mask&unix.STATX_BTIME == 0 {
		return fmt.Errorf("%s: statx returned no birth time", abs)
	}
	if w.rules.Atime {
		e.Atime = ns(st.Atime)
	}
	switch e.Type {
	case manifest.TypeFile:
		if e.SHA256, err = hashContent(abs); err != nil {
			return err
		}
		if e.Flags, err = inodeFlags(abs, 0); err != nil {
			return err
		}
	case manifest.TypeDir:
		if e.Flags, err = inodeFlags(abs, unix.O_DIRECTORY); err != nil {
			return err
		}
	case manifest.TypeSymlink:
		t, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		e.Target = []byte(t)
	case manifest.TypeChardev, manifest.TypeBlockdev:
		e.Rdev = unix.Mkdev(st.Rdev_major, st.Rdev_minor)
	}
	if e.Xattrs, err = xattrs(abs); err != nil {
		return err
	}
	w.entries = append(w.entries, e)
	return nil
}

// openNoAtime opens without updating atime even where the mount would.
func openNoAtime(abs string, flags int) (*os.File, error) {
	fd, err := unix.Open(abs, flags|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	return os.NewFile(uintptr(fd), abs), nil
}

func hashContent(abs string) (string, error) {
	f, err := openNoAtime(abs, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", abs, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func inodeFlags(abs string, flags int) (uint32, error) {
	f, err := openNoAtime(abs, flags)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return 0, fmt.Errorf("FS_IOC_GETFLAGS %s: %w", abs, err)
	}
	return v, nil
}

func xattrs(abs string) ([]manifest.Xattr, error) {
	n, err := unix.Llistxattr(abs, nil)
	if err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", abs, err)
	}
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if n, err = unix.Llistxattr(abs, buf); err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", abs, err)
	}
	var out []manifest.Xattr
	for _, name := range bytes.Split(bytes.TrimSuffix(buf[:n], []byte{0}), []byte{0}) {
		sz, err := unix.Lgetxattr(abs, string(name), nil)
		if err != nil {
			return nil, fmt.Errorf("lgetxattr %s %q: %w", abs, name, err)
		}
		v := make([]byte, sz)
		if sz, err = unix.Lgetxattr(abs, string(name), v); err != nil {
			return nil, fmt.Errorf("lgetxattr %s %q: %w", abs, name, err)
		}
		out = append(out, manifest.Xattr{Name: name, Value: v[:sz]})
	}
	slices.SortFunc(out, func(a, b manifest.Xattr) int { return bytes.Compare(a.Name, b.Name) })
	return out, nil
}
