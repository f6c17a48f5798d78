package receive_test

// BenchmarkReceiveFull receives the full stream of the send image's
// snapshot (internal/benchimage: 16 × 128 MiB of random data and 200,000
// small files, a 2.6 GB stream) four ways in one run:
//
//   - coldsend: receive.Receive in process from the stream file into a
//     tmpfs;
//   - cli: `coldsend receive -q -f STREAM DIR` as a process into the same
//     tmpfs; maxrss-MiB is its peak resident set;
//   - kernel: `btrfs receive -q -f STREAM` into a loop-mounted btrfs whose
//     image file lives in the page cache (coldsend/kernel is coldsend's
//     time over this one's);
//   - tar: `tar -xf` of the same tree, archived once, into the tmpfs
//     (coldsend/tar).
//
// The stream file is made once with coldsend send and checked against
// the kernel's stream recorded when the image was built. Removing each
// received tree is not timed.
//
// BenchmarkReceiveIncremental receives, per op, the incremental stream of
// the 200,000-file incremental image (seven changes) on top of a received
// parent: with --in-place, and as a copy of the parent.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/sendgen"
)

// sendStream returns the send image's full stream as a file in the bench
// directory, made with coldsend send and checked against the kernel's.
func sendStream(b *testing.B) string {
	img, st := benchimage.Cached(b, &benchimage.SendImage)
	want := st.Streams[0]
	path := filepath.Join(benchimage.Dir(b), "send.snap.full.v1.stream")
	if ok, err := fileDigest(path, want.Size); err == nil && ok == want.SHA256 {
		return path
	}
	fs, done := benchimage.Open(b, img)
	defer done()
	sv, err := fs.ResolveSubvol(benchimage.SendSnap)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if err := sendgen.Send(io.MultiWriter(f, h), sv, sendgen.Options{}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 {
		os.Remove(path)
		b.Fatalf("coldsend's stream has SHA-256 %s, the kernel's %s", got, want.SHA256)
	}
	return path
}

func fileDigest(path string, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		return "", os.ErrNotExist
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), err
}

// tmpfsDir mounts a tmpfs for the benchmark's trees.
func tmpfsDir(b *testing.B) string {
	dir := b.TempDir()
	if err := benchimage.Run("mount", "-t", "tmpfs", "-o", "size=8G", "tmpfs", dir); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { benchimage.Run("umount", dir) })
	return dir
}

func needRoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: a tmpfs and a loop mount")
	}
}

func BenchmarkReceiveFull(b *testing.B) {
	needRoot(b)
	stream := sendStream(b)
	fi, err := os.Stat(stream)
	if err != nil {
		b.Fatal(err)
	}
	if err := benchimage.ReadWhole(stream); err != nil {
		b.Fatal(err)
	}
	tmp := tmpfsDir(b)
	fresh := func(b *testing.B) string {
		b.StopTimer()
		defer b.StartTimer()
		d := filepath.Join(tmp, "dest")
		if err := os.RemoveAll(d); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	b.Run("coldsend", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			dest := fresh(b)
			f, err := os.Open(stream)
			if err != nil {
				b.Fatal(err)
			}
			_, err = receive.Receive(f, dest, receive.Options{})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		benchimage.RecordColdsend(b)
	})
	b.Run("cli", func(b *testing.B) {
		bin := buildCLI(b)
		b.SetBytes(fi.Size())
		var maxRSS int64
		for b.Loop() {
			dest := fresh(b)
			cmd := exec.Command(bin, "receive", "-q", "-f", stream, dest)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("coldsend receive: %v: %s", err, stderr.String())
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				maxRSS = max(maxRSS, ru.Maxrss)
			}
		}
		b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
	})
	b.Run("tar", func(b *testing.B) {
		archive := filepath.Join(benchimage.Dir(b), "send.snap.tar")
		if _, err := os.Stat(archive); err != nil {
			dest := fresh(b)
			f, _ := os.Open(stream)
			_, err := receive.Receive(f, dest, receive.Options{})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			if err := benchimage.Run("tar", "-cf", archive, "-C", filepath.Join(dest, benchimage.SendSnap), "."); err != nil {
				b.Fatal(err)
			}
		}
		if err := benchimage.ReadWhole(archive); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(fi.Size())
		for b.Loop() {
			dest := fresh(b)
			if err := benchimage.Run("tar", "-xf", archive, "-C", dest); err != nil {
				b.Fatal(err)
			}
		}
		benchimage.ReportRatio(b, "coldsend/tar")
	})
	b.Run("kernel", func(b *testing.B) {
		if !benchimage.HaveCommand("btrfs") {
			b.Skip("needs btrfs (btrfs-progs)")
		}
		img := filepath.Join(tmp, "btrfs.img")
		b.SetBytes(fi.Size())
		for b.Loop() {
			b.StopTimer()
			os.Remove(img)
			if err := benchimage.Run("truncate", "-s", "8G", img); err != nil {
				b.Fatal(err)
			}
			if err := benchimage.Run("mkfs.btrfs", "-q", img); err != nil {
				b.Fatal(err)
			}
			err := benchimage.WithMount(img, "", func(mnt string) error {
				b.StartTimer()
				defer b.StopTimer()
				return benchimage.Run("btrfs", "receive", "-q", "-f", stream, mnt)
			})
			if err != nil {
				b.Fatal(err)
			}
			os.Remove(img)
			b.StartTimer()
		}
		benchimage.ReportKernelRatio(b)
	})
}

// buildCLI builds cmd/coldsend into a temporary directory.
func buildCLI(b *testing.B) string {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		b.Skip("building the coldsend CLI needs the go command in PATH")
	}
	bin := filepath.Join(b.TempDir(), "coldsend")
	cmd := exec.Command(goCmd, "build", "-o", bin, "github.com/coldsend/coldsend/cmd/coldsend")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return bin
}

// incrStreams returns the incremental image's full stream of a and its
// stream of b against a, made with coldsend send; the latter is checked
// against the kernel's.
func incrStreams(b *testing.B) (full, incr []byte) {
	img, st := benchimage.Cached(b, benchimage.IncrImage(200_000))
	fs, done := benchimage.Open(b, img)
	defer done()
	a, err := fs.ResolveSubvol("a")
	if err != nil {
		b.Fatal(err)
	}
	bsv, err := fs.ResolveSubvol("b")
	if err != nil {
		b.Fatal(err)
	}
	var fb, ib bytes.Buffer
	if err := sendgen.Send(&fb, a, sendgen.Options{}); err != nil {
		b.Fatal(err)
	}
	if err := sendgen.Send(&ib, bsv, sendgen.Options{Parent: a}); err != nil {
		b.Fatal(err)
	}
	if sum := sha256.Sum256(ib.Bytes()); hex.EncodeToString(sum[:]) != st.Streams[0].SHA256 {
		b.Fatal("coldsend's incremental stream differs from the kernel's")
	}
	return fb.Bytes(), ib.Bytes()
}

func BenchmarkReceiveIncremental(b *testing.B) {
	needRoot(b)
	full, incr := incrStreams(b)
	tmp := tmpfsDir(b)
	// parent receives a fresh copy of a, untimed.
	parent := func(b *testing.B) string {
		b.StopTimer()
		defer b.StartTimer()
		d := filepath.Join(tmp, "dest")
		if err := os.RemoveAll(d); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := receive.Receive(bytes.NewReader(full), d, receive.Options{}); err != nil {
			b.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name    string
		inPlace bool
	}{{"in-place", true}, {"copy", false}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				dest := parent(b)
				if _, err := receive.Receive(bytes.NewReader(incr), dest, receive.Options{InPlace: tc.inPlace}); err != nil {
					b.Fatal(err)
				}
			}
			if tc.inPlace {
				benchimage.RecordColdsend(b)
			}
		})
	}
	b.Run("kernel", func(b *testing.B) {
		if !benchimage.HaveCommand("btrfs") {
			b.Skip("needs btrfs (btrfs-progs)")
		}
		img := filepath.Join(tmp, "btrfs.img")
		if err := benchimage.Run("truncate", "-s", "4G", img); err != nil {
			b.Fatal(err)
		}
		if err := benchimage.Run("mkfs.btrfs", "-q", img); err != nil {
			b.Fatal(err)
		}
		err := benchimage.WithMount(img, "", func(mnt string) error {
			cmd := exec.Command("btrfs", "receive", "-q", mnt)
			cmd.Stdin = bytes.NewReader(full)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("btrfs receive a: %v: %s", err, out)
			}
			for b.Loop() {
				cmd := exec.Command("btrfs", "receive", "-q", mnt)
				cmd.Stdin = bytes.NewReader(incr)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("btrfs receive b: %v: %s", err, out)
				}
				b.StopTimer()
				if err := benchimage.Run("btrfs", "subvolume", "delete", filepath.Join(mnt, "b")); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		benchimage.ReportKernelRatio(b)
	})
}
