package sendgen_test

// BenchmarkIncrementalSend measures an incremental send when little
// changed: the same seven changes between two snapshots of a
// 200,000-file subvolume and of a 2,000,000-file one. coldsend runs as a
// whole process (start-up, opening the image, comparing the trees,
// writing the stream), the kernel as `btrfs send -p` on a fresh read-only
// mount (mounting outside the timer); both read the image from the page
// cache. Before timing, coldsend's stream is checked against the kernel's,
// recorded when the image was built.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/internal/benchimage"
)

var incrImages = []*benchimage.Spec{benchimage.IncrImage(200_000), benchimage.IncrImage(2_000_000)}

func BenchmarkIncrementalSend(b *testing.B) {
	bin := buildCLI(b)
	for _, spec := range incrImages {
		b.Run(spec.Name, func(b *testing.B) {
			img, st := benchimage.Cached(b, spec)
			if len(st.Streams) != 1 {
				b.Fatalf("%s: the stamp records %d kernel streams, want 1", img, len(st.Streams))
			}
			want := st.Streams[0]
			b.Run("coldsend", func(b *testing.B) {
				send := func() *exec.Cmd {
					return exec.Command(bin, "send", "-q", "-p", "a", img, "b")
				}
				out, err := send().Output()
				if ee, ok := err.(*exec.ExitError); ok {
					b.Fatalf("coldsend send -p: %v: %s", err, bytes.TrimSpace(ee.Stderr))
				} else if err != nil {
					b.Fatalf("coldsend send -p: %v", err)
				}
				if sum := sha256.Sum256(out); int64(len(out)) != want.Size || hex.EncodeToString(sum[:]) != want.SHA256 {
					b.Fatalf("coldsend's stream (%d bytes) differs from the kernel's %s (%d bytes)", len(out), want.Name, want.Size)
				}
				for b.Loop() {
					cmd := send()
					if err := cmd.Run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/send")
				benchimage.RecordColdsend(b)
			})
			b.Run("kernel", func(b *testing.B) {
				switch {
				case os.Geteuid() != 0:
					b.Skip("the kernel's figure needs root to mount the image (mount -o loop)")
				case !benchimage.HaveCommand("btrfs"):
					b.Skip("the kernel's figure needs btrfs (btrfs-progs) in PATH")
				}
				for b.Loop() {
					b.StopTimer()
					err := benchimage.WithMount(img, "ro", func(mnt string) error {
						b.StartTimer()
						defer b.StopTimer()
						return benchimage.Run("btrfs", "send", "-q", "-f", os.DevNull, "-p", filepath.Join(mnt, "a"), filepath.Join(mnt, "b"))
					})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/send")
				benchimage.ReportKernelRatio(b)
			})
		})
	}
}
