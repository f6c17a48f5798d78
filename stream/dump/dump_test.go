package dump_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// textDump decodes data and prints it with Text until the end of the input
// or the first error (decoding or printing).
func textDump(data []byte, loc *time.Location) (out []byte, cmds int, err error) {
	var buf bytes.Buffer
	cmds, err = dump.Copy(dump.NewText(&buf, loc), stream.NewReader(bytes.NewReader(data)), false)
	return buf.Bytes(), cmds, err
}

// TestKernelStreams prints every committed kernel stream and compares the
// output with what `btrfs receive --dump` (btrfs-progs v6.2, TZ=UTC)
// printed for it when the fixture was made.
func TestKernelStreams(t *testing.T) {
	all, err := fixturestreams.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 100 {
		t.Fatalf("only %d fixture streams found", len(all))
	}
	var cmds, lines int
	for _, fs := range all {
		data, err := fs.Read()
		if err != nil {
			t.Fatal(err)
		}
		want, err := fs.ReadDump()
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := textDump(data, time.UTC)
		if err != nil {
			t.Errorf("%s: %v", fs.Name(), err)
			continue
		}
		cmds += n
		lines += bytes.Count(want, []byte{'\n'})
		if !bytes.Equal(got, want) {
			t.Errorf("%s: output differs from btrfs receive --dump:\n%s", fs.Name(), streamdiff.Lines(got, want))
		}
	}
	t.Logf("%d streams, %d commands, %d lines identical to btrfs-progs v6.2", len(all), cmds, lines)
}
