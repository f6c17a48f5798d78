package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxCommandSize bounds a decoded command (header included). The
// kernel never emits more than MaxCommandSize(2) (144 KiB); the bound only
// keeps a forged length from costing gigabytes.
const DefaultMaxCommandSize = 16 << 20

const maxBuffer = 256 << 10

// Reader decodes one or more concatenated send streams. Memory is bounded
// by the largest command, not by the stream.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int   // unread bytes are buf[start:end]
	off        int64 // input offset of buf[start]
	rerr       error // first error from r, returned once the buffer is drained
	maxCmd     int

	inStream  bool
	version   uint32
	stream    int
	streamOff int64
	index     int
	cmd       Command
	hdr       [CmdHeaderSize]byte // scratch for the CRC
	err       error               // sticky decoding error
}

// NewReader returns a Reader that decodes r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, maxCmd: DefaultMaxCommandSize}
}

// Resume returns a Reader for input that continues a stream of version v
// part way: its first byte is at offset of the original input, on a
// command boundary, and its first command is the index'th (1-based). What
// follows the stream's END is read as usual.
func Resume(r io.Reader, offset int64, index int, v uint32) *Reader {
	return &Reader{r: r, maxCmd: DefaultMaxCommandSize, off: offset, index: index - 1, version: v, inStream: true, stream: 1, streamOff: -1}
}

// SetMaxCommandSize changes the largest command accepted (header included).
func (r *Reader) SetMaxCommandSize(n int) { r.maxCmd = max(n, CmdHeaderSize) }

// Version returns the current stream's protocol version (0 before the
// first header).
func (r *Reader) Version() uint32 { return r.version }

// Stream returns the 1-based number of the current stream and the offset
// of its header.
func (r *Reader) Stream() (n int, offset int64) { return r.stream, r.streamOff }

// Offset returns how many input bytes have been consumed.
func (r *Reader) Offset() int64 { return r.off }

// Commands returns how many commands have been decoded.
func (r *Reader) Commands() int { return r.index }

// Next decodes the next command. After an END it reads the next stream's
// header, if any. At the clean end of the input (right after an END) it
// returns io.EOF; every other failure is an *Error, and is sticky.
func (r *Reader) Next() (*Command, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.inStream {
		if err := r.readHeader(); err != nil {
			r.err = err
			return nil, err
		}
	}
	c, err := r.readCommand()
	if err != nil {
		r.err = err
		return nil, err
	}
	if c.Cmd == CmdEnd {
		r.inStream = false
	}
	return c, nil
}

func (r *Reader) readHeader() error {
	err := r.fill(HeaderSize)
	have := r.end - r.start
	if have == 0 && err != nil {
		if !errors.Is(err, io.EOF) {
			return &Error{Offset: r.off, Err: err}
		}
		if r.stream == 0 {
			return &Error{Offset: r.off, Err: ErrEmpty}
		}
		return io.EOF
	}
	if have < HeaderSize {
		if errors.Is(err, io.EOF) {
			err = wrapf(ErrTruncated, "%d of %d header bytes", have, HeaderSize)
		}
		return &Error{Offset: r.off, Err: err}
	}
	h := r.buf[r.start : r.start+HeaderSize]
	if string(h[:len(Magic)]) != Magic {
		return &Error{Offset: r.off, Err: fmt.Errorf("%w: %q", ErrBadMagic, h[:len(Magic)])}
	}
	v := binary.LittleEndian.Uint32(h[len(Magic):])
	if v < MinVersion || v > MaxVersion {
		return &Error{Offset: r.off, Err: fmt.Errorf("%w %d (supported: %d to %d)", ErrVersion, v, MinVersion, MaxVersion)}
	}
	r.stream++
	r.streamOff = r.off
	r.version = v
	r.inStream = true
	r.consume(HeaderSize)
	return nil
}

func (r *Reader) readCommand() (*Command, error) {
	index := r.index + 1
	at := r.off
	fail := func(cmd Cmd, err error) (*Command, error) {
		return nil, &Error{Offset: at, Index: index, Cmd: cmd, Err: err}
	}
	err := r.fill(CmdHeaderSize)
	if have := r.end - r.start; have < CmdHeaderSize {
		if err == nil || errors.Is(err, io.EOF) {
			if have == 0 {
				err = wrapf(ErrTruncated, "input ends without an END command")
			} else {
				err = wrapf(ErrTruncated, "%d of %d command header bytes", have, CmdHeaderSize)
			}
		}
		return fail(CmdUnspec, err)
	}
	h := r.buf[r.start : r.start+CmdHeaderSize]
	n := binary.LittleEndian.Uint32(h)
	cmd := Cmd(binary.LittleEndian.Uint16(h[4:]))
	stored := binary.LittleEndian.Uint32(h[6:])
	if uint64(n)+CmdHeaderSize > uint64(r.maxCmd) {
		return fail(cmd, wrapf(ErrTooLarge, "%d payload bytes, limit %d", n, r.maxCmd-CmdHeaderSize))
	}
	total := CmdHeaderSize + int(n)
	err = r.fill(total)
	if have := r.end - r.start; have < total {
		if err == nil || errors.Is(err, io.EOF) {
			err = wrapf(ErrTruncated, "%d of %d command bytes", have, total)
		}
		return fail(cmd, err)
	}
	h = r.buf[r.start : r.start+CmdHeaderSize]
	payload := r.buf[r.start+CmdHeaderSize : r.start+total : r.start+total]

	// The CRC covers the header with its crc field zeroed.
	zeroed := r.hdr[:]
	copy(zeroed, h[:6])
	clear(zeroed[6:])
	if got := crcUpdate(crc(zeroed), payload); got != stored {
		return fail(cmd, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCRC, stored, got))
	}

	c := &r.cmd
	*c = Command{Cmd: cmd, Offset: at, Index: index, Stream: r.stream, Version: r.version, CRC: stored, payload: payload, order: c.order[:0]}
	if err := c.parseAttrs(r.version); err != nil {
		return fail(cmd, err)
	}
	if !cmd.Known() {
		return fail(cmd, fmt.Errorf("%w %d", ErrUnknownCmd, uint16(cmd)))
	}
	for _, a := range Required[cmd] {
		if !c.attrs[a].present {
			return fail(cmd, fmt.Errorf("%w %s", ErrMissingAttr, a))
		}
	}
	r.index = index
	r.consume(total)
	return c, nil
}

// parseAttrs splits the payload into attributes (btrfs-progs read_cmd).
func (c *Command) parseAttrs(version uint32) error {
	p := c.payload
	pos := 0
	for pos < len(p) {
		if len(p)-pos < 2 {
			return wrapf(ErrTLV, "attribute header cut at payload byte %d", pos)
		}
		a := Attr(binary.LittleEndian.Uint16(p[pos:]))
		if !a.Known() {
			return wrapf(ErrTLV, "attribute type %d at payload byte %d", uint16(a), pos)
		}
		var off, n int
		if version >= 2 && a == AttrData {
			off = pos + 2
			n = len(p) - off
		} else {
			if len(p)-pos < TLVHeaderSize {
				return wrapf(ErrTLV, "attribute %s header cut at payload byte %d", a, pos)
			}
			off = pos + TLVHeaderSize
			n = int(binary.LittleEndian.Uint16(p[pos+2:]))
			if n > len(p)-off {
				return wrapf(ErrTLV, "attribute %s at payload byte %d has %d bytes, runs %d past the command", a, pos, n, n-(len(p)-off))
			}
		}
		if want := a.Kind().Size(); want >= 0 && n != want {
			return wrapf(ErrTLV, "attribute %s at payload byte %d has %d bytes, want %d", a, pos, n, want)
		}
		if c.attrs[a].present {
			c.Duplicates++
		} else {
			c.order = append(c.order, a)
		}
		c.attrs[a] = span{off: uint32(off), n: uint32(n), present: true}
		pos = off + n
	}
	return nil
}

// fill makes at least n bytes available in buf[start:end] unless the input
// ends first; it returns the input's error (io.EOF at its end) only when
// fewer than n bytes are available.
func (r *Reader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if r.start+n > len(r.buf) {
		// Small inputs get a small buffer; a long stream soon reaches
		// maxBuffer and is read in large chunks.
		if n > len(r.buf) || len(r.buf) < maxBuffer {
			nb := make([]byte, max(n, min(maxBuffer, 2*len(r.buf)), 4096))
			r.end = copy(nb, r.buf[r.start:r.end])
			r.buf = nb
		} else {
			r.end = copy(r.buf, r.buf[r.start:r.end])
		}
		r.start = 0
	}
	for r.end-r.start < n {
		if r.rerr != nil {
			return r.rerr
		}
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.rerr = err
		} else if m == 0 {
			r.rerr = io.ErrNoProgress
		}
	}
	return nil
}

func (r *Reader) consume(n int) {
	r.start += n
	r.off += int64(n)
}
