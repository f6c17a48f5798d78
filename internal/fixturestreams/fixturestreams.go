package fixturestreams

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/klauspost/compress/zstd"
)

// Stream is one committed kernel stream.
type Stream struct {
	Scenario string // scenario directory name
	Dir      string // scenario directory
	manifest.Stream
}

// Name identifies the stream in test output.
func (s Stream) Name() string { return s.Scenario + "/" + s.File }

// Path returns the stream file's path.
func (s Stream) Path() string { return filepath.Join(s.Dir, s.File) }

// DumpPath returns the path of the btrfs receive --dump output.
func (s Stream) DumpPath() string { return filepath.Join(s.Dir, s.Dump) }

// ImagesDir returns fixtures/images in this checkout.
func ImagesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "fixtures", "images")
}

// All lists every stream of every committed scenario, in a stable order.
func All() ([]Stream, error) {
	return In(ImagesDir())
}

// In lists every stream of every scenario under dir.
func In(dir string) ([]Stream, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Stream
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sd := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sd, manifest.FileName)); err != nil {
			continue
		}
		st, err := Scenario(sd)
		if err != nil {
			return nil, err
		}
		out = append(out, st...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Scenario lists the streams of the one scenario in dir, in manifest order.
func Scenario(dir string) ([]Stream, error) {
	sc, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	var out []Stream
	for _, st := range sc.Streams {
		out = append(out, Stream{Scenario: filepath.Base(dir), Dir: dir, Stream: st})
	}
	return out, nil
}

// Read returns the uncompressed stream bytes, checked against the
// manifest's size and sha256.
func (s Stream) Read() ([]byte, error) {
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		return nil, err
	}
	data := raw
	if filepath.Ext(s.File) == ".zst" {
		d, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		if data, err = io.ReadAll(d); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != s.Size || hex.EncodeToString(sum[:]) != s.SHA256 {
		return nil, fmt.Errorf("%s: %d bytes sha256 %x, manifest says %d bytes %s", s.Name(), len(data), sum, s.Size, s.SHA256)
	}
	return data, nil
}

// ReadDump returns the btrfs receive --dump output recorded for the stream.
func (s Stream) ReadDump() ([]byte, error) {
	return os.ReadFile(s.DumpPath())
}
