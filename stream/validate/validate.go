package validate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/coldsend/coldsend/stream"
)

// Limits of the receiving side (Linux).
const (
	nameMax = 255           // NAME_MAX
	pathMax = 4096          // PATH_MAX, terminating NUL included
	maxOff  = math.MaxInt64 // largest file offset (loff_t)
	// maxCompression is the last BTRFS_ENCODED_IO_COMPRESSION_* value
	// (LZO with 64 KiB sectors).
	maxCompression = 7
	keepSize       = 1 // FALLOC_FL_KEEP_SIZE
)

// Summary describes what was validated.
type Summary struct {
	Streams  int   // stream headers
	Commands int   // commands, END included
	Bytes    int64 // input bytes
	// Subvolumes lists the paths of the subvol and snapshot commands, in
	// stream order.
	Subvolumes []string
	// DataBytes counts the file data carried by write and encoded_write
	// (for the latter as encoded, i.e. compressed).
	DataBytes int64
}

// Validator follows a stream command by command.
type Validator struct {
	cur     *subvol        // the subvolume being received, nil outside one
	created map[string]int // subvolume path -> index of the command creating it
	last    int            // index of the last command seen
	sum     Summary
}

// subvol is the subvolume being received.
type subvol struct {
	tree
	path string
	uuid stream.UUID
}

// New returns a Validator for one input.
func New() *Validator {
	return &Validator{created: make(map[string]int)}
}

// Command checks one decoded command. A problem is returned as a
// *stream.Error with the command's offset, index and type; the command is
// then only partly applied, so later problems may follow from it.
func (v *Validator) Command(c *stream.Command) error {
	v.last = c.Index
	v.sum.Commands++
	v.sum.Streams = max(v.sum.Streams, c.Stream)
	v.sum.Bytes = c.Offset + int64(c.Size())
	if c.Cmd == stream.CmdWrite || c.Cmd == stream.CmdEncodedWrite {
		v.sum.DataBytes += int64(len(c.Bytes(stream.AttrData)))
	}
	if err := v.check(c); err != nil {
		return &stream.Error{Offset: c.Offset, Index: c.Index, Cmd: c.Cmd, Err: err}
	}
	return nil
}

// Finish checks what can only be judged at the end of the input, eof
// being its length: a subvolume still open must not hold orphans. (A
// stream without its END is the Reader's to report.)
func (v *Validator) Finish(eof int64) error {
	v.sum.Bytes = eof
	if err := v.endSubvol(); err != nil {
		return &stream.Error{Offset: eof, Index: v.last + 1, Err: fmt.Errorf("at the end of the input, %w", err)}
	}
	return nil
}

// Summary returns what has been validated so far.
func (v *Validator) Summary() Summary {
	s := v.sum
	s.Subvolumes = slices.Clone(s.Subvolumes)
	return s
}

// Stream validates a whole uncompressed input and returns its summary and
// the first problem, if any (a decoding error from stream.Reader or a
// *stream.Error from Command or Finish).
func Stream(r io.Reader) (Summary, error) {
	rd := stream.NewReader(r)
	v := New()
	for {
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			err := v.Finish(rd.Offset())
			return v.Summary(), err
		}
		if err == nil {
			err = v.Command(c)
		}
		if err != nil {
			return v.Summary(), err
		}
	}
}

func (v *Validator) check(c *stream.Command) error {
	// btrfs-progs accepts what a version lacks and lets a repeated
	// attribute override the first; the kernel never sends either, so
	// such a stream was not made by it.
	if c.Cmd.Version() > c.Version {
		return fmt.Errorf("%w: %s needs protocol %d, stream is %d", stream.ErrNotInVersion, c.Cmd, c.Cmd.Version(), c.Version)
	}
	for _, a := range c.Attrs() {
		if a.Version() > c.Version {
			return fmt.Errorf("%w: attribute %s needs protocol %d, stream is %d", stream.ErrNotInVersion, a, a.Version(), c.Version)
		}
	}
	if c.Duplicates > 0 {
		return fmt.Errorf("%d attribute(s) repeated; btrfs receive would use the last of each", c.Duplicates)
	}
	switch c.Cmd {
	case stream.CmdSubvol, stream.CmdSnapshot:
		if err := v.endSubvol(); err != nil {
			return err
		}
		return v.begin(c)
	case stream.CmdEnd:
		return v.endSubvol()
	}
	if v.cur == nil {
		// btrfs-progs 6.2 does not refuse it: with no subvolume path
		// its paths come out absolute, from the root directory.
		return errors.New("command outside a subvolume: a stream must start with subvol or snapshot")
	}
	return v.cur.apply(c)
}

// begin starts the model of a new subvolume.
func (v *Validator) begin(c *stream.Command) error {
	p := c.String(stream.AttrPath)
	v.sum.Subvolumes = append(v.sum.Subvolumes, p)
	// A full stream's root starts empty; a snapshot's holds the parent's
	// unknown contents.
	root := &node{kind: kindDir, fresh: c.Cmd == stream.CmdSubvol}
	v.cur = &subvol{tree: tree{root: root}, path: p, uuid: c.UUID(stream.AttrUUID)}
	if p == "" || p == "." || p == ".." || len(p) > nameMax || strings.ContainsAny(p, "/\x00") {
		return fmt.Errorf("subvolume name %q is not a single path component", p)
	}
	if i, ok := v.created[p]; ok {
		return fmt.Errorf("subvolume %q was already created by command %d; a receiver cannot create it again", p, i)
	}
	v.created[p] = c.Index
	return nil
}

// endSubvol closes the current subvolume, which must not keep an entry
// under a temporary orphan name: the kernel renames every one away before
// it is done.
func (v *Validator) endSubvol() error {
	s := v.cur
	v.cur = nil
	if s == nil {
		return nil
	}
	if p, since := s.orphan(); since > 0 {
		return fmt.Errorf("subvolume %q ends with %q still under its temporary orphan name (given by command %d)", s.path, p, since)
	}
	return nil
}

// checkPath rejects paths the kernel never sends and a receiver would not
// resolve as this model does: empty, "." and ".." components (the last
// escapes the subvolume: receivers do not sanitize), a NUL byte (a
// receiver cuts the path there), a name over NAME_MAX, and a path that
// with the subvolume's own exceeds PATH_MAX.
func (s *subvol) checkPath(p string) error {
	if p == "" {
		return nil
	}
	if i := strings.IndexByte(p, 0); i >= 0 {
		return fmt.Errorf("path %q holds a NUL byte; a receiver would use %q", p, p[:i])
	}
	if n := len(s.path) + 1 + len(p); n >= pathMax {
		return fmt.Errorf("path %s is %d bytes with the subvolume's, over PATH_MAX (%d)", short(p), n, pathMax)
	}
	for name := range strings.SplitSeq(p, "/") {
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("path %q has a %q component", p, name)
		}
		if len(name) > nameMax {
			return fmt.Errorf("path %s has a %d-byte component, over NAME_MAX (%d)", short(p), len(name), nameMax)
		}
	}
	return nil
}

// short quotes p for a message, cut after 64 bytes.
func short(p string) string {
	if len(p) <= 64 {
		return strconv.Quote(p)
	}
	return strconv.Quote(p[:64]) + "..."
}

// apply checks c against the subvolume's tree and applies it.
func (s *subvol) apply(c *stream.Command) error {
	p := c.String(stream.AttrPath)
	if err := s.checkPath(p); err != nil {
		return err
	}
	ino := c.U64(stream.AttrIno)
	switch c.Cmd {
	case stream.CmdMkfile:
		return s.create(p, &node{kind: kindFile, sized: true, num: ino}, c.Index)
	case stream.CmdMkdir:
		return s.create(p, &node{kind: kindDir, fresh: true, num: ino}, c.Index)
	case stream.CmdMknod, stream.CmdMkfifo, stream.CmdMksock:
		return s.create(p, &node{kind: kindSpecial, num: ino}, c.Index)
	case stream.CmdSymlink:
		return s.create(p, &node{kind: kindSymlink, num: ino}, c.Index)
	case stream.CmdRename:
		to := c.String(stream.AttrPathTo)
		if err := s.checkPath(to); err != nil {
			return err
		}
		return s.rename(p, to, c.Index)
	case stream.CmdLink:
		existing := c.String(stream.AttrPathLink)
		if err := s.checkPath(existing); err != nil {
			return err
		}
		return s.link(p, existing, c.Index)
	case stream.CmdUnlink:
		return s.removeEntry(p, false)
	case stream.CmdRmdir:
		return s.removeEntry(p, true)
	case stream.CmdChmod:
		// btrfs receive calls chmod(2), which follows a symlink: the mode
		// would land on whatever the link points at, possibly outside the
		// destination. The kernel never sends chmod for a symlink.
		n, err := s.need(p)
		if err == nil && n.kind == kindSymlink {
			err = fmt.Errorf("%q is a symlink: chmod follows it in a receiver, changing its target", p)
		}
		return err
	case stream.CmdChown, stream.CmdUtimes, stream.CmdSetXattr, stream.CmdRemoveXattr, stream.CmdFileattr:
		// Receivers apply these to the link itself (lchown,
		// AT_SYMLINK_NOFOLLOW, lsetxattr), so any kind of file will do.
		_, err := s.need(p)
		return err
	case stream.CmdEnableVerity:
		_, err := s.file(p)
		return err
	case stream.CmdClone:
		return s.clone(c, p)
	}
	n, err := s.file(p)
	if err != nil {
		return err
	}
	off := c.U64(stream.AttrFileOffset)
	switch c.Cmd {
	case stream.CmdWrite:
		return n.extend(off, uint64(len(c.Bytes(stream.AttrData))))
	case stream.CmdUpdateExtent:
		// A --no-data stream stands for data it leaves out, and the
		// kernel still clones from such ranges (btrfs receive, which
		// writes nothing here, then fails on the clone).
		return n.extend(off, c.U64(stream.AttrSize))
	case stream.CmdTruncate:
		size := c.U64(stream.AttrSize)
		if size > maxOff {
			return fmt.Errorf("size %d is past the largest file offset", size)
		}
		n.size = size
	case stream.CmdFallocate:
		if c.U64(stream.AttrFallocateMode)&keepSize != 0 {
			_, err := span(off, c.U64(stream.AttrSize))
			return err
		}
		return n.extend(off, c.U64(stream.AttrSize))
	case stream.CmdEncodedWrite:
		if enc := c.U64(stream.AttrEncryption); enc != 0 {
			return fmt.Errorf("encryption %d: btrfs receive refuses encrypted data", enc)
		}
		if comp := c.U64(stream.AttrCompression); comp > maxCompression {
			return fmt.Errorf("unknown compression %d", comp)
		}
		flen, ulen, uoff := c.U64(stream.AttrUnencodedFileLen), c.U64(stream.AttrUnencodedLen), c.U64(stream.AttrUnencodedOffset)
		if uoff > ulen || flen > ulen-uoff {
			return fmt.Errorf("unencoded_offset %d + unencoded_file_len %d run past unencoded_len %d", uoff, flen, ulen)
		}
		return n.extend(off, flen)
	}
	return nil
}

// clone checks a clone command. A source in this subvolume must be a
// regular file; one the stream created must already hold the range,
// which the kernel ensures by cloning only from what it has sent.
func (s *subvol) clone(c *stream.Command, p string) error {
	dst, err := s.file(p)
	if err != nil {
		return err
	}
	off, n := c.U64(stream.AttrFileOffset), c.U64(stream.AttrCloneLen)
	soff, sp := c.U64(stream.AttrCloneOffset), c.String(stream.AttrClonePath)
	if err := s.checkPath(sp); err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	if _, err := span(soff, n); err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	if c.UUID(stream.AttrCloneUUID) != s.uuid {
		if n == 0 {
			dst.sized = false // to the source's end, which is unknown
		}
		return dst.extend(off, n)
	}
	src, err := s.file(sp)
	if err != nil {
		return fmt.Errorf("clone source: %w", err)
	}
	if src.sized {
		// The clone ioctl fails unless the source range starts inside
		// the file and, when a length is given, ends inside it too.
		if soff >= src.size || soff+n > src.size {
			return fmt.Errorf("clone source %q holds %d bytes at this point; [%d, %d) is not all written yet", sp, src.size, soff, soff+n)
		}
		if n == 0 {
			n = src.size - soff
		}
	} else if n == 0 {
		dst.sized = false
	}
	if src == dst && soff < off+n && off < soff+n {
		return fmt.Errorf("clone of [%d, %d) of %q onto its own [%d, %d) overlaps", soff, soff+n, sp, off, off+n)
	}
	return dst.extend(off, n)
}

// span returns the end of [off, off+n), which must be a valid file range.
func span(off, n uint64) (uint64, error) {
	if off > maxOff || n > maxOff-off {
		return 0, fmt.Errorf("range of %d bytes at %d ends past the largest file offset", n, off)
	}
	return off + n, nil
}

// extend notes that [off, off+n) of file f now holds data.
func (f *node) extend(off, n uint64) error {
	end, err := span(off, n)
	f.size = max(f.size, end)
	return err
}
