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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coldsend/coldsend/internal/benchimage"
)

func incrImage(files int) *benchimage.Spec {
	return &benchimage.Spec{
		Name: fmt.Sprintf("incr-%dk", files/1000),
		Size: 16 << 30,
		Mkfs: []string{"-m", "single"},
		Fill: func(mnt string, st *benchimage.Stamp) error { return fillIncr(mnt, st, files) },
	}
}

var incrImages = []*benchimage.Spec{incrImage(200_000), incrImage(2_000_000)}

// incrChanges are the changes between snapshots a and b, whatever the
// subvolume's size.
var incrChanges = []func(vol string) error{
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0000/f000"), bytes.Repeat([]byte("changed "), 1000), 0o644)
	},
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0001/f500"), []byte("rewritten\n"), 0o644)
	},
	func(vol string) error {
		return os.Rename(filepath.Join(vol, "d0002/f001"), filepath.Join(vol, "d0003/moved"))
	},
	func(vol string) error { return os.Remove(filepath.Join(vol, "d0004/f002")) },
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0005/new"), []byte("new file\n"), 0o644)
	},
	func(vol string) error { return os.Chmod(filepath.Join(vol, "d0006/f003"), 0o600) },
	func(vol string) error { return os.Mkdir(filepath.Join(vol, "d0007/newdir"), 0o755) },
}

// fillIncr writes files small inline files in directories of 1000 (two
// writers), snapshots "a", makes incrChanges, snapshots "b" and records
// the kernel's `btrfs send -p a b`.
func fillIncr(mnt string, st *benchimage.Stamp, files int) error {
	vol := filepath.Join(mnt, "vol")
	if err := benchimage.Run("btrfs", "subvolume", "create", vol); err != nil {
		return err
	}
	dirs := files / 1000
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := w; d < dirs && errs[w] == nil; d += 2 {
				dir := filepath.Join(vol, fmt.Sprintf("d%04d", d))
				if errs[w] = os.Mkdir(dir, 0o755); errs[w] != nil {
					return
				}
				for f := range 1000 {
					if errs[w] = os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte("thirty-two bytes of file data..\n"), 0o644); errs[w] != nil {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	st.Inodes = 1 + files + dirs
	snap := func(name string) error {
		if err := benchimage.Run("btrfs", "filesystem", "sync", mnt); err != nil {
			return err
		}
		return benchimage.Run("btrfs", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, name))
	}
	if err := snap("a"); err != nil {
		return err
	}
	for _, change := range incrChanges {
		if err := change(vol); err != nil {
			return err
		}
	}
	if err := snap("b"); err != nil {
		return err
	}
	if err := benchimage.Run("btrfs", "filesystem", "sync", mnt); err != nil {
		return err
	}
	ks, err := kernelSend("b.incr-a.v1", "-p", filepath.Join(mnt, "a"), filepath.Join(mnt, "b"))
	if err != nil {
		return err
	}
	st.Streams = []benchimage.File{ks}
	return nil
}

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
