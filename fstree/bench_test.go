package fstree_test

// Benchmarks on kernel-made images (internal/benchimage/readimages.go),
// each beside the kernel doing the same work on the same image: both read
// the image from the page cache, and both start with cold filesystem
// caches (a fresh fstree.Open, a fresh mount). The
// kernel's figure carries the metric coldsend/kernel: coldsend's time per
// op over the kernel's, measured in the same run.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

func topLevel(tb testing.TB, fs *fstree.FS) *fstree.Subvol {
	s, err := fs.OpenSubvol(ondisk.FSTreeObjectID)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// walkInodes reads every directory below dir and the inode of every entry,
// and returns how many inodes it read.
func walkInodes(s *fstree.Subvol, dir uint64) (int, error) {
	n := 0
	for e, err := range s.Entries(dir) {
		if err != nil {
			return n, err
		}
		if _, err := s.Inode(e.Location.ObjectID); err != nil {
			return n, err
		}
		n++
		if e.Type == item.FTDir {
			m, err := walkInodes(s, e.Location.ObjectID)
			n += m
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// kernelWalk is walkInodes through the kernel: getdents and fstatat, as
// find does.
func kernelWalk(dir *os.File) (int, error) {
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	n := 0
	fd := int(dir.Fd())
	var st unix.Stat_t
	for _, e := range ents {
		if err := unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return n, err
		}
		n++
		if e.IsDir() {
			sub, err := os.Open(filepath.Join(dir.Name(), e.Name()))
			if err != nil {
				return n, err
			}
			m, err := kernelWalk(sub)
			sub.Close()
			n += m
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// BenchmarkWalkInodes reads every inode of a 200k-file subvolume: the
// directories recursively and the inode of each entry.
func BenchmarkWalkInodes(b *testing.B) {
	img, st := benchimage.Cached(b, &benchimage.WalkImage)
	b.Run("coldsend", func(b *testing.B) {
		b.ReportAllocs()
		var blocks uint64
		for b.Loop() {
			fs, closeFS := benchimage.Open(b, img)
			s := topLevel(b, fs)
			if _, err := s.Inode(ondisk.SubvolumeRootDirInodeID); err != nil {
				b.Fatal(err)
			}
			n, err := walkInodes(s, ondisk.SubvolumeRootDirInodeID)
			if err != nil {
				b.Fatal(err)
			}
			if n+1 != st.Inodes {
				b.Fatalf("walked %d inodes, the image has %d", n+1, st.Inodes)
			}
			blocks += fs.Cache().Stats().Misses
			closeFS()
		}
		b.ReportMetric(float64(st.Inodes)*float64(b.N)/b.Elapsed().Seconds(), "inodes/s")
		b.ReportMetric(float64(blocks)/float64(b.N), "blocks/op")
		benchimage.RecordColdsend(b)
	})
	b.Run("kernel", func(b *testing.B) {
		benchimage.NeedMount(b)
		for b.Loop() {
			b.StopTimer()
			err := benchimage.WithMount(img, "ro", func(mnt string) error {
				root, err := os.Open(mnt)
				if err != nil {
					return err
				}
				defer root.Close()
				b.StartTimer()
				n, err := kernelWalk(root)
				b.StopTimer()
				if err == nil && n+1 != st.Inodes {
					err = fmt.Errorf("walked %d inodes, the image has %d", n+1, st.Inodes)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(st.Inodes)*float64(b.N)/b.Elapsed().Seconds(), "inodes/s")
		benchimage.ReportKernelRatio(b)
	})
}

// sink stands in for standard output: it counts bytes and, like an
// *os.File writing to a pipe, has no ReadFrom, so io.Copy reads 32 KiB at
// a time. With heap set it tracks the peak of the live heap.
type sink struct {
	n       int64
	heap    []metrics.Sample
	maxHeap uint64
}

func (s *sink) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.heap != nil {
		metrics.Read(s.heap)
		s.maxHeap = max(s.maxHeap, s.heap[0].Value.Uint64())
	}
	return len(p), nil
}

// dataFiles opens the files of a data image.
func dataFiles(tb testing.TB, s *fstree.Subvol, st *benchimage.Stamp) []*fstree.File {
	var files []*fstree.File
	for _, bf := range st.Files {
		e, err := s.Lookup(ondisk.SubvolumeRootDirInodeID, []byte(bf.Name))
		if err != nil {
			tb.Fatalf("%s: %v", bf.Name, err)
		}
		f, err := s.OpenFile(e.Location.ObjectID)
		if err != nil {
			tb.Fatal(err)
		}
		if f.Size() != bf.Size {
			tb.Fatalf("%s is %d bytes, want %d", bf.Name, f.Size(), bf.Size)
		}
		files = append(files, f)
	}
	return files
}

// checkData makes sure the image holds what the benchmark means to
// measure: every data extent compressed with alg (none for plain), and
// the files' bytes as written. It returns file bytes over disk bytes.
func checkData(tb testing.TB, img, alg string, st *benchimage.Stamp) float64 {
	want := map[string]item.Compression{"plain": item.CompressNone, "zlib": item.CompressZlib, "lzo": item.CompressLZO, "zstd": item.CompressZstd}[alg]
	fs, closeFS := benchimage.Open(tb, img)
	defer closeFS()
	s := topLevel(tb, fs)
	var fileBytes, diskBytes uint64
	for i, f := range dataFiles(tb, s, st) {
		for it, err := range s.Tree.ObjectItems(f.Ino, ondisk.ExtentDataKey) {
			fe := item.FileExtent{}
			if err == nil {
				fe, err = item.ParseFileExtent(it.Data)
			}
			switch {
			case err != nil:
			case fe.Type != item.FileExtentReg || fe.DiskBytenr == 0:
				err = fmt.Errorf("extent at offset %d is not a regular extent", it.Key.Offset)
			case fe.Compression != want:
				err = fmt.Errorf("extent at offset %d is %s, want %s", it.Key.Offset, fe.Compression, want)
			}
			if err != nil {
				tb.Fatalf("%s: %s: %v", img, st.Files[i].Name, err)
			}
			fileBytes += fe.NumBytes
			diskBytes += fe.DiskNumBytes
		}
		h := sha256.New()
		if _, err := f.WriteTo(h); err != nil {
			tb.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != st.Files[i].SHA256 {
			tb.Fatalf("%s: %s reads with SHA-256 %s, it was written with %s", img, st.Files[i].Name, got, st.Files[i].SHA256)
		}
	}
	return float64(fileBytes) / float64(diskBytes)
}

// BenchmarkReadData streams the 2 GiB of file data of an image, plain or
// compressed: "coldsend" through File.WriteTo, as the CLI's cat does,
// "readat" through ReadAt in 32 KiB reads (io.Copy over an
// io.SectionReader, the random-access path), "kernel" through a mount with
// 1 MiB reads. Before timing, checkData makes sure every extent is
// compressed as the image says and that the files read back as written.
func BenchmarkReadData(b *testing.B) {
	for _, alg := range benchimage.DataAlgs {
		b.Run(alg, func(b *testing.B) {
			img, st := benchimage.Cached(b, benchimage.DataImages[alg])
			ratio := checkData(b, img, alg, st)
			b.Run("coldsend", func(b *testing.B) {
				benchReadData(b, img, st, (*fstree.File).WriteTo)
				b.ReportMetric(ratio, "compress-ratio")
				benchimage.RecordColdsend(b)
			})
			b.Run("readat", func(b *testing.B) {
				buf := make([]byte, 32<<10)
				benchReadData(b, img, st, func(f *fstree.File, w io.Writer) (int64, error) {
					return io.CopyBuffer(w, io.NewSectionReader(f, 0, f.Size()), buf)
				})
			})
			b.Run("kernel", func(b *testing.B) {
				benchimage.NeedMount(b)
				b.SetBytes(benchimage.DataTotal)
				buf := make([]byte, 1<<20)
				for b.Loop() {
					b.StopTimer()
					err := benchimage.WithMount(img, "ro", func(mnt string) error {
						b.StartTimer()
						defer b.StopTimer()
						for _, bf := range st.Files {
							if err := kernelRead(filepath.Join(mnt, bf.Name), bf.Size, buf); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				benchimage.ReportKernelRatio(b)
			})
		})
	}
}

func benchReadData(b *testing.B, img string, st *benchimage.Stamp, copyFn func(*fstree.File, io.Writer) (int64, error)) {
	b.SetBytes(benchimage.DataTotal)
	b.ReportAllocs()
	for b.Loop() {
		fs, closeFS := benchimage.Open(b, img)
		var w sink
		for _, f := range dataFiles(b, topLevel(b, fs), st) {
			if _, err := copyFn(f, &w); err != nil {
				b.Fatal(err)
			}
		}
		closeFS()
		if w.n != benchimage.DataTotal {
			b.Fatalf("read %d bytes, want %d", w.n, benchimage.DataTotal)
		}
	}
}

func kernelRead(name string, size int64, buf []byte) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n != size {
		return fmt.Errorf("%s: read %d bytes, want %d", name, n, size)
	}
	return nil
}

// BenchmarkFileMemory streams one file of 64 MiB and one of 1 GiB with a
// warm block cache: the bytes allocated (B/op) and the live heap's growth
// while streaming (heap-MiB) stay the same whatever the file size. The
// tree blocks a file needs (its extent items, its checksums: one leaf per
// ~16 MiB of data with crc32c) grow with it, but live in the block cache,
// bounded by fstree.Options.CacheBytes; cache-MiB is what they take.
func BenchmarkFileMemory(b *testing.B) {
	for _, alg := range []string{"plain", "zstd"} {
		b.Run(alg, func(b *testing.B) {
			img, st := benchimage.Cached(b, benchimage.DataImages[alg])
			for _, tc := range []struct {
				name string
				file int // index in st.Files
			}{{"64MiB", 1}, {"1GiB", 0}} {
				b.Run(tc.name, func(b *testing.B) {
					fs, closeFS := benchimage.Open(b, img)
					defer closeFS()
					s := topLevel(b, fs)
					ino := dataFiles(b, s, st)[tc.file].Ino
					read := func(w io.Writer) {
						f, err := s.OpenFile(ino)
						if err == nil {
							_, err = f.WriteTo(w)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					read(io.Discard) // warms the block cache
					b.SetBytes(st.Files[tc.file].Size)
					b.ReportAllocs()
					w := sink{heap: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
					var growth uint64
					for b.Loop() {
						b.StopTimer()
						runtime.GC()
						metrics.Read(w.heap)
						base := w.heap[0].Value.Uint64()
						w.maxHeap = base
						b.StartTimer()
						read(&w)
						growth = max(growth, w.maxHeap-base)
					}
					b.ReportMetric(float64(growth)/(1<<20), "heap-MiB")
					b.ReportMetric(float64(fs.Cache().Stats().Bytes)/(1<<20), "cache-MiB")
				})
			}
		})
	}
}
