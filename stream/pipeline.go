package stream

import (
	"io"
	"sync"
	"sync/atomic"
)

// batchBytes is how many bytes of commands a pipelined Writer gathers
// before handing them to a worker: big enough that one write and one
// hand-off serve many small commands, small enough that a few batches in
// flight stay a few MiB. The first batches are smaller (from
// firstBatchBytes, doubling), so that a small stream, an incremental send
// of a few changes, does not pay for megabytes of buffers.
const (
	batchBytes      = 1 << 20
	firstBatchBytes = 64 << 10
)

// FillFunc fills dst, the DATA value of a command, on a pipeline worker
// (worker is in [0, Workers())); a Writer that is not pipelined calls it
// at once with worker 0. Calls with the same worker never overlap, so a
// caller may keep per-worker state (an open file) indexed by it.
type FillFunc func(dst []byte, worker int) error

// pipeline is the state of a pipelined Writer: batches of commands go to
// the workers, which fill their deferred DATA and compute their CRCs, and
// then, in stream order, to one goroutine that writes them out.
type pipeline struct {
	workers int
	// nextBatch is the size of the next batch buffer to allocate.
	nextBatch int
	jobs      chan *batch // to the workers
	order     chan *batch // to the writer goroutine, in stream order
	free      chan *batch // batches not in flight, for reuse
	exited    chan struct{}
	wg        sync.WaitGroup

	failed atomic.Bool
	err    error // set before failed, read after it or after exited
	// written and index are the stream offset reached and the commands
	// wholly written when the output failed.
	written int64
	index   int
}

// batch is a run of consecutive commands of the stream.
type batch struct {
	buf   []byte
	off   int64 // stream offset of buf[0]
	cut   int   // bytes at the start that SetSkip leaves out
	cmds  []pendingCmd
	ready chan struct{} // a worker is done with it; capacity 1
	// bad is the index of the first command whose fill failed, with its
	// error; len(cmds) when none did.
	bad     int
	fillErr error
}

// pendingCmd is a finished command in a batch, its CRC not yet computed.
type pendingCmd struct {
	start, end int // in batch.buf
	data       int // start of the deferred DATA value, or -1
	fill       FillFunc
	index      int // 0 for the stream header
	cmd        Cmd
}

// SetPipeline makes the Writer fill deferred DATA (DataLater), compute
// CRCs and write on worker goroutines besides the caller's, with output
// in stream order: the bytes are the same whatever the number of workers.
// Writes to the underlying writer then come in batches of about 1 MiB
// from another goroutine, and fail later than the End that made them:
// End reports a failure once it is known, and Close reports it for sure.
// Close must be called to stop the goroutines. workers <= 1 leaves the
// Writer synchronous. Call it before the first command.
func (w *Writer) SetPipeline(workers int) {
	if workers <= 1 || w.pipe != nil {
		return
	}
	nbuf := 2*workers + 2
	p := &pipeline{
		workers:   workers,
		nextBatch: firstBatchBytes,
		jobs:      make(chan *batch, nbuf),
		order:     make(chan *batch, nbuf),
		free:      make(chan *batch, nbuf),
		exited:    make(chan struct{}),
	}
	for range nbuf {
		p.free <- &batch{ready: make(chan struct{}, 1)} // buffers on first use
	}
	p.wg.Add(workers)
	for i := range workers {
		go p.work(i)
	}
	go p.output(w.w)
	w.pipe = p
}

// Workers returns how many workers call FillFuncs: 1 when the Writer is
// not pipelined.
func (w *Writer) Workers() int {
	if w.pipe == nil {
		return 1
	}
	return w.pipe.workers
}

// DataLater appends a DATA attribute of n bytes whose value fill provides,
// later and on a worker when the Writer is pipelined. fill is not called
// when the command lies wholly before the skip point (DataWanted). An
// error from fill ends the stream before that command and comes back, as
// fill returned it, from End or Close.
func (w *Writer) DataLater(n int, fill FillFunc) {
	want := w.DataWanted(n)
	b := w.reserve(AttrData, n)
	if b == nil || !want {
		return
	}
	if w.pipe == nil {
		if err := fill(b, 0); err != nil {
			w.err, w.fillErr = err, true
		}
		return
	}
	w.fill, w.fillAt = fill, len(w.buf)-n
}

// beginPipelined points w.buf at the end of the current batch, which
// always has room for a command of the largest size.
func (w *Writer) beginPipelined() error {
	p := w.pipe
	if p.failed.Load() {
		return p.err
	}
	if w.batch == nil {
		var b *batch
		select {
		case b = <-p.free:
		case <-p.exited:
			return p.err
		}
		if b.buf == nil {
			b.buf = make([]byte, 0, p.nextBatch+w.max)
			p.nextBatch = min(2*p.nextBatch, batchBytes)
		}
		b.off, b.cut = w.off, 0
		w.batch = b
	}
	n := len(w.batch.buf)
	w.buf = w.batch.buf[n : n+CmdHeaderSize]
	return nil
}

// endPipelined adds the command in w.buf (index 0: the stream header),
// its header set but not its CRC, to the batch, and hands the batch on
// once it is full.
func (w *Writer) endPipelined(index int) {
	b := w.batch
	start := len(b.buf)
	if len(b.cmds) == 0 && w.off < w.skip {
		b.cut = int(w.skip - w.off)
	}
	b.buf = b.buf[:start+len(w.buf)]
	data := -1
	if w.fill != nil {
		data = start + w.fillAt
	}
	b.cmds = append(b.cmds, pendingCmd{start: start, end: len(b.buf), data: data, fill: w.fill, index: index, cmd: w.cmd})
	w.fill = nil
	if len(b.buf) >= cap(b.buf)-w.max {
		w.submit()
	}
}

// BatchPoint tells a pipelined Writer that the commands so far belong
// together, as the WRITEs of one extent do: a batch more than half full
// is handed on here rather than after the next commands, so that one
// extent's data is read (and decompressed) by one worker, not two. It
// changes no byte of the stream.
func (w *Writer) BatchPoint() {
	if w.pipe != nil && w.batch != nil && len(w.batch.buf) >= (cap(w.batch.buf)-w.max)/2 {
		w.submit()
	}
}

// submit hands the current batch to the workers and the writer goroutine.
func (w *Writer) submit() {
	if b := w.batch; b != nil {
		w.batch = nil
		w.pipe.jobs <- b
		w.pipe.order <- b
	}
}

// Close writes out what is in flight and stops a pipelined Writer's
// goroutines, returning the first failure (of a fill or of the
// underlying writer). Offset and Commands then count what was written.
// On a synchronous Writer it does nothing.
func (w *Writer) Close() error {
	p := w.pipe
	if p == nil {
		return nil
	}
	w.submit()
	close(p.jobs)
	close(p.order)
	<-p.exited
	p.wg.Wait()
	w.pipe = nil
	if p.err != nil {
		w.off, w.index = p.written, p.index
	}
	return p.err
}

// work fills and checksums batches.
func (p *pipeline) work(worker int) {
	defer p.wg.Done()
	for b := range p.jobs {
		b.bad = len(b.cmds)
		if !p.failed.Load() {
			for i, c := range b.cmds {
				if c.fill == nil {
					continue
				}
				if err := c.fill(b.buf[c.data:c.end], worker); err != nil {
					b.bad, b.fillErr = i, err
					break
				}
			}
			for _, c := range b.cmds[:b.bad] {
				if c.index > 0 {
					putCRC(b.buf[c.start:c.end])
				}
			}
		}
		b.ready <- struct{}{}
	}
}

// output writes batches in stream order until the first failure, then
// only recycles their buffers.
func (p *pipeline) output(dst io.Writer) {
	defer close(p.exited)
	for b := range p.order {
		<-b.ready
		if !p.failed.Load() {
			p.writeBatch(dst, b)
		}
		clear(b.cmds) // drop the fill closures
		b.buf, b.cmds, b.fillErr = b.buf[:0], b.cmds[:0], nil
		p.free <- b
	}
}

// writeBatch writes b's commands up to the first that failed to fill,
// less what the skip point leaves out.
func (p *pipeline) writeBatch(dst io.Writer, b *batch) {
	end := len(b.buf)
	if b.bad < len(b.cmds) {
		end = b.cmds[b.bad].start
	}
	if b.cut < end {
		n, err := dst.Write(b.buf[b.cut:end])
		if err == nil && n < end-b.cut {
			err = io.ErrShortWrite
		}
		if err != nil {
			reached := b.cut + n
			i := 0
			for i < len(b.cmds)-1 && b.cmds[i].end <= reached {
				i++
			}
			c := b.cmds[i]
			p.fail(&Error{Offset: b.off + int64(c.start), Index: c.index, Cmd: c.cmd, Err: err}, b.off+int64(reached), max(0, c.index-1))
			return
		}
	}
	if b.bad < len(b.cmds) {
		p.fail(b.fillErr, b.off+int64(end), max(0, b.cmds[b.bad].index-1))
	}
}

func (p *pipeline) fail(err error, written int64, index int) {
	p.err, p.written, p.index = err, written, index
	p.failed.Store(true)
}
