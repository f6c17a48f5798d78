package dump_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// The zones testdata/make.sh dumps in, by file tag.
var zones = []struct{ tag, name string }{
	{"utc", "UTC"},
	{"new_york", "America/New_York"},
	{"kolkata", "Asia/Kolkata"},
	{"lord_howe", "Australia/Lord_Howe"},
	{"santiago", "America/Santiago"},
}

// progsVersion is the btrfs-progs release the recordings come from.
const progsVersion = "btrfs-progs v6.2"

var timeValue = regexp.MustCompile(`failed to convert time (-?[0-9]+\.[0-9]+) to local time`)

// TestSynthetic prints the streams of testdata (made by make.go) and
// compares the output with what `btrfs receive --dump` of btrfs-progs v6.2
// printed for them in each zone (recorded by make.sh). Where the tool
// failed, Text must fail on the same command, for the same reason, after
// printing the same lines.
func TestSynthetic(t *testing.T) {
	v, err := os.ReadFile("testdata/btrfs-version.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(v)); got != progsVersion {
		t.Fatalf("recordings are from %q, want %q", got, progsVersion)
	}
	streams, err := filepath.Glob("testdata/*.stream")
	if err != nil || len(streams) < 20 {
		t.Fatalf("%d streams in testdata (%v)", len(streams), err)
	}
	var runs, failures, lines int
	for _, path := range streams {
		name := strings.TrimSuffix(filepath.Base(path), ".stream")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zones {
			want, err := os.ReadFile(recording(name, z.tag, "dump"))
			if errors.Is(err, os.ErrNotExist) && z.tag != "utc" {
				continue // dumped in UTC only: no times in it
			}
			if err != nil {
				t.Fatal(err)
			}
			status, err := os.ReadFile(recording(name, z.tag, "status"))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			loc, err := time.LoadLocation(z.name)
			if err != nil {
				t.Fatal(err)
			}
			id := name + " TZ=" + z.name
			runs++

			switch name {
			case "concat":
				// progs stops after the first stream; Text goes on with
				// the second, which concat-2 holds alone.
				second, err := os.ReadFile(recording("concat-2", z.tag, "dump"))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, second...)
			case "verity-v3":
				// progs 6.2 refuses v3; Text prints it as progs prints
				// the same commands in a v2 stream.
				if !bytes.Contains(status, []byte("stream version 3 not supported")) {
					t.Errorf("%s: progs was expected to refuse v3, status %q", id, status)
				}
				status = nil
				if want, err = os.ReadFile(recording("verity-v2", z.tag, "dump")); err != nil {
					t.Fatal(err)
				}
			}

			got, _, err := textDump(data, loc)
			lines += bytes.Count(want, []byte{'\n'})
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from btrfs receive --dump:\n%s", id, streamdiff.Lines(got, want))
			}
			switch {
			case len(status) == 0:
				if err != nil {
					t.Errorf("%s: progs succeeded, Text failed: %v", id, err)
				}
			case bytes.Contains(status, []byte("path invalid")):
				failures++
				if !errors.Is(err, dump.ErrPathTooLong) {
					t.Errorf("%s: progs failed on a path (%.60q), Text: %v", id, status, err)
				}
			case timeValue.Match(status):
				failures++
				v := timeValue.FindSubmatch(status)[1]
				if !errors.Is(err, dump.ErrTimeRange) || !strings.Contains(err.Error(), " "+string(v)) {
					t.Errorf("%s: progs failed on time %s, Text: %v", id, v, err)
				}
			default:
				t.Errorf("%s: unexpected progs status %q", id, status)
			}
		}
	}
	t.Logf("%d streams, %d dumps (%d where progs fails), %d lines identical to %s",
		len(streams), runs, failures, lines, progsVersion)
}

func recording(name, tag, ext string) string {
	return filepath.Join("testdata", name+"."+tag+"."+ext)
}

// TestPathMaxSameInEveryFormat checks that JSON refuses exactly the
// commands Text refuses for PATH_MAX, with the same error, on every
// synthetic stream: a path no receiver can hold stops every format.
func TestPathMaxSameInEveryFormat(t *testing.T) {
	streams, err := filepath.Glob("testdata/*.stream")
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, path := range streams {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, textCmds, textErr := textDump(data, time.UTC)
		if textErr != nil && !errors.Is(textErr, dump.ErrPathTooLong) {
			continue // a time Text cannot print: JSON prints numbers
		}
		var buf bytes.Buffer
		jsonCmds, jsonErr := dump.Copy(dump.NewJSON(&buf), stream.NewReader(bytes.NewReader(data)), false)
		if errors.Is(textErr, dump.ErrPathTooLong) {
			refused++
		}
		if jsonCmds != textCmds || fmt.Sprint(jsonErr) != fmt.Sprint(textErr) {
			t.Errorf("%s: Text printed %d commands and stopped with %v; JSON %d and %v", path, textCmds, textErr, jsonCmds, jsonErr)
		}
	}
	if refused == 0 {
		t.Fatal("no synthetic stream has a path over PATH_MAX")
	}
	t.Logf("%d streams refused at the same command in both formats", refused)
}
