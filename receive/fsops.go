package receive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// errUnsupported marks an operation the OS or the destination filesystem
// does not offer.
var errUnsupported = errors.New("not supported here")

func isUnsupported(err error) bool {
	return errors.Is(err, errUnsupported) || errors.Is(err, errors.ErrUnsupported) ||
		errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) ||
		osUnsupported(err)
}

func isPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EPERM)
}

// inParent calls fn with the directory holding p, opened through root,
// and p's last component, for the calls os.Root does not have.
func inParent(root *os.Root, p string, fn func(dir *os.File, base string) error) error {
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
	fallocKeepSize  = 0x1
	fallocPunchHole = 0x2
)

// emulateFallocate gives a file what fallocate would where the call is
// missing: a punched range reads as zeros, an allocation extends the size
// unless KEEP_SIZE.
func emulateFallocate(f *os.File, mode uint32, off, n int64) error {
	if mode&^(fallocKeepSize|fallocPunchHole) != 0 {
		return fmt.Errorf("fallocate mode %#x: %w", mode, errUnsupported)
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if mode&fallocPunchHole != 0 {
		return zeroRange(f, off, n)
	}
	if mode&fallocKeepSize == 0 && off+n > size {
		return f.Truncate(off + n)
	}
	return nil
}

// openRegular opens p, which must be a regular file: a stream could
// otherwise make a fifo and hang the receive on it, or make a device node
// of a disk and write through it. The file opened must be the one
// checked.
func openRegular(root *os.Root, p string, flag int) (*os.File, error) {
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
