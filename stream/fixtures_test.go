package stream_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/stream"
)

// TestKernelStreamsRoundTrip decodes every committed kernel stream and
// re-encodes each command with Writer: the bytes must come out identical.
func TestKernelStreamsRoundTrip(t *testing.T) {
	all, err := fixturestreams.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 100 {
		t.Fatalf("only %d fixture streams found", len(all))
	}
	var cmds int
	for _, fs := range all {
		data, err := fs.Read()
		if err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(bytes.NewReader(data))
		var out bytes.Buffer
		var w *stream.Writer
		var last stream.Cmd
		for {
			c, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", fs.Name(), err)
			}
			if w == nil {
				if c.Version != uint32(fs.Proto) {
					t.Errorf("%s: version %d, manifest says %d", fs.Name(), c.Version, fs.Proto)
				}
				if w, err = stream.NewWriter(&out, c.Version); err != nil {
					t.Fatal(err)
				}
				if err := w.WriteHeader(); err != nil {
					t.Fatal(err)
				}
			}
			if c.Duplicates != 0 {
				t.Errorf("%s: command %d has duplicate attributes", fs.Name(), c.Index)
			}
			if c.Size() > stream.MaxCommandSize(c.Version) {
				t.Errorf("%s: command %d is %d bytes, over the v%d limit", fs.Name(), c.Index, c.Size(), c.Version)
			}
			if err := w.WriteCommand(c); err != nil {
				t.Fatalf("%s: re-encoding: %v", fs.Name(), err)
			}
			last = c.Cmd
			cmds++
		}
		if last != stream.CmdEnd {
			t.Errorf("%s: last command %s", fs.Name(), last)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Errorf("%s: re-encoded stream differs (%d vs %d bytes)", fs.Name(), out.Len(), len(data))
		}
	}
	t.Logf("%d streams, %d commands re-encoded byte for byte", len(all), cmds)
}
