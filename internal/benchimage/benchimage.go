package benchimage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coldsend/coldsend/fstree"
)

// Format versions how this package builds an image (the mkfs and mount
// steps, the stamp); bumping it rebuilds every cached image. A change to
// one image's contents bumps that Spec's Version instead.
const Format = 2

// Spec describes one cached image.
type Spec struct {
	// Name names the files: Name.img and Name.json in Dir.
	Name string
	// Size is the device size; the image file is sparse.
	Size int64
	// Mkfs holds extra mkfs.btrfs arguments.
	Mkfs []string
	// Mount holds the mount options while filling, e.g.
	// "compress-force=zstd"; "loop" is added.
	Mount string
	// Version versions what Fill writes: bump it when Fill changes so
	// cached images are rebuilt. Zero leaves it out of the ID.
	Version int
	// Fill writes the image's contents through the mount at mnt and
	// records what it wrote in st. The image is unmounted after it
	// returns.
	Fill func(mnt string, st *Stamp) error
}

// ID is the build description recorded in the stamp; a cached image is
// used only when its stamp's Spec equals it.
func (s *Spec) ID() string {
	id := fmt.Sprintf("format=%d", Format)
	if s.Version != 0 {
		id += fmt.Sprintf(" version=%d", s.Version)
	}
	return id + fmt.Sprintf(" size=%d mkfs=%q mount=%q", s.Size, s.Mkfs, s.Mount)
}

// Stamp is written beside an image once it is complete.
type Stamp struct {
	Spec         string  `json:"spec"` // the Spec's ID
	ImageBytes   int64   `json:"imageBytes"`
	BuildSeconds float64 `json:"buildSeconds"`
	// Inodes is how many inodes the image's tree holds, when Fill counts
	// them.
	Inodes int `json:"inodes,omitempty"`
	// Files are files Fill wrote, with their contents' digests.
	Files []File `json:"files,omitempty"`
	// Streams are send streams the kernel made of the image at build
	// time (Name says which), for checking coldsend's against.
	Streams []File `json:"streams,omitempty"`
}

// File is a file, or a stream, an image's stamp vouches for.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Dir returns the directory images are cached in: $COLDSEND_BENCH_DIR,
// or out/bench in the module containing the working directory.
func Dir(tb testing.TB) string {
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

// Cached returns the path of spec's image and its stamp, building the
// image if needed and possible, and skipping tb with the reason if not.
// The image's bytes are read once per process so that every benchmark
// finds them in the page cache, the kernel's loop device included.
func Cached(tb testing.TB, spec *Spec) (string, *Stamp) {
	buildMu.Lock()
	defer buildMu.Unlock()
	img := filepath.Join(Dir(tb), spec.Name+".img")
	st, why := readStamp(img, spec)
	if why != "" {
		switch {
		case os.Geteuid() != 0:
			tb.Skipf("%s: %s, and building it needs root (mkfs.btrfs, mount -o loop): run `make bench` as root once, or set COLDSEND_BENCH_DIR to a directory of built images", img, why)
		case !HaveCommand("mkfs.btrfs"):
			tb.Skipf("%s: %s, and building it needs mkfs.btrfs, which is not in PATH", img, why)
		}
		tb.Logf("%s: %s; building it", img, why)
		st = build(tb, img, spec)
	}
	if !warmed[img] {
		if err := ReadWhole(img); err != nil {
			tb.Fatal(err)
		}
		warmed[img] = true
	}
	return img, st
}

// readStamp returns img's stamp, or why the image cannot be used.
func readStamp(img string, spec *Spec) (*Stamp, string) {
	b, err := os.ReadFile(stampPath(img))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "no image built yet"
	}
	if err != nil {
		return nil, err.Error()
	}
	var st Stamp
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Sprintf("unreadable stamp: %v", err)
	}
	if st.Spec != spec.ID() {
		return nil, fmt.Sprintf("cached image was built as %s, want %s", st.Spec, spec.ID())
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

func stampPath(img string) string { return strings.TrimSuffix(img, ".img") + ".json" }

// HaveCommand reports whether name is in PATH.
func HaveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// Run runs a command and returns an error carrying its combined output
// if it fails.
func Run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// build makes spec's image at img: a sparse file, mkfs.btrfs, a loop
// mount to fill it, and the stamp last, so a failed build leaves no image
// that looks valid.
func build(tb testing.TB, img string, spec *Spec) *Stamp {
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		tb.Fatal(err)
	}
	stamp := stampPath(img)
	tmp := img + ".tmp"
	os.Remove(stamp)
	os.Remove(tmp)
	fail := func(err error) {
		os.Remove(tmp)
		tb.Fatalf("building %s: %v", img, err)
	}
	f, err := os.Create(tmp)
	if err == nil {
		err = f.Truncate(spec.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = Run("mkfs.btrfs", append(append([]string{"-f", "-q"}, spec.Mkfs...), tmp)...)
	}
	if err != nil {
		fail(err)
	}
	st := &Stamp{Spec: spec.ID()}
	err = WithMount(tmp, spec.Mount, func(mnt string) error { return spec.Fill(mnt, st) })
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

// WithMount loop-mounts img on a fresh directory with options opts (may be
// empty), runs fn and unmounts, whatever fn does; mount -o loop sets
// autoclear, so the umount also frees the loop device.
func WithMount(img, opts string, fn func(mnt string) error) (err error) {
	mnt, err := os.MkdirTemp("", "coldsend-bench-mnt-")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	if err := Run("mount", "-o", strings.TrimSuffix("loop,"+opts, ","), img, mnt); err != nil {
		return err
	}
	defer func() {
		if uerr := Run("umount", mnt); err == nil {
			err = uerr
		}
	}()
	return fn(mnt)
}

// ReadWhole reads a file once, to bring it into the page cache.
func ReadWhole(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
	return err
}

// coldsendNs holds the ns/op of each "coldsend" sub-benchmark, by parent
// name, for the "kernel" sub-benchmark that follows it.
var coldsendNs = map[string]float64{}

// RecordColdsend remembers the time per op of a "coldsend" sub-benchmark.
func RecordColdsend(b *testing.B) {
	coldsendNs[path.Dir(b.Name())] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// ReportKernelRatio reports, on a "kernel" sub-benchmark, coldsend's time
// per op over the kernel's (below 1, coldsend is faster).
func ReportKernelRatio(b *testing.B) { ReportRatio(b, "coldsend/kernel") }

// ReportRatio reports, on any sub-benchmark beside a "coldsend" one,
// coldsend's time per op over this one's, as unit.
func ReportRatio(b *testing.B, unit string) {
	if ns, ok := coldsendNs[path.Dir(b.Name())]; ok {
		b.ReportMetric(ns/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), unit)
	}
}

// NeedMount skips the kernel's side of a comparison without root.
func NeedMount(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the kernel's figure needs root to mount the image (mount -o loop)")
	}
}

// Open opens img with coldsend, as the CLI does.
func Open(tb testing.TB, img string) (*fstree.FS, func()) {
	fs, err := fstree.OpenFiles([]string{img}, fstree.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return fs, func() { fs.Close() }
}
