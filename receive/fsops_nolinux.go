//go:build !linux

package receive

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// Outside Linux, special files, xattrs and reflinks are not made (the
// summary says so) and times are set through os.Root.

func mknod(*os.Root, string, uint32, uint64) error { return errUnsupported }
func mkfifo(*os.Root, string) error                { return errUnsupported }
func mksock(*os.Root, string) error                { return errUnsupported }

func mkspecial(root *os.Root, dst string, _ fs.FileInfo) error {
	f, err := root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func setXattr(*os.Root, string, string, []byte) error { return errUnsupported }
func removeXattr(*os.Root, string, string) error      { return errUnsupported }

// errNoXattr never matches here: removals are unsupported.
var errNoXattr = errors.New("no such xattr")

func copyXattrs(*os.Root, string, string) error { return errUnsupported }

// utimes sets the times of p; a symlink's own times cannot be set here
// without following it, so they are left.
func utimes(root *os.Root, p string, atime, mtime time.Time) error {
	fi, err := root.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	return root.Chtimes(p, atime, mtime)
}

func fallocate(f *os.File, mode uint32, off, n int64) error { return emulateFallocate(f, mode, off, n) }

func cloneRange(*os.File, int64, *os.File, int64, int64) error { return errUnsupported }
func cloneFile(*os.File, *os.File) error                       { return errUnsupported }

const oNoatime = 0

func openNoatime(root *os.Root, p string) (*os.File, error) { return root.OpenFile(p, os.O_RDONLY, 0) }

// dataExtent cannot ask for holes here: all of [pos, end) is data.
func dataExtent(_ *os.File, pos, end int64) (data, hole int64) { return pos, end }

func punchHole(*os.File, int64, int64) error { return errUnsupported }
