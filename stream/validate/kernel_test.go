package validate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/validate"
)

// TestKernelStreams validates every stream the kernel made for the fixture
// scenarios (full and incremental, v1 and v2, --no-data, compressed data,
// clones) and the incremental cases of testdata/make.sh: a receiver's
// model must follow them all without a false alarm.
func TestKernelStreams(t *testing.T) {
	all, err := fixturestreams.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 100 {
		t.Fatalf("only %d fixture streams found", len(all))
	}
	var cmds, incr int
	check := func(name string, data []byte) validate.Summary {
		sum, err := validate.Stream(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if sum.Bytes != int64(len(data)) || sum.Streams != 1 || len(sum.Subvolumes) == 0 {
			t.Errorf("%s: summary %+v for %d bytes", name, sum, len(data))
		}
		cmds += sum.Commands
		if c, err := stream.NewReader(bytes.NewReader(data)).Next(); err == nil && c.Cmd == stream.CmdSnapshot {
			incr++
		}
		return sum
	}
	for _, s := range all {
		data, err := s.Read()
		if err != nil {
			t.Fatal(err)
		}
		check(s.Name(), data)
	}
	local, err := filepath.Glob("testdata/*.stream")
	if err != nil || len(local) != 3 {
		t.Fatalf("testdata streams: %v %v", local, err)
	}
	for _, p := range local {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := check(p, data)
		if filepath.Base(p) == "multi.v2.stream" && strings.Join(sum.Subvolumes, " ") != "snap2 snap3" {
			t.Errorf("%s: subvolumes %q, want snap2 and snap3 in one stream", p, sum.Subvolumes)
		}
	}
	t.Logf("%d kernel streams (%d incremental), %d commands, no problem", len(all)+len(local), incr, cmds)
}
