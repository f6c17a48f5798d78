package stream_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/stream"
)

// FuzzReader decodes arbitrary input. It must never panic, every error must
// be an *Error (or io.EOF), and every command decoded must re-encode to the
// exact bytes it came from.
func FuzzReader(f *testing.F) {
	f.Add([]byte(stream.Magic + "\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := stream.NewReader(bytes.NewReader(data))
		r.SetMaxCommandSize(1 << 20)
		var w *stream.Writer
		var out bytes.Buffer
		for {
			c, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var se *stream.Error
				if !errors.As(err, &se) {
					t.Fatalf("%v is not a *stream.Error", err)
				}
				return
			}
			if w == nil || w.Version() != c.Version {
				w, _ = stream.NewWriter(&out, c.Version)
			}
			if c.Duplicates > 0 || c.Size() > stream.MaxCommandSize(c.Version) || c.Cmd.Version() > c.Version || newerAttr(c) {
				continue
			}
			out.Reset()
			if err := w.WriteCommand(c); err != nil {
				t.Fatalf("command %d (%s) decoded but does not re-encode: %v", c.Index, c.Cmd, err)
			}
			if orig := data[c.Offset : c.Offset+int64(c.Size())]; !bytes.Equal(out.Bytes(), orig) {
				t.Fatalf("command %d (%s) re-encodes differently", c.Index, c.Cmd)
			}
		}
	})
}

func newerAttr(c *stream.Command) bool {
	for _, a := range c.Attrs() {
		if a.Version() > c.Version {
			return true
		}
	}
	return false
}

// corpusDir holds FuzzReader's committed seeds, cut from kernel streams.
const corpusDir = "testdata/fuzz/FuzzReader"

// TestFuzzCorpusFromKernelStreams checks that the committed seed corpus is
// exactly what kernelSeeds derives from the fixture streams; with
// COLDSEND_UPDATE_CORPUS=1 it rewrites the corpus instead.
func TestFuzzCorpusFromKernelStreams(t *testing.T) {
	seeds, err := kernelSeeds()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for name, data := range seeds {
		want[name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	}
	if os.Getenv("COLDSEND_UPDATE_CORPUS") == "1" {
		if err := os.RemoveAll(corpusDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range want {
			if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d seeds", len(want))
		return
	}
	ents, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatalf("%v (run with COLDSEND_UPDATE_CORPUS=1 to create it)", err)
	}
	if len(ents) != len(want) {
		t.Errorf("%d committed seeds, %d derived", len(ents), len(want))
	}
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil || string(got) != text {
			t.Errorf("seed %s differs from the kernel streams (run with COLDSEND_UPDATE_CORPUS=1)", name)
		}
	}
}

// corpusScenarios are the fixture scenarios the seeds are cut from: a fixed
// list, so that adding a scenario leaves the corpus alone. Between them
// their streams hold every command the kernel emits in protocols 1 and 2.
var corpusScenarios = []string{"basic", "blake2-holes", "compress-zstd", "reflink", "renames-oddnames", "subvols"}

// kernelSeeds cuts small inputs out of the fixture streams: for every
// (version, command) pair the kernel emitted, the stream header, the first
// such command under 8 KiB and END; plus the first 4 KiB of a few streams
// (a truncated stream, as seeds for the error paths).
func kernelSeeds() (map[string][]byte, error) {
	var all []fixturestreams.Stream
	for _, name := range corpusScenarios {
		st, err := fixturestreams.Scenario(filepath.Join(fixturestreams.ImagesDir(), name))
		if err != nil {
			return nil, err
		}
		all = append(all, st...)
	}
	seeds := map[string][]byte{}
	for i, fs := range all {
		data, err := fs.Read()
		if err != nil {
			return nil, err
		}
		if i%30 == 0 {
			seeds[fmt.Sprintf("prefix-%s-%s", fs.Scenario, fs.File[:min(len(fs.File), 24)])] = data[:min(len(data), 4096)]
		}
		r := stream.NewReader(bytes.NewReader(data))
		var end []byte
		type pick struct {
			name      string
			off, size int
		}
		var picks []pick
		for {
			c, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fs.Name(), err)
			}
			if c.Cmd == stream.CmdEnd {
				end = data[c.Offset : c.Offset+int64(c.Size())]
				continue
			}
			name := fmt.Sprintf("v%d-%s", c.Version, c.Cmd)
			if _, ok := seeds[name]; ok || c.Size() > 8192 {
				continue
			}
			seeds[name] = nil
			picks = append(picks, pick{name, int(c.Offset), c.Size()})
		}
		for _, p := range picks {
			seeds[p.name] = bytes.Join([][]byte{data[:stream.HeaderSize], data[p.off : p.off+p.size], end}, nil)
		}
	}
	return seeds, nil
}
