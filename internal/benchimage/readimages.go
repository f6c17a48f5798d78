package benchimage

// The images fstree's and fusefs's read benchmarks use: a tree of 200k
// small files, and 2 GiB of text, plain or compressed.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
)

// The walk image: walkDirs×walkSubdirs directories of walkFiles small
// files each, made by the kernel in its own order (faster here than
// mkfs.btrfs --rootdir from a tmpfs tree, 12 s against 17 s).
const (
	walkDirs    = 10
	walkSubdirs = 20
	walkFiles   = 1000
)

// WalkImage is the walk image; its stamp counts its inodes.
var WalkImage = Spec{
	Name: "walk",
	Size: 2 << 30,
	Fill: fillWalk,
}

// fillWalk creates the directory tree, two writers at a time since
// creating files is syscall-bound.
func fillWalk(mnt string, st *Stamp) error {
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
// extent is compressed. DataTotal is their size in bytes.
const (
	dataBigSize   = 1 << 30
	dataSmallSize = 64 << 20
	dataSmallN    = 16
	DataTotal     = dataBigSize + dataSmallN*dataSmallSize
)

// DataImages are the data images by compression: plain, zstd, lzo, zlib.
var DataImages = map[string]*Spec{
	"plain": dataImage("plain", ""),
	"zstd":  dataImage("zstd", "compress-force=zstd"),
	"lzo":   dataImage("lzo", "compress-force=lzo"),
	"zlib":  dataImage("zlib", "compress-force=zlib"),
}

// DataAlgs is the order the data benchmarks run in.
var DataAlgs = []string{"plain", "zstd", "lzo", "zlib"}

func dataImage(alg, mountOpts string) *Spec {
	return &Spec{Name: "data-" + alg, Size: 3 << 30, Mount: mountOpts, Fill: fillData}
}

func fillData(mnt string, st *Stamp) error {
	files := []File{{Name: "big.txt", Size: dataBigSize}}
	for i := range dataSmallN {
		files = append(files, File{Name: fmt.Sprintf("f%02d.txt", i), Size: dataSmallSize})
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
