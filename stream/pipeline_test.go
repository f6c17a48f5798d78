package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// pipelineCmd is one command of a generated stream: a WRITE whose data
// is a function of (seed, offset), or a data-less MKFILE.
type pipelineCmd struct {
	write  bool
	path   string
	offset uint64
	n      int
}

func pipelineCmds(seed uint64, count int, maxData int) []pipelineCmd {
	r := rand.New(rand.NewPCG(seed, 1))
	cmds := make([]pipelineCmd, count)
	for i := range cmds {
		c := pipelineCmd{path: fmt.Sprintf("d%d/f%d", r.IntN(50), i), write: r.IntN(3) > 0}
		if c.write {
			c.offset = r.Uint64N(1 << 40)
			c.n = r.IntN(maxData + 1)
		}
		cmds[i] = c
	}
	return cmds
}

// pattern is what WRITEs carry, from an offset that depends on theirs.
var pattern = func() []byte {
	b := make([]byte, 1<<19)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// fillPattern writes the bytes a WRITE at offset carries.
func fillPattern(dst []byte, offset uint64) {
	at := int(offset % (1 << 18))
	copy(dst, pattern[at:at+len(dst)])
}

// writePipelineStream writes cmds through a Writer with the given workers
// and skip point; fail, when non-nil, decides whether command i's fill
// fails.
func writePipelineStream(out io.Writer, v uint32, workers int, skip int64, cmds []pipelineCmd, fail func(i int) error) (*Writer, error) {
	w, err := NewWriter(out, v)
	if err != nil {
		return nil, err
	}
	w.SetSkip(skip)
	w.SetPipeline(workers)
	run := func() error {
		if err := w.WriteHeader(); err != nil {
			return err
		}
		for i, c := range cmds {
			if !c.write {
				if err := w.Begin(CmdMkfile); err != nil {
					return err
				}
				w.PutString(AttrPath, c.path)
				w.PutU64(AttrIno, uint64(i))
				if err := w.End(); err != nil {
					return err
				}
				continue
			}
			if err := w.Begin(CmdWrite); err != nil {
				return err
			}
			w.PutString(AttrPath, c.path)
			w.PutU64(AttrFileOffset, c.offset)
			w.DataLater(c.n, func(dst []byte, worker int) error {
				if worker < 0 || worker >= w.Workers() {
					return fmt.Errorf("worker %d of %d", worker, w.Workers())
				}
				if fail != nil {
					if err := fail(i); err != nil {
						return err
					}
				}
				fillPattern(dst, c.offset)
				return nil
			})
			if err := w.End(); err != nil {
				return err
			}
			if i%7 == 0 {
				w.BatchPoint() // as the sender does after an extent's WRITEs
			}
		}
		if err := w.Begin(CmdEnd); err != nil {
			return err
		}
		return w.End()
	}
	err = run()
	if cerr := w.Close(); cerr != nil {
		err = cerr
	}
	return w, err
}

// TestPipelineSameBytes checks that a pipelined Writer writes what a
// synchronous one does, for any number of workers and any skip point.
func TestPipelineSameBytes(t *testing.T) {
	for _, v := range []uint32{1, 2} {
		maxData := MaxCommandSize(v) - 1024
		cmds := pipelineCmds(uint64(v), 1000, maxData)
		var want bytes.Buffer
		sync, err := writePipelineStream(&want, v, 1, 0, cmds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sync.Offset() != int64(want.Len()) {
			t.Fatalf("v%d: Offset %d, wrote %d", v, sync.Offset(), want.Len())
		}
		if _, err := decodeAll(bytes.NewReader(want.Bytes())); err != nil {
			t.Fatalf("v%d: the synchronous stream does not decode: %v", v, err)
		}
		r := rand.New(rand.NewPCG(7, uint64(v)))
		skips := []int64{0, 1, int64(HeaderSize), int64(HeaderSize) + 1, int64(want.Len()) - 1, int64(want.Len())}
		for range 4 {
			skips = append(skips, r.Int64N(int64(want.Len())))
		}
		for _, workers := range []int{2, 3, 8} {
			for _, skip := range skips {
				var got bytes.Buffer
				w, err := writePipelineStream(&got, v, workers, skip, cmds, nil)
				if err != nil {
					t.Fatalf("v%d workers %d skip %d: %v", v, workers, skip, err)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()[skip:]) {
					t.Fatalf("v%d workers %d skip %d: %d bytes differ from the synchronous stream's %d after the skip", v, workers, skip, got.Len(), int64(want.Len())-skip)
				}
				if w.Offset() != sync.Offset() || w.Commands() != sync.Commands() {
					t.Fatalf("v%d workers %d skip %d: Offset %d Commands %d, want %d %d", v, workers, skip, w.Offset(), w.Commands(), sync.Offset(), sync.Commands())
				}
			}
		}
	}
}

// decodeAll decodes a whole stream, returning its command count.
func decodeAll(r io.Reader) (int, error) {
	sr := NewReader(r)
	n := 0
	for {
		_, err := sr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// TestPipelineFillError checks that a failed fill ends the stream just
// before its command, with the fill's error as it was, for every number
// of workers.
func TestPipelineFillError(t *testing.T) {
	errBad := errors.New("bad sector")
	cmds := pipelineCmds(3, 2000, 60<<10)
	var whole bytes.Buffer
	if _, err := writePipelineStream(&whole, 1, 1, 0, cmds, nil); err != nil {
		t.Fatal(err)
	}
	starts := commandStarts(t, whole.Bytes())
	for _, bad := range []int{0, 1, 500, 1999} {
		for !cmds[bad].write {
			bad++
		}
		for _, workers := range []int{1, 2, 8} {
			var got bytes.Buffer
			w, err := writePipelineStream(&got, 1, workers, 0, cmds, func(i int) error {
				if i == bad {
					return errBad
				}
				return nil
			})
			if err != errBad {
				t.Fatalf("command %d workers %d: error %v, want the fill's own", bad, workers, err)
			}
			// Command index bad+1 (1-based) starts at starts[bad].
			if want := whole.Bytes()[:starts[bad]]; !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("command %d workers %d: wrote %d bytes, want the %d before the command", bad, workers, got.Len(), len(want))
			}
			if workers > 1 && (w.Offset() != int64(starts[bad]) || w.Commands() != bad) {
				t.Fatalf("command %d workers %d: Offset %d Commands %d, want %d %d", bad, workers, w.Offset(), w.Commands(), starts[bad], bad)
			}
		}
	}
}

// commandStarts returns the stream offset of each command.
func commandStarts(t *testing.T, b []byte) []int {
	var starts []int
	for p := HeaderSize; p < len(b); {
		starts = append(starts, p)
		if p+CmdHeaderSize > len(b) {
			t.Fatalf("truncated command at %d", p)
		}
		p += CmdHeaderSize + int(uint32(b[p])|uint32(b[p+1])<<8|uint32(b[p+2])<<16|uint32(b[p+3])<<24)
	}
	return starts
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	buf   bytes.Buffer
	limit int
}

var errFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	room := f.limit - f.buf.Len()
	if len(p) <= room {
		return f.buf.Write(p)
	}
	f.buf.Write(p[:max(0, room)])
	return max(0, room), errFull
}

// TestPipelineWriteError checks that a failing destination stops a
// pipelined stream with an *Error naming the command being written, and
// that Close returns rather than hanging.
func TestPipelineWriteError(t *testing.T) {
	cmds := pipelineCmds(5, 3000, 60<<10)
	var whole bytes.Buffer
	if _, err := writePipelineStream(&whole, 1, 1, 0, cmds, nil); err != nil {
		t.Fatal(err)
	}
	starts := commandStarts(t, whole.Bytes())
	for _, limit := range []int{0, 5, HeaderSize + 3, whole.Len() / 3, whole.Len() - 1} {
		fw := &failingWriter{limit: limit}
		w, err := writePipelineStream(fw, 1, 2, 0, cmds, nil)
		var se *Error
		if !errors.As(err, &se) || !errors.Is(err, errFull) {
			t.Fatalf("limit %d: error %v, want an *Error wrapping the writer's", limit, err)
		}
		if !bytes.Equal(fw.buf.Bytes(), whole.Bytes()[:limit]) {
			t.Fatalf("limit %d: the bytes written differ from the stream's start", limit)
		}
		if w.Offset() != int64(limit) {
			t.Fatalf("limit %d: Offset %d", limit, w.Offset())
		}
		i := 0
		for i < len(starts) && starts[i] <= limit {
			i++
		}
		// The command holding byte limit is index i (1-based), or the
		// header (index 0) when limit < HeaderSize.
		if se.Index != i || (i > 0 && se.Offset != int64(starts[i-1])) {
			t.Fatalf("limit %d: error at offset %d command %d, want command %d", limit, se.Offset, se.Index, i)
		}
	}
}
