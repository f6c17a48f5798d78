package cli

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
	"github.com/coldsend/coldsend/stream"
)

// resumeMismatch says why a file is not the start of the send asked for.
type resumeMismatch struct{ msg string }

func (r *resumeMismatch) Error() string { return r.msg }

// openResume prepares send --resume FILE: the send skips what FILE's
// intact prefix holds, comparing it with what it generates (headers and
// commands byte for byte, data commands but for their data), and the
// returned writer cuts FILE after that prefix at its first write, so a
// refused resume leaves FILE as it was.
func openResume(name string, many *sendgen.ManyOptions) (io.Writer, func() error, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	p := stream.ResumePoint(f)
	if p.Complete {
		f.Close()
		return nil, nil, fmt.Errorf("%s holds a complete stream: nothing to resume", name)
	}
	many.Skip = p.Offset
	many.SkipCheck = func(off int64, b []byte, data int) error {
		got := make([]byte, len(b))
		if _, err := f.ReadAt(got, off); err != nil {
			return &resumeMismatch{fmt.Sprintf("%s is not the start of this send: reading it at offset %d: %v", name, off, err)}
		}
		same := bytes.Equal(got, b)
		if data >= 0 { // length, command and attributes; not the data and CRC
			same = bytes.Equal(got[:6], b[:6]) && bytes.Equal(got[10:data], b[10:data])
		}
		if !same {
			what := fmt.Sprintf("%s at offset %d differs", describe(got, off), off)
			if g, w := describe(got, off), describe(b, off); g != w {
				what = fmt.Sprintf("it has %s at offset %d where this send has %s", g, off, w)
			}
			return &resumeMismatch{fmt.Sprintf("%s is not the start of this send: %s (another image, subvolume, parent or flags?)", name, what)}
		}
		return nil
	}
	w := &resumeWriter{f: f, at: p.Offset}
	return w, f.Close, nil
}

// describe names the header or command in b for a message.
func describe(b []byte, off int64) string {
	if off == 0 || len(b) < stream.CmdHeaderSize {
		return "the stream header"
	}
	return fmt.Sprintf("the %s command", stream.Cmd(binary.LittleEndian.Uint16(b[4:])))
}

// resumeWriter appends to f after cutting it at offset at, on the first
// write.
type resumeWriter struct {
	f   *os.File
	at  int64
	cut bool
}

func (w *resumeWriter) Write(p []byte) (int, error) {
	if !w.cut {
		if err := w.f.Truncate(w.at); err != nil {
			return 0, err
		}
		w.cut = true
	}
	n, err := w.f.WriteAt(p, w.at)
	w.at += int64(n)
	return n, err
}

// printSizes prints send --size: the exact bytes and commands, per
// subvolume when there are several, then the total.
func printSizes(e *env, names []string, subvols []*fstree.Subvol, many sendgen.ManyOptions) error {
	stats, err := sendgen.Size(subvols, many)
	if err != nil {
		return err
	}
	w := &errWriter{w: e.stdout}
	var total sendgen.Stats
	for i, s := range stats {
		if len(stats) > 1 {
			w.printf("%s: %d bytes, %d commands\n", names[i], s.Bytes, s.Commands)
		}
		total.Bytes += s.Bytes
		total.Commands += s.Commands
	}
	if len(stats) > 1 {
		w.printf("total: ")
	}
	w.printf("%d bytes, %d commands\n", total.Bytes, total.Commands)
	return w.err
}

// progressBar shows send's progress on stderr.
type progressBar struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	last  time.Time
	sized chan struct{} // closed when the total is known (or cannot be)
}

// newProgressBar starts send's bar: its total, the send's exact size (what
// its Skip leaves out excluded), is computed beside the send on another
// goroutine, since the size pass costs a third of a send's time or more
// and should not delay the first byte. A failing size pass leaves the bar
// without a total; the send itself meets the same failure and reports it.
func newProgressBar(w io.Writer, subvols []*fstree.Subvol, many sendgen.ManyOptions) *progressBar {
	return startProgress(w, func() (int64, bool) {
		stats, err := sendgen.Size(subvols, many)
		if err != nil {
			return 0, false
		}
		var total int64
		for _, s := range stats {
			total += s.Bytes
		}
		return max(0, total-many.Skip), true
	})
}

// startProgress starts a bar that counts bytes until total, run on
// another goroutine, says how many to expect.
func startProgress(w io.Writer, total func() (int64, bool)) *progressBar {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(20),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionUseIECUnits(true),
	)
	p := &progressBar{bar: bar, w: w, sized: make(chan struct{})}
	go func() {
		defer close(p.sized)
		if n, ok := total(); ok {
			bar.ChangeMax64(n)
		}
	}()
	return p
}

type barWriter struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b barWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.bar.Add(n)
	return n, err
}

func (p *progressBar) writer(w io.Writer) io.Writer { return barWriter{w, p.bar} }

// observe shows the path being sent, a few times a second.
func (p *progressBar) observe(_ stream.Cmd, path []byte) {
	if path == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	d := escapeName(path)
	if len(d) > 40 {
		d = "..." + d[len(d)-37:]
	}
	p.bar.Describe(d)
}

// clear wipes the bar's line for a message (nil-safe).
func (p *progressBar) clear() {
	if p != nil {
		p.bar.Clear()
	}
}

// finish ends the bar's line (nil-safe). A send that completed waits for
// its total, so that the last line shows it; one that failed does not.
func (p *progressBar) finish(ok bool) {
	if p == nil {
		return
	}
	if ok {
		<-p.sized
		p.bar.Finish()
	}
	fmt.Fprintln(p.w)
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f.Fd())
}
