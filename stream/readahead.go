package stream

import (
	"errors"
	"io"
)

// Read-ahead buffers: how many, how big, and how much one read of the
// underlying reader waits for before handing a buffer on.
const (
	readAheadBufs = 4
	readAheadSize = 1 << 20
	readAheadMin  = 256 << 10
)

// ReadAhead returns a reader of r's bytes that reads (and, for what
// Decompress returns, decompresses) them on a goroutine of its own, up to
// a few MiB ahead of the caller: receiving a stream then reads its input
// on one core and applies it on another. Errors come after the bytes read
// before them. Close stops the goroutine once its current read of r
// returns; it does not close r.
func ReadAhead(r io.Reader) io.ReadCloser {
	ra := &readAhead{
		full: make(chan readAheadChunk, readAheadBufs),
		free: make(chan []byte, readAheadBufs),
		stop: make(chan struct{}),
	}
	for range readAheadBufs - 1 {
		ra.free <- nil // allocated on first use
	}
	go ra.fill(r)
	return ra
}

type readAhead struct {
	full chan readAheadChunk
	free chan []byte
	stop chan struct{}

	buf    []byte // the buffer being read from, to recycle
	unread []byte
	err    error
	closed bool
}

type readAheadChunk struct {
	b   []byte
	err error
}

// fill reads r into free buffers until r fails or ends, or Close.
func (ra *readAhead) fill(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		if buf == nil {
			buf = make([]byte, readAheadSize)
		}
		n, err := io.ReadAtLeast(r, buf, readAheadMin)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		select {
		case ra.full <- readAheadChunk{buf[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if ra.closed {
		return 0, errors.New("read after Close")
	}
	for len(ra.unread) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c := <-ra.full
		ra.buf, ra.unread, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.unread)
	ra.unread = ra.unread[n:]
	return n, nil
}

func (ra *readAhead) Close() error {
	if !ra.closed {
		ra.closed = true
		close(ra.stop)
	}
	return nil
}
