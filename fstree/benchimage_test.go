package fstree_test

// Images for the benchmarks, made by the kernel on demand and cached
// between runs in $COLDSEND_BENCH_DIR (default <repo>/out/bench). Building
// needs root (mkfs.btrfs, mount -o loop); using a cached image does not.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchImageFormat versions what the builders below write; bump it when
// they change so cached images are rebuilt.
const benchImageFormat = 2

// imageSpec describes one cached image.
type imageSpec struct {
	name  string   // <name>.img and <name>.json in the cache directory
	size  int64    // device size (the file is sparse)
	mkfs  []string // extra mkfs.btrfs arguments
	mount string   // mount options while filling, e.g. "compress-force=zstd"
	fill  func(mnt string, st *benchStamp) error
}

func (s *imageSpec) id() string {
	return fmt.Sprintf("format=%d size=%d mkfs=%q mount=%q", benchImageFormat, s.size, s.mkfs, s.mount)
}

// benchStamp is written beside an image once it is complete; an image
// without a matching stamp is rebuilt.
type benchStamp struct {
	Spec         string      `json:"spec"`
	ImageBytes   int64       `json:"imageBytes"`
	BuildSeconds float64     `json:"buildSeconds"`
	Inodes       int         `json:"inodes,omitempty"`
	Files        []benchFile `json:"files,omitempty"`
}

type benchFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// benchDir is where images are cached.
func benchDir(tb testing.TB) string {
	if d := os.Getenv("COLDSEND_BENCH_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "out", "bench")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory; set COLDSEND_BENCH_DIR")
		}
		dir = parent
	}
}

var (
	buildMu sync.Mutex
	warmed  = map[string]bool{}
)

// cachedImage returns the path of spec's image and its stamp, building
// the image if needed and possible, and skipping tb with the reason if not.
// The image's bytes are read once per process so that every benchmark
// finds them in the page cache, the kernel's loop device included.
func cachedImage(tb testing.TB, spec *imageSpec) (string, *benchStamp) {
	buildMu.Lock()
	defer buildMu.Unlock()
	img := filepath.Join(benchDir(tb), spec.name+".img")
	st, why := readStamp(img, spec)
	if why != "" {
		switch {
		case os.Geteuid() != 0:
			tb.Skipf("%s: %s, and building it needs root (mkfs.btrfs, mount -o loop): run `make bench` as root once, or set COLDSEND_BENCH_DIR to a directory of built images", img, why)
		case !haveCommand("mkfs.btrfs"):
			tb.Skipf("%s: %s, and building it needs mkfs.btrfs, which is not in PATH", img, why)
		}
		tb.Logf("%s: %s; building it", img, why)
		st = buildImage(tb, img, spec)
	}
	if !warmed[img] {
		if err := readWhole(img); err != nil {
			tb.Fatal(err)
		}
		warmed[img] = true
	}
	return img, st
}

// readStamp returns img's stamp, or why the image cannot be used.
func readStamp(img string, spec *imageSpec) (*benchStamp, string) {
	b, err := os.ReadFile(strings.TrimSuffix(img, ".img") + ".json")
	if errors.Is(err, os.ErrNotExist) {
		return nil, "no image built yet"
	}
	if err != nil {
		return nil, err.Error()
	}
	var st benchStamp
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Sprintf("unreadable stamp: %v", err)
	}
	if st.Spec != spec.id() {
		return nil, fmt.Sprintf("cached image was built as %s, want %s", st.Spec, spec.id())
	}
	fi, err := os.Stat(img)
	if err != nil {
		return nil, err.Error()
	}
	if fi.Size() != st.ImageBytes {
		return nil, fmt.Sprintf("image is %d bytes, its stamp says %d", fi.Size(), st.ImageBytes)
	}
	return &st, ""
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// buildImage makes spec's image at img: a sparse file, mkfs.btrfs, a loop
// mount to fill it, and the stamp last, so a failed build leaves no image
// that looks valid.
func buildImage(tb testing.TB, img string, spec *imageSpec) *benchStamp {
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		tb.Fatal(err)
	}
	stamp := strings.TrimSuffix(img, ".img") + ".json"
	tmp := img + ".tmp"
	os.Remove(stamp)
	os.Remove(tmp)
	fail := func(err error) {
		os.Remove(tmp)
		tb.Fatalf("building %s: %v", img, err)
	}
	f, err := os.Create(tmp)
	if err == nil {
		err = f.Truncate(spec.size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = run("mkfs.btrfs", append(append([]string{"-f", "-q"}, spec.mkfs...), tmp)...)
	}
	if err != nil {
		fail(err)
	}
	st := &benchStamp{Spec: spec.id()}
	err = withMount(tmp, spec.mount, func(mnt string) error { return spec.fill(mnt, st) })
	if err == nil {
		err = os.Rename(tmp, img)
	}
	if err != nil {
		fail(err)
	}
	fi, err := os.Stat(img)
	if err != nil {
		tb.Fatal(err)
	}
	st.ImageBytes = fi.Size()
	st.BuildSeconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(stamp, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("built %s in %.1fs", img, st.BuildSeconds)
	return st
}

// withMount loop-mounts img on a fresh directory with options opts (may be
// empty), runs fn and unmounts, whatever fn does; mount -o loop sets
// autoclear, so the umount also frees the loop device.
func withMount(img, opts string, fn func(mnt string) error) (err error) {
	mnt, err := os.MkdirTemp("", "coldsend-bench-mnt-")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	if err := run("mount", "-o", strings.TrimSuffix("loop,"+opts, ","), img, mnt); err != nil {
		return err
	}
	defer func() {
		if uerr := run("umount", mnt); err == nil {
			err = uerr
		}
	}()
	return fn(mnt)
}

// readWhole reads a file once, to bring it into the page cache.
func readWhole(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
	return err
}

// The walk image: walkDirs×walkSubdirs directories of walkFiles small
// files each, made by the kernel in its own order (faster here than
// mkfs.btrfs --rootdir from a tmpfs tree, 12 s against 17 s).
const (
	walkDirs    = 10
	walkSubdirs = 20
	walkFiles   = 1000
)

var walkImage = imageSpec{
	name: "walk",
	size: 2 << 30,
	fill: fillWalk,
}

// fillWalk creates the directory tree, two writers at a time since
// creating files is syscall-bound.
func fillWalk(mnt string, st *benchStamp) error {
	var wg sync.WaitGroup
	errs := make([]error, walkDirs)
	sem := make(chan struct{}, 2)
	for a := range walkDirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[a] = fillWalkDir(filepath.Join(mnt, fmt.Sprintf("d%02d", a)), a)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st.Inodes = 1 + walkDirs*(1+walkSubdirs*(1+walkFiles))
	return nil
}

func fillWalkDir(dir string, a int) error {
	rng := rand.New(rand.NewPCG(uint64(a), 1))
	var content []byte
	for b := range walkSubdirs {
		sub := filepath.Join(dir, fmt.Sprintf("s%02d", b))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for c := range walkFiles {
			// Small contents of varied length, stored inline as most
			// small files are.
			content = fmt.Appendf(content[:0], "file %d/%d/%d\n", a, b, c)
			for range rng.IntN(8) {
				content = append(content, content[:12]...)
			}
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file-%04d.txt", c)), content, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// The data images hold 2 GiB of files: one of 1 GiB and sixteen of 64 MiB,
// of log-like text, written through a mount with compress-force so every
// extent is compressed.
const (
	dataBigSize   = 1 << 30
	dataSmallSize = 64 << 20
	dataSmallN    = 16
	dataTotal     = dataBigSize + dataSmallN*dataSmallSize
)

var dataImages = map[string]*imageSpec{
	"plain": dataImage("plain", ""),
	"zstd":  dataImage("zstd", "compress-force=zstd"),
	"lzo":   dataImage("lzo", "compress-force=lzo"),
	"zlib":  dataImage("zlib", "compress-force=zlib"),
}

// dataAlgs is the order the data benchmarks run in.
var dataAlgs = []string{"plain", "zstd", "lzo", "zlib"}

func dataImage(alg, mountOpts string) *imageSpec {
	return &imageSpec{name: "data-" + alg, size: 3 << 30, mount: mountOpts, fill: fillData}
}

func fillData(mnt string, st *benchStamp) error {
	files := []benchFile{{Name: "big.txt", Size: dataBigSize}}
	for i := range dataSmallN {
		files = append(files, benchFile{Name: fmt.Sprintf("f%02d.txt", i), Size: dataSmallSize})
	}
	for i := range files {
		sum, err := writeText(filepath.Join(mnt, files[i].Name), files[i].Size, uint64(i))
		if err != nil {
			return err
		}
		files[i].SHA256 = sum
	}
	st.Files = files
	return nil
}

// writeText writes size bytes of pseudo-random log text and returns its
// SHA-256.
func writeText(path string, size int64, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	g := newTextGen(seed)
	var line []byte
	for left := size; left > 0; {
		line = g.line(line[:0])
		n := min(int64(len(line)), left)
		if _, err := w.Write(line[:n]); err != nil {
			return "", err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type textGen struct {
	rng   *rand.Rand
	words [][]byte
	bits  uint64 // random bits not used yet
	nbits int
	usec  uint64 // the log's clock
}

func newTextGen(seed uint64) *textGen {
	g := &textGen{rng: rand.New(rand.NewPCG(seed, 2))}
	vocab := rand.New(rand.NewPCG(42, 3)) // the same words in every file
	for range 1024 {
		w := make([]byte, 2+vocab.IntN(9))
		for i := range w {
			w[i] = byte('a' + vocab.IntN(26))
		}
		g.words = append(g.words, w)
	}
	return g
}

// draw returns 20 random bits; three come from each Uint64, since the
// generator is what limits how fast images are built.
func (g *textGen) draw() uint64 {
	if g.nbits < 20 {
		g.bits, g.nbits = g.rng.Uint64(), 60
	}
	v := g.bits & (1<<20 - 1)
	g.bits >>= 20
	g.nbits -= 20
	return v
}

var logLevels = []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}

// line appends one log line: a timestamp, a host, a process, a level and
// 2-5 words, each word the product of two uniform draws over the 1024 of
// the vocabulary so that short indexes are common, as in prose. zstd and
// zlib compress this text about 3 times; lzo about 2 times, as btrfs's
// lzo compresses each 4 KiB sector on its own and word-salad prose would
// barely shrink.
func (g *textGen) line(b []byte) []byte {
	g.usec += g.draw() % 5000
	v := g.draw()
	b = append(b, "2025-11-21 "...)
	b = appendUint(b, g.usec/3600e6%24, 2)
	b = append(b, ':')
	b = appendUint(b, g.usec/60e6%60, 2)
	b = append(b, ':')
	b = appendUint(b, g.usec/1e6%60, 2)
	b = append(b, '.')
	b = appendUint(b, g.usec%1e6, 6)
	b = append(b, " node"...)
	b = appendUint(b, v%16, 2)
	b = append(b, " worker["...)
	b = appendUint(b, 1000+v>>4%8, 4)
	b = append(b, "]: "...)
	b = append(b, logLevels[v>>7%6]...)
	for range 2 + g.draw()%4 {
		v := g.draw()
		b = append(b, ' ')
		b = append(b, g.words[(v&1023)*(v>>10)>>10]...)
	}
	return append(b, '\n')
}

// appendUint appends v in decimal, zero-padded to width digits.
func appendUint(b []byte, v uint64, width int) []byte {
	var d [20]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}
