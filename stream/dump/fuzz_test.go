package dump_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// FuzzText feeds arbitrary input through Reader to Text (in a zone with
// summer time and local mean time) and JSON: whatever decodes must print
// without panicking; JSON refuses only paths over PATH_MAX.
func FuzzText(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.stream")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) <= 8<<10 {
			f.Add(data)
		}
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := stream.NewReader(bytes.NewReader(data))
		txt := dump.NewText(io.Discard, loc)
		js := dump.NewJSON(io.Discard)
		for {
			c, err := r.Next()
			if err != nil {
				break
			}
			_ = txt.Command(c)
			if err := js.Command(c); err != nil && !errors.Is(err, dump.ErrPathTooLong) {
				t.Fatal(err)
			}
		}
		if err := txt.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := js.Flush(); err != nil {
			t.Fatal(err)
		}
	})
}
