package sendcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/streamdiff"
	"github.com/coldsend/coldsend/ondisk/volume"
	"github.com/coldsend/coldsend/sendgen"
	"github.com/coldsend/coldsend/stream"
)

// KernelSends checks a directory of kernel-made cases (see
// sendgen/testdata/kernelcases/make.sh): image (a .img.zst) and sends.txt,
// whose lines name a stream file the kernel wrote, the subvolume sent and
// the parent if any. coldsend's send of each must be the kernel's bytes.
// It returns the cases checked.
func KernelSends(dir, image string) (checked []string, err error) {
	dev, err := imagefile.Load(filepath.Join(dir, image))
	if err != nil {
		return nil, err
	}
	fs, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		return nil, err
	}
	list, err := os.Open(filepath.Join(dir, "sends.txt"))
	if err != nil {
		return nil, err
	}
	defer list.Close()
	sc := bufio.NewScanner(list)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || len(f) > 3 {
			return checked, fmt.Errorf("sends.txt:%d: want STREAM SUBVOL [PARENT], have %q", line, sc.Text())
		}
		want, err := readStream(filepath.Join(dir, f[0]))
		if err != nil {
			return checked, err
		}
		sv, err := fs.ResolveSubvol(f[1])
		if err != nil {
			return checked, err
		}
		var opts sendgen.Options
		if len(f) == 3 {
			if opts.Parent, err = fs.ResolveSubvol(f[2]); err != nil {
				return checked, err
			}
		}
		var got bytes.Buffer
		if err := sendgen.Send(&got, sv, opts); err != nil {
			return checked, fmt.Errorf("%s: coldsend send: %w", f[0], err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			return checked, fmt.Errorf("%s: coldsend's send differs from the kernel's: %s", f[0], streamdiff.First(got.Bytes(), want))
		}
		checked = append(checked, f[0])
	}
	return checked, sc.Err()
}

// readStream reads a stream file, decompressing it if it is compressed.
func readStream(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := stream.Decompress(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}
