package receive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/coldsend/coldsend/internal/destfs"
)

// copyTree makes to (an empty directory under dest) a copy of the
// directory from: contents, hard-link groups, modes, owners (where
// allowed), xattrs (where stored) and times. Regular files are reflinked
// where the filesystem can; reflinked reports whether all were. The
// source is read without changing its access times where the OS allows.
func copyTree(dest *os.Root, from, to string) (reflinked bool, err error) {
	c := &treeCopy{dest: dest, links: map[destfs.FileID]string{}, reflinked: true}
	defer func() {
		if c.pending != nil {
			c.pending.Close()
			if err == nil {
				err = dest.Remove(LinkTimesName)
			}
		}
	}()
	if err := c.dir(from, to); err != nil {
		return false, err
	}
	return c.reflinked, nil
}

type treeCopy struct {
	dest      *os.Root
	links     map[destfs.FileID]string // first copy of each multiply-linked inode
	reflinked bool
	pending   *os.File // LinkTimesName, once a link was read
}

// LinkTimesName is the file in the destination that holds, while the
// copy of a parent reads one of its symbolic links, the link's times from
// before the read. readlink(2) sets the access time and has no O_NOATIME;
// the copy puts the time back right after, and should a receive be killed
// in between, the next one into the destination puts it back first.
const LinkTimesName = ".coldsend-link-times"

// linkTimes is LinkTimesName's content.
type linkTimes struct {
	Path         string
	Atime, Mtime int64 // ns since the epoch
}

// readLink reads the target of the symbolic link src (fi) and puts its
// times back, with LinkTimesName keeping them in the meantime.
func (c *treeCopy) readLink(src string, fi fs.FileInfo) (string, error) {
	atime, mtime := destfs.TimesOf(fi)
	if c.pending == nil {
		f, err := c.dest.OpenFile(LinkTimesName, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return "", err
		}
		c.pending = f
	}
	b, err := json.Marshal(linkTimes{Path: src, Atime: atime.UnixNano(), Mtime: mtime.UnixNano()})
	if err != nil {
		return "", err
	}
	if _, err := c.pending.WriteAt(b, 0); err != nil {
		return "", err
	}
	if err := c.pending.Truncate(int64(len(b))); err != nil {
		return "", err
	}
	target, err := c.dest.Readlink(src)
	if err != nil {
		return "", err
	}
	if err := destfs.Utimes(c.dest, src, atime, mtime); err != nil {
		return "", err
	}
	return target, c.pending.Truncate(0)
}

// restoreLinkTimes puts back the times of a link a killed receive read
// and did not get to restore (LinkTimesName), then removes the file.
func restoreLinkTimes(dest *os.Root) error {
	b, err := dest.ReadFile(LinkTimesName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) > 0 {
		var lt linkTimes
		if err := json.Unmarshal(b, &lt); err != nil {
			return fmt.Errorf("%s: %w", LinkTimesName, err)
		}
		err := destfs.Utimes(dest, lt.Path, time.Unix(0, lt.Atime), time.Unix(0, lt.Mtime))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: putting back the times of %s: %w", LinkTimesName, lt.Path, err)
		}
	}
	return dest.Remove(LinkTimesName)
}

// dir copies the entries of directory src into dst, then dst's own
// metadata (after its entries, so that their creation does not change
// its times).
func (c *treeCopy) dir(src, dst string) error {
	d, err := destfs.OpenNoatime(c.dest, src)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := c.entry(path.Join(src, e.Name()), path.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	fi, err := c.dest.Lstat(src)
	if err != nil {
		return err
	}
	return c.meta(src, dst, fi)
}

// entry copies one entry of any type.
func (c *treeCopy) entry(src, dst string) error {
	fi, err := c.dest.Lstat(src)
	if err != nil {
		return err
	}
	if id, ok := destfs.IDOf(fi); ok && destfs.LinkCount(fi) > 1 && !fi.IsDir() {
		if first, seen := c.links[id]; seen {
			return c.dest.Link(first, dst)
		}
		c.links[id] = dst
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		if err := c.dest.Mkdir(dst, 0o700); err != nil {
			return err
		}
		return c.dir(src, dst)
	case m.IsRegular():
		if err := c.file(src, dst); err != nil {
			return err
		}
	case m&fs.ModeSymlink != 0:
		target, err := c.readLink(src, fi)
		if err != nil {
			return err
		}
		if err := c.dest.Symlink(target, dst); err != nil {
			return err
		}
	default:
		if err := destfs.Mkspecial(c.dest, dst, fi); err != nil {
			return err
		}
	}
	return c.meta(src, dst, fi)
}

// file copies a regular file's contents: a reflink, or the bytes with
// runs of zeros left as holes.
func (c *treeCopy) file(src, dst string) error {
	in, err := destfs.OpenRegular(c.dest, src, os.O_RDONLY|destfs.ONoatime)
	if destfs.IsPermission(err) {
		in, err = destfs.OpenRegular(c.dest, src, os.O_RDONLY)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := c.dest.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = destfs.CloneFile(out, in)
	if err != nil && destfs.IsUnsupported(err) {
		c.reflinked = false
		err = c.copyBytes(out, in)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *treeCopy) copyBytes(out, in *os.File) error {
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if _, err := copyRange(out, 0, in, 0, fi.Size()); err != nil {
		return err
	}
	return out.Truncate(fi.Size())
}

// meta gives dst the metadata of src (fi): owner, xattrs, mode, times,
// in the order that keeps each (a chown clears set-id bits; xattrs like
// ACLs change the mode).
func (c *treeCopy) meta(src, dst string, fi fs.FileInfo) error {
	if uid, gid, ok := destfs.OwnerOf(fi); ok {
		if err := c.dest.Lchown(dst, uid, gid); err != nil && !destfs.IsPermission(err) {
			return err
		}
	}
	if err := destfs.CopyXattrs(c.dest, src, dst); err != nil && !destfs.IsUnsupported(err) && !destfs.IsPermission(err) {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := c.dest.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	atime, mtime := destfs.TimesOf(fi)
	return destfs.Utimes(c.dest, dst, atime, mtime)
}
