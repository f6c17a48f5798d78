package export

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/destfs"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Marker files in the destination's root: an export that stopped early
// leaves IncompleteMarker, one that lost something PartialMarker, each
// saying why; a whole export leaves neither.
const (
	IncompleteMarker = ".coldsend-export-incomplete"
	PartialMarker    = ".coldsend-export-partial"
)

// ToDir exports the directory at start into dest, which must be an empty
// directory or not exist (its parent must). Every path goes through an
// os.Root at dest: nothing outside it is touched.
func ToDir(dest string, start fstree.Location, opts Options) (*Summary, error) {
	if err := emptyDir(dest); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := root.WriteFile(IncompleteMarker, []byte("coldsend export: in progress, or stopped before the end\n"), 0o644); err != nil {
		return nil, fmt.Errorf("%s: %w", dest, err)
	}
	d := &dirSink{r: root, dest: dest, opts: opts, uid: os.Geteuid(), gid: os.Getegid(), sum: &Summary{}}
	return run(start, d, opts, d.sum)
}

// emptyDir makes dest, or checks that it is an empty directory.
func emptyDir(dest string) error {
	err := os.Mkdir(dest, 0o700)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.Open(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dest)
	}
	if names, err := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%s is not empty: export writes into a new or empty directory", dest)
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

type dirSink struct {
	r        *os.Root
	dest     string
	opts     Options
	uid, gid int
	sum      *Summary
	// Directories get their metadata last, deepest first: entries
	// made inside change a directory's times, and a default ACL would
	// be inherited by them.
	dirs []*entry
}

func (d *dirSink) name(e *entry) string {
	if e.path == "" {
		return "."
	}
	return e.path
}

func (d *dirSink) root(e *entry) error {
	d.dirs = append(d.dirs, e)
	return nil
}

func (d *dirSink) dir(e *entry) error {
	if err := d.r.Mkdir(e.path, 0o700); err != nil {
		return err
	}
	d.dirs = append(d.dirs, e)
	return nil
}

func (d *dirSink) file(e *entry, c *content) error {
	f, err := d.r.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = c.each(func(off int64, b []byte) error {
		_, err := f.WriteAt(b, off)
		return err
	})
	if err == nil {
		// What is not written stays a hole, as on the image.
		err = f.Truncate(c.size())
	}
	if err == nil {
		err = d.meta(e, f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *dirSink) hardLink(e *entry, first string) error {
	return d.r.Link(first, e.path)
}

func (d *dirSink) symlink(e *entry, target []byte) error {
	err := d.r.Symlink(string(target), e.path)
	if destfs.IsUnsupported(err) || destfs.IsPermission(err) {
		d.skip("symlinks made as regular files holding the target (the OS refused the symlink)")
		err = d.r.WriteFile(e.path, target, 0o600)
	}
	if err != nil {
		return err
	}
	return d.meta(e, nil)
}

func (d *dirSink) special(e *entry) error {
	var err error
	switch e.typ() {
	case item.ModeFIFO:
		err = destfs.Mkfifo(d.r, e.path)
	case item.ModeSocket:
		err = destfs.Mksock(d.r, e.path)
	default:
		err = destfs.Mknod(d.r, e.path, e.inode.Mode, userDev(e.inode.Rdev))
		if destfs.IsPermission(err) {
			d.skip("device nodes made as empty regular files (mknod needs privileges)")
			err = d.r.WriteFile(e.path, nil, 0o600)
		}
	}
	if destfs.IsUnsupported(err) {
		d.skip("fifos, sockets or device nodes made as empty regular files (not supported here)")
		err = d.r.WriteFile(e.path, nil, 0o600)
	}
	if err != nil {
		return err
	}
	return d.meta(e, nil)
}

func (d *dirSink) skip(why string) {
	if d.sum.Skipped == nil {
		d.sum.Skipped = map[string]int{}
	}
	d.sum.Skipped[why]++
}

// meta gives e's name its owner, xattrs, mode and times, in the order
// that keeps each: chown clears set-id bits and file capabilities, so it
// comes first and chmod after the xattrs. With f, e's open file or
// directory, each call goes to the descriptor instead of resolving the
// name again.
func (d *dirSink) meta(e *entry, f *os.File) error {
	p := d.name(e)
	ii := &e.inode
	switch {
	case !d.opts.Owners:
		if int(ii.UID) != d.uid || int(ii.GID) != d.gid {
			d.skip("owners not set (without --owners, or not running as root)")
		}
	default:
		var err error
		if f != nil {
			err = f.Chown(int(ii.UID), int(ii.GID))
		} else {
			err = d.r.Lchown(p, int(ii.UID), int(ii.GID))
		}
		if err != nil {
			if !destfs.IsPermission(err) && !destfs.IsUnsupported(err) {
				return err
			}
			d.skip("owners not set (chown to another user needs privileges)")
		}
	}
	for _, xa := range e.xattrs {
		var err error
		if f != nil {
			err = destfs.FSetXattr(f, string(xa.Name), xa.Value)
		} else {
			err = destfs.SetXattr(d.r, p, string(xa.Name), xa.Value)
		}
		if err != nil {
			switch {
			case destfs.IsPermission(err):
				d.skip("xattrs not set (trusted.* and security.* need privileges)")
			case destfs.IsUnsupported(err):
				d.skip("xattrs not set (the destination does not store them)")
			case errors.Is(err, syscall.E2BIG), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.ERANGE):
				d.skip("xattrs not set (too large for the destination filesystem)")
			default:
				return err
			}
		}
	}
	if e.typ() != item.ModeSymlink {
		var err error
		if f != nil {
			err = f.Chmod(destfs.FileMode(ii.Mode))
		} else {
			err = d.r.Chmod(p, destfs.FileMode(ii.Mode))
		}
		if err != nil {
			return err
		}
	}
	err := destfs.ErrUnsupported
	if f != nil {
		err = destfs.Futimens(f, timeOf(ii.Atime), timeOf(ii.Mtime))
	}
	if destfs.IsUnsupported(err) {
		err = destfs.Utimes(d.r, p, timeOf(ii.Atime), timeOf(ii.Mtime))
	}
	if err != nil {
		return err
	}
	if ii.Otime.Sec != 0 || ii.Otime.Nsec != 0 {
		d.skip("creation times (otime) not set (no system call sets them; the bodyfile and tar keep them)")
	}
	return nil
}

func (d *dirSink) finish(err error, partial []*Error) error {
	if err != nil {
		msg := fmt.Sprintf("coldsend export stopped before the end: %v\n", err)
		if werr := d.r.WriteFile(IncompleteMarker, []byte(msg), 0o644); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
	if len(partial) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "coldsend export: %d parts could not be read; what is missing or zero-filled:\n", len(partial))
		for _, e := range partial {
			fmt.Fprintf(&b, "%v\n", e)
		}
		if err := d.r.WriteFile(PartialMarker, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if err := d.r.Remove(IncompleteMarker); err != nil {
		return err
	}
	for i := len(d.dirs) - 1; i >= 0; i-- {
		if err := d.dirMeta(d.dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// dirMeta gives a directory its metadata through a descriptor of it.
func (d *dirSink) dirMeta(e *entry) error {
	f, err := d.r.Open(d.name(e))
	if err != nil {
		return err
	}
	err = d.meta(e, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
