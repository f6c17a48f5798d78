package stream

import (
	"encoding/binary"
	"strings"
)

// span locates one attribute value inside a command's payload.
type span struct {
	off, n  uint32
	present bool
}

// Command is one decoded command. Its byte slices are views into the
// Reader's buffer and stay valid only until the next call to Next; copy
// what must outlive that.
type Command struct {
	Cmd     Cmd
	Offset  int64  // of the command header in the (uncompressed) input
	Index   int    // 1-based, counted over the whole input
	Stream  int    // 1-based number of the stream the command belongs to
	Version uint32 // of that stream
	CRC     uint32 // as stored (and verified)
	// Duplicates counts attributes that appeared more than once; as in
	// btrfs-progs the last occurrence wins.
	Duplicates int

	payload []byte
	attrs   [attrCount]span
	order   []Attr // attributes in stream order, first occurrences
}

// Size returns the command's encoded size, header included.
func (c *Command) Size() int { return CmdHeaderSize + len(c.payload) }

// Attrs returns the attributes present, in the order they first appear.
func (c *Command) Attrs() []Attr { return c.order }

// Has reports whether attribute a is present.
func (c *Command) Has(a Attr) bool { return a < attrCount && c.attrs[a].present }

// Bytes returns attribute a's value, nil if absent.
func (c *Command) Bytes(a Attr) []byte {
	if !c.Has(a) {
		return nil
	}
	s := c.attrs[a]
	return c.payload[s.off : s.off+s.n : s.off+s.n]
}

// DataOffset returns the offset of attribute a's value relative to the
// command header, for tools that locate data inside the stream.
func (c *Command) DataOffset(a Attr) int64 {
	if !c.Has(a) {
		return -1
	}
	return CmdHeaderSize + int64(c.attrs[a].off)
}

// String returns attribute a as a string (empty if absent).
func (c *Command) String(a Attr) string { return string(c.Bytes(a)) }

// CString returns attribute a cut at its first NUL, which is what a C
// receiver sees after copying the value into a NUL-terminated buffer.
func (c *Command) CString(a Attr) string {
	s := c.String(a)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

// U64 returns an integer attribute of any width (0 if absent). The reader
// has already checked that fixed-size attributes have their exact size.
func (c *Command) U64(a Attr) uint64 {
	b := c.Bytes(a)
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// UUID returns a uuid attribute (zero if absent).
func (c *Command) UUID(a Attr) UUID {
	var u UUID
	copy(u[:], c.Bytes(a))
	return u
}

// Time returns a timespec attribute (zero if absent).
func (c *Command) Time(a Attr) Timespec {
	b := c.Bytes(a)
	if len(b) != 12 {
		return Timespec{}
	}
	return Timespec{Sec: int64(binary.LittleEndian.Uint64(b)), Nsec: binary.LittleEndian.Uint32(b[8:])}
}
