package stream

import (
	"errors"
	"fmt"
)

// Sentinel causes, wrapped by *Error so callers can test with errors.Is.
var (
	ErrBadMagic     = errors.New("not a btrfs send stream (bad magic)")
	ErrVersion      = errors.New("unsupported stream version")
	ErrTruncated    = errors.New("stream truncated")
	ErrCRC          = errors.New("crc32c mismatch")
	ErrTLV          = errors.New("invalid attribute")
	ErrMissingAttr  = errors.New("missing mandatory attribute")
	ErrUnknownCmd   = errors.New("unknown command")
	ErrTooLarge     = errors.New("command too large")
	ErrNotInVersion = errors.New("not in this protocol version")
	ErrEmpty        = errors.New("empty input: no stream header")
)

// Error is a decoding or encoding failure at a place in the stream.
// Offset is the byte offset (in the uncompressed input) of the stream
// header or the command header concerned; Index is the 1-based index of the
// command counted over the whole input (0 for a stream header).
type Error struct {
	Offset int64
	Index  int
	Cmd    Cmd // the command concerned, CmdUnspec if unknown
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Index == 0:
		return fmt.Sprintf("stream offset %d, stream header: %v", e.Offset, e.Err)
	case e.Cmd.Known():
		return fmt.Sprintf("stream offset %d, command %d (%s): %v", e.Offset, e.Index, e.Cmd, e.Err)
	}
	return fmt.Sprintf("stream offset %d, command %d: %v", e.Offset, e.Index, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
