package dump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/coldsend/coldsend/stream"
)

// Errors for the commands progs refuses to print; Text wraps them with the
// command and the offending value.
var (
	// ErrPathTooLong: progs joins paths into PATH_MAX (4096) buffers and
	// fails when the two parts plus a slash and NUL could overflow one.
	ErrPathTooLong = errors.New("path too long to print (PATH_MAX)")
	// ErrTimeRange: glibc's localtime_r cannot represent the time.
	ErrTimeRange = errors.New("time cannot be converted to local time")
)

const pathMax = 4096

// dot is where progs puts the received subvolumes: the receive directory.
var dot = []byte{'.'}

// Text prints commands the way `btrfs receive --dump` (btrfs-progs v6.2)
// does. It keeps the subvolume path between commands, so one Text prints
// one input. Output is buffered: call Flush at the end.
type Text struct {
	w      *bufio.Writer
	loc    *time.Location
	stream int    // number of the stream subvol tracks
	subvol []byte // progs' full_subvol_path
	line   []byte // the line being built, reused
	tmp    []byte // the joined path, reused
	tmp2   []byte // the second joined path (rename, clone, subvol), reused
	times  []byte // utimes fields, reused
}

// NewText returns a Text writing to w, formatting times in loc (nil means
// time.Local, which follows TZ when it names a tz database zone). A
// *bufio.Writer is used as is.
func NewText(w io.Writer, loc *time.Location) *Text {
	if loc == nil {
		loc = time.Local
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	return &Text{w: bw, loc: loc, subvol: append([]byte(nil), dot...), line: make([]byte, 0, 256)}
}

// Flush writes out buffered output.
func (t *Text) Flush() error { return t.w.Flush() }

// Command prints one command. END prints nothing. When progs would fail on
// the command (a path beyond PATH_MAX, a time localtime_r cannot convert)
// nothing is printed and the error says why; progs stops there, a caller
// may go on.
func (t *Text) Command(c *stream.Command) error {
	if c.Stream != t.stream {
		// Each stream starts from the receive directory again.
		t.stream = c.Stream
		t.subvol = append(t.subvol[:0], dot...)
	}
	switch c.Cmd {
	case stream.CmdSubvol, stream.CmdSnapshot:
		return t.subvolume(c)
	case stream.CmdUtimes:
		return t.utimes(c)
	case stream.CmdMkfile, stream.CmdMkdir, stream.CmdMkfifo, stream.CmdMksock,
		stream.CmdUnlink, stream.CmdRmdir:
		p, err := t.path(c)
		if err != nil {
			return err
		}
		b := pad(append(t.line[:0], c.Cmd.String()...), 16)
		b, _ = appendEscaped(b, p)
		return t.end(b)
	case stream.CmdEnd:
		return nil
	}
	if !c.Cmd.Known() {
		return nil // progs ignores what it does not know (Reader rejects it first)
	}
	// rename and clone join their second path first, as progs does.
	var second []byte
	switch c.Cmd {
	case stream.CmdRename, stream.CmdClone:
		a := stream.AttrPathTo
		if c.Cmd == stream.CmdClone {
			a = stream.AttrClonePath
		}
		var err error
		second, err = join(t.tmp2[:0], t.subvol, cstr(c.Bytes(a)))
		t.tmp2 = second
		if err != nil {
			return t.fail(c, err)
		}
	}
	p, err := t.path(c)
	if err != nil {
		return err
	}
	b := t.head(c.Cmd, p)
	switch c.Cmd {
	case stream.CmdMknod:
		b = append(b, "mode="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrMode), 8)
		b = append(b, " dev=0x"...)
		b = strconv.AppendUint(b, c.U64(stream.AttrRdev), 16)
	case stream.CmdSymlink, stream.CmdLink:
		// The target is printed escaped and as stored, not joined.
		b = append(b, "dest="...)
		b, _ = appendEscaped(b, cstr(c.Bytes(stream.AttrPathLink)))
	case stream.CmdRename:
		b = append(b, "dest="...)
		b, _ = appendEscaped(b, second)
	case stream.CmdWrite:
		b = append(b, "offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrFileOffset), 10)
		b = append(b, " len="...)
		b = strconv.AppendUint(b, uint64(len(c.Bytes(stream.AttrData))), 10)
	case stream.CmdUpdateExtent:
		b = append(b, "offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrFileOffset), 10)
		b = append(b, " len="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrSize), 10)
	case stream.CmdClone:
		b = append(b, "offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrFileOffset), 10)
		b = append(b, " len="...)
		// progs reads CLONE_LEN into an int and passes it on as a u64:
		// truncated to 32 bits, then sign-extended.
		b = strconv.AppendUint(b, uint64(int64(int32(c.U64(stream.AttrCloneLen)))), 10)
		b = append(b, " from="...)
		b = append(b, second...) // not escaped in v6.2
		b = append(b, " clone_offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrCloneOffset), 10)
	case stream.CmdSetXattr:
		// Name and data go out raw; "%.*s" stops at a NUL while the
		// length printed is the whole value's.
		data := c.Bytes(stream.AttrXattrData)
		b = append(b, "name="...)
		b = append(b, cstr(c.Bytes(stream.AttrXattrName))...)
		b = append(b, " data="...)
		b = append(b, cstr(data)...)
		b = append(b, " len="...)
		b = strconv.AppendInt(b, int64(len(data)), 10)
	case stream.CmdRemoveXattr:
		b = append(b, "name="...)
		b = append(b, cstr(c.Bytes(stream.AttrXattrName))...)
	case stream.CmdTruncate:
		b = append(b, "size="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrSize), 10)
	case stream.CmdChmod:
		b = append(b, "mode="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrMode), 8)
	case stream.CmdChown:
		b = append(b, "gid="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrGID), 10)
		b = append(b, " uid="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrUID), 10)
	case stream.CmdEncodedWrite:
		b = append(b, "offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrFileOffset), 10)
		b = append(b, " len="...)
		b = strconv.AppendUint(b, uint64(len(c.Bytes(stream.AttrData))), 10)
		b = append(b, ", unencoded_file_len="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrUnencodedFileLen), 10)
		b = append(b, ", unencoded_len="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrUnencodedLen), 10)
		b = append(b, ", unencoded_offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrUnencodedOffset), 10)
		b = append(b, ", compression="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrCompression), 10) // 0 when absent
		b = append(b, ", encryption="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrEncryption), 10)
	case stream.CmdFallocate:
		b = append(b, "mode="...)
		b = strconv.AppendInt(b, int64(int32(c.U64(stream.AttrFallocateMode))), 10) // an int in progs
		b = append(b, " offset="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrFileOffset), 10)
		b = append(b, " len="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrSize), 10)
	case stream.CmdFileattr:
		b = append(b, "fileattr=0x"...) // then decimal, as progs has it
		b = strconv.AppendUint(b, c.U64(stream.AttrFileattr), 10)
	case stream.CmdEnableVerity:
		b = append(b, "algorithm="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrVerityAlgorithm), 10)
		b = append(b, " block_size="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrVerityBlockSize), 10)
		b = append(b, " salt_len="...)
		b = strconv.AppendInt(b, int64(len(c.Bytes(stream.AttrVeritySaltData))), 10)
		b = append(b, " sig_len="...)
		b = strconv.AppendInt(b, int64(len(c.Bytes(stream.AttrVeritySigData))), 10)
	}
	return t.end(b)
}

// subvolume prints subvol and snapshot, whose path becomes the prefix of
// every later path in the stream.
func (t *Text) subvolume(c *stream.Command) error {
	p, err := join(t.tmp2[:0], dot, cstr(c.Bytes(stream.AttrPath)))
	t.tmp2 = p
	if err != nil {
		return t.fail(c, err)
	}
	t.subvol = append(t.subvol[:0], p...)
	b := t.head(c.Cmd, p)
	b = append(b, "uuid="...)
	b = appendUUID(b, c.UUID(stream.AttrUUID))
	b = append(b, " transid="...)
	b = strconv.AppendUint(b, c.U64(stream.AttrCtransid), 10)
	if c.Cmd == stream.CmdSnapshot {
		b = append(b, " parent_uuid="...)
		b = appendUUID(b, c.UUID(stream.AttrCloneUUID))
		b = append(b, " parent_transid="...)
		b = strconv.AppendUint(b, c.U64(stream.AttrCloneCtransid), 10)
	}
	return t.end(b)
}

// utimes converts the three times before the path, as progs does, so a
// time that cannot be converted is the error reported.
func (t *Text) utimes(c *stream.Command) error {
	f := t.times[:0]
	for i, a := range [...]stream.Attr{stream.AttrAtime, stream.AttrMtime, stream.AttrCtime} {
		ts := c.Time(a)
		f = append(f, [...]string{"atime=", " mtime=", " ctime="}[i]...)
		var ok bool
		if f, ok = appendTime(f, ts.Sec, t.loc); !ok {
			t.times = f
			return t.fail(c, fmt.Errorf("%w: %s %d.%09d", ErrTimeRange, a, ts.Sec, ts.Nsec))
		}
	}
	t.times = f
	p, err := t.path(c)
	if err != nil {
		return err
	}
	return t.end(append(t.head(c.Cmd, p), f...))
}

// path returns the command's PATH joined to the subvolume path.
func (t *Text) path(c *stream.Command) ([]byte, error) {
	p, err := join(t.tmp[:0], t.subvol, cstr(c.Bytes(stream.AttrPath)))
	t.tmp = p
	if err != nil {
		return nil, t.fail(c, err)
	}
	return p, nil
}

// head starts the line of a command with fields: the title padded to 16
// columns, the escaped path, then at least one space, padding the escaped
// path to 32 columns.
func (t *Text) head(cmd stream.Cmd, p []byte) []byte {
	b := pad(append(t.line[:0], cmd.String()...), 16)
	b, n := appendEscaped(b, p)
	for {
		b = append(b, ' ')
		if n++; n >= 32 {
			return b
		}
	}
}

func pad(b []byte, w int) []byte {
	for n := len(b); n < w; n++ {
		b = append(b, ' ')
	}
	return b
}

func (t *Text) end(b []byte) error {
	b = append(b, '\n')
	t.line = b
	_, err := t.w.Write(b)
	return err
}

func (t *Text) fail(c *stream.Command, err error) error {
	return fmt.Errorf("command %d (%s) at offset %d: %w", c.Index, c.Cmd, c.Offset, err)
}

// join appends progs' path_cat of p1 and p2 to dst: one trailing slash
// dropped from each, a slash between. Like progs it refuses parts whose
// lengths could overflow PATH_MAX.
func join(dst, p1, p2 []byte) ([]byte, error) {
	if err := checkJoin(len(p1), p2); err != nil {
		return dst, err
	}
	if n := len(p1); n > 0 && p1[n-1] == '/' {
		p1 = p1[:n-1]
	}
	if n := len(p2); n > 0 && p2[n-1] == '/' {
		p2 = p2[:n-1]
	}
	dst = append(dst, p1...)
	dst = append(dst, '/')
	return append(dst, p2...), nil
}

// cstr cuts b at its first NUL, as a C string copy of it would end.
// checkJoin is progs' PATH_MAX rule for joining p2 to a path of n1 bytes.
func checkJoin(n1 int, p2 []byte) error {
	if n1+len(p2)+2 >= pathMax {
		return fmt.Errorf("%w: %d bytes after %d, starting %.40q", ErrPathTooLong, len(p2), n1, p2)
	}
	return nil
}

// joinedLen is the length of join(p1, p2) for p1 of n1 bytes.
func joinedLen(n1 int, p2 []byte) int {
	if n := len(p2); n > 0 && p2[n-1] == '/' {
		p2 = p2[:n-1]
	}
	return n1 + 1 + len(p2)
}

// pathLimit applies progs' PATH_MAX rule to a command's paths without
// printing them, so that every output format refuses the same commands
// Text does: a stream whose joined paths no receiver can hold is not
// printed past that point, whatever the format.
type pathLimit struct {
	stream    int
	subvolLen int // length of progs' full_subvol_path; 0 before the first check
}

// check returns Text's error for c, if any.
func (l *pathLimit) check(c *stream.Command) error {
	if c.Stream != l.stream || l.subvolLen == 0 {
		l.stream, l.subvolLen = c.Stream, len(dot)
	}
	fail := func(err error) error {
		return fmt.Errorf("command %d (%s) at offset %d: %w", c.Index, c.Cmd, c.Offset, err)
	}
	switch c.Cmd {
	case stream.CmdEnd:
		return nil
	case stream.CmdSubvol, stream.CmdSnapshot:
		p := cstr(c.Bytes(stream.AttrPath))
		if err := checkJoin(len(dot), p); err != nil {
			return fail(err)
		}
		l.subvolLen = joinedLen(len(dot), p)
		return nil
	case stream.CmdRename:
		if err := checkJoin(l.subvolLen, cstr(c.Bytes(stream.AttrPathTo))); err != nil {
			return fail(err)
		}
	case stream.CmdClone:
		if err := checkJoin(l.subvolLen, cstr(c.Bytes(stream.AttrClonePath))); err != nil {
			return fail(err)
		}
	}
	if !c.Cmd.Known() {
		return nil
	}
	if err := checkJoin(l.subvolLen, cstr(c.Bytes(stream.AttrPath))); err != nil {
		return fail(err)
	}
	return nil
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// appendEscaped appends p escaped as progs prints paths and returns the
// number of bytes appended: C escapes for the control characters that have
// one, a backslash before space and backslash, three-digit octal for the
// rest of what the C locale does not call printable.
func appendEscaped(b, p []byte) ([]byte, int) {
	n0 := len(b)
	for _, c := range p {
		switch {
		case c > ' ' && c < 0x7f && c != '\\':
			b = append(b, c)
		case c == ' ' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x7f || c > 0x0d || c < 0x07:
			if c == 0x1b {
				b = append(b, '\\', 'e')
			} else {
				b = append(b, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
			}
		default:
			b = append(b, '\\', "abtnvfr"[c-0x07])
		}
	}
	return b, len(b) - n0
}

func appendUUID(b []byte, u stream.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return b
}
