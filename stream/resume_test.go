package stream_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/coldsend/coldsend/stream"
)

// TestResumePoint: cut anywhere, a stream's resume point is the end of
// its last whole command; the kernel's interrupted-send signature (a cut
// command, then a second header) is found, and the last complete stream
// salvaged.
func TestResumePoint(t *testing.T) {
	whole, err := os.ReadFile("../fixtures/images/tiny/vol.2.incr-vol.1.v1.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	r := stream.NewReader(bytes.NewReader(whole))
	for {
		c, err := r.Next()
		if err != nil {
			break
		}
		ends = append(ends, c.Offset+int64(c.Size()))
	}
	for cut := 0; cut <= len(whole); cut++ {
		p := stream.ResumePoint(bytes.NewReader(whole[:cut]))
		want := int64(0)
		if cut >= stream.HeaderSize {
			want = int64(stream.HeaderSize)
		}
		n := 0
		for _, e := range ends {
			if e <= int64(cut) {
				want, n = e, n+1
			}
		}
		if p.Offset != want || p.Commands != n || p.Complete != (cut == len(whole)) {
			t.Fatalf("cut at %d: %+v, want offset %d after %d commands", cut, p, want, n)
		}
	}
	// A send interrupted in command 5 and restarted: the cut stream, then
	// the whole one.
	cut := ends[4] + 7
	interrupted := append(bytes.Clone(whole[:cut]), whole...)
	p := stream.ResumePoint(bytes.NewReader(interrupted))
	in := stream.FindInterruption(bytes.NewReader(interrupted), int64(len(interrupted)), p)
	if in == nil || in.Cut != ends[4] || in.Restart != cut {
		t.Fatalf("interruption %+v, want cut %d restart %d", in, ends[4], cut)
	}
	off, n, ok := stream.LastCompleteStream(bytes.NewReader(interrupted), int64(len(interrupted)))
	if !ok || off != cut || n != int64(len(whole)) {
		t.Errorf("salvage: ok %v at %d, %d bytes", ok, off, n)
	}
	if stream.FindInterruption(bytes.NewReader(whole), int64(len(whole)), stream.ResumePoint(bytes.NewReader(whole))) != nil {
		t.Error("an intact stream reported interrupted")
	}
}
