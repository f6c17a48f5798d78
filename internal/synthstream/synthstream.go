package synthstream

import (
	"fmt"
	"io"

	"github.com/coldsend/coldsend/stream"
)

// FileData is the data each synthetic file carries.
const FileData = 64 * 48 << 10 // 3 MiB in 64 writes of 48 KiB

// New returns a reader of a valid version-v stream of at least size
// bytes: a subvolume with a directory of files of FileData bytes each, then
// END.
func New(size int64, v uint32) (io.Reader, error) {
	var head, end blockBuf
	w, err := stream.NewWriter(&head, v)
	if err != nil {
		return nil, err
	}
	if err := w.WriteHeader(); err != nil {
		return nil, err
	}
	_ = w.Begin(stream.CmdSubvol)
	w.PutString(stream.AttrPath, "bench")
	w.PutUUID(stream.AttrUUID, stream.UUID{1, 2, 3})
	w.PutU64(stream.AttrCtransid, 7)
	if err := w.End(); err != nil {
		return nil, err
	}
	_ = w.Begin(stream.CmdMkdir)
	w.PutString(stream.AttrPath, "o257-7-0")
	w.PutU64(stream.AttrIno, 257)
	_ = w.End()
	_ = w.Begin(stream.CmdRename)
	w.PutString(stream.AttrPath, "o257-7-0")
	w.PutString(stream.AttrPathTo, "dir")
	if err := w.End(); err != nil {
		return nil, err
	}
	we, _ := stream.NewWriter(&end, v)
	_ = we.Begin(stream.CmdEnd)
	if err := we.End(); err != nil {
		return nil, err
	}
	return &reader{v: v, size: size, head: head, end: end}, nil
}

type blockBuf []byte

func (b *blockBuf) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

type reader struct {
	v         uint32
	size      int64
	produced  int64
	file      int
	head, end blockBuf
	pending   []byte
	data      []byte
	block     blockBuf
	done      bool
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		switch {
		case r.head != nil:
			r.pending, r.head = r.head, nil
		case r.done:
			return 0, io.EOF
		case r.produced >= r.size:
			r.pending, r.done = r.end, true
		default:
			if err := r.nextFile(); err != nil {
				return 0, err
			}
			r.pending = r.block
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.produced += int64(n)
	return n, nil
}

// nextFile encodes the commands of one more file into r.block.
func (r *reader) nextFile() error {
	if r.data == nil {
		r.data = make([]byte, 48<<10)
		for i := range r.data {
			r.data[i] = byte(i*7 + i>>9)
		}
	}
	r.file++
	r.block = r.block[:0]
	w, _ := stream.NewWriter(&r.block, r.v)
	orphan := fmt.Sprintf("o%d-7-0", 257+r.file)
	name := fmt.Sprintf("dir/file-%d", r.file)
	_ = w.Begin(stream.CmdMkfile)
	w.PutString(stream.AttrPath, orphan)
	w.PutU64(stream.AttrIno, uint64(257+r.file))
	_ = w.End()
	_ = w.Begin(stream.CmdRename)
	w.PutString(stream.AttrPath, orphan)
	w.PutString(stream.AttrPathTo, name)
	_ = w.End()
	for off := 0; off < FileData; off += len(r.data) {
		_ = w.Begin(stream.CmdWrite)
		w.PutString(stream.AttrPath, name)
		w.PutU64(stream.AttrFileOffset, uint64(off))
		w.PutData(r.data)
		if err := w.End(); err != nil {
			return err
		}
	}
	_ = w.Begin(stream.CmdChown)
	w.PutString(stream.AttrPath, name)
	w.PutU64(stream.AttrUID, 1000)
	w.PutU64(stream.AttrGID, 1000)
	_ = w.End()
	_ = w.Begin(stream.CmdChmod)
	w.PutString(stream.AttrPath, name)
	w.PutU64(stream.AttrMode, 0o644)
	_ = w.End()
	_ = w.Begin(stream.CmdUtimes)
	w.PutString(stream.AttrPath, name)
	for _, a := range []stream.Attr{stream.AttrAtime, stream.AttrMtime, stream.AttrCtime} {
		w.PutTime(a, stream.Timespec{Sec: 1700000000 + int64(r.file), Nsec: 5})
	}
	return w.End()
}
