//go:build linux || darwin

package fusefs

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"iter"
	"runtime"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

func (n *node) stInode() uint64 {
	return Ino(n.v.index, n.sv.ID, n.ino)
}

// inode reads the node's inode item.
func (n *node) inode() (item.Inode, syscall.Errno) {
	ii, err := n.sv.Inode(n.ino)
	if err != nil {
		return ii, n.m.errno(err, "inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	return ii, 0
}

// fillAttr is btrfs_getattr: the inode item as stat shows it.
func (n *node) fillAttr(out *fuse.Attr) syscall.Errno {
	_, errno := n.attr(out)
	return errno
}

// attr is fillAttr that also returns the inode item it read (zero for a
// placeholder).
func (n *node) attr(out *fuse.Attr) (item.Inode, syscall.Errno) {
	if errno := n.ensure(); errno != 0 {
		return item.Inode{}, errno
	}
	out.Ino = n.stInode()
	out.Blksize = uint32(n.v.sector)
	if n.placeholder {
		// new_simple_dir: an empty, read-only directory made at lookup.
		out.Mode = syscall.S_IFDIR | 0o555
		out.Nlink = 1
		t := n.m.started
		out.SetTimes(&t, &t, &t)
		return item.Inode{}, 0
	}
	ii, errno := n.inode()
	if errno != 0 {
		return ii, errno
	}
	out.Mode = ii.Mode
	out.Nlink = ii.Nlink
	out.Owner = fuse.Owner{Uid: ii.UID, Gid: ii.GID}
	out.Size = ii.Size
	out.Blocks = (ii.Nbytes + n.v.sector - 1) &^ (n.v.sector - 1) >> 9
	out.Rdev = encodeDev(ii.Rdev)
	out.Atime, out.Atimensec = uint64(ii.Atime.Sec), ii.Atime.Nsec
	out.Mtime, out.Mtimensec = uint64(ii.Mtime.Sec), ii.Mtime.Nsec
	out.Ctime, out.Ctimensec = uint64(ii.Ctime.Sec), ii.Ctime.Nsec
	setCrtime(out, ii.Otime)
	return ii, 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return n.fillAttr(&out.Attr)
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	if errno := n.ensure(); errno != 0 {
		return errno
	}
	statfs(n.v, out)
	return 0
}

// statfs reports the filesystem's size as btrfs_statfs does in outline:
// blocks of the sector size, bytes used from the superblock.
func statfs(v *view, out *fuse.StatfsOut) {
	sb := v.fs.Volume().Super()
	out.Bsize = uint32(v.sector)
	out.Frsize = uint32(v.sector)
	out.Blocks = sb.TotalBytes / v.sector
	free := (sb.TotalBytes - min(sb.BytesUsed, sb.TotalBytes)) / v.sector
	out.Bfree, out.Bavail = free, free
	out.NameLen = 255
}

// child makes the node for directory entry e of n.
func (n *node) child(e *fstree.DirEntry) (*node, error) {
	c := &node{m: n.m, v: n.v, sv: n.sv, ino: e.Location.ObjectID}
	if e.IsSubvolume() {
		sub, err := n.sv.NestedSubvol(n.ino, e)
		if err != nil {
			return nil, err
		}
		if sub == nil {
			c.ino, c.placeholder = fstree.EmptySubvolDirIno, true
		} else {
			c.sv, c.ino = sub, ondisk.SubvolumeRootDirInodeID
		}
	}
	return c, nil
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.placeholder {
		return nil, syscall.ENOENT
	}
	if errno := n.ensure(); errno != 0 {
		return nil, errno
	}
	if n.top && n.v.index == 0 && name == GenerationsDir && len(n.m.opts.Generations) > 0 {
		g := &generationsNode{m: n.m, live: n.v}
		g.fillAttr(&out.Attr)
		return n.NewInode(ctx, g, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: genDirIno}), 0
	}
	e, err := n.sv.Lookup(n.ino, []byte(name))
	if err != nil {
		return nil, n.m.errno(err, "looking up %q in inode %d of subvolume %d", name, n.ino, n.sv.ID)
	}
	c, err := n.child(e)
	if err != nil {
		return nil, n.m.errno(err, "entering subvolume %d from %q", e.Location.ObjectID, name)
	}
	if errno := c.fillAttr(&out.Attr); errno != 0 {
		return nil, errno
	}
	return n.NewInode(ctx, c, fs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT, Ino: out.Attr.Ino}), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	target, err := n.sv.ReadLink(n.ino)
	if err != nil {
		return nil, n.m.errno(err, "reading the link of inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	return target, 0
}

func (n *node) xattrs() ([]fstree.Xattr, syscall.Errno) {
	if n.placeholder {
		return nil, 0
	}
	if errno := n.ensure(); errno != 0 {
		return nil, errno
	}
	xs, err := n.sv.Xattrs(n.ino)
	if err != nil {
		return nil, n.m.errno(err, "xattrs of inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	return xs, 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	xs, errno := n.xattrs()
	if errno != 0 {
		return 0, errno
	}
	for _, x := range xs {
		if string(x.Name) == attr {
			if len(dest) < len(x.Value) {
				return uint32(len(x.Value)), syscall.ERANGE
			}
			return uint32(copy(dest, x.Value)), 0
		}
	}
	return 0, noAttr
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	xs, errno := n.xattrs()
	if errno != 0 {
		return 0, errno
	}
	var list []byte
	for _, x := range xs {
		list = append(append(list, x.Name...), 0)
	}
	if len(dest) < len(list) {
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// fileHandle is an open regular file. The kernel's readahead keeps
// several reads of one handle in flight, and an fstree.File is for one
// reader at a time, so a handle keeps up to readersPerHandle Files and
// each read takes a free one: compressed data is then decoded on as many
// cores as there are reads, as the kernel's own mount does.
type fileHandle struct {
	sv    *fstree.Subvol
	ino   uint64
	size  int64
	slots chan struct{} // one per File in use
	mu    sync.Mutex
	idle  []*fstree.File
}

// readersPerHandle bounds the Files of one handle, and so its buffers
// (up to about 1.3 MiB each): more than the cores gains nothing, and
// more than 4 would not be used with the 4 MiB readahead (1 MiB reads).
var readersPerHandle = min(runtime.GOMAXPROCS(0), 4)

func (h *fileHandle) Release(ctx context.Context) syscall.Errno { return 0 }

// get returns a File no other read is using, waiting for one when
// readersPerHandle are busy. The wait is not cut short by FUSE_INTERRUPT:
// it lasts one read of another request, and on btrfs a signal never makes
// pread or lseek of a regular file fail with EINTR, which few programs
// retry (package os does; golang.org/x/sys/unix and most C do not).
func (h *fileHandle) get() (*fstree.File, error) {
	h.slots <- struct{}{}
	h.mu.Lock()
	if k := len(h.idle); k > 0 {
		f := h.idle[k-1]
		h.idle = h.idle[:k-1]
		h.mu.Unlock()
		return f, nil
	}
	h.mu.Unlock()
	f, err := h.sv.OpenFile(h.ino)
	if err != nil {
		<-h.slots
	}
	return f, err
}

func (h *fileHandle) put(f *fstree.File) {
	h.mu.Lock()
	h.idle = append(h.idle, f)
	h.mu.Unlock()
	<-h.slots
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.placeholder {
		return nil, 0, syscall.EISDIR
	}
	// One File now, so that open fails where the file cannot be read.
	f, err := n.sv.OpenFile(n.ino)
	if err != nil {
		return nil, 0, n.m.errno(err, "opening inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	h := &fileHandle{sv: n.sv, ino: n.ino, size: f.Size(), slots: make(chan struct{}, readersPerHandle), idle: []*fstree.File{f}}
	// The image does not change: what the page cache holds stays good.
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*fileHandle)
	if !ok {
		return nil, syscall.EBADF
	}
	f, err := h.get()
	if err != nil {
		return nil, n.readErrno(err, off)
	}
	defer h.put(f)
	got, err := f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, n.readErrno(err, off)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

// readErrno is what a read or seek that failed on the image returns.
func (n *node) readErrno(err error, off int64) syscall.Errno {
	return n.m.errno(err, "reading inode %d of subvolume %d at %d", n.ino, n.sv.ID, off)
}

// Lseek answers SEEK_DATA and SEEK_HOLE from the file's extents, as
// btrfs's find_desired_extent does (prealloc extents are holes).
func (n *node) Lseek(ctx context.Context, fh fs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	h, ok := fh.(*fileHandle)
	if !ok {
		return 0, syscall.EBADF
	}
	if off >= uint64(h.size) {
		return 0, syscall.ENXIO
	}
	f, err := h.get()
	if err != nil {
		return 0, n.readErrno(err, int64(off))
	}
	defer h.put(f)
	for r, err := range f.DataRanges() {
		if err != nil {
			return 0, n.m.errno(err, "extents of inode %d of subvolume %d", n.ino, n.sv.ID)
		}
		start, end := uint64(r.Off), uint64(r.Off+r.Len)
		if end <= off {
			continue
		}
		if whence == seekData {
			return max(start, off), 0
		}
		if start > off {
			return off, 0 // in a hole before this range
		}
		return end, 0
	}
	if whence == seekData {
		return 0, syscall.ENXIO
	}
	return off, 0
}

const (
	seekData = 3
	seekHole = 4
)

// dirHandle lists a directory: "." and ".." (offsets 1 and 2), then the
// entries in DIR_INDEX order, each with offset index+1, as btrfs_readdir
// numbers them, so that a listing resumed at any offset goes on where it
// stopped.
type dirHandle struct {
	n    *node
	off  uint64 // where the next entry comes from
	next func() (fstree.DirEntry, error, bool)
	stop func()
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.ensure(); errno != 0 {
		return nil, 0, errno
	}
	if !n.placeholder {
		ii, errno := n.inode()
		if errno != 0 {
			return nil, 0, errno
		}
		if ii.Mode&item.ModeTypeMask != item.ModeDir {
			return nil, 0, syscall.ENOTDIR
		}
	}
	return &dirHandle{n: n}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.close()
	d.off = off
	return 0
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) { d.close() }

func (d *dirHandle) close() {
	if d.stop != nil {
		d.stop()
		d.next, d.stop = nil, nil
	}
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	n := d.n
	switch d.off {
	case 0:
		d.off = 1
		return &fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.stInode(), Off: 1}, 0
	case 1:
		d.off = 2
		ino := n.stInode()
		if _, parent := n.Parent(); parent != nil {
			ino = parent.StableAttr().Ino
		}
		return &fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: ino, Off: 2}, 0
	}
	if n.placeholder {
		return nil, 0
	}
	if d.next == nil {
		from := max(d.off, 2)
		d.next, d.stop = iter.Pull2(n.entriesFrom(from))
	}
	e, err, ok := d.next()
	if !ok {
		return d.afterLast()
	}
	if err != nil {
		return nil, n.m.errno(err, "listing inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	d.off = e.Index + 1
	return &fuse.DirEntry{Name: string(e.Name), Mode: fileTypeMode(e.Type), Ino: d.entryIno(&e), Off: d.off}, 0
}

// afterLast ends the listing; at the mount's root .generations comes
// last, at the offset past every index.
func (d *dirHandle) afterLast() (*fuse.DirEntry, syscall.Errno) {
	n := d.n
	if n.top && n.v.index == 0 && len(n.m.opts.Generations) > 0 && d.off != genDirOff {
		d.off = genDirOff
		return &fuse.DirEntry{Name: GenerationsDir, Mode: syscall.S_IFDIR, Ino: genDirIno, Off: genDirOff}, 0
	}
	return nil, 0
}

// genDirOff is .generations' offset in the root directory: above every
// DIR_INDEX (btrfs never hands out the last index).
const genDirOff = 1<<63 - 1

func (d *dirHandle) entryIno(e *fstree.DirEntry) uint64 {
	if e.IsSubvolume() {
		return Ino(d.n.v.index, e.Location.ObjectID, ondisk.SubvolumeRootDirInodeID)
	}
	return Ino(d.n.v.index, d.n.sv.ID, e.Location.ObjectID)
}

// entriesFrom lists the directory's entries with index >= from.
func (n *node) entriesFrom(from uint64) iter.Seq2[fstree.DirEntry, error] {
	return func(yield func(fstree.DirEntry, error) bool) {
		for e, err := range n.sv.Entries(n.ino) {
			if err == nil && e.Index < from {
				continue
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// fileTypeMode is the S_IFMT bits of a directory entry's file type.
func fileTypeMode(t item.FileType) uint32 {
	switch t {
	case item.FTDir:
		return syscall.S_IFDIR
	case item.FTSymlink:
		return syscall.S_IFLNK
	case item.FTChrdev:
		return syscall.S_IFCHR
	case item.FTBlkdev:
		return syscall.S_IFBLK
	case item.FTFifo:
		return syscall.S_IFIFO
	case item.FTSock:
		return syscall.S_IFSOCK
	}
	return syscall.S_IFREG
}

// noAttr is what getxattr returns for a name the inode lacks.
var noAttr = syscall.Errno(fuse.ENOATTR)

// Statx is Getattr with the creation time (statx btime), which FUSE's
// plain attributes lack.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	var a fuse.Attr
	ii, errno := n.attr(&a)
	if errno != 0 {
		return errno
	}
	sx := &out.Statx
	statxFromAttr(&a, sx)
	rdev := uint64(0)
	if !n.placeholder {
		sx.Btime = fuse.SxTime{Sec: uint64(ii.Otime.Sec), Nsec: ii.Otime.Nsec}
		sx.Mask |= statxBtime
		rdev = ii.Rdev
	}
	sx.RdevMajor, sx.RdevMinor = uint32(rdev>>20), uint32(rdev&0xfffff)
	return 0
}

// statxFromAttr fills the basic statx fields from a.
func statxFromAttr(a *fuse.Attr, sx *fuse.Statx) {
	sx.Mask = statxBasicStats
	sx.Blksize = a.Blksize
	sx.Nlink = a.Nlink
	sx.Uid, sx.Gid = a.Uid, a.Gid
	sx.Mode = uint16(a.Mode)
	sx.Ino = a.Ino
	sx.Size = a.Size
	sx.Blocks = a.Blocks
	sx.Atime = fuse.SxTime{Sec: a.Atime, Nsec: a.Atimensec}
	sx.Mtime = fuse.SxTime{Sec: a.Mtime, Nsec: a.Mtimensec}
	sx.Ctime = fuse.SxTime{Sec: a.Ctime, Nsec: a.Ctimensec}
}

// statx(2) mask bits.
const (
	statxBasicStats = 0x7ff
	statxBtime      = 0x800
)

// fsIocGetflags is FS_IOC_GETFLAGS as FUSE forwards it.
const fsIocGetflags = 0x80086601

// Ioctl answers FS_IOC_GETFLAGS (lsattr) with the inode's flags as
// btrfs reports them (fstree's FSFlags); every other ioctl is not
// supported.
func (n *node) Ioctl(ctx context.Context, f fs.FileHandle, cmd uint32, arg uint64, input []byte, output []byte) (int32, syscall.Errno) {
	if cmd != fsIocGetflags || n.placeholder {
		return 0, syscall.ENOTTY
	}
	if errno := n.ensure(); errno != 0 {
		return 0, errno
	}
	if len(output) < 4 {
		return 0, syscall.EINVAL
	}
	flags, err := n.sv.FSFlags(n.ino)
	if err != nil {
		return 0, n.m.errno(err, "flags of inode %d of subvolume %d", n.ino, n.sv.ID)
	}
	binary.NativeEndian.PutUint32(output, flags)
	return 0, 0
}
