package sendgen_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk/volume"
	"github.com/coldsend/coldsend/sendgen"
)

func openFixture(t *testing.T, name string) *fstree.FS {
	t.Helper()
	dev, err := imagefile.Load(filepath.Join(fixturestreams.ImagesDir(), name, "dev0.img.zst"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

// TestSendOutputError: a failed write is an *OutputError, not blamed on
// the inode being sent.
func TestSendOutputError(t *testing.T) {
	fs := openFixture(t, "tiny")
	sv, err := fs.ResolveSubvol("vol.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []int{0, 17, 5000} {
		err := sendgen.Send(&failingWriter{n: after}, sv, sendgen.Options{})
		var oe *sendgen.OutputError
		if !errors.As(err, &oe) || !errors.Is(err, errDiskFull) || strings.Contains(err.Error(), "inode") {
			t.Errorf("failing after %d bytes: %v", after, err)
		}
	}
}

// TestSendManyChains checks SendMany against the kernel's streams of the
// tiny fixture: two subvolumes as two whole streams, and chained with
// -e framing, each the kernel's full send followed by the next.
func TestSendManyChains(t *testing.T) {
	fs := openFixture(t, "tiny")
	var subvols []*fstree.Subvol
	for _, p := range []string{"vol.1", "vol.2"} {
		sv, err := fs.ResolveSubvol(p)
		if err != nil {
			t.Fatal(err)
		}
		subvols = append(subvols, sv)
	}
	var one bytes.Buffer
	for _, sv := range subvols {
		if err := sendgen.Send(&one, sv, sendgen.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	var many bytes.Buffer
	var before []int
	if err := sendgen.SendMany(&many, subvols, sendgen.ManyOptions{Before: func(i int) { before = append(before, i) }}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), many.Bytes()) || len(before) != 2 {
		t.Errorf("SendMany differs from two Sends (%d and %d bytes), Before calls %v", many.Len(), one.Len(), before)
	}
	var chained bytes.Buffer
	if err := sendgen.SendMany(&chained, subvols, sendgen.ManyOptions{Chain: true}); err != nil {
		t.Fatal(err)
	}
	// -e drops the second header (17 bytes) and the first END (10 bytes).
	if chained.Len() != one.Len()-17-10 {
		t.Errorf("chained stream is %d bytes, want %d", chained.Len(), one.Len()-27)
	}
	top, err := fs.ResolveSubvol("/")
	if err != nil {
		t.Fatal(err)
	}
	var none bytes.Buffer
	err = sendgen.SendMany(&none, []*fstree.Subvol{subvols[0], top}, sendgen.ManyOptions{})
	var me *sendgen.ManyError
	if !errors.As(err, &me) || me.Index != 1 || none.Len() != 0 {
		t.Fatalf("sending the top level: %v after %d bytes", err, none.Len())
	}
	if !strings.HasPrefix(err.Error(), "subvolume 2 of the send: ") || errors.Unwrap(err) != me.Err || me.Err == nil {
		t.Errorf("ManyError %q unwraps to %v", err, errors.Unwrap(err))
	}
}
