package receive_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
)

// record reads the destination's record.
func record(t *testing.T, dest string) []receive.Received {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dest, receive.RecordName))
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Subvolumes []receive.Received }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Subvolumes
}

func snapshotOf(name string, parent stream.UUID, uuid stream.UUID) cmd {
	return cmd{stream.CmdSnapshot, []attr{{stream.AttrPath, name}, {stream.AttrUUID, uuid}, {stream.AttrCtransid, uint64(9)},
		{stream.AttrCloneUUID, parent}, {stream.AttrCloneCtransid, uint64(7)}}}
}

// TestIncomplete: a stream cut short leaves its subvolume marked
// incomplete, and a snapshot on top of it is refused; a bad CRC stops
// before the command is applied.
func TestIncomplete(t *testing.T) {
	dest := t.TempDir()
	whole := build(t, subvol("s"), mkfile("a"), write("a", "hello"), mkfile("b"), end())
	cut := whole[:len(whole)-20]
	_, err := receive.Receive(bytes.NewReader(cut), dest, receive.Options{})
	if err == nil || !strings.Contains(err.Error(), "left marked incomplete") {
		t.Fatalf("cut stream: %v", err)
	}
	if r := record(t, dest); len(r) != 1 || r[0].Complete || r[0].Name != "s" {
		t.Fatalf("record after a cut stream: %+v", r)
	}
	_, err = receive.Receive(bytes.NewReader(build(t, snapshotOf("s2", uuidA, uuidB), end())), dest, receive.Options{})
	if err == nil || !strings.Contains(err.Error(), "holds an interrupted receive of s: resume it") {
		t.Errorf("receiving anew over an interrupted receive: %v", err)
	}
	// Without its progress record, the incomplete subvolume is still
	// no parent.
	os.Remove(filepath.Join(dest, receive.ProgressName))
	_, err = receive.Receive(bytes.NewReader(build(t, snapshotOf("s2", uuidA, uuidB), end())), dest, receive.Options{})
	if err == nil || !strings.Contains(err.Error(), "did not complete") {
		t.Errorf("snapshot of an incomplete parent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "s2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("s2 made anyway: %v", err)
	}

	dest = t.TempDir()
	bad := bytes.Clone(whole)
	// The WRITE is the third command; flip a byte of its data.
	i := bytes.Index(bad, []byte("hello"))
	bad[i] ^= 0xff
	_, err = receive.Receive(bytes.NewReader(bad), dest, receive.Options{})
	var se *stream.Error
	if !errors.As(err, &se) || se.Index != 3 || !errors.Is(err, stream.ErrCRC) {
		t.Fatalf("bad crc: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "s", "a")); err != nil || len(b) != 0 {
		t.Errorf("the command with the bad crc was applied: %q %v", b, err)
	}
}

// TestChainAndConcatenated: concatenated streams are all received; with
// Chain (-e) the first END ends the receive.
func TestChainAndConcatenated(t *testing.T) {
	two := append(build(t, subvol("s"), mkfile("a"), end()), build(t, cmd{stream.CmdSubvol, []attr{{stream.AttrPath, "t"}, {stream.AttrUUID, uuidB}, {stream.AttrCtransid, uint64(3)}}}, end())...)
	for _, tc := range []struct {
		chain bool
		want  []string
	}{{false, []string{"s", "t"}}, {true, []string{"s"}}} {
		dest := t.TempDir()
		sum, err := receive.Receive(bytes.NewReader(two), dest, receive.Options{Chain: tc.chain})
		if err != nil || strings.Join(sum.Subvolumes, ",") != strings.Join(tc.want, ",") {
			t.Errorf("chain %v: %v, %v", tc.chain, sum.Subvolumes, err)
		}
	}
}

// TestInPlace: --in-place turns the parent's directory into the snapshot.
func TestInPlace(t *testing.T) {
	dest := t.TempDir()
	if _, err := receive.Receive(bytes.NewReader(build(t, subvol("s"), mkfile("a"), write("a", "v1"), end())), dest, receive.Options{}); err != nil {
		t.Fatal(err)
	}
	incr := build(t, snapshotOf("s.1", uuidA, uuidB), write("a", "v2"), end())
	if _, err := receive.Receive(bytes.NewReader(incr), dest, receive.Options{InPlace: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dest, "s")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the parent is still there: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "s.1", "a")); string(b) != "v2" {
		t.Errorf("s.1/a = %q", b)
	}
	if r := record(t, dest); len(r) != 1 || r[0].Name != "s.1" || !r[0].Complete {
		t.Errorf("record: %+v", r)
	}
}

// TestExisting: a subvolume name that exists in the destination is
// refused, nothing changed.
func TestExisting(t *testing.T) {
	dest := t.TempDir()
	os.Mkdir(filepath.Join(dest, "s"), 0o755)
	_, err := receive.Receive(bytes.NewReader(build(t, subvol("s"), end())), dest, receive.Options{})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("%v", err)
	}
}

// TestNoDataStream: UPDATE_EXTENT of a --no-data stream is counted, not
// an error.
func TestNoDataStream(t *testing.T) {
	dest := t.TempDir()
	s := build(t, subvol("s"), mkfile("a"), cmd{stream.CmdUpdateExtent, []attr{{stream.AttrPath, "a"}, {stream.AttrFileOffset, uint64(0)}, {stream.AttrSize, uint64(4096)}}}, end())
	sum, err := receive.Receive(bytes.NewReader(s), dest, receive.Options{Strict: true})
	if err != nil || sum.Skipped[receive.SkipUpdateExtent] != 1 {
		t.Errorf("%v, %v", sum.Lines(), err)
	}
}

// TestStrictXattrSize: an xattr value the destination refuses as too
// large is summed up, or with Strict an error.
func TestStrictXattrSize(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 65000)
	probe := filepath.Join(t.TempDir(), "probe")
	os.WriteFile(probe, nil, 0o644)
	if setXattr(probe, "user.big", big) == nil {
		t.Skip("this filesystem stores a 65000-byte xattr: nothing to refuse")
	}
	s := build(t, subvol("s"), mkfile("a"), cmd{stream.CmdSetXattr, []attr{{stream.AttrPath, "a"}, {stream.AttrXattrName, "user.big"}, {stream.AttrXattrData, big}}}, end())
	sum, err := receive.Receive(bytes.NewReader(s), t.TempDir(), receive.Options{})
	if err != nil || sum.Skipped[receive.SkipXattrSize] != 1 || len(sum.Details) != 1 || sum.Details[0].Xattr != "user.big" {
		t.Errorf("lenient: %v, %+v, %v", sum.Lines(), sum.Details, err)
	}
	_, err = receive.Receive(bytes.NewReader(s), t.TempDir(), receive.Options{Strict: true})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("strict: %v", err)
	}
}

// TestSendDashE: a btrfs send -e stream (subvolumes joined with one END)
// gives the same trees and record as the two streams of btrfs send a b.
func TestSendDashE(t *testing.T) {
	const dir = "../internal/cli/testdata/concat/"
	trees := map[string]string{}
	for _, name := range []string{"e.stream", "noe.stream"} {
		dest := t.TempDir()
		b, err := os.ReadFile(dir + name)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := receive.Receive(bytes.NewReader(b), dest, receive.Options{})
		if err != nil || strings.Join(sum.Subvolumes, ",") != "s1,s2" {
			t.Fatalf("%s: %v, %v", name, sum.Subvolumes, err)
		}
		for _, r := range record(t, dest) {
			if !r.Complete {
				t.Errorf("%s: %s incomplete", name, r.Name)
			}
		}
		var listing strings.Builder
		filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
			if err == nil && p != dest && filepath.Base(p) != receive.RecordName {
				rel, _ := filepath.Rel(dest, p)
				content := ""
				if fi.Mode().IsRegular() {
					c, _ := os.ReadFile(p)
					content = string(c)
				}
				listing.WriteString(rel + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + content + "\n")
			}
			return nil
		})
		trees[name] = listing.String()
	}
	if trees["e.stream"] != trees["noe.stream"] {
		t.Errorf("-e:\n%s\nseparate streams:\n%s", trees["e.stream"], trees["noe.stream"])
	}
}
