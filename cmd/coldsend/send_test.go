package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/klauspost/compress/zstd"
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
		args []string
		want string
	}{
		{[]string{"send", img, "nosuch"}, "nosuch"},
		{[]string{"send", "-p", "s1", img, "s2"}, "not yet supported"},
		{[]string{"send", "--proto", "2", img, "s2"}, "not yet supported"},
		{[]string{"send", "-f", "/nonexistent/dir/x", img, "s1"}, "no such file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			st, out, errOut := runCLI(tc.args...)
			if st != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "coldsend send:") != 1 {
				t.Errorf("status %d stdout %d bytes stderr %q, want one error line with %q", st, len(out), errOut, tc.want)
			}
		})
	}
}
