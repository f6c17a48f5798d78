package dump_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// writeHeavy returns a v2 stream of n writes of size bytes each, like the
// bulk of a full send.
func writeHeavy(b *testing.B, n, size int) []byte {
	var buf bytes.Buffer
	w, err := stream.NewWriter(&buf, 2)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		b.Fatal(err)
	}
	put := func(c stream.Cmd, f func()) {
		if err := w.Begin(c); err != nil {
			b.Fatal(err)
		}
		f()
		if err := w.End(); err != nil {
			b.Fatal(err)
		}
	}
	put(stream.CmdSubvol, func() {
		w.PutString(stream.AttrPath, "vol")
		w.PutUUID(stream.AttrUUID, stream.UUID{1})
		w.PutU64(stream.AttrCtransid, 7)
	})
	data := make([]byte, size)
	for i := range n {
		put(stream.CmdWrite, func() {
			w.PutString(stream.AttrPath, "some/directory/a-file-name.bin")
			w.PutU64(stream.AttrFileOffset, uint64(i*size))
			w.PutData(data)
		})
		if i%64 == 0 {
			put(stream.CmdUtimes, func() {
				w.PutString(stream.AttrPath, "some/directory")
				for _, a := range []stream.Attr{stream.AttrAtime, stream.AttrMtime, stream.AttrCtime} {
					w.PutTime(a, stream.Timespec{Sec: 1700000000 + int64(i)})
				}
			})
		}
	}
	put(stream.CmdEnd, func() {})
	return buf.Bytes()
}

func benchPrint(b *testing.B, size int, newPrinter func(io.Writer) dump.Printer) {
	data := writeHeavy(b, 2048, size)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dump.Copy(newPrinter(io.Discard), stream.NewReader(bytes.NewReader(data)), false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkText measures decoding plus Text; the aim is well over 1 GB/s
// on one core for write-heavy streams.
func BenchmarkText(b *testing.B) {
	for _, size := range []int{4096, 49152} {
		b.Run(byteSize(size), func(b *testing.B) {
			benchPrint(b, size, func(w io.Writer) dump.Printer { return dump.NewText(w, time.UTC) })
		})
	}
}

func BenchmarkJSON(b *testing.B) {
	for _, size := range []int{4096, 49152} {
		b.Run(byteSize(size), func(b *testing.B) {
			benchPrint(b, size, func(w io.Writer) dump.Printer { return dump.NewJSON(w) })
		})
	}
}

func byteSize(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n/1024) + "K"
	}
	return strconv.Itoa(n)
}
