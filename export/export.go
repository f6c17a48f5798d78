package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Options adjust an export.
type Options struct {
	// OneSubvolume exports nested subvolumes as empty directories
	// instead of entering them.
	OneSubvolume bool
	// KeepGoing exports what can be read when something cannot: an
	// unreadable directory, inode or extent (every copy bad) becomes an
	// Error in the Summary, its bytes zero-filled, and the export goes
	// on. Without it the first such failure ends the export.
	KeepGoing bool
	// Hashes receives a sha256sum line for every regular file, its path
	// relative to the export's root (run sha256sum -c in it).
	Hashes io.Writer
	// Bodyfile receives a Sleuth Kit bodyfile line for every entry, the
	// root included, named BodyfilePrefix + "/" + its path.
	Bodyfile       io.Writer
	BodyfilePrefix string
	// Progress, if set, is called with the bytes of file content
	// exported since its last call.
	Progress func(n int64)
	// Owners sets files' owners (needs privileges); ToDir only.
	Owners bool
}

// Error is something a KeepGoing export could not read.
type Error struct {
	Path   string // from the export's root; "" is the root
	Subvol uint64
	Ino    uint64 // 0 when the inode itself is unknown
	Err    error
	// Zeroed lists the byte ranges of a file written as zeros because
	// they could not be read; empty when the whole entry is missing.
	Zeroed []fstree.Range
}

func (e *Error) Error() string {
	where := quote(e.Path)
	if e.Ino != 0 {
		where = fmt.Sprintf("%s (subvolume %d inode %d)", where, e.Subvol, e.Ino)
	}
	if len(e.Zeroed) == 0 {
		return fmt.Sprintf("%s: %v", where, e.Err)
	}
	var rs []string
	var n int64
	for _, r := range e.Zeroed {
		rs = append(rs, fmt.Sprintf("%d-%d", r.Off, r.Off+r.Len))
		n += r.Len
	}
	return fmt.Sprintf("%s: %v; %d bytes zero-filled at %s", where, e.Err, n, strings.Join(rs, ","))
}

func (e *Error) Unwrap() error { return e.Err }

// Summary counts what an export wrote, what it lost, and what the
// destination could not take.
type Summary struct {
	Dirs, Files, Symlinks, Specials, HardLinks int64
	Bytes                                      int64 // file content, holes included
	// Errors lists what a KeepGoing export could not read.
	Errors []*Error
	// Skipped counts, by reason, what the destination could not take.
	Skipped map[string]int
}

// Partial reports whether something could not be read.
func (s *Summary) Partial() bool { return len(s.Errors) > 0 }

// SkipLines describes the skipped kinds, one line each, sorted.
func (s *Summary) SkipLines() []string {
	var out []string
	for _, why := range slices.Sorted(maps.Keys(s.Skipped)) {
		out = append(out, fmt.Sprintf("%d %s", s.Skipped[why], why))
	}
	return out
}

func quote(p string) string {
	if p == "" {
		return "the export's root"
	}
	return fmt.Sprintf("%q", p)
}

// entry is one thing to export.
type entry struct {
	path   string // from the root, '/'-separated; "" is the root
	loc    fstree.Location
	inode  item.Inode
	xattrs []fstree.Xattr
}

func (e *entry) typ() uint32 { return e.inode.Mode & item.ModeTypeMask }

// sink is where an export goes: a directory or a tar archive.
type sink interface {
	root(e *entry) error // the start directory itself
	dir(e *entry) error
	// file writes a regular file whose content content streams.
	file(e *entry, c *content) error
	// hardLink makes e another name of the file exported at first.
	hardLink(e *entry, first string) error
	symlink(e *entry, target []byte) error
	special(e *entry) error
	// finish completes the export; err, if not nil, is why it stopped
	// early (the result must say it is incomplete), partial the
	// unreadable parts of a KeepGoing export.
	finish(err error, partial []*Error) error
}

// exporter walks the tree into a sink.
type exporter struct {
	opts  Options
	sink  sink
	sum   *Summary
	links map[linkKey]*firstLink // each multiply linked inode's first name
	buf   []byte
	hash  hash.Hash
}

type linkKey struct{ subvol, ino uint64 }

type firstLink struct {
	path string
	sum  []byte // its content's sha256, for a regular file
}

// run exports the tree at start.
func run(start fstree.Location, s sink, opts Options, sum *Summary) (*Summary, error) {
	x := &exporter{opts: opts, sink: s, sum: sum, links: map[linkKey]*firstLink{}, buf: make([]byte, readChunk), hash: sha256.New()}
	err := x.walk(start)
	var partial []*Error
	if err == nil {
		partial = x.sum.Errors
	}
	if ferr := s.finish(err, partial); err == nil {
		err = ferr
	}
	return x.sum, err
}

func (x *exporter) walk(start fstree.Location) error {
	root, err := x.entry("", start, nil)
	if err != nil {
		return err
	}
	if root.typ() != item.ModeDir {
		return fmt.Errorf("subvolume %d inode %d is not a directory: export takes a directory (cat reads one file)", start.Subvol.ID, start.Ino)
	}
	if err := x.sink.root(root); err != nil {
		return err
	}
	if err := x.body(root, nil); err != nil {
		return err
	}
	for we, err := range fstree.WalkWith(start, fstree.WalkOptions{KeepGoing: x.opts.KeepGoing, OneSubvolume: x.opts.OneSubvolume, DepthFirst: true}) {
		if err != nil {
			var re *fstree.ReadError
			var le *fstree.LinkError
			switch {
			case errors.As(err, &re):
				x.sum.Errors = append(x.sum.Errors, &Error{Path: re.Path, Err: re.Err})
				continue
			case errors.As(err, &le) && x.opts.KeepGoing:
				x.sum.Errors = append(x.sum.Errors, &Error{Path: le.Path, Subvol: le.Subvol, Ino: le.Ino, Err: le})
				continue
			}
			return err
		}
		if err := x.one(we); err != nil {
			return err
		}
	}
	return nil
}

// entry reads what an export needs of loc; ii is its inode item when the
// walk already read it, or nil.
func (x *exporter) entry(path string, loc fstree.Location, ii *item.Inode) (*entry, error) {
	if ii == nil {
		read, err := loc.Subvol.Inode(loc.Ino)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", quote(path), err)
		}
		ii = &read
	}
	xa, err := loc.Subvol.Xattrs(loc.Ino)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quote(path), err)
	}
	return &entry{path: path, loc: loc, inode: *ii, xattrs: xa}, nil
}

// lose records a failure of e under KeepGoing, or returns it.
func (x *exporter) lose(e *entry, err error, zeroed []fstree.Range) error {
	if !x.opts.KeepGoing {
		return fmt.Errorf("%s (subvolume %d inode %d): %w", quote(e.path), e.loc.Subvol.ID, e.loc.Ino, err)
	}
	x.sum.Errors = append(x.sum.Errors, &Error{Path: e.path, Subvol: e.loc.Subvol.ID, Ino: e.loc.Ino, Err: err, Zeroed: zeroed})
	return nil
}

func (x *exporter) one(we *fstree.WalkEntry) error {
	path := string(we.Path)
	if we.Loc.Subvol == nil { // where a snapshot left out a nested subvolume
		e := &entry{path: path, inode: item.Inode{Mode: item.ModeDir | 0o755}}
		x.sum.Dirs++
		return x.sink.dir(e)
	}
	e, err := x.entry(path, we.Loc, we.Inode)
	if err != nil {
		if x.opts.KeepGoing {
			x.sum.Errors = append(x.sum.Errors, &Error{Path: path, Subvol: we.Loc.Subvol.ID, Ino: we.Loc.Ino, Err: err})
			return nil
		}
		return err
	}
	if e.typ() != item.ModeDir && e.inode.Nlink > 1 {
		k := linkKey{e.loc.Subvol.ID, e.loc.Ino}
		if first, ok := x.links[k]; ok {
			x.sum.HardLinks++
			if err := x.sink.hardLink(e, first.path); err != nil {
				return err
			}
			if first.sum != nil {
				if err := x.hashLine(first.sum, e.path); err != nil {
					return err
				}
			}
			return x.body(e, nil)
		}
		x.links[k] = &firstLink{path: path}
	}
	switch e.typ() {
	case item.ModeDir:
		x.sum.Dirs++
		err = x.sink.dir(e)
	case item.ModeRegular:
		x.sum.Files++
		err = x.regular(e)
	case item.ModeSymlink:
		x.sum.Symlinks++
		var target []byte
		if target, err = e.loc.Subvol.ReadLink(e.loc.Ino); err != nil {
			return x.lose(e, err, nil)
		}
		if err = x.sink.symlink(e, target); err == nil {
			err = x.body(e, target)
		}
		return err
	default:
		x.sum.Specials++
		err = x.sink.special(e)
	}
	if err != nil {
		return err
	}
	if e.typ() != item.ModeRegular {
		return x.body(e, nil)
	}
	return nil
}

// regular exports a regular file, hashing its content on the way.
func (x *exporter) regular(e *entry) error {
	f, err := e.loc.Subvol.OpenFile(e.loc.Ino)
	if err != nil {
		return x.lose(e, err, nil)
	}
	var ranges []fstree.Range
	for r, err := range f.DataRanges() {
		if err != nil {
			if lerr := x.lose(e, err, []fstree.Range{{Off: 0, Len: f.Size()}}); lerr != nil {
				return lerr
			}
			ranges = nil // exported as one hole of its size
			break
		}
		ranges = append(ranges, r)
	}
	x.hash.Reset()
	c := &content{x: x, e: e, f: f, ranges: ranges}
	if err := x.sink.file(e, c); err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	if len(c.zeroed) > 0 {
		if err := x.lose(e, c.firstErr, c.zeroed); err != nil {
			return err
		}
	}
	x.sum.Bytes += f.Size()
	sum := x.hash.Sum(nil)
	if first := x.links[linkKey{e.loc.Subvol.ID, e.loc.Ino}]; first != nil {
		first.sum = sum
	}
	if err := x.hashLine(sum, e.path); err != nil {
		return err
	}
	return x.body(e, nil)
}

// hashLine writes a line of the hash list.
func (x *exporter) hashLine(sum []byte, path string) error {
	if x.opts.Hashes == nil {
		return nil
	}
	if _, err := io.WriteString(x.opts.Hashes, hashLine(sum, path)); err != nil {
		return fmt.Errorf("writing the hash list: %w", err)
	}
	return nil
}

// body writes e's bodyfile line.
func (x *exporter) body(e *entry, target []byte) error {
	if x.opts.Bodyfile == nil {
		return nil
	}
	if _, err := io.WriteString(x.opts.Bodyfile, bodyLine(x.opts.BodyfilePrefix, e, target)); err != nil {
		return fmt.Errorf("writing the bodyfile: %w", err)
	}
	return nil
}

// readChunk is the most file content read at once.
const readChunk = 1 << 20

// salvageUnit is the piece a failed read is retried in, to find exactly
// which bytes cannot be read: btrfs checksums 4 KiB sectors.
const salvageUnit = 4096

// content streams a regular file's bytes to a sink: its data ranges in
// order, each read in chunks; a KeepGoing export zero-fills what cannot be
// read. Every byte, holes included, goes through the hash.
type content struct {
	x      *exporter
	e      *entry
	f      *fstree.File
	ranges []fstree.Range

	zeroed   []fstree.Range
	firstErr error
	err      error // a failure that ends the export
}

// size is the file's size.
func (c *content) size() int64 { return c.f.Size() }

// dataBytes is how many bytes the data ranges hold.
func (c *content) dataBytes() int64 {
	var n int64
	for _, r := range c.ranges {
		n += r.Len
	}
	return n
}

// each calls fn with the file's data in order, at most readChunk bytes
// at a time, and hashes holes between them as zeros.
func (c *content) each(fn func(off int64, data []byte) error) error {
	pos := int64(0)
	for _, r := range c.ranges {
		c.hashZeros(r.Off - pos)
		for off := r.Off; off < r.Off+r.Len; {
			n := min(r.Off+r.Len-off, readChunk)
			b := c.x.buf[:n]
			if err := c.read(b, off); err != nil {
				c.err = err
				return err
			}
			c.x.hash.Write(b)
			if err := fn(off, b); err != nil {
				return err
			}
			if c.x.opts.Progress != nil {
				c.x.opts.Progress(n)
			}
			off += n
		}
		pos = r.Off + r.Len
	}
	c.hashZeros(c.size() - pos)
	if c.x.opts.Progress != nil && c.size() > c.dataBytes() {
		c.x.opts.Progress(c.size() - c.dataBytes())
	}
	return nil
}

var zeroChunk = make([]byte, readChunk)

func (c *content) hashZeros(n int64) {
	for n > 0 {
		k := min(n, readChunk)
		c.x.hash.Write(zeroChunk[:k])
		n -= k
	}
}

// read fills b from off; under KeepGoing a failed read is retried unit by
// unit and what still fails is zero-filled and recorded.
func (c *content) read(b []byte, off int64) error {
	_, err := c.f.ReadAt(b, off)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	if !c.x.opts.KeepGoing {
		return fmt.Errorf("%s (subvolume %d inode %d): %w", quote(c.e.path), c.e.loc.Subvol.ID, c.e.loc.Ino, err)
	}
	for u := int64(0); u < int64(len(b)); u += salvageUnit {
		p := b[u:min(u+salvageUnit, int64(len(b)))]
		if _, err := c.f.ReadAt(p, off+u); err != nil && !errors.Is(err, io.EOF) {
			clear(p)
			if c.firstErr == nil {
				c.firstErr = err
			}
			c.addZeroed(off+u, int64(len(p)))
		}
	}
	return nil
}

func (c *content) addZeroed(off, n int64) {
	if k := len(c.zeroed); k > 0 && c.zeroed[k-1].Off+c.zeroed[k-1].Len == off {
		c.zeroed[k-1].Len += n
		return
	}
	c.zeroed = append(c.zeroed, fstree.Range{Off: off, Len: n})
}

// hashLine is a sha256sum line, escaped as GNU coreutils does for names
// holding a backslash or a newline.
func hashLine(sum []byte, name string) string {
	h := hex.EncodeToString(sum)
	if !strings.ContainsAny(name, "\\\n\r") {
		return h + "  " + name + "\n"
	}
	r := strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r")
	return "\\" + h + "  " + r.Replace(name) + "\n"
}

// bodyLine is a Sleuth Kit 3 bodyfile line:
// MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime.
// No MD5 is computed (0); crtime is btrfs's otime.
func bodyLine(prefix string, e *entry, target []byte) string {
	name := prefix + "/" + e.path
	if e.path == "" {
		name = prefix + "/"
	}
	if target != nil {
		name += " -> " + string(target)
	}
	name = strings.NewReplacer("|", "\\|", "\n", "\\n").Replace(name)
	ii := &e.inode
	return fmt.Sprintf("0|%s|%d|%s|%d|%d|%d|%d|%d|%d|%d\n", name, e.loc.Ino, modeString(ii.Mode), ii.UID, ii.GID, ii.Size,
		ii.Atime.Sec, ii.Mtime.Sec, ii.Ctime.Sec, ii.Otime.Sec)
}

// modeString is the Sleuth Kit's mode string, e.g. "r/rrw-r--r--": the
// name's type, then the inode's type and permissions as ls shows them,
// with "r" for a regular file.
func modeString(mode uint32) string {
	ls := item.ModeString(mode)
	t := ls[:1]
	switch t {
	case "-":
		t = "r"
	case "?":
		t = "-"
	}
	return t + "/" + t + ls[1:]
}

// timeOf converts a btrfs timestamp.
func timeOf(t item.Timespec) time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

// userDev encodes a btrfs device number (the kernel's major<<20|minor) as
// userspace's dev_t, which mknod takes (glibc's makedev).
func userDev(rdev uint64) uint64 {
	major, minor := rdev>>20, rdev&0xfffff
	return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

// Size returns how many bytes of file content exporting start reads, as
// the progress total: every regular file's size once, however many names
// it has. It reads metadata only.
func Size(start fstree.Location, opts Options) (int64, error) {
	var total int64
	seen := map[linkKey]bool{}
	for we, err := range fstree.WalkWith(start, fstree.WalkOptions{KeepGoing: opts.KeepGoing, OneSubvolume: opts.OneSubvolume}) {
		if err != nil {
			var re *fstree.ReadError
			if errors.As(err, &re) {
				continue
			}
			return 0, err
		}
		if we.Inode == nil || we.Inode.Mode&item.ModeTypeMask != item.ModeRegular {
			continue
		}
		if we.Inode.Nlink > 1 {
			k := linkKey{we.Loc.Subvol.ID, we.Loc.Ino}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		total += int64(we.Inode.Size)
	}
	return total, nil
}
