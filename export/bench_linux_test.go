package export_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
)

// BenchmarkExport exports the send image's snapshot (16 × 128 MiB of
// random data and 200,000 small files) in the same run as the kernel's
// tools copy it from a read-only loop mount of the same image, page cache
// warm for both:
//
//   - dir/coldsend: export.ToDir into a tmpfs, opening the image afresh.
//   - dir/cli: coldsend export as a whole process; maxrss-MiB its peak.
//   - dir/cp: cp -a from the mount into the tmpfs (coldsend/cp).
//   - tar/coldsend: export.ToTar into a counting writer.
//   - tar/tar: tar -c from the mount, through a pipe (GNU tar reads
//     nothing when it writes to /dev/null) (coldsend/tar).
//
// The destination is emptied outside the timer.
func BenchmarkExport(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: a tmpfs and a loop mount")
	}
	img, _ := benchimage.Cached(b, &benchimage.SendImage)
	tmp := b.TempDir()
	if err := benchimage.Run("mount", "-t", "tmpfs", "-o", "size=8G", "tmpfs", tmp); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchimage.Run("umount", tmp) })
	dest := filepath.Join(tmp, "dest")
	fresh := func(b *testing.B) {
		b.StopTimer()
		defer b.StartTimer()
		if err := os.RemoveAll(dest); err != nil {
			b.Fatal(err)
		}
	}
	open := func(b *testing.B) (fstree.Location, func()) {
		fs, done := benchimage.Open(b, img)
		sv, err := fs.ResolveSubvol(benchimage.SendSnap)
		if err != nil {
			b.Fatal(err)
		}
		return fstree.Location{Subvol: sv, Ino: 256}, done
	}
	b.Run("dir", func(b *testing.B) {
		b.Run("coldsend", func(b *testing.B) {
			for b.Loop() {
				fresh(b)
				start, done := open(b)
				if _, err := export.ToDir(dest, start, export.Options{Owners: true}); err != nil {
					b.Fatal(err)
				}
				done()
			}
			benchimage.RecordColdsend(b)
		})
		b.Run("cli", func(b *testing.B) {
			bin := filepath.Join(b.TempDir(), "coldsend")
			if out, err := exec.Command("go", "build", "-o", bin, "github.com/coldsend/coldsend/cmd/coldsend").CombinedOutput(); err != nil {
				b.Fatalf("go build: %v: %s", err, out)
			}
			var maxRSS int64
			for b.Loop() {
				fresh(b)
				cmd := exec.Command(bin, "export", "-q", img, benchimage.SendSnap, dest)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("coldsend export: %v: %s", err, out)
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					maxRSS = max(maxRSS, ru.Maxrss)
				}
			}
			b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
		})
		b.Run("cp", func(b *testing.B) {
			err := benchimage.WithMount(img, "ro", func(mnt string) error {
				for b.Loop() {
					fresh(b)
					if out, err := exec.Command("cp", "-a", filepath.Join(mnt, benchimage.SendSnap), dest).CombinedOutput(); err != nil {
						b.Fatalf("cp -a: %v: %s", err, out)
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			benchimage.ReportRatio(b, "coldsend/cp")
		})
	})
	b.Run("tar", func(b *testing.B) {
		b.Run("coldsend", func(b *testing.B) {
			for b.Loop() {
				start, done := open(b)
				if _, err := export.ToTar(io.Discard, start, export.Options{}); err != nil {
					b.Fatal(err)
				}
				done()
			}
			benchimage.RecordColdsend(b)
		})
		b.Run("tar", func(b *testing.B) {
			err := benchimage.WithMount(img, "ro", func(mnt string) error {
				for b.Loop() {
					var stderr bytes.Buffer
					cmd := exec.Command("tar", "-c", "--xattrs", "-C", filepath.Join(mnt, benchimage.SendSnap), "-f", "-", ".")
					cmd.Stdout, cmd.Stderr = io.Discard, &stderr
					if err := cmd.Run(); err != nil {
						b.Fatalf("tar -c: %v: %s", err, stderr.String())
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			benchimage.ReportRatio(b, "coldsend/tar")
		})
	})
}
