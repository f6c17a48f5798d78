package destfs

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mknod makes device node p with the file type bits of mode and device
// number dev.
func Mknod(root *os.Root, p string, mode uint32, dev uint64) error {
	return InParent(root, p, func(d *os.File, base string) error {
		return retry(func() error { return unix.Mknodat(int(d.Fd()), base, mode&unix.S_IFMT, int(dev)) })
	})
}

// Mkfifo makes fifo p.
func Mkfifo(root *os.Root, p string) error {
	return InParent(root, p, func(d *os.File, base string) error {
		return retry(func() error { return unix.Mkfifoat(int(d.Fd()), base, 0o600) })
	})
}

// Mksock makes a socket inode at p (not bound, as mknod makes it).
func Mksock(root *os.Root, p string) error {
	return InParent(root, p, func(d *os.File, base string) error {
		return retry(func() error { return unix.Mknodat(int(d.Fd()), base, unix.S_IFSOCK|0o600, 0) })
	})
}

// Mkspecial makes dst a fifo, socket or device node like fi; where that
// is not allowed, an empty regular file.
func Mkspecial(root *os.Root, dst string, fi fs.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	err := InParent(root, dst, func(d *os.File, base string) error {
		return retry(func() error { return unix.Mknodat(int(d.Fd()), base, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)) })
	})
	if IsPermission(err) {
		f, cerr := root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return cerr
		}
		return f.Close()
	}
	return err
}

// WithPathFD calls fn with an O_PATH descriptor of p itself (a symlink is
// not followed) and its /proc name, through which xattr calls reach any
// file type.
func WithPathFD(root *os.Root, p string, fn func(procName string, fd int) error) error {
	return InParent(root, p, func(d *os.File, base string) error {
		fd, err := retryValue(func() (int, error) {
			return unix.Openat(int(d.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		})
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		defer unix.Close(fd)
		return fn("/proc/self/fd/"+strconv.Itoa(fd), fd)
	})
}

// SetXattr sets xattr name of p itself (a symlink is not followed).
func SetXattr(root *os.Root, p, name string, value []byte) error {
	return WithPathFD(root, p, func(proc string, _ int) error {
		if err := retry(func() error { return unix.Setxattr(proc, name, value, 0) }); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: p, Err: err}
		}
		return nil
	})
}

// ErrNoXattr is the error of removing an xattr that is not there.
const ErrNoXattr = unix.ENODATA

// RemoveXattr removes xattr name of p itself.
func RemoveXattr(root *os.Root, p, name string) error {
	return WithPathFD(root, p, func(proc string, _ int) error {
		if err := retry(func() error { return unix.Removexattr(proc, name) }); err != nil {
			return &os.PathError{Op: "removexattr " + name, Path: p, Err: err}
		}
		return nil
	})
}

// CopyXattrs gives dst every xattr of src.
func CopyXattrs(root *os.Root, src, dst string) error {
	var names []string
	values := map[string][]byte{}
	err := WithPathFD(root, src, func(proc string, _ int) error {
		list, err := XattrList(proc)
		if err != nil {
			return err
		}
		for _, name := range list {
			v, err := XattrGet(proc, name)
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
		if err := SetXattr(root, dst, name, values[name]); err != nil {
			return err
		}
	}
	return nil
}

// XattrList lists the xattr names of the file behind /proc name proc.
func XattrList(proc string) ([]string, error) {
	for size := 4096; ; size *= 4 {
		buf := make([]byte, size)
		n, err := retryValue(func() (int, error) { return unix.Listxattr(proc, buf) })
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

// XattrGet reads xattr name of the file behind /proc name proc.
func XattrGet(proc, name string) ([]byte, error) {
	for size := 4096; ; size *= 4 {
		buf := make([]byte, size)
		n, err := retryValue(func() (int, error) { return unix.Getxattr(proc, name, buf) })
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// Utimes sets atime and mtime of p itself (a symlink is not followed).
func Utimes(root *os.Root, p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())}, {Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())}}
	return InParent(root, p, func(d *os.File, base string) error {
		if err := retry(func() error { return unix.UtimesNanoAt(int(d.Fd()), base, ts, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return &os.PathError{Op: "utimensat", Path: p, Err: err}
		}
		return nil
	})
}

// Fallocate is fallocate(2) with the stream's mode bits, emulated where
// the filesystem lacks it.
func Fallocate(f *os.File, mode uint32, off, n int64) error {
	err := retry(func() error { return unix.Fallocate(int(f.Fd()), mode, off, n) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return emulateFallocate(f, mode, off, n)
	}
	return err
}

// reflinkErr turns the errors of a refused reflink into ErrUnsupported:
// another filesystem, one without reflinks, or a range it cannot share.
func reflinkErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EXDEV),
		errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EBADF):
		return ErrUnsupported
	}
	return err
}

// CloneRange reflinks n bytes of src at srcOff to dst at off
// (FICLONERANGE); ErrUnsupported where it cannot.
func CloneRange(dst *os.File, off int64, src *os.File, srcOff, n int64) error {
	if n == 0 {
		return nil
	}
	r := unix.FileCloneRange{Src_fd: int64(src.Fd()), Src_offset: uint64(srcOff), Src_length: uint64(n), Dest_offset: uint64(off)}
	return reflinkErr(retry(func() error { return unix.IoctlFileCloneRange(int(dst.Fd()), &r) }))
}

// CloneFile reflinks all of src into dst (FICLONE).
func CloneFile(dst, src *os.File) error {
	return reflinkErr(retry(func() error { return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) }))
}

// ONoatime keeps reads from updating access times; it needs ownership
// of the file, so callers retry without it on EPERM.
const ONoatime = unix.O_NOATIME

// OpenNoatime opens directory p for reading without updating its access
// time where the caller may.
func OpenNoatime(root *os.Root, p string) (*os.File, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|unix.O_NOATIME|unix.O_DIRECTORY, 0)
	if IsPermission(err) {
		return root.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	return f, err
}

// FileID identifies an inode, to keep hard-link groups.
type FileID struct{ dev, ino uint64 }

// IDOf returns the identity of fi's inode, where the OS gives one.
func IDOf(fi fs.FileInfo) (FileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, false
	}
	return FileID{uint64(st.Dev), st.Ino}, true
}

// LinkCount returns fi's number of hard links (1 where unknown).
func LinkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// OwnerOf returns fi's owner, where the OS gives one.
func OwnerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// TimesHaveAtime reports whether TimesOf gives the access time (or
// the modification time in its place).
const TimesHaveAtime = true

// TimesOf returns fi's access and modification times.
func TimesOf(fi fs.FileInfo) (atime, mtime time.Time) {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Atim.Sec, st.Atim.Nsec), time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

// DataExtent returns where the first data at or after pos begins and where
// it ends (the next hole), both within [pos, end]; without data there,
// both are end.
func DataExtent(f *os.File, pos, end int64) (data, hole int64) {
	fd := int(f.Fd())
	d, err := retryValue(func() (int64, error) { return unix.Seek(fd, pos, unix.SEEK_DATA) })
	if errors.Is(err, unix.ENXIO) {
		return end, end
	}
	if err != nil {
		return pos, end // no SEEK_DATA here: all of it is data
	}
	if d >= end {
		return end, end
	}
	h, err := retryValue(func() (int64, error) { return unix.Seek(fd, d, unix.SEEK_HOLE) })
	if err != nil {
		return d, end
	}
	return d, min(h, end)
}

// PunchHole deallocates [off, off+n) of f, keeping its size.
func PunchHole(f *os.File, off, n int64) error {
	err := retry(func() error { return unix.Fallocate(int(f.Fd()), FallocPunchHole|FallocKeepSize, off, n) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return ErrUnsupported
	}
	return err
}

// FSetXattr sets xattr name of the open file f.
func FSetXattr(f *os.File, name string, value []byte) error {
	if err := retry(func() error { return unix.Fsetxattr(int(f.Fd()), name, value, 0) }); err != nil {
		return &os.PathError{Op: "fsetxattr " + name, Path: f.Name(), Err: err}
	}
	return nil
}

// Futimens sets the access and modification times of the open file f
// with nanoseconds (utimensat on the descriptor itself).
func Futimens(f *os.File, atime, mtime time.Time) error {
	ts := [2]unix.Timespec{{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())}, {Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())}}
	err := retry(func() error {
		if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return &os.PathError{Op: "futimens", Path: f.Name(), Err: err}
	}
	return nil
}

// retry calls fn again for as long as it fails with EINTR, as package os
// does for its own calls: on FUSE and network filesystems a signal (the
// Go runtime's preemption signal, for one) can interrupt these calls.
func retry(fn func() error) error {
	_, err := retryValue(func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// retryValue is retry for a call that returns a value.
func retryValue[T any](fn func() (T, error)) (T, error) {
	for {
		v, err := fn()
		if !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
}
