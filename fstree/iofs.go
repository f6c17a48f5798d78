package fstree

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// SubFS is one subvolume as an io/fs file system: fs.WalkDir,
// http.FS, fs.Glob, testing/fstest and every other io/fs consumer read
// it. Names are slash-separated paths from the subvolume's root ("." is
// the root). Nested subvolumes are entered as the kernel's mount shows
// them; one a snapshot did not include is an empty directory.
//
// Symbolic links are not followed, by Open or in the middle of a name:
// their targets are paths of whatever system mounts the filesystem (an
// absolute one means nothing inside an image), so a link is what it is
// stored as. Lstat and ReadLink give it; Open of a link opens the link,
// whose Stat reports fs.ModeSymlink and whose Read fails.
//
// Names in btrfs are bytes; io/fs names are UTF-8 without backslashes
// (portable paths). A name that is valid UTF-8, has no backslash and no
// rune of U+F700-U+F7FF is given as it is; in any other name, every byte
// that is not part of such a rune becomes the private-use rune
// U+F700+byte. The mapping is one to one: IOFSName and RawName convert.
//
// Every fs.FileInfo's Sys is a *Stat with the btrfs inode. A SubFS is
// safe for concurrent use; the files it opens are not.
type SubFS struct {
	root *Subvol
}

var (
	_ fs.ReadDirFS  = (*SubFS)(nil)
	_ fs.StatFS     = (*SubFS)(nil)
	_ fs.ReadFileFS = (*SubFS)(nil)
	_ fs.ReadLinkFS = (*SubFS)(nil)
)

// escapeBase is the first of the 256 private-use runes that stand for a
// byte of a name io/fs cannot carry.
const escapeBase = 0xF700

// IOFSName is the io/fs name of the btrfs name raw (see SubFS).
func IOFSName(raw []byte) string {
	plain := utf8.Valid(raw) && bytes.IndexByte(raw, '\\') < 0
	for i := 0; plain && i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		plain = r < escapeBase || r > escapeBase+0xff
		i += n
	}
	if plain {
		return string(raw)
	}
	var b strings.Builder
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n == 1 || r == '\\' || r >= escapeBase && r <= escapeBase+0xff {
			for _, c := range raw[i : i+n] {
				b.WriteRune(escapeBase + rune(c))
			}
		} else {
			b.WriteString(string(raw[i : i+n]))
		}
		i += n
	}
	return b.String()
}

// RawName is the btrfs name an io/fs name stands for (see SubFS).
func RawName(name string) []byte {
	out := make([]byte, 0, len(name))
	for _, r := range name {
		if r >= escapeBase && r <= escapeBase+0xff {
			out = append(out, byte(r-escapeBase))
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

// Sub returns subvolume sv as an io/fs file system.
func (fs *FS) Sub(sv *Subvol) *SubFS { return &SubFS{root: sv} }

// Stat is the btrfs inode behind a name, what fs.FileInfo.Sys returns.
type Stat struct {
	Subvol     uint64 // the subvolume holding the inode
	Ino        uint64
	Generation uint64 // with Ino, identifies the inode across reuse
	Mode       uint32 // st_mode: file type and permission bits
	Nlink      uint32
	UID, GID   uint32
	Rdev       uint64 // device number as the kernel stores it (major<<20 | minor)
	Size       uint64
	Flags      uint32 // btrfs inode flags (item.Inode*)
	Atime      time.Time
	Mtime      time.Time
	Ctime      time.Time
	Otime      time.Time // creation time
	// Placeholder marks the empty directory shown where a snapshot holds
	// a nested subvolume it did not include.
	Placeholder bool

	sv *Subvol
}

// Major and Minor split Rdev.
func (s *Stat) Major() uint64 { return s.Rdev >> 20 }
func (s *Stat) Minor() uint64 { return s.Rdev & 0xfffff }

// Xattrs reads the inode's extended attributes.
func (s *Stat) Xattrs() ([]Xattr, error) {
	if s.Placeholder {
		return nil, nil
	}
	return s.sv.Xattrs(s.Ino)
}

func timeOf(t item.Timespec) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

func newStat(sv *Subvol, ino uint64, ii *item.Inode) *Stat {
	return &Stat{
		Subvol: sv.ID, Ino: ino, Generation: ii.Generation, Mode: ii.Mode, Nlink: ii.Nlink,
		UID: ii.UID, GID: ii.GID, Rdev: ii.Rdev, Size: ii.Size, Flags: ii.Flags,
		Atime: timeOf(ii.Atime), Mtime: timeOf(ii.Mtime), Ctime: timeOf(ii.Ctime), Otime: timeOf(ii.Otime),
		sv: sv,
	}
}

// placeholderStat describes the empty directory of a nested subvolume a
// snapshot did not include, as the kernel shows it (inode 2, read-only).
func placeholderStat(sv *Subvol) *Stat {
	return &Stat{Subvol: sv.ID, Ino: EmptySubvolDirIno, Mode: item.ModeDir | 0o555, Nlink: 1, Placeholder: true, sv: sv}
}

// fileInfo is an fs.FileInfo.
type fileInfo struct {
	name string
	st   *Stat
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return int64(min(fi.st.Size, item.MaxFileSize)) }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return fi.st.Mtime }
func (fi *fileInfo) IsDir() bool        { return fi.st.Mode&item.ModeTypeMask == item.ModeDir }
func (fi *fileInfo) Sys() any           { return fi.st }

// fileMode turns st_mode into an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & item.ModeTypeMask {
	case item.ModeDir:
		mode |= fs.ModeDir
	case item.ModeSymlink:
		mode |= fs.ModeSymlink
	case item.ModeFIFO:
		mode |= fs.ModeNamedPipe
	case item.ModeSocket:
		mode |= fs.ModeSocket
	case item.ModeChar:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case item.ModeBlock:
		mode |= fs.ModeDevice
	case item.ModeRegular:
	default:
		mode |= fs.ModeIrregular
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// node is what a name resolves to: an inode of a subvolume, or a
// placeholder directory.
type node struct {
	name        string // base name, "." for the root
	loc         Location
	placeholder bool
}

func (n *node) stat() (*Stat, error) {
	if n.placeholder {
		return placeholderStat(n.loc.Subvol), nil
	}
	ii, err := n.loc.Subvol.Inode(n.loc.Ino)
	if err != nil {
		return nil, err
	}
	return newStat(n.loc.Subvol, n.loc.Ino, &ii), nil
}

// lookup resolves name without following symlinks. op names the calling
// operation for the *fs.PathError.
func (f *SubFS) lookup(op, name string) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n := &node{name: ".", loc: Location{f.root, ondisk.SubvolumeRootDirInodeID}}
	if name == "." {
		return n, nil
	}
	fail := func(err error) (*node, error) { return nil, &fs.PathError{Op: op, Path: name, Err: err} }
	parts := strings.Split(name, "/")
	for _, part := range parts {
		if n.placeholder {
			return fail(fs.ErrNotExist)
		}
		ii, err := n.loc.Subvol.Inode(n.loc.Ino)
		if err != nil {
			return fail(err)
		}
		if ii.Mode&item.ModeTypeMask != item.ModeDir {
			// Through a file, or a symlink that is not followed.
			return fail(fs.ErrNotExist)
		}
		e, err := n.loc.Subvol.Lookup(n.loc.Ino, RawName(part))
		if IsNotFound(err) {
			return fail(fs.ErrNotExist)
		}
		if err != nil {
			return fail(err)
		}
		next := &node{name: part, loc: Location{n.loc.Subvol, e.Location.ObjectID}}
		if e.IsSubvolume() {
			sub, err := n.loc.Subvol.NestedSubvol(n.loc.Ino, e)
			if err != nil {
				return fail(err)
			}
			if sub == nil {
				next.placeholder = true
			} else {
				next.loc = Location{sub, ondisk.SubvolumeRootDirInodeID}
			}
		}
		n = next
	}
	return n, nil
}

// Open opens name, without following a symbolic link.
func (f *SubFS) Open(name string) (fs.File, error) {
	n, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	st, err := n.stat()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info := &fileInfo{name: n.name, st: st}
	switch {
	case info.IsDir():
		if !n.placeholder {
			// A corrupt entry can link a directory a second time; its
			// listing would let a walk loop, so refuse to list it.
			if err := f.checkDirLink(name, n); err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
		}
		return &dirFile{fsys: f, info: info, node: n}, nil
	case st.Mode&item.ModeTypeMask == item.ModeRegular:
		file, err := n.loc.Subvol.OpenFile(n.loc.Ino)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &regularFile{info: info, f: file}, nil
	}
	return &otherFile{info: info}, nil
}

// checkDirLink checks that directory n, reached by name, is linked there:
// through its INODE_REF, or a subvolume root through its ROOT_BACKREF.
func (f *SubFS) checkDirLink(name string, n *node) error {
	if name == "." {
		return nil
	}
	parent, err := f.lookup("open", path.Dir(name))
	if err != nil {
		return err
	}
	e, err := parent.loc.Subvol.Lookup(parent.loc.Ino, RawName(n.name))
	if err != nil {
		return err
	}
	// Lookup finds the DIR_ITEM, which carries no index: take the
	// index from the link recorded in the directory itself, so only the
	// parent and the name are compared.
	var other string
	if e.IsSubvolume() {
		e.Index, err = rootRefIndex(n.loc.Subvol)
		if err == nil {
			other, err = rootLinkMismatch(n.loc.Subvol, parent.loc.Subvol.ID, parent.loc.Ino, e)
		}
	} else {
		e.Index, err = dirRefIndex(n.loc.Subvol, n.loc.Ino)
		if err == nil {
			other, err = dirLinkMismatch(n.loc.Subvol, n.loc.Ino, parent.loc.Ino, e)
		}
	}
	if err != nil || other == "" {
		return err
	}
	return &LinkError{Subvol: n.loc.Subvol.ID, Ino: n.loc.Ino, Path: name, Other: other}
}

// Stat describes name, without following a symbolic link (the names of
// this file system never lead through one).
func (f *SubFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name) }

// Lstat describes name; a symbolic link describes itself.
func (f *SubFS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name) }

func (f *SubFS) stat(op, name string) (fs.FileInfo, error) {
	n, err := f.lookup(op, name)
	if err != nil {
		return nil, err
	}
	st, err := n.stat()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return &fileInfo{name: n.name, st: st}, nil
}

// ReadLink returns the target of the symbolic link name, as stored.
func (f *SubFS) ReadLink(name string) (string, error) {
	n, err := f.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	st, err := n.stat()
	if err == nil && st.Mode&item.ModeTypeMask != item.ModeSymlink {
		err = fs.ErrInvalid
	}
	var target []byte
	if err == nil {
		target, err = n.loc.Subvol.ReadLink(n.loc.Ino)
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// ReadFile returns the contents of file name, as Open and Read would:
// a fifo, socket or device node reads as empty and a symlink fails.
func (f *SubFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var rf *regularFile
	switch file := file.(type) {
	case *regularFile:
		rf = file
	case *otherFile:
		return io.ReadAll(file) // empty, or the error for a symlink
	default:
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	var b bytes.Buffer
	// A corrupt i_size must not allocate up front; the buffer grows with
	// what is actually read past this.
	b.Grow(int(min(rf.f.Size(), 64<<20)))
	if _, err := rf.f.WriteTo(&b); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b.Bytes(), nil
}

// ReadDir lists directory name sorted by name, as fs.ReadDirFS requires.
func (f *SubFS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(*dirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := d.ReadDir(-1)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, err
}

// dirEntry is an fs.DirEntry.
type dirEntry struct {
	parent Location
	e      DirEntry
}

func (d *dirEntry) Name() string { return IOFSName(d.e.Name) }
func (d *dirEntry) IsDir() bool  { return d.Type().IsDir() }

func (d *dirEntry) Type() fs.FileMode {
	if d.e.IsSubvolume() {
		return fs.ModeDir
	}
	switch d.e.Type {
	case item.FTDir:
		return fs.ModeDir
	case item.FTSymlink:
		return fs.ModeSymlink
	case item.FTFifo:
		return fs.ModeNamedPipe
	case item.FTSock:
		return fs.ModeSocket
	case item.FTChrdev:
		return fs.ModeDevice | fs.ModeCharDevice
	case item.FTBlkdev:
		return fs.ModeDevice
	case item.FTRegFile:
		return 0
	}
	return fs.ModeIrregular
}

func (d *dirEntry) Info() (fs.FileInfo, error) {
	n := &node{name: d.Name(), loc: Location{d.parent.Subvol, d.e.Location.ObjectID}}
	if d.e.IsSubvolume() {
		sub, err := d.parent.Subvol.NestedSubvol(d.parent.Ino, &d.e)
		if err != nil {
			return nil, err
		}
		if sub == nil {
			n.placeholder = true
		} else {
			n.loc = Location{sub, ondisk.SubvolumeRootDirInodeID}
		}
	}
	st, err := n.stat()
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: n.name, st: st}, nil
}

func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

// dirFile is an open directory, listed in index (creation) order as it
// is read, a batch at a time.
type dirFile struct {
	fsys *SubFS
	info *fileInfo
	node *node
	next func() (DirEntry, error, bool)
	stop func()
	done bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirFile) Close() error {
	if d.stop != nil {
		d.stop()
		d.stop, d.next = nil, nil
	}
	d.done = true
	return nil
}

// ReadDir returns the next n entries, or all the rest when n <= 0.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	if !d.done && d.next == nil {
		if d.node.placeholder {
			d.done = true
		} else {
			var seq iter.Seq2[DirEntry, error] = d.node.loc.Subvol.Entries(d.node.loc.Ino)
			d.next, d.stop = iter.Pull2(seq)
		}
	}
	for !d.done && (n <= 0 || len(out) < n) {
		e, err, ok := d.next()
		if !ok {
			d.Close()
			break
		}
		if err != nil {
			d.Close()
			return out, &fs.PathError{Op: "readdir", Path: d.info.name, Err: err}
		}
		out = append(out, &dirEntry{parent: d.node.loc, e: e})
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// regularFile is an open regular file. Its reads go through a small
// window of the file so that the tiny sequential reads io/fs users make
// (bufio, byte-at-a-time readers, fstest) verify each sector once; the
// mutex makes ReadAt safe for parallel use, as io.ReaderAt requires.
type regularFile struct {
	info *fileInfo
	f    *File

	mu     sync.Mutex
	off    int64
	win    []byte // file bytes [winOff, winOff+len(win))
	winOff int64
}

// readWindow is the size of regularFile's window; reads at least this
// large bypass it.
const readWindow = 64 << 10

func (r *regularFile) Stat() (fs.FileInfo, error) { return r.info, nil }
func (r *regularFile) Close() error               { return nil }

func (r *regularFile) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *regularFile) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAt(p, off)
}

// readAt serves p from the window, refilling it at off when p falls
// outside; large reads go straight to the file.
func (r *regularFile) readAt(p []byte, off int64) (int, error) {
	size := r.f.Size()
	if len(p) >= readWindow || off < 0 || off >= size {
		return r.f.ReadAt(p, off)
	}
	if off < r.winOff || off+int64(len(p)) > r.winOff+int64(len(r.win)) {
		if err := r.fill(off); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.win[off-r.winOff:])
	if off+int64(n) == size {
		return n, io.EOF
	}
	return n, nil
}

// fill loads the window with the file's bytes from off; a small file gets
// a window its own size.
func (r *regularFile) fill(off int64) error {
	want := min(int64(readWindow), r.f.Size()-off)
	if int64(cap(r.win)) < want {
		r.win = make([]byte, min(int64(readWindow), r.f.Size()))
	}
	n, err := r.f.ReadAt(r.win[:want], off)
	if err == io.EOF && int64(n) == want {
		err = nil
	}
	if err != nil {
		r.win = r.win[:0]
		return err
	}
	r.win, r.winOff = r.win[:n], off
	return nil
}

func (r *regularFile) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.f.Size()
	default:
		return 0, &fs.PathError{Op: "seek", Path: r.info.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: r.info.name, Err: fs.ErrInvalid}
	}
	r.off = offset
	return offset, nil
}

// otherFile is an open symlink, fifo, socket or device node: it can be
// described. A symlink cannot be read (it is not followed); the others
// read as empty, as an image holds no data for them.
type otherFile struct{ info *fileInfo }

func (o *otherFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *otherFile) Close() error               { return nil }

func (o *otherFile) Read([]byte) (int, error) {
	if o.info.st.Mode&item.ModeTypeMask == item.ModeSymlink {
		return 0, &fs.PathError{Op: "read", Path: o.info.name, Err: errors.New("a symbolic link, which this file system does not follow (ReadLink gives its target)")}
	}
	return 0, io.EOF
}
