package dump

import (
	"errors"
	"io"

	"github.com/coldsend/coldsend/stream"
)

// Printer renders decoded commands: Text or JSON.
type Printer interface {
	Command(c *stream.Command) error
	Flush() error
}

// Copy prints the commands r decodes until the end of the input (with
// first, up to the first END, as btrfs receive --dump stops) and flushes
// p. It returns how many commands it printed and the first error,
// decoding or printing; what was printed before an error is flushed too.
func Copy(p Printer, r *stream.Reader, first bool) (int, error) {
	n := 0
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = p.Command(c)
		}
		if err != nil {
			p.Flush()
			return n, err
		}
		n++
		if first && c.Cmd == stream.CmdEnd {
			break
		}
	}
	return n, p.Flush()
}
