package imagefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dsnet/golib/memfile"
	"github.com/klauspost/compress/zstd"

	"github.com/coldsend/coldsend/ondisk/volume"
)

// Load decompresses path (a .img.zst, or a plain image) into memory and
// returns it as an volume.Device named after the file.
func Load(path string) (*volume.Device, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if err := decompress(&buf, f, path); err != nil {
		return nil, err
	}
	mf := memfile.New(buf.Bytes())
	return &volume.Device{Name: filepath.Base(path), R: mf, Size: int64(buf.Len())}, nil
}

// Unpack decompresses every *.img.zst in srcDir into dstDir as *.img
// (leaving zero runs as holes) and returns the paths written, in name order.
func Unpack(srcDir, dstDir string) ([]string, error) {
	srcs, err := filepath.Glob(filepath.Join(srcDir, "*.img.zst"))
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%s: no *.img.zst images", srcDir)
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, src := range srcs {
		dst := filepath.Join(dstDir, strings.TrimSuffix(filepath.Base(src), ".zst"))
		if err := unpackOne(src, dst); err != nil {
			return nil, err
		}
		out = append(out, dst)
	}
	return out, nil
}

func unpackOne(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	sw := &sparseWriter{f: out}
	err = decompress(sw, in, src)
	if err == nil {
		err = out.Truncate(sw.off)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func decompress(w io.Writer, r io.Reader, name string) error {
	if !strings.HasSuffix(name, ".zst") {
		_, err := io.Copy(w, r)
		return err
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer zr.Close()
	if _, err := io.Copy(w, zr); err != nil {
		return fmt.Errorf("%s: decompressing: %w", name, err)
	}
	return nil
}

// sparseWriter skips all-zero blocks with Seek so unpacked images stay
// sparse, as mkfs made them.
type sparseWriter struct {
	f   *os.File
	off int64
}

func (s *sparseWriter) Write(p []byte) (int, error) {
	const blk = 4096
	n := 0
	for len(p) > 0 {
		c := min(len(p), blk)
		if !isZero(p[:c]) {
			if _, err := s.f.WriteAt(p[:c], s.off); err != nil {
				return n, err
			}
		}
		s.off += int64(c)
		n += c
		p = p[c:]
	}
	return n, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// RunWithImages is a TestMain body for packages whose examples open image
// files: it unpacks the images of fixture directory srcDir into a
// temporary directory, hands their paths to use, runs the tests and
// removes the directory, returning the exit code.
func RunWithImages(m interface{ Run() int }, srcDir string, use func(paths []string)) int {
	dir, err := os.MkdirTemp("", "coldsend-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	paths, err := Unpack(srcDir, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(paths)
	return m.Run()
}
