//go:build !linux

package destfs

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// Outside Linux, special files, xattrs and reflinks are not made (the
// summary says so) and times are set through os.Root.

func Mknod(*os.Root, string, uint32, uint64) error { return ErrUnsupported }
func Mkfifo(*os.Root, string) error                { return ErrUnsupported }
func Mksock(*os.Root, string) error                { return ErrUnsupported }

func Mkspecial(root *os.Root, dst string, _ fs.FileInfo) error {
	f, err := root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func SetXattr(*os.Root, string, string, []byte) error { return ErrUnsupported }
func RemoveXattr(*os.Root, string, string) error      { return ErrUnsupported }

// ErrNoXattr never matches here: removals are unsupported.
var ErrNoXattr = errors.New("no such xattr")

func CopyXattrs(*os.Root, string, string) error { return ErrUnsupported }

// Utimes sets the times of p; a symlink's own times cannot be set here
// without following it, so they are left.
func Utimes(root *os.Root, p string, atime, mtime time.Time) error {
	fi, err := root.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	return root.Chtimes(p, atime, mtime)
}

func Fallocate(f *os.File, mode uint32, off, n int64) error { return emulateFallocate(f, mode, off, n) }

func CloneRange(*os.File, int64, *os.File, int64, int64) error { return ErrUnsupported }
func CloneFile(*os.File, *os.File) error                       { return ErrUnsupported }

const ONoatime = 0

func OpenNoatime(root *os.Root, p string) (*os.File, error) { return root.OpenFile(p, os.O_RDONLY, 0) }

// DataExtent cannot ask for holes here: all of [pos, end) is data.
func DataExtent(_ *os.File, pos, end int64) (data, hole int64) { return pos, end }

func PunchHole(*os.File, int64, int64) error { return ErrUnsupported }

// FSetXattr is not offered here.
func FSetXattr(*os.File, string, []byte) error { return ErrUnsupported }

// Futimens sets f's times by its name; f must have been opened by a path
// relative to the working directory or absolute, so callers use Utimes.
func Futimens(*os.File, time.Time, time.Time) error { return ErrUnsupported }
