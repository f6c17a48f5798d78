package stream

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Writer encodes commands into a stream, one buffered command at a time,
// like the kernel's send_buf: Begin starts a command, the Put methods append
// attributes, End computes the CRC and writes the command out in one Write.
// A pipelined Writer (SetPipeline) leaves the reading of file data, the
// CRCs and the writes to other goroutines, in the same order.
//
// Put methods record the first error (an attribute the version lacks, a
// value too long for its TLV, a command over the version's size limit) and
// End reports it; a failed command is never written.
type Writer struct {
	w       io.Writer
	version uint32
	max     int
	buf     []byte
	cmd     Cmd
	open    bool
	data    bool   // a v2+ DATA attribute ends the command
	seen    uint64 // bit a: attribute a is in the open command
	err     error
	off     int64
	index   int
	skip    int64 // bytes of the stream left out, see SetSkip

	// fillErr says err came from a FillFunc, and is returned as it is.
	fillErr bool
	// pipe, batch, fill and fillAt are a pipelined Writer's (SetPipeline):
	// the batch being gathered and the open command's deferred DATA.
	pipe   *pipeline
	batch  *batch
	fill   FillFunc
	fillAt int
	// Observe, when set, is called for each command written or left out,
	// with its PATH attribute (nil if none): progress reports use it.
	Observe func(c Cmd, path []byte)
	// SkipCheck, when set, is shown the header and each command SetSkip
	// leaves out wholly, at its stream offset, to compare them with an
	// interrupted stream being resumed. When data >= 0 the command's DATA
	// value (unread, so not what the stream held) runs from b[data] to the
	// end, and its CRC (b[6:10]) covers it. An error stops the stream.
	SkipCheck func(off int64, b []byte, data int) error
}

// NewWriter returns a Writer for protocol version v (MinVersion..MaxVersion).
func NewWriter(w io.Writer, v uint32) (*Writer, error) {
	if v < MinVersion || v > MaxVersion {
		return nil, fmt.Errorf("%w %d (supported: %d to %d)", ErrVersion, v, MinVersion, MaxVersion)
	}
	m := MaxCommandSize(v)
	return &Writer{w: w, version: v, max: m, buf: make([]byte, 0, 4096)}, nil
}

// Version returns the protocol version being written.
func (w *Writer) Version() uint32 { return w.version }

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.off }

// Commands returns the number of commands written so far.
func (w *Writer) Commands() int { return w.index }

// SetSkip makes the Writer leave out the first n bytes of the stream, to
// resume an interrupted one: what lies wholly before byte n is not
// written, and the header or command holding byte n is written from it
// on. Offset and Commands count as if everything were written. DataWanted
// tells callers when file data need not be read at all.
func (w *Writer) SetSkip(n int64) { w.skip = n }

// DataWanted reports whether a DATA attribute of n bytes added now to the
// open command would reach the output: false when the whole command lies
// before the skip point, and its data may be left unread.
func (w *Writer) DataWanted(n int) bool {
	hdr := TLVHeaderSize
	if w.version >= 2 {
		hdr = 2
	}
	return w.off+int64(len(w.buf)+hdr+n) > w.skip
}

// write writes b, the next bytes of the stream, less what SetSkip leaves
// out; n counts b's bytes as written when nothing failed.
func (w *Writer) write(b []byte) (n int, err error) {
	end := w.off + int64(len(b))
	if end <= w.skip {
		return len(b), nil
	}
	cut := max(0, w.skip-w.off)
	m, err := w.w.Write(b[cut:])
	return int(cut) + m, err
}

// WriteHeader writes the stream header (the kernel's send_header). A
// stream continued after an omitted END starts without one.
func (w *Writer) WriteHeader() error {
	var h [HeaderSize]byte
	copy(h[:], Magic)
	binary.LittleEndian.PutUint32(h[len(Magic):], w.version)
	if w.SkipCheck != nil && w.off+int64(HeaderSize) <= w.skip {
		if err := w.SkipCheck(w.off, h[:], -1); err != nil {
			return err
		}
	}
	if w.pipe != nil && w.off+int64(HeaderSize) > w.skip {
		if err := w.beginPipelined(); err != nil {
			return err
		}
		w.buf = append(w.buf[:0], h[:]...)
		w.endPipelined(0)
		w.off += int64(HeaderSize)
		return nil
	}
	n, err := w.write(h[:])
	w.off += int64(n)
	if err != nil {
		return &Error{Offset: w.off - int64(n), Err: err}
	}
	return nil
}

// Begin starts command c (the kernel's begin_cmd).
func (w *Writer) Begin(c Cmd) error {
	w.fill, w.fillErr = nil, false
	if w.pipe != nil {
		if err := w.beginPipelined(); err != nil {
			return err
		}
	}
	w.buf = w.buf[:CmdHeaderSize]
	w.cmd, w.open, w.data, w.err, w.seen = c, true, false, nil, 0
	switch {
	case !c.Known():
		w.err = fmt.Errorf("%w %d", ErrUnknownCmd, uint16(c))
	case c.Version() > w.version:
		w.err = fmt.Errorf("%w: %s needs protocol %d, stream is %d", ErrNotInVersion, c, c.Version(), w.version)
	}
	if w.err != nil {
		return w.fail(w.err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	return &Error{Offset: w.off, Index: w.index + 1, Cmd: w.cmd, Err: err}
}

// reserve appends an attribute header for a and returns room for n value
// bytes, or nil after recording why not (the kernel's tlv_put).
func (w *Writer) reserve(a Attr, n int) []byte {
	if w.err != nil {
		return nil
	}
	switch {
	case !w.open:
		w.err = fmt.Errorf("attribute %s outside a command", a)
	case w.data:
		w.err = fmt.Errorf("attribute %s after the v%d DATA attribute, which must come last", a, w.version)
	case !a.Known():
		w.err = fmt.Errorf("%w: type %d", ErrTLV, uint16(a))
	case a.Version() > w.version:
		w.err = fmt.Errorf("%w: attribute %s needs protocol %d, stream is %d", ErrNotInVersion, a, a.Version(), w.version)
	case a.Kind().Size() >= 0 && n != a.Kind().Size():
		w.err = fmt.Errorf("%w: attribute %s with %d bytes, want %d", ErrTLV, a, n, a.Kind().Size())
	}
	if w.err != nil {
		return nil
	}
	hdr := TLVHeaderSize
	implicit := a == AttrData && w.version >= 2
	if implicit {
		hdr = 2
	} else if n > 0xffff {
		w.err = fmt.Errorf("%w: attribute %s with %d bytes, a TLV holds at most 65535", ErrTooLarge, a, n)
		return nil
	}
	if len(w.buf)+hdr+n > w.max {
		w.err = fmt.Errorf("%w: attribute %s (%d bytes) would make the command %d bytes, protocol %d allows %d",
			ErrTooLarge, a, n, len(w.buf)+hdr+n, w.version, w.max)
		return nil
	}
	w.seen |= 1 << a
	at := len(w.buf)
	if need := at + hdr + n; need > cap(w.buf) {
		w.buf = slices.Grow(w.buf, min(w.max, max(need, 2*cap(w.buf)))-at)
	}
	w.buf = w.buf[:at+hdr+n]
	binary.LittleEndian.PutUint16(w.buf[at:], uint16(a))
	if implicit {
		w.data = true
	} else {
		binary.LittleEndian.PutUint16(w.buf[at+2:], uint16(n))
	}
	return w.buf[at+hdr:]
}

// PutBytes appends a raw attribute value.
func (w *Writer) PutBytes(a Attr, v []byte) {
	if b := w.reserve(a, len(v)); b != nil {
		copy(b, v)
	}
}

// PutString appends a string attribute (no NUL terminator on the wire).
func (w *Writer) PutString(a Attr, s string) {
	if b := w.reserve(a, len(s)); b != nil {
		copy(b, s)
	}
}

// PutU8 appends an 8-bit attribute.
func (w *Writer) PutU8(a Attr, v uint8) {
	if b := w.reserve(a, 1); b != nil {
		b[0] = v
	}
}

// PutU32 appends a 32-bit attribute.
func (w *Writer) PutU32(a Attr, v uint32) {
	if b := w.reserve(a, 4); b != nil {
		binary.LittleEndian.PutUint32(b, v)
	}
}

// PutU64 appends a 64-bit attribute.
func (w *Writer) PutU64(a Attr, v uint64) {
	if b := w.reserve(a, 8); b != nil {
		binary.LittleEndian.PutUint64(b, v)
	}
}

// PutUUID appends a uuid attribute.
func (w *Writer) PutUUID(a Attr, u UUID) {
	if b := w.reserve(a, 16); b != nil {
		copy(b, u[:])
	}
}

// PutTime appends a timespec attribute.
func (w *Writer) PutTime(a Attr, t Timespec) {
	if b := w.reserve(a, 12); b != nil {
		binary.LittleEndian.PutUint64(b, uint64(t.Sec))
		binary.LittleEndian.PutUint32(b[8:], t.Nsec)
	}
}

// PutData appends the DATA attribute: with a length in v1, without one
// (running to the end of the command) from v2 on.
func (w *Writer) PutData(p []byte) {
	if b := w.DataBuffer(len(p)); b != nil {
		copy(b, p)
	}
}

// DataBuffer appends a DATA attribute of n bytes and returns the space for
// its value, so file data can be read straight into the command (the
// kernel's put_data_header followed by put_file_data). It returns nil
// after an error, which End reports.
func (w *Writer) DataBuffer(n int) []byte {
	return w.reserve(AttrData, n)
}

// Room returns how many more value bytes a DATA attribute could carry in
// the current command.
func (w *Writer) Room() int {
	hdr := TLVHeaderSize
	if w.version >= 2 {
		hdr = 2
	}
	return max(0, w.max-len(w.buf)-hdr)
}

// End finishes the command: length, type and CRC go into the header and
// the command is written (the kernel's send_cmd).
func (w *Writer) End() error {
	if !w.open {
		return w.fail(fmt.Errorf("End without Begin"))
	}
	w.open = false
	if w.err != nil {
		if w.fillErr {
			return w.err
		}
		return w.fail(w.err)
	}
	if missing := w.missing(); missing != AttrUnspec {
		return w.fail(fmt.Errorf("%w %s", ErrMissingAttr, missing))
	}
	b := w.buf
	binary.LittleEndian.PutUint32(b, uint32(len(b)-CmdHeaderSize))
	binary.LittleEndian.PutUint16(b[4:], uint16(w.cmd))
	binary.LittleEndian.PutUint32(b[6:], 0)
	if w.pipe != nil && w.off+int64(len(b)) > w.skip {
		if w.Observe != nil {
			w.Observe(w.cmd, w.attrValue(AttrPath))
		}
		w.endPipelined(w.index + 1)
		w.off += int64(len(b))
		w.index++
		if w.pipe.failed.Load() {
			return w.pipe.err
		}
		return nil
	}
	// A command left out needs no CRC, unless SkipCheck compares it.
	if w.off+int64(len(b)) > w.skip || w.SkipCheck != nil && w.seen&(1<<AttrData) == 0 {
		putCRC(b)
	}
	if w.Observe != nil {
		w.Observe(w.cmd, w.attrValue(AttrPath))
	}
	if w.SkipCheck != nil && w.off+int64(len(b)) <= w.skip {
		if err := w.SkipCheck(w.off, b, w.dataStart()); err != nil {
			return err
		}
	}
	n, err := w.write(b)
	if err != nil {
		w.off += int64(n)
		return &Error{Offset: w.off - int64(n), Index: w.index + 1, Cmd: w.cmd, Err: err}
	}
	w.off += int64(n)
	w.index++
	return nil
}

// putCRC sets the CRC of command b, whose CRC field is zero.
func putCRC(b []byte) {
	binary.LittleEndian.PutUint32(b[6:], crc(b))
}

// dataStart returns where the DATA value starts in the command being
// ended, or -1.
func (w *Writer) dataStart() int {
	if w.seen&(1<<AttrData) == 0 {
		return -1
	}
	for p := CmdHeaderSize; p+2 <= len(w.buf); {
		t := Attr(binary.LittleEndian.Uint16(w.buf[p:]))
		if t == AttrData && w.version >= 2 {
			return p + 2
		}
		n := int(binary.LittleEndian.Uint16(w.buf[p+2:]))
		if t == AttrData {
			return p + TLVHeaderSize
		}
		p += TLVHeaderSize + n
	}
	return -1
}

// attrValue returns the value of attribute a in the command being ended
// (nil if absent or if it is the implicit-length DATA).
func (w *Writer) attrValue(a Attr) []byte {
	if w.seen&(1<<a) == 0 {
		return nil
	}
	for p := CmdHeaderSize; p+TLVHeaderSize <= len(w.buf); {
		t := Attr(binary.LittleEndian.Uint16(w.buf[p:]))
		if t == AttrData && w.version >= 2 {
			return nil
		}
		n := int(binary.LittleEndian.Uint16(w.buf[p+2:]))
		if t == a {
			return w.buf[p+TLVHeaderSize : p+TLVHeaderSize+n]
		}
		p += TLVHeaderSize + n
	}
	return nil
}

// missing returns the first mandatory attribute the open command lacks.
func (w *Writer) missing() Attr {
	for _, a := range Required[w.cmd] {
		if w.seen&(1<<a) == 0 {
			return a
		}
	}
	return AttrUnspec
}

// WriteCommand re-encodes a decoded command, attributes in their original
// order (duplicates collapsed to the value that won).
func (w *Writer) WriteCommand(c *Command) error {
	if err := w.Begin(c.Cmd); err != nil {
		return err
	}
	for _, a := range c.Attrs() {
		if a == AttrData {
			w.PutData(c.Bytes(a))
		} else {
			w.PutBytes(a, c.Bytes(a))
		}
	}
	return w.End()
}
