package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
	"github.com/coldsend/coldsend/stream"
)

// concatImage unpacks the kernel image the concat streams were sent from.
func concatImage(t *testing.T) string {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(readTestdata(t, "fs.img.zst")))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSendFraming: several subvolumes in one invocation, framed as btrfs
// send frames them with and without -e.
func TestSendFraming(t *testing.T) {
	img := concatImage(t)
	out := filepath.Join(t.TempDir(), "out.stream")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "-f", out, img, "s1", "s2"}, "noe.stream"},
		{[]string{"send", "-e", "-f", out, img, "s1", "s2"}, "e.stream"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			st, _, errOut := runCLI(tc.args...)
			if st != 0 {
				t.Fatalf("status %d: %s", st, errOut)
			}
			if errOut != "At subvol s1\nAt subvol s2\n" {
				t.Errorf("stderr %q", errOut)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if d := streamdiff.First(got, readTestdata(t, tc.want)); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	img := concatImage(t)
	for _, tc := range []struct {
		args   []string
		status int // 1 failure, 2 usage
		want   string
	}{
		{[]string{"send", img, "nosuch"}, 1, "nosuch"},
		{[]string{"send", "-p", "s1", "-p", "s2", img, "s2"}, 2, "more than one parent"},
		{[]string{"send", "-p", "nosuch", img, "s2"}, 1, "parent: nosuch"},
		{[]string{"send", "-c", "nosuch", img, "s2"}, 1, "clone source: nosuch"},
		{[]string{"send", "-c", "s1", img, "/"}, 1, "the top level (subvolume 5) has no name and cannot be sent"},
		{[]string{"send", img, "/"}, 1, "/: the top level (subvolume 5) has no name and cannot be sent"},
		{[]string{"send", img, "s1", "id:5"}, 1, "id:5: the top level (subvolume 5) has no name and cannot be sent"},
		{[]string{"send", "--proto", "3", img, "s2"}, 2, "--proto 3 is not supported"},
		{[]string{"send", "--proto", "7", img, "s2"}, 2, "unknown protocol version"},
		{[]string{"send", "--proto", "1", "--compressed-data", img, "s2"}, 2, "requires protocol version >= 2"},
		{[]string{"send", "-f", "/nonexistent/dir/x", img, "s1"}, 1, "no such file"},
		{[]string{"send", "--bogus", img, "s1"}, 2, "unknown flag: --bogus"},
		{[]string{"send", img}, 2, "wrong number of arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			st, out, errOut := runCLI(tc.args...)
			// Refused before any output: no "At subvol" line, no bytes.
			if st != tc.status || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || strings.Count(errOut, "coldsend send:") != 1 {
				t.Errorf("status %d stdout %d bytes stderr %q, want one error line with %q", st, len(out), errOut, tc.want)
			}
		})
	}
}

// TestSendIncremental: -p, and -c without -p (the parent picked among
// the clone sources as btrfs send does), against the kernel's stream.
func TestSendIncremental(t *testing.T) {
	img, _ := unpackFixture(t)
	streams, err := fixturestreams.Scenario(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, s := range streams {
		if s.Subvol == "vol.2" && s.Parent == "vol.1" && len(s.Clones) == 0 && s.Proto == 1 && !s.NoData {
			if want, err = s.Read(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want == nil {
		t.Fatal("no kernel stream of vol.2 from vol.1 in the fixture")
	}
	out := filepath.Join(t.TempDir(), "out.stream")
	for _, args := range [][]string{
		{"send", "-q", "-f", out, "-p", "vol.1", img, "vol.2"},
		{"send", "-q", "-f", out, "-c", "vol.1", img, "vol.2"},
	} {
		t.Run(strings.Join(args[4:6], " "), func(t *testing.T) {
			st, _, errOut := runCLI(args...)
			if st != 0 {
				t.Fatalf("status %d: %s", st, errOut)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if d := streamdiff.First(got, want); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestSendUnreadableData: a file whose data is bad on every copy ends the
// send with one line naming the file, the logical address and that the
// stream is incomplete; what was written has no END.
func TestSendUnreadableData(t *testing.T) {
	img, sv := unpackVol1(t)
	// The first regular extent of the subvolume, and a path of its inode.
	var ino, logical uint64
	var err error
	for it, ierr := range sv.Tree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err = ierr; err != nil {
			break
		}
		if it.Key.Type != ondisk.ExtentDataKey {
			continue
		}
		fe, perr := item.ParseFileExtent(it.Data)
		if perr == nil && fe.Type == item.FileExtentReg && fe.DiskBytenr != 0 {
			ino, logical = it.Key.ObjectID, fe.DiskBytenr
			break
		}
	}
	if err != nil || ino == 0 {
		t.Fatalf("no regular extent found: %v", err)
	}
	path, err := sv.InodePath(ino)
	if err != nil {
		t.Fatal(err)
	}
	damageEveryCopy(t, img, sv, logical, 0, []byte("damaged sector!"))
	out := filepath.Join(t.TempDir(), "out.stream")
	st, _, errOut := runCLI("send", "-q", "-f", out, img, "vol.1")
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if st != 1 || len(lines) != 1 {
		t.Fatalf("status %d stderr %q", st, errOut)
	}
	for _, want := range []string{strings.TrimPrefix(path, "/"), fmt.Sprint(logical), "incomplete"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not name %q", errOut, want)
		}
	}
	partial, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := stream.NewReader(bytes.NewReader(partial))
	for {
		c, err := r.Next()
		if err != nil {
			if !errors.Is(err, stream.ErrTruncated) {
				t.Errorf("partial stream: %v, want it to end without END", err)
			}
			break
		}
		if c.Cmd == stream.CmdEnd {
			t.Fatal("a failed send wrote END")
		}
	}
}

// TestSendCorruptMetadata: a leaf of the send root bad on every copy ends
// the send with one line naming its logical address, and no END.
func TestSendCorruptMetadata(t *testing.T) {
	img, sv := unpackVol1(t)
	// The last leaf: reached late in the walk, after output has started.
	c, err := sv.Tree.Last()
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := c.Leaf()
	if leaf.Level != 0 {
		t.Fatalf("last block has level %d", leaf.Level)
	}
	logical := leaf.Bytenr
	// Past the header: the checksum no longer matches.
	damageEveryCopy(t, img, sv, logical, 200, []byte("damaged item data"))
	out := filepath.Join(t.TempDir(), "out.stream")
	st, _, errOut := runCLI("send", "-q", "-f", out, img, "vol.1")
	if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, fmt.Sprint(logical)) {
		t.Fatalf("status %d stderr %q, want one line naming logical %d", st, errOut, logical)
	}
	partial, _ := os.ReadFile(out)
	if names := commandNames(partial); len(names) == 0 || bytes.Contains(names, []byte("end")) {
		t.Errorf("partial output holds %q: want some commands and no END", names)
	}
	t.Log(strings.TrimSpace(errOut))
}

// commandNames lists the commands of a partial stream, one per line.
func commandNames(partial []byte) []byte {
	var names bytes.Buffer
	r := stream.NewReader(bytes.NewReader(partial))
	for {
		c, err := r.Next()
		if err != nil {
			return names.Bytes()
		}
		names.WriteString(c.Cmd.String() + "\n")
	}
}

// TestSendProtocols: --proto and --compressed-data choose the kernel's
// streams of a compressed scenario (protocol 2 with and without encoded
// writes), as btrfs send chooses them.
func TestSendProtocols(t *testing.T) {
	dir := filepath.Join(fixturestreams.ImagesDir(), "compress-zstd")
	paths, err := imagefile.Unpack(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	streams, err := fixturestreams.Scenario(dir)
	if err != nil {
		t.Fatal(err)
	}
	kernel := func(proto int, compressed bool) fixturestreams.Stream {
		for _, s := range streams {
			if s.Parent == "" && len(s.Clones) == 0 && !s.NoData && s.Proto == proto && s.CompressedData == compressed {
				return s
			}
		}
		t.Fatalf("no full v%d stream (compressed data %v) in %s", proto, compressed, dir)
		return fixturestreams.Stream{}
	}
	out := filepath.Join(t.TempDir(), "out.stream")
	for _, tc := range []struct {
		flags []string
		want  fixturestreams.Stream
	}{
		{nil, kernel(1, false)},
		{[]string{"--proto", "2"}, kernel(2, false)},
		{[]string{"--proto", "0"}, kernel(2, false)},
		{[]string{"--compressed-data"}, kernel(2, true)},
		{[]string{"--proto", "0", "--compressed-data"}, kernel(2, true)},
	} {
		t.Run(strings.Join(append([]string{"flags"}, tc.flags...), " "), func(t *testing.T) {
			args := append(append([]string{"send", "-q", "-f", out}, tc.flags...), paths[0], tc.want.Subvol)
			if st, _, errOut := runCLI(args...); st != 0 {
				t.Fatalf("status %d: %s", st, errOut)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.want.Read()
			if err != nil {
				t.Fatal(err)
			}
			if d := streamdiff.First(got, want); d != "" {
				t.Errorf("against %s: %s", tc.want.File, d)
			}
		})
	}
}

// unpackVol1 unpacks the basic fixture and opens its snapshot vol.1.
func unpackVol1(t *testing.T) (string, *fstree.Subvol) {
	t.Helper()
	img, sc := unpackFixture(t)
	fs, err := fixturecheck.Open(fixtureDir, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := fs.ResolveSubvol("vol.1")
	if err != nil {
		t.Fatal(err)
	}
	return img, sv
}

// damageEveryCopy overwrites data at byte off of logical in every copy
// the image holds of it.
func damageEveryCopy(t *testing.T, img string, sv *fstree.Subvol, logical uint64, off int64, data []byte) {
	t.Helper()
	vol := sv.FS().Volume()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for mirror := range vol.NumCopies(volume.Logical(logical)) {
		_, phys, err := vol.MapPhysical(volume.Logical(logical), mirror)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, int64(phys)+off); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSendOutputError: a stream that cannot be written is blamed on the
// output, not on the file being sent when the write failed.
func TestSendOutputError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	img := concatImage(t)
	st, _, errOut := runCLI("send", "-q", "-f", "/dev/full", img, "s1")
	if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "coldsend send: writing the stream to /dev/full: ") ||
		!strings.Contains(errOut, "no space left on device") || strings.Contains(errOut, "inode") {
		t.Errorf("status %d, stderr %q", st, errOut)
	}
}
