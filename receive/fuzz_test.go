package receive_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/receive"
)

// FuzzReceive applies arbitrary streams under a destination beside a
// canary: no panic, and nothing outside the destination changes.
func FuzzReceive(f *testing.F) {
	for _, p := range []string{"../fixtures/images/tiny/vol.1.full.v1.6.18.44-fc-v1272.stream", "../fixtures/images/tiny/vol.2.full.v2.6.18.44-fc-v1272.stream"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	t := &testing.T{}
	f.Add(build(t, subvol("s"), symlink("esc", "../../canary"), write("esc/secret", "x"), end()))
	f.Add(build(t, subvol("s"), mkfile("a"), write("a", "data"), mkdir("d"), end()))
	f.Fuzz(func(t *testing.T, data []byte) {
		// On tmpfs where there is one: the record's fsyncs cost nothing.
		parent := destDir(t)
		c := newCanary(t, parent)
		dest := filepath.Join(parent, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		receive.Receive(bytes.NewReader(data), dest, receive.Options{})
		if got := c.snapshot(t); got != c.state {
			t.Fatalf("the canary changed:\n%s\nwas:\n%s", got, c.state)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 2 {
			t.Fatalf("%d entries beside the destination", len(entries))
		}
	})
}
