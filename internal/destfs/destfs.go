package destfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// ErrUnsupported marks an operation the OS or the destination filesystem
// does not offer.
var ErrUnsupported = errors.New("not supported here")

// IsUnsupported reports whether err says the OS or the destination
// filesystem does not offer the operation.
func IsUnsupported(err error) bool {
	return errors.Is(err, ErrUnsupported) || errors.Is(err, errors.ErrUnsupported) ||
		errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) ||
		osUnsupported(err)
}

// IsPermission reports whether err is a refusal for lack of privileges.
func IsPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EPERM)
}

// InParent calls fn with the directory holding p, opened through root,
// and p's last component, for the calls os.Root does not have.
func InParent(root *os.Root, p string, fn func(dir *os.File, base string) error) error {
	d, err := root.Open(path.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", path.Dir(p))
	}
	return fn(d, path.Base(p))
}

// Fallocate mode bits of the stream (FALLOC_FL_*).
const (
	FallocKeepSize  = 0x1
	FallocPunchHole = 0x2
)

// emulateFallocate gives a file what Fallocate would where the call is
// missing: a punched range reads as zeros, an allocation extends the size
// unless KEEP_SIZE.
func emulateFallocate(f *os.File, mode uint32, off, n int64) error {
	if mode&^(FallocKeepSize|FallocPunchHole) != 0 {
		return fmt.Errorf("Fallocate mode %#x: %w", mode, ErrUnsupported)
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if mode&FallocPunchHole != 0 {
		return ZeroRange(f, off, n)
	}
	if mode&FallocKeepSize == 0 && off+n > size {
		return f.Truncate(off + n)
	}
	return nil
}

// OpenRegular opens p, which must be a regular file: a stream could
// otherwise make a fifo and hang the receive on it, or make a device node
// of a disk and write through it. The file opened must be the one
// checked.
func OpenRegular(root *os.Root, p string, flag int) (*os.File, error) {
	fi, err := root.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v)", p, fi.Mode().Type())
	}
	f, err := root.OpenFile(p, flag|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened", p)
	}
	return f, nil
}

// zeroChunk bounds the zeros ZeroRange writes at once.
const zeroChunk = 1 << 20

var zeros = make([]byte, zeroChunk)

// ZeroRange makes [at, at+n) of f read as zeros without growing it:
// punched where the filesystem can, else zeros written over the data
// there is (never over holes).
func ZeroRange(f *os.File, at, n int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end := min(at+n, fi.Size())
	if at >= end {
		return nil
	}
	if err := PunchHole(f, at, end-at); err == nil || !IsUnsupported(err) {
		return err
	}
	for pos := at; pos < end; {
		data, hole := DataExtent(f, pos, end)
		for w := data; w < hole; {
			k := min(hole-w, zeroChunk)
			if _, err := f.WriteAt(zeros[:k], w); err != nil {
				return err
			}
			w += k
		}
		pos = hole
	}
	return nil
}

// FileMode turns st_mode's permission, set-id and sticky bits into an
// fs.FileMode for chmod.
func FileMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
