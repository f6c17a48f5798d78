package receive

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func mknod(root *os.Root, p string, mode uint32, dev uint64) error {
	return inParent(root, p, func(d *os.File, base string) error {
		return unix.Mknodat(int(d.Fd()), base, mode&unix.S_IFMT, int(dev))
	})
}

func mkfifo(root *os.Root, p string) error {
	return inParent(root, p, func(d *os.File, base string) error {
		return unix.Mkfifoat(int(d.Fd()), base, 0o600)
	})
}

func mksock(root *os.Root, p string) error {
	return inParent(root, p, func(d *os.File, base string) error {
		return unix.Mknodat(int(d.Fd()), base, unix.S_IFSOCK|0o600, 0)
	})
}

// mkspecial makes dst a fifo, socket or device node like fi; where that
// is not allowed, an empty regular file.
func mkspecial(root *os.Root, dst string, fi fs.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	err := inParent(root, dst, func(d *os.File, base string) error {
		return unix.Mknodat(int(d.Fd()), base, st.Mode&unix.S_IFMT|0o600, int(st.Rdev))
	})
	if isPermission(err) {
		f, cerr := root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return cerr
		}
		return f.Close()
	}
	return err
}

// withPathFD calls fn with an O_PATH descriptor of p itself (a symlink is
// not followed) and its /proc name, through which xattr calls reach any
// file type.
func withPathFD(root *os.Root, p string, fn func(procName string, fd int) error) error {
	return inParent(root, p, func(d *os.File, base string) error {
		fd, err := unix.Openat(int(d.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		defer unix.Close(fd)
		return fn("/proc/self/fd/"+strconv.Itoa(fd), fd)
	})
}

func setXattr(root *os.Root, p, name string, value []byte) error {
	return withPathFD(root, p, func(proc string, _ int) error {
		if err := unix.Setxattr(proc, name, value, 0); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: p, Err: err}
		}
		return nil
	})
}

// errNoXattr is the error of removing an xattr that is not there.
const errNoXattr = unix.ENODATA

func removeXattr(root *os.Root, p, name string) error {
	return withPathFD(root, p, func(proc string, _ int) error {
		if err := unix.Removexattr(proc, name); err != nil {
			return &os.PathError{Op: "removexattr " + name, Path: p, Err: err}
		}
		return nil
	})
}

// copyXattrs gives dst every xattr of src.
func copyXattrs(root *os.Root, src, dst string) error {
	var names []string
	values := map[string][]byte{}
	err := withPathFD(root, src, func(proc string, _ int) error {
		list, err := xattrList(proc)
		if err != nil {
			return err
		}
		for _, name := range list {
			v, err := xattrGet(proc, name)
			if err != nil {
				return err
			}
			names = append(names, name)
			values[name] = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := setXattr(root, dst, name, values[name]); err != nil {
			return err
		}
	}
	return nil
}

func xattrList(proc string) ([]string, error) {
	for size := 4096; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Listxattr(proc, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if err != nil {
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
}

func xattrGet(proc, name string) ([]byte, error) {
	for size := 4096; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Getxattr(proc, name, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// utimes sets atime and mtime of p itself (a symlink is not followed).
func utimes(root *os.Root, p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())}, {Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())}}
	return inParent(root, p, func(d *os.File, base string) error {
		if err := unix.UtimesNanoAt(int(d.Fd()), base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "utimensat", Path: p, Err: err}
		}
		return nil
	})
}

func fallocate(f *os.File, mode uint32, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), mode, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return emulateFallocate(f, mode, off, n)
	}
	return err
}

// reflinkErr turns the errors of a refused reflink into errUnsupported:
// another filesystem, one without reflinks, or a range it cannot share.
func reflinkErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EXDEV),
		errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EBADF):
		return errUnsupported
	}
	return err
}

func cloneRange(dst *os.File, off int64, src *os.File, srcOff, n int64) error {
	if n == 0 {
		return nil
	}
	r := unix.FileCloneRange{Src_fd: int64(src.Fd()), Src_offset: uint64(srcOff), Src_length: uint64(n), Dest_offset: uint64(off)}
	return reflinkErr(unix.IoctlFileCloneRange(int(dst.Fd()), &r))
}

func cloneFile(dst, src *os.File) error {
	return reflinkErr(unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())))
}

// oNoatime keeps reads from updating access times; it needs ownership
// of the file, so callers retry without it on EPERM.
const oNoatime = unix.O_NOATIME

// openNoatime opens directory p for reading without updating its access
// time where the caller may.
func openNoatime(root *os.Root, p string) (*os.File, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|unix.O_NOATIME|unix.O_DIRECTORY, 0)
	if isPermission(err) {
		return root.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	return f, err
}

// fileID identifies an inode, to keep hard-link groups.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), st.Ino}, true
}

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

func timesOf(fi fs.FileInfo) (atime, mtime time.Time) {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Atim.Sec, st.Atim.Nsec), time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

// dataExtent returns where the first data at or after pos begins and where
// it ends (the next hole), both within [pos, end]; without data there,
// both are end.
func dataExtent(f *os.File, pos, end int64) (data, hole int64) {
	fd := int(f.Fd())
	d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return end, end
	}
	if err != nil {
		return pos, end // no SEEK_DATA here: all of it is data
	}
	if d >= end {
		return end, end
	}
	h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
	if err != nil {
		return d, end
	}
	return d, min(h, end)
}

func punchHole(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), fallocPunchHole|fallocKeepSize, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return errUnsupported
	}
	return err
}
