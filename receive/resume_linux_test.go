package receive_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
)

// cutAt is a reader that fails after n bytes, as a receive whose process
// dies does not read on.
type cutAt struct {
	r io.Reader
	n int64
}

var errKilled = errors.New("killed")

func (c *cutAt) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errKilled
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// TestResumeReceive interrupts the receive of a full stream and of an
// incremental one on top of it at every command boundary and at random
// offsets inside commands, resumes it from its resume point with the rest
// of the stream (what send --resume-from writes), and compares the tree
// with an uninterrupted receive's.
func TestResumeReceive(t *testing.T) {
	const dir = "../fixtures/images/tiny/"
	full, err := os.ReadFile(dir + "vol.1.full.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	incr, err := os.ReadFile(dir + "vol.2.incr-vol.1.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second).UnixNano()
	want := t.TempDir()
	for _, s := range [][]byte{full, incr} {
		if _, err := receive.Receive(bytes.NewReader(s), want, receive.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	wantTree, err := treecmp.Record(filepath.Join(want, "vol.2"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	cuts := func(s []byte) []int64 {
		var out []int64
		r := stream.NewReader(bytes.NewReader(s))
		for {
			c, err := r.Next()
			if err != nil {
				break
			}
			out = append(out, c.Offset, c.Offset+1+rng.Int64N(int64(c.Size())-1))
		}
		return out
	}
	trials := 0
	for which, s := range [][]byte{full, incr} {
		for _, cut := range cuts(s) {
			dest := t.TempDir()
			if which == 1 {
				if _, err := receive.Receive(bytes.NewReader(full), dest, receive.Options{}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := receive.Receive(&cutAt{bytes.NewReader(s), cut}, dest, receive.Options{})
			if err == nil {
				t.Fatalf("stream %d cut at %d: no error", which, cut)
			}
			n, ok, err := receive.ResumePoint(dest)
			if err != nil {
				t.Fatalf("stream %d cut at %d: resume point: %v", which, cut, err)
			}
			// Nothing to resume (cut before the first command was
			// applied): receive anew.
			opts := receive.Options{Resume: ok}
			if _, err := receive.Receive(bytes.NewReader(s[n:]), dest, opts); err != nil {
				t.Fatalf("stream %d cut at %d, resumed (%v) from %d: %v", which, cut, ok, n, err)
			}
			if which == 0 {
				if _, err := receive.Receive(bytes.NewReader(incr), dest, receive.Options{}); err != nil {
					t.Fatalf("incremental after the resumed full: %v", err)
				}
			}
			got, err := treecmp.Record(filepath.Join(dest, "vol.2"))
			if err != nil {
				t.Fatal(err)
			}
			if d := treecmp.Diff(wantTree, got, treecmp.Options{Fresh: start, FreshBoth: true}, 5); len(d) > 0 {
				t.Fatalf("stream %d cut at %d, resumed from %d:\n%s", which, cut, n, strings.Join(d, "\n"))
			}
			if _, err := os.Stat(filepath.Join(dest, receive.ProgressName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the progress record outlived the receive: %v", err)
			}
			trials++
		}
	}
	t.Logf("%d interrupted receives resumed to the uninterrupted tree", trials)
	// The wrong stream is refused.
	dest := t.TempDir()
	receive.Receive(&cutAt{bytes.NewReader(full), int64(len(full) / 2)}, dest, receive.Options{})
	n, _, _ := receive.ResumePoint(dest)
	other, err := os.ReadFile(dir + "vol.2.full.v2.6.18.44-fc-v1272.stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receive.Receive(bytes.NewReader(other[n:]), dest, receive.Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "does not continue") {
		t.Errorf("resumed with another stream: %v", err)
	}
}
