package oracle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
	"github.com/coldsend/coldsend/stream/validate"
)

// otherTZ is a zone with a negative half-hour offset and daylight saving
// time, to check that dump renders times as btrfs-progs does outside UTC.
const otherTZ = "America/St_Johns"

// checkStreams compares coldsend's reading of every kernel stream of a
// freshly built scenario with btrfs-progs: the recorded `btrfs receive
// --dump` (TZ=UTC), a fresh dump in otherTZ, and the dump of all the
// streams concatenated; and validates each stream.
func checkStreams(ctx context.Context, dir string) (checked int, err error) {
	streams, err := fixturestreams.Scenario(dir)
	if err != nil {
		return 0, err
	}
	loc, err := time.LoadLocation(otherTZ)
	if err != nil {
		return 0, err
	}
	var all, perStream bytes.Buffer
	for _, s := range streams {
		data, err := s.Read()
		if err != nil {
			return checked, err
		}
		recorded, err := s.ReadDump()
		if err != nil {
			return checked, err
		}
		if err := sameDump(s.File+" (TZ=UTC)", coldsendDump(data, time.UTC, false), recorded); err != nil {
			return checked, err
		}
		progs, err := progsDump(ctx, data, otherTZ)
		if err != nil {
			return checked, fmt.Errorf("%s: %w", s.File, err)
		}
		if err := sameDump(s.File+" (TZ="+otherTZ+")", coldsendDump(data, loc, false), progs); err != nil {
			return checked, err
		}
		if _, err := validate.Stream(bytes.NewReader(data)); err != nil {
			return checked, fmt.Errorf("%s: coldsend validate: %w", s.File, err)
		}
		all.Write(data)
		perStream.Write(recorded)
		checked++
	}
	if len(streams) > 1 {
		// btrfs receive --dump prints only the first of concatenated
		// streams; coldsend dump prints them all, and --first matches it.
		progs, err := progsDump(ctx, all.Bytes(), "UTC")
		if err != nil {
			return checked, fmt.Errorf("concatenated streams: %w", err)
		}
		if err := sameDump("concatenated streams, --first", coldsendDump(all.Bytes(), time.UTC, true), progs); err != nil {
			return checked, err
		}
		if err := sameDump("concatenated streams, all", coldsendDump(all.Bytes(), time.UTC, false), perStream.Bytes()); err != nil {
			return checked, err
		}
	}
	return checked, nil
}

// coldsendDump renders data as `coldsend dump` (with --first when first).
func coldsendDump(data []byte, loc *time.Location, first bool) []byte {
	var out bytes.Buffer
	if _, err := dump.Copy(dump.NewText(&out, loc), stream.NewReader(bytes.NewReader(data)), first); err != nil {
		fmt.Fprintf(&out, "coldsend error: %v\n", err)
	}
	return out.Bytes()
}

func progsDump(ctx context.Context, data []byte, tz string) ([]byte, error) {
	f, err := os.CreateTemp("", "coldsend-oracle-*.stream")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "btrfs", "receive", "--dump", "-f", f.Name())
	cmd.Env = append(os.Environ(), "TZ="+tz)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("btrfs receive --dump: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// sameDump compares coldsend's dump (got) with btrfs-progs' (want).
func sameDump(what string, got, want []byte) error {
	if d := streamdiff.Lines(got, want); d != "" {
		return fmt.Errorf("%s: coldsend dump (got) differs from btrfs receive --dump (want) at %s", what, d)
	}
	return nil
}
