package compression

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// extent is one kernel-written compressed extent from testdata (see make.sh).
type extent struct {
	name       string
	alg        item.Compression
	sectorSize int
	ram        int
	sha        string
	src        []byte
}

var algByName = map[string]item.Compression{"zlib": item.CompressZlib, "lzo": item.CompressLZO, "zstd": item.CompressZstd}

func loadExtents(tb testing.TB) []extent {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "extents.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var exts []extent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 5 {
			tb.Fatalf("bad manifest line %q", line)
		}
		e := extent{name: fs[0], alg: algByName[fs[1]], sha: fs[4]}
		e.sectorSize, _ = strconv.Atoi(fs[2])
		e.ram, _ = strconv.Atoi(fs[3])
		if e.src, err = os.ReadFile(filepath.Join("testdata", fs[0])); err != nil {
			tb.Fatal(err)
		}
		exts = append(exts, e)
	}
	if len(exts) == 0 {
		tb.Fatal("no extents in the manifest")
	}
	return exts
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// decodeAll decodes e whole with a fresh buffer, failing the test on error.
func decodeAll(t *testing.T, d *Decoder, e extent) []byte {
	t.Helper()
	dst := make([]byte, e.ram)
	n, err := d.Decompress(dst, e.alg, e.src, e.sectorSize)
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	if n != e.ram {
		t.Fatalf("%s: produced %d bytes, want %d", e.name, n, e.ram)
	}
	return dst
}

func TestDecompressKernelExtents(t *testing.T) {
	var d Decoder
	for _, e := range loadExtents(t) {
		t.Run(e.name, func(t *testing.T) {
			full := decodeAll(t, &d, e)
			if got := sum(full); got != e.sha {
				t.Fatalf("sha256 %s, want %s", got, e.sha)
			}
			// The package-level function and a larger buffer agree, and the
			// data ends where ram_bytes says.
			big := make([]byte, e.ram+8192)
			n, err := Decompress(big, e.alg, e.src, e.sectorSize)
			if err != nil || n != e.ram || !bytes.Equal(big[:n], full) {
				t.Errorf("into %d bytes: got %d, %v", len(big), n, err)
			}
			// A short buffer gets the head of the data, in place.
			for _, want := range []int{0, 1, e.ram / 3, e.ram - 1} {
				buf := make([]byte, want+16)
				n, err := d.Decompress(buf[:want], e.alg, e.src, e.sectorSize)
				if err != nil || n != want || !bytes.Equal(buf[:n], full[:n]) {
					t.Errorf("into %d bytes: got %d, %v", want, n, err)
				}
				if !bytes.Equal(buf[want:], make([]byte, 16)) {
					t.Errorf("into %d bytes: wrote past the end of dst", want)
				}
			}
		})
	}
}

// TestDecompressTruncated cuts every extent at many points: decoding must
// fail with ErrCorrupt or produce a correct prefix, never panic.
func TestDecompressTruncated(t *testing.T) {
	var d Decoder
	for _, e := range loadExtents(t) {
		full := decodeAll(t, &d, e)
		dst := make([]byte, e.ram)
		step := max(1, len(e.src)/200)
		for k := 0; k < len(e.src); k += step {
			n, err := d.Decompress(dst, e.alg, e.src[:k], e.sectorSize)
			if err != nil {
				if !errors.Is(err, ondisk.ErrCorrupt) {
					t.Fatalf("%s cut to %d: error %v does not wrap ErrCorrupt", e.name, k, err)
				}
				continue
			}
			if !bytes.Equal(dst[:n], full[:n]) {
				t.Fatalf("%s cut to %d: no error but wrong data", e.name, k)
			}
		}
	}
}

// TestDecompressCorrupted flips bytes of every extent: decoding must not
// panic, and any error must wrap ErrCorrupt.
func TestDecompressCorrupted(t *testing.T) {
	var d Decoder
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range loadExtents(t) {
		dst := make([]byte, e.ram)
		src := make([]byte, len(e.src))
		for range 40 {
			copy(src, e.src)
			for range 1 + rng.IntN(3) {
				src[rng.IntN(min(len(src), 256))] ^= byte(1 + rng.IntN(255))
			}
			n, err := d.Decompress(dst, e.alg, src, e.sectorSize)
			if err != nil && !errors.Is(err, ondisk.ErrCorrupt) {
				t.Fatalf("%s: error %v does not wrap ErrCorrupt", e.name, err)
			}
			if n > len(dst) {
				t.Fatalf("%s: produced %d bytes into %d", e.name, n, len(dst))
			}
		}
	}
}

func TestDecompressErrors(t *testing.T) {
	exts := loadExtents(t)
	get := func(name string) []byte {
		for _, e := range exts {
			if e.name == name {
				return append([]byte{}, e.src...)
			}
		}
		t.Fatalf("no extent %s", name)
		return nil
	}
	put32 := func(b []byte, off int, v uint32) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	tests := []struct {
		what string
		alg  item.Compression
		src  []byte
		want string // in the error message
	}{
		{"zlib too short", item.CompressZlib, []byte{0x78, 0x9c}, "zlib data at byte 0"},
		{"zlib bad header", item.CompressZlib, append([]byte{0x78, 0x9d}, get("zlib-text-0.bin")[2:]...), "zlib data at byte 0: invalid header"},
		{"zlib preset dictionary", item.CompressZlib, []byte{0x78, 0xbb, 0, 0}, "zlib data at byte 1: header asks for a preset dictionary"},
		{"zlib big window", item.CompressZlib, []byte{0x88, 0x98, 0, 0}, "exceeds 32 KiB"},
		{"zlib bad block type", item.CompressZlib, []byte{0x78, 0x9c, 0x07, 0, 0}, "zlib data at byte 3"},
		{"zlib cut stream", item.CompressZlib, get("zlib-text-0.bin")[:1000], "zlib data at byte 1000"},
		{"lzo too short", item.CompressLZO, []byte{1, 0}, "lzo data at byte 0"},
		{"lzo total too big", item.CompressLZO, put32(get("lzo-text-0.bin"), 0, 1<<20), "lzo data at byte 0: total length 1048576"},
		{"lzo unused sectors", item.CompressLZO, put32(get("lzo-text-0.bin"), 0, 100), "leaves sectors"},
		{"lzo segment too big", item.CompressLZO, put32(get("lzo-text-0.bin"), 4, 5000), "lzo data at byte 4: segment length 5000 exceeds 4419"},
		{"lzo segment past total", item.CompressLZO, put32(put32(get("lzo-inline1k-0.bin"), 0, 100), 4, 200), "lzo data at byte 4: segment of 200 bytes crosses"},
		{"lzo bad segment", item.CompressLZO, put32(get("lzo-text-0.bin"), 4, 3), "lzo data at byte 8: segment of 3 bytes: lzo:"},
		{"zstd bad magic", item.CompressZstd, put32(get("zstd-text-0.bin"), 0, 0xFD2FB527), "zstd data at byte 0: magic"},
		{"zstd reserved bit", item.CompressZstd, func() []byte { b := get("zstd-text-0.bin"); b[4] |= 8; return b }(), "zstd data at byte 4"},
		{"zstd cut header", item.CompressZstd, get("zstd-text-0.bin")[:6], "zstd data at byte 4: frame header"},
		{"zstd cut block", item.CompressZstd, get("zstd-text-0.bin")[:100], "zstd data at byte 9: block of"},
		{"zstd reserved block", item.CompressZstd, func() []byte { b := get("zstd-text-0.bin"); b[9] |= 6; return b }(), "zstd data at byte 9: block type 3"},
		{"zstd bad block", item.CompressZstd, func() []byte { b := get("zstd-text-0.bin"); b[12] ^= 0xff; return b }(), "zstd data at byte 0: frame of"},
	}
	var d Decoder
	for _, tt := range tests {
		_, err := d.Decompress(make([]byte, 1<<17), tt.alg, tt.src, 4096)
		if !errors.Is(err, ondisk.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want ErrCorrupt with %q", tt.what, err, tt.want)
		}
	}

	for _, tt := range []struct {
		alg        item.Compression
		sectorSize int
	}{{item.CompressNone, 4096}, {4, 4096}, {item.CompressZlib, 0}, {item.CompressLZO, 6000}, {item.CompressZstd, 1 << 17}} {
		if _, err := d.Decompress(nil, tt.alg, []byte{1, 2, 3}, tt.sectorSize); err == nil || errors.Is(err, ondisk.ErrCorrupt) {
			t.Errorf("alg %d sector size %d: got %v, want a usage error", tt.alg, tt.sectorSize, err)
		}
	}
}

// lzoSegments splits kernel LZO data into its segment payloads.
func lzoSegments(tb testing.TB, src []byte, sectorSize int) [][]byte {
	var segs [][]byte
	total := int(binary.LittleEndian.Uint32(src))
	for pos := 4; pos < total; {
		n := int(binary.LittleEndian.Uint32(src[pos:]))
		segs = append(segs, src[pos+4:pos+4+n])
		pos += 4 + n
		if left := sectorSize - pos%sectorSize; left < 4 {
			pos += left
		}
	}
	return segs
}

// lzoFrame packs segments the way the kernel would for sectorSize and pads
// the result to whole sectors.
func lzoFrame(segs [][]byte, sectorSize int) []byte {
	b := []byte{0, 0, 0, 0}
	for _, s := range segs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
		if left := sectorSize - len(b)%sectorSize; left < 4 {
			b = append(b, make([]byte, left)...)
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return append(b, make([]byte, (sectorSize-len(b)%sectorSize)%sectorSize)...)
}

// TestLZOSectorSizes re-frames kernel segments (4 KiB each) for larger
// sectors, which this kernel cannot mount, to exercise the padding rule.
func TestLZOSectorSizes(t *testing.T) {
	var d Decoder
	for _, e := range loadExtents(t) {
		if e.alg != item.CompressLZO || e.ram < 8192 {
			continue
		}
		full := decodeAll(t, &d, e)
		segs := lzoSegments(t, e.src, e.sectorSize)
		if again := lzoFrame(segs, 4096); !bytes.Equal(again, e.src) {
			t.Fatalf("%s: re-framing for 4096 does not reproduce the kernel's bytes", e.name)
		}
		for _, ss := range []int{8192, 16384, 65536} {
			src := lzoFrame(segs, ss)
			dst := make([]byte, e.ram)
			n, err := d.Decompress(dst, item.CompressLZO, src, ss)
			if err != nil || n != e.ram || !bytes.Equal(dst, full) {
				t.Errorf("%s at sector size %d: got %d bytes, %v", e.name, ss, n, err)
			}
		}
	}
}

// TestFormatsBeyondKernelOutput covers what the kernel does not write but
// the decoders must still get right: a zlib stream at another level, and
// zstd frames with a checksum, without a content size and in several blocks.
func TestFormatsBeyondKernelOutput(t *testing.T) {
	data := bytes.Repeat([]byte("coldsend decodes btrfs extents; "), 5000)[:MaxUnit]
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(data); i += 7 {
		data[i] = byte(rng.IntN(256)) // make zstd emit several blocks
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, 4096-len(b)%4096)...) }

	var zb bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&zb, zlib.BestCompression)
	zw.Write(data)
	zw.Close()

	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithWindowSize(MaxUnit), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	withCRC := enc.EncodeAll(data, nil)
	var sb bytes.Buffer
	sw, _ := zstd.NewWriter(&sb, zstd.WithEncoderCRC(false), zstd.WithWindowSize(MaxUnit), zstd.WithEncoderConcurrency(1))
	sw.Write(data) // streaming: no content size in the header
	sw.Close()

	var d Decoder
	for _, tt := range []struct {
		what string
		alg  item.Compression
		src  []byte
	}{
		{"zlib level 9", item.CompressZlib, pad(zb.Bytes())},
		{"zstd with checksum", item.CompressZstd, pad(withCRC)},
		{"zstd without content size", item.CompressZstd, pad(sb.Bytes())},
	} {
		for _, dstLen := range []int{len(data), 1000} {
			dst := make([]byte, dstLen)
			n, err := d.Decompress(dst, tt.alg, tt.src, 4096)
			if err != nil || n != dstLen || !bytes.Equal(dst, data[:dstLen]) {
				t.Errorf("%s into %d bytes: got %d, %v", tt.what, dstLen, n, err)
			}
		}
	}
	end, fcs, err := zstdFrame(pad(withCRC))
	if err != nil || end != len(withCRC) || fcs != len(data) {
		t.Errorf("zstdFrame: end %d fcs %d err %v, want %d %d", end, fcs, err, len(withCRC), len(data))
	}
}

// TestDecoderNoGoroutines checks that the zstd decoder, used with
// concurrency 1, leaves nothing running that would leak with a Decoder.
func TestDecoderNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, e := range loadExtents(t) {
		var d Decoder
		decodeAll(t, &d, e)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

func BenchmarkDecompress(b *testing.B) {
	exts := loadExtents(b)
	for _, alg := range []string{"zlib", "lzo", "zstd"} {
		b.Run(alg, func(b *testing.B) {
			var set []extent
			total := 0
			for _, e := range exts {
				if e.alg == algByName[alg] {
					set = append(set, e)
					total += e.ram
				}
			}
			dst := make([]byte, MaxUnit, MaxUnit+Slack)
			var d Decoder
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range set {
					if _, err := d.Decompress(dst[:e.ram], e.alg, e.src, e.sectorSize); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
