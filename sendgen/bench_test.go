package sendgen_test

// BenchmarkFullSend sends a 2.6 GB subvolume of a kernel-made image (see
// internal/benchimage) beside the kernel's btrfs send of the same
// snapshot: both read the image from the page cache and both start with
// cold filesystem caches (a fresh fstree.Open, a fresh mount). The
// kernel's figure carries the metric coldsend/kernel, coldsend's time per
// op over the kernel's in the same run, as in fstree/bench_test.go.
//
// BenchmarkFullSendFixture sends the committed fixture scenario "basic"
// from memory, needing neither root nor a built image: a small, fast
// target for CPU profiles of sendgen itself.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/sendgen"
	"github.com/coldsend/coldsend/stream"
)

// countWriter counts what is written to it and keeps none of it: the
// stream goes nowhere, as with btrfs send -f /dev/null.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// hashWriter counts and hashes what is written to it.
type hashWriter struct {
	n int64
	h hash.Hash
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

// openSnap opens img as the CLI does and returns the snapshot to send.
func openSnap(tb testing.TB, img string) (*fstree.Subvol, func()) {
	fs, done := benchimage.Open(tb, img)
	sv, err := fs.ResolveSubvol(benchimage.SendSnap)
	if err != nil {
		done()
		tb.Fatal(err)
	}
	return sv, done
}

// BenchmarkFullSend makes a full protocol-1 send of the send image's
// snapshot (16 × 128 MiB of random data and 200,000 small files), with the
// stream discarded:
//
//   - coldsend: sendgen.Send in process into a counting writer, opening
//     the image afresh each iteration. Before timing, one untimed send is
//     hashed and must equal the kernel's stream recorded when the image
//     was built.
//   - cli: the coldsend binary (built with go build) running
//     `coldsend send -q -f /dev/null IMG snap`, timed as a whole process;
//     maxrss-MiB is its peak resident set.
//   - kernel: `btrfs send -q -f /dev/null MNT/snap`, the process timed;
//     the loop mount (-o loop,ro) before it and the umount after it are
//     not.
//
// stream-MB is the stream's size; MB/s is stream bytes per second.
func BenchmarkFullSend(b *testing.B) {
	img, st := benchimage.Cached(b, &benchimage.SendImage)
	if len(st.Streams) != 1 {
		b.Fatalf("%s: the stamp records %d kernel streams, want 1", img, len(st.Streams))
	}
	want := st.Streams[0]
	streamMB := float64(want.Size) / 1e6
	b.Run("coldsend", func(b *testing.B) {
		sv, closeFS := openSnap(b, img)
		hw := hashWriter{h: sha256.New()}
		err := sendgen.Send(&hw, sv, sendgen.Options{Proto: 1})
		closeFS()
		if err != nil {
			b.Fatal(err)
		}
		if got := hex.EncodeToString(hw.h.Sum(nil)); hw.n != want.Size || got != want.SHA256 {
			b.Fatalf("coldsend's stream is %d bytes with SHA-256 %s; the kernel's (%s) was %d bytes with %s (TestFixtureStreams shows where streams differ)",
				hw.n, got, want.Name, want.Size, want.SHA256)
		}
		b.SetBytes(want.Size)
		b.ReportAllocs()
		for b.Loop() {
			sv, closeFS := openSnap(b, img)
			var w countWriter
			if err := sendgen.Send(&w, sv, sendgen.Options{Proto: 1}); err != nil {
				b.Fatal(err)
			}
			closeFS()
			if w.n != want.Size {
				b.Fatalf("sent %d bytes, want %d", w.n, want.Size)
			}
		}
		b.ReportMetric(streamMB, "stream-MB")
		benchimage.RecordColdsend(b)
	})
	b.Run("cli", func(b *testing.B) {
		bin := buildCLI(b)
		b.SetBytes(want.Size)
		var maxRSS int64
		for b.Loop() {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "send", "-q", "-f", os.DevNull, img, benchimage.SendSnap)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("coldsend send: %v: %s", err, strings.TrimSpace(stderr.String()))
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
			}
		}
		b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
		if maxRSS >= 256<<10 {
			b.Logf("coldsend send peaked at %.1f MiB RSS, over the 256 MiB target", float64(maxRSS)/1024)
		}
	})
	b.Run("kernel", func(b *testing.B) {
		switch {
		case os.Geteuid() != 0:
			b.Skip("the kernel's figure needs root to mount the image (mount -o loop)")
		case !benchimage.HaveCommand("btrfs"):
			b.Skip("the kernel's figure needs btrfs (btrfs-progs) in PATH")
		}
		b.SetBytes(want.Size)
		for b.Loop() {
			b.StopTimer()
			err := benchimage.WithMount(img, "ro", func(mnt string) error {
				b.StartTimer()
				defer b.StopTimer()
				return benchimage.Run("btrfs", "send", "-q", "-f", os.DevNull, filepath.Join(mnt, benchimage.SendSnap))
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(streamMB, "stream-MB")
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
		b.Fatalf("go build ./cmd/coldsend: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkFullSendFixture makes, per op, every full protocol-1 send the
// kernel made of the committed scenario fixtures/images/basic (the
// streams sendcheck compares too), from the image loaded in memory, with
// a warm block cache (the filesystem is opened once), into a counting
// writer. Before timing, each stream is checked against the kernel's
// recorded size and SHA-256. ns/cmd is the time per stream command; for
// a CPU profile:
//
//	go test -run '^$' -bench FullSendFixture -cpuprofile cpu.out ./sendgen/
func BenchmarkFullSendFixture(b *testing.B) {
	dir := filepath.Join(fixturestreams.ImagesDir(), "basic")
	sc, err := manifest.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	fs, err := fixturecheck.Open(dir, sc, nil)
	if err != nil {
		b.Fatal(err)
	}
	type send struct {
		sv   *fstree.Subvol
		opts sendgen.Options
	}
	var sends []send
	var size int64
	cmds := 0
	for _, s := range sc.Streams {
		if s.Parent != "" || len(s.Clones) > 0 || s.Proto != 1 || s.CompressedData {
			continue
		}
		sv, err := fs.ResolveSubvol(s.Subvol)
		if err != nil {
			b.Fatal(err)
		}
		opts := sendgen.Options{Proto: 1, NoData: s.NoData}
		var buf bytes.Buffer
		if err := sendgen.Send(&buf, sv, opts); err != nil {
			b.Fatalf("%s: %v", s.File, err)
		}
		if sum := sha256.Sum256(buf.Bytes()); int64(buf.Len()) != s.Size || hex.EncodeToString(sum[:]) != s.SHA256 {
			b.Fatalf("%s: coldsend's stream differs from the kernel's (go test -run 'TestFixtureStreams/basic' ./sendgen/ shows where)", s.File)
		}
		r := stream.NewReader(&buf)
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatalf("%s: %v", s.File, err)
			}
		}
		cmds += r.Commands()
		size += s.Size
		sends = append(sends, send{sv, opts})
	}
	if len(sends) == 0 {
		b.Fatalf("%s: no full protocol-1 streams in the manifest", dir)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range sends {
			var w countWriter
			if err := sendgen.Send(&w, s.sv, s.opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cmds), "ns/cmd")
	b.ReportMetric(float64(cmds), "cmds/op")
}
