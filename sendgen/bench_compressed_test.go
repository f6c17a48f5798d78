package sendgen_test

// BenchmarkCompressedSend sends a 2.5 GiB subvolume written with
// compress-force=zstd four ways in one run: coldsend and the kernel, each
// with protocol 2 --compressed-data (compressed extents pass through as
// encoded writes) and with protocol 1 (every extent decompressed). Both
// coldsend streams are checked against the kernel's, recorded when the
// image was built. Conditions as in BenchmarkFullSend.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/sendgen"
)

const (
	zstdFiles    = 20
	zstdFileSize = 128 << 20
)

var zstdSendImage = benchimage.Spec{
	Name:  "send-zstd",
	Size:  8 << 30,
	Mount: "compress-force=zstd",
	Fill:  fillZstdSend,
}

// zstdSends are the two sends the benchmark compares, as btrfs send flags.
var zstdSends = []struct {
	name  string
	flags []string
	opts  sendgen.Options
}{
	{"v2-compressed", []string{"--proto", "2", "--compressed-data"}, sendgen.Options{Proto: 2, CompressedData: true}},
	{"v1", []string{"--proto", "1"}, sendgen.Options{Proto: 1}},
}

// fillZstdSend writes zstdFiles files of log-like text into subvolume
// "vol", snapshots it read-only as "snap" and records the kernel's streams.
func fillZstdSend(mnt string, st *benchimage.Stamp) error {
	vol := filepath.Join(mnt, "vol")
	if err := benchimage.Run("btrfs", "subvolume", "create", vol); err != nil {
		return err
	}
	for i := range zstdFiles {
		if err := writeLogText(filepath.Join(vol, fmt.Sprintf("log-%02d.txt", i)), zstdFileSize, uint64(i)); err != nil {
			return err
		}
	}
	snap := filepath.Join(mnt, "snap")
	if err := benchimage.Run("btrfs", "subvolume", "snapshot", "-r", vol, snap); err != nil {
		return err
	}
	if err := benchimage.Run("btrfs", "filesystem", "sync", mnt); err != nil {
		return err
	}
	for _, sd := range zstdSends {
		ks, err := benchimage.KernelSend("snap.full."+sd.name, append(slices.Clone(sd.flags), snap)...)
		if err != nil {
			return err
		}
		st.Streams = append(st.Streams, ks)
	}
	return nil
}

var logWords = strings.Fields("request served cache miss hit upstream timeout retry user session " +
	"token refresh commit rollback index scan write read flush disk queue worker shard replica " +
	"leader follower vote heartbeat snapshot compaction merge split")

// writeLogText writes size bytes of log lines (timestamp, level, words,
// numbers): text that zstd compresses about 3-4×.
func writeLogText(name string, size int64, seed uint64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 7))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	var line []byte
	for n := int64(0); n < size; {
		line = line[:0]
		line = strconv.AppendInt(line, 1700000000+n/100, 10)
		line = append(line, ' ')
		line = append(line, levels[rng.IntN(len(levels))]...)
		for range 4 + rng.IntN(8) {
			line = append(line, ' ')
			line = append(line, logWords[rng.IntN(len(logWords))]...)
		}
		line = append(line, " id="...)
		line = strconv.AppendUint(line, rng.Uint64N(1e6), 10)
		line = append(line, '\n')
		line = line[:min(int64(len(line)), size-n)]
		w.Write(line)
		n += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func BenchmarkCompressedSend(b *testing.B) {
	img, st := benchimage.Cached(b, &zstdSendImage)
	if len(st.Streams) != len(zstdSends) {
		b.Fatalf("%s: the stamp records %d kernel streams, want %d", img, len(st.Streams), len(zstdSends))
	}
	for i, sd := range zstdSends {
		want := st.Streams[i]
		b.Run(sd.name, func(b *testing.B) {
			b.Run("coldsend", func(b *testing.B) {
				sv, closeFS := openSnap(b, img)
				hw := hashWriter{h: sha256.New()}
				err := sendgen.Send(&hw, sv, sd.opts)
				closeFS()
				if err != nil {
					b.Fatal(err)
				}
				if got := hex.EncodeToString(hw.h.Sum(nil)); hw.n != want.Size || got != want.SHA256 {
					b.Fatalf("coldsend's stream is %d bytes with SHA-256 %s; the kernel's (%s) was %d bytes with %s", hw.n, got, want.Name, want.Size, want.SHA256)
				}
				b.SetBytes(zstdFiles * zstdFileSize)
				for b.Loop() {
					sv, closeFS := openSnap(b, img)
					var w countWriter
					if err := sendgen.Send(&w, sv, sd.opts); err != nil {
						b.Fatal(err)
					}
					closeFS()
				}
				b.ReportMetric(float64(want.Size)/1e6, "stream-MB")
				benchimage.RecordColdsend(b)
			})
			b.Run("kernel", func(b *testing.B) {
				benchimage.NeedMount(b)
				b.SetBytes(zstdFiles * zstdFileSize)
				for b.Loop() {
					b.StopTimer()
					err := benchimage.WithMount(img, "ro", func(mnt string) error {
						b.StartTimer()
						defer b.StopTimer()
						args := append(append([]string{"send", "-q", "-f", os.DevNull}, sd.flags...), filepath.Join(mnt, "snap"))
						return benchimage.Run("btrfs", args...)
					})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(want.Size)/1e6, "stream-MB")
				benchimage.ReportKernelRatio(b)
			})
		})
	}
}
