package sendgen_test

import (
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/sendgen"
)

// BenchmarkResumeAndSize prices resuming and sizing the full protocol-1
// send of the send image's snapshot (BenchmarkFullSend's stream), each op
// opening the image afresh, against the whole send in the same run:
//
//   - full: the whole send into a counting writer.
//   - resume-90pc: Options.Skip at 90% of the stream, as send
//     --resume-from N does; only the last 10% is written. Data before it
//     is never read.
//   - size: sendgen.Size, the pass send --size and the progress bar's
//     total make; no data is read.
//
// of-full is each one's time per op over full's.
func BenchmarkResumeAndSize(b *testing.B) {
	img, st := benchimage.Cached(b, &benchimage.SendImage)
	if len(st.Streams) != 1 {
		b.Fatalf("%s: the stamp records %d kernel streams, want 1", img, len(st.Streams))
	}
	want := st.Streams[0].Size
	skip := want / 10 * 9
	var fullNs float64
	ofFull := func(b *testing.B) {
		if fullNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fullNs, "of-full")
		}
	}
	send := func(b *testing.B, opts sendgen.Options, wantBytes int64) {
		sv, closeFS := openSnap(b, img)
		defer closeFS()
		var w countWriter
		if err := sendgen.Send(&w, sv, opts); err != nil {
			b.Fatal(err)
		}
		if w.n != wantBytes {
			b.Fatalf("wrote %d bytes, want %d", w.n, wantBytes)
		}
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			send(b, sendgen.Options{Proto: 1}, want)
		}
		fullNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("resume-90pc", func(b *testing.B) {
		for b.Loop() {
			send(b, sendgen.Options{Proto: 1, Skip: skip}, want-skip)
		}
		ofFull(b)
	})
	b.Run("size", func(b *testing.B) {
		for b.Loop() {
			sv, closeFS := openSnap(b, img)
			stats, err := sendgen.Size([]*fstree.Subvol{sv}, sendgen.ManyOptions{Options: sendgen.Options{Proto: 1}})
			closeFS()
			if err != nil {
				b.Fatal(err)
			}
			if stats[0].Bytes != want {
				b.Fatalf("Size says %d bytes, the stream has %d", stats[0].Bytes, want)
			}
		}
		ofFull(b)
	})
}
