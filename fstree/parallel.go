package fstree

import (
	"io"
	"runtime"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/compression"
	"github.com/coldsend/coldsend/ondisk/item"
)

// chunkBytes is how much of a file one worker of writeToParallel reads at
// a time: a few compressed extents, or a slice of a plain one. (A
// variable for tests.)
var chunkBytes int64 = 1 << 20

// maxDefaultWorkers bounds the default number of WriteTo workers, and so
// the buffers in flight (two chunks per worker), on machines with many
// cores: four already read faster than most disks deliver.
const maxDefaultWorkers = 4

// workers is how many goroutines WriteTo reads with.
func (f *File) workers() int {
	if n := f.s.fs.opts.Workers; n > 0 {
		return n
	}
	return min(runtime.GOMAXPROCS(0), maxDefaultWorkers)
}

// chunk is a range of the file a worker reads.
type chunk struct {
	off  int64
	buf  []byte
	n    int
	err  error
	done chan struct{} // capacity 1
}

// writeToParallel is WriteTo for large files: workers, each with a File
// of its own, read chunks of about chunkBytes through ReadAt (checksums
// checked, extents decompressed), and the caller writes them in order. A
// chunk ends where an extent starts whenever it can, so no two workers
// decompress the same extent. What reaches w, and the error, are what the
// sequential WriteTo gives.
func (f *File) writeToParallel(w io.Writer, workers int) (int64, error) {
	nbuf := 2 * workers
	jobs := make(chan *chunk, nbuf)
	order := make(chan *chunk, nbuf)
	free := make(chan *chunk, nbuf)
	for range nbuf {
		free <- &chunk{done: make(chan struct{}, 1)}
	}
	stop := make(chan struct{})
	for range workers {
		g := &File{s: f.s, Ino: f.Ino, Inode: f.Inode, verify: f.verify}
		go func() {
			for c := range jobs {
				c.n, c.err = g.ReadAt(c.buf, c.off)
				if c.err == io.EOF {
					c.err = nil
				}
				c.done <- struct{}{}
			}
		}()
	}
	// The planner hands out chunks until the file ends or stop closes.
	planErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		defer close(order)
		planErr <- f.planChunks(func(off, end int64) bool {
			var c *chunk
			select {
			case c = <-free:
			case <-stop:
				return false
			}
			if cap(c.buf) < int(end-off) {
				c.buf = make([]byte, chunkBytes+compression.MaxUnit)
			}
			c.off, c.buf, c.n, c.err = off, c.buf[:end-off], 0, nil
			jobs <- c
			order <- c
			return true
		})
	}()
	var written int64
	var err error
	for c := range order {
		<-c.done
		if err == nil {
			if werr := writeCounted(w, c.buf[:c.n], &written); werr != nil {
				err = werr
			} else if c.err != nil {
				err = c.err
			}
			if err != nil {
				close(stop)
			}
		}
		free <- c
	}
	if perr := <-planErr; err == nil {
		err = perr
	}
	return written, err
}

// planChunks calls yield with consecutive ranges [off, end) covering the
// file, each at most chunkBytes, or chunkBytes plus one compressed or
// inline extent: a range never ends inside one of those. Only extent items
// are read. An item out of order or beyond what btrfs writes ends the plan
// in fixed-size ranges, and reading them reports the damage.
func (f *File) planChunks(yield func(off, end int64) bool) error {
	size := f.Size()
	off := int64(0)
	ok := true
	// split yields [off, end) in ranges of at most chunkBytes.
	split := func(end int64) {
		for ok && off < end {
			n := min(end-off, chunkBytes)
			ok = yield(off, off+n)
			off += n
		}
	}
	pending := int64(0) // the end of the extents seen
	for it, err := range f.s.Tree.ObjectItems(f.Ino, ondisk.ExtentDataKey) {
		if err != nil {
			split(pending) // what the sequential WriteTo writes first
			return err
		}
		if !ok {
			return nil
		}
		fe, err := item.ParseFileExtent(it.Data)
		start := int64(it.Key.Offset)
		whole := fe.Compression != item.CompressNone || fe.Type == item.FileExtentInline
		if err != nil || it.Key.Offset > item.MaxFileSize || start < pending || start >= size ||
			whole && fileLen(&fe) > compression.MaxUnit {
			break
		}
		if start-off >= chunkBytes {
			split(start) // a hole, or plain data of earlier extents
		}
		pending = min(size, start+int64(min(fileLen(&fe), item.MaxFileSize)))
		if pending-off < chunkBytes {
			continue
		}
		if whole {
			ok = yield(off, pending)
			off = pending
		} else {
			split(off + (pending-off)/chunkBytes*chunkBytes)
		}
	}
	split(size)
	return nil
}
