package cli

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/synthstream"
)

// benchStream writes (once) a 2 GiB v1 stream of 48 KiB writes, the shape
// of a kernel full send of large files, to $COLDSEND_BENCH_DIR or
// <repo>/out/bench.
func benchStream(b *testing.B) (string, int64) {
	const size = 2 << 30
	dir := os.Getenv("COLDSEND_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "out", "bench")
	}
	path := filepath.Join(dir, "dump-2g.v1.stream")
	if st, err := os.Stat(path); err == nil && st.Size() >= size {
		return path, st.Size()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	src, err := synthstream.New(size, 1)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(f, src)
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		b.Fatal(err)
	}
	return path, n
}

// BenchmarkDump runs `coldsend dump` on one core over a 2 GiB stream file
// and, when btrfs-progs is installed, `btrfs receive --dump` on the same
// file in the same iteration; ratio is coldsend time / btrfs time.
func BenchmarkDump(b *testing.B) {
	path, size := benchStream(b)
	progs, _ := exec.LookPath("btrfs")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b.SetBytes(size)
	var ours, theirs time.Duration
	for b.Loop() {
		start := time.Now()
		var errOut strings.Builder
		if st := Run([]string{"dump", path}, nil, io.Discard, &errOut); st != 0 {
			b.Fatalf("coldsend dump: %s", errOut.String())
		}
		ours += time.Since(start)
		if progs != "" {
			b.StopTimer()
			start = time.Now()
			cmd := exec.Command(progs, "receive", "--dump", "-f", path)
			var stderr strings.Builder
			cmd.Stderr = &stderr // stdout goes to the null device
			if err := cmd.Run(); err != nil {
				b.Fatalf("btrfs receive --dump: %v: %s", err, stderr.String())
			}
			theirs += time.Since(start)
			b.StartTimer()
		}
	}
	if theirs > 0 {
		b.ReportMetric(float64(ours)/float64(theirs), "ratio")
		b.ReportMetric(float64(size)/theirs.Seconds()*float64(b.N)/1e6, "progs-MB/s")
	}
}
