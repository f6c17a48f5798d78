package stream

import (
	"bytes"
	"errors"
	"io"
)

// Point is where an interrupted stream can be resumed.
type Point struct {
	// Offset is just past the last intact command (CRC-checked), or past
	// the header when no command is, or 0: where a resumed send starts.
	Offset   int64
	Commands int  // intact commands before Offset
	Complete bool // the input ended cleanly after an END
	// Err is what stopped the scan (nil when Complete).
	Err error
}

// ResumePoint reads r, a possibly interrupted stream (or several
// concatenated), up to its first damage.
func ResumePoint(r io.Reader) Point {
	rd := NewReader(r)
	var p Point
	for {
		c, err := rd.Next()
		if err == io.EOF {
			p.Complete = true
			return p
		}
		if err != nil {
			p.Err = err
			var se *Error
			if p.Commands == 0 && errors.As(err, &se) && se.Index > 0 {
				p.Offset = int64(HeaderSize) // a header and nothing whole after it
			}
			return p
		}
		p.Commands++
		p.Offset = c.Offset + int64(c.Size())
	}
}

// Interruption describes the signature an interrupted kernel send leaves
// (a send restarted after a signal writes a second stream after the
// truncated first): the input is cut at Cut, after its last whole
// command, and a stream header starts again at Restart.
type Interruption struct {
	Cut, Restart int64
}

// FindInterruption looks in r (size bytes), whose intact prefix ends at
// p.Offset, for a stream header after the damage: the kernel's
// interrupted-send signature. It returns nil when there is none.
func FindInterruption(r io.ReaderAt, size int64, p Point) *Interruption {
	if p.Complete || p.Offset >= size {
		return nil
	}
	at, ok := nextMagic(r, size, p.Offset+1)
	if !ok {
		return nil
	}
	return &Interruption{Cut: p.Offset, Restart: at}
}

// nextMagic finds the first stream header at or after from.
func nextMagic(r io.ReaderAt, size, from int64) (int64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(Magic))
	for at := from; at < size; at += chunk {
		n, _ := r.ReadAt(buf[:min(int64(len(buf)), size-at)], at)
		if i := bytes.Index(buf[:n], []byte(Magic)); i >= 0 {
			return at + int64(i), true
		}
	}
	return 0, false
}

// LastCompleteStream finds the last stream in r (size bytes) that decodes
// whole, from its header to its END: its offset and length.
func LastCompleteStream(r io.ReaderAt, size int64) (off, n int64, ok bool) {
	var starts []int64
	for at := int64(0); ; at++ {
		next, found := nextMagic(r, size, at)
		if !found {
			break
		}
		starts = append(starts, next)
		at = next
	}
	for i := len(starts) - 1; i >= 0; i-- {
		if n, whole := firstStream(io.NewSectionReader(r, starts[i], size-starts[i])); whole {
			return starts[i], n, true
		}
	}
	return 0, 0, false
}

// firstStream reports how long the stream at the start of r is and
// whether it decodes whole up to its END.
func firstStream(r io.Reader) (int64, bool) {
	rd := NewReader(r)
	for {
		c, err := rd.Next()
		if err != nil {
			return 0, false
		}
		if c.Cmd == CmdEnd {
			return c.Offset + int64(c.Size()), true
		}
	}
}
