package compression

import (
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

const zstdMagic = 0xFD2FB528

// zstdDecode decodes the single zstd frame the kernel writes per extent.
// The frame is followed by zero padding to the end of the sector, which a
// "decode all frames" API would take for a bad next frame, so the frame's
// end is found first by walking its block headers.
func (d *Decoder) zstdDecode(dst, src []byte) (int, error) {
	end, fcs, err := zstdFrame(src)
	if err != nil {
		return 0, err
	}
	if d.zstd == nil {
		// The kernel compresses with at most a 128 KiB window and sizes its
		// decoder for that, so larger windows fail there too.
		d.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxUnit), zstd.WithDecoderMaxMemory(MaxUnit), zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return 0, err
		}
	}
	size := MaxUnit
	if fcs >= 0 && fcs <= MaxUnit {
		size = fcs
	}
	// The decoder's fast loops write up to Slack bytes past what they
	// produce; without that room it takes its slower safe loops.
	buf, direct := d.out(dst, size, Slack)
	// With the cap limit DecodeAll never reallocates buf: it fails instead.
	out, err := d.zstd.DecodeAll(src[:end], buf[:0])
	if err != nil {
		return 0, corruptErr("zstd", 0, fmt.Errorf("frame of %d bytes: %w", end, err))
	}
	if len(out) > size {
		return 0, corrupt("zstd", 0, "frame of %d bytes decodes to more than %d bytes", end, size)
	}
	if direct {
		return len(out), nil
	}
	return copy(dst, out), nil
}

// zstdFrame checks the frame header and block headers of the zstd frame at
// the start of src and returns its length and its content size (-1 when the
// header does not say, MaxUnit+1 when it says more than MaxUnit).
func zstdFrame(src []byte) (end, fcs int, err error) {
	if len(src) < 6 {
		return 0, 0, corrupt("zstd", 0, "%d bytes cannot hold a frame header", len(src))
	}
	if m := binary.LittleEndian.Uint32(src); m != zstdMagic {
		return 0, 0, corrupt("zstd", 0, "magic %#08x is not a zstd frame", m)
	}
	fhd := src[4]
	if fhd&0x08 != 0 {
		return 0, 0, corrupt("zstd", 4, "frame header descriptor %#02x sets the reserved bit", fhd)
	}
	single := fhd&0x20 != 0
	pos := 5
	if !single {
		pos++ // window descriptor
	}
	pos += [4]int{0, 1, 2, 4}[fhd&3] // dictionary ID
	fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsSize == 0 && single {
		fcsSize = 1
	}
	if len(src) < pos+fcsSize {
		return 0, 0, corrupt("zstd", 4, "frame header of %d bytes is cut off", pos+fcsSize)
	}
	var v uint64
	switch fcsSize {
	case 0:
		fcs = -1
	case 1:
		v = uint64(src[pos])
	case 2:
		v = uint64(binary.LittleEndian.Uint16(src[pos:])) + 256
	case 4:
		v = uint64(binary.LittleEndian.Uint32(src[pos:]))
	case 8:
		v = binary.LittleEndian.Uint64(src[pos:])
	}
	if fcsSize > 0 {
		// Anything over MaxUnit is as bad as any other: DecodeAll refuses it.
		fcs = int(min(v, MaxUnit+1))
	}
	pos += fcsSize
	for {
		if len(src)-pos < 3 {
			return 0, 0, corrupt("zstd", pos, "block header cut off")
		}
		h := uint32(src[pos]) | uint32(src[pos+1])<<8 | uint32(src[pos+2])<<16
		size := int(h >> 3)
		switch (h >> 1) & 3 {
		case 1: // RLE: one byte repeated size times
			size = 1
		case 3:
			return 0, 0, corrupt("zstd", pos, "block type 3 is reserved")
		}
		if size > MaxUnit || len(src)-pos-3 < size {
			return 0, 0, corrupt("zstd", pos, "block of %d bytes overruns the %d bytes of data", size, len(src))
		}
		pos += 3 + size
		if h&1 != 0 {
			break
		}
	}
	if fhd&0x04 != 0 {
		if len(src)-pos < 4 {
			return 0, 0, corrupt("zstd", pos, "content checksum cut off")
		}
		pos += 4
	}
	return pos, fcs, nil
}
