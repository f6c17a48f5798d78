package compression

import (
	"encoding/binary"
	"fmt"
)

const lzoLen = 4 // the le32 total length and segment length headers

// lzoWorst is lzo1x_worst_compress: the kernel's bound on one segment's
// payload, and also the buffer a segment is decoded into.
func lzoWorst(sectorSize int) int {
	return sectorSize + sectorSize/16 + 64 + 3
}

// lzo decodes btrfs's LZO framing: a le32 total length (including itself),
// then segments {le32 length, LZO1X data}, each decoding to at most one
// sector. A segment header never straddles a sector boundary of src; the
// writer pads the sector's last 1-3 bytes with zeros instead.
func (d *Decoder) lzo(dst, src []byte, sectorSize int) (int, error) {
	if len(src) < lzoLen {
		return 0, corrupt("lzo", 0, "%d bytes cannot hold the length header", len(src))
	}
	total32 := binary.LittleEndian.Uint32(src)
	if uint64(total32) > uint64(len(src)) || total32 > MaxUnit {
		return 0, corrupt("lzo", 0, "total length %d exceeds the %d bytes of compressed data (limit %d)", total32, len(src), MaxUnit)
	}
	total := int(total32)
	// Like the kernel, insist that the extent has no unused sectors.
	if (total+sectorSize-1)/sectorSize*sectorSize < len(src) {
		return 0, corrupt("lzo", 0, "total length %d leaves sectors of the %d bytes unused", total, len(src))
	}
	worst := lzoWorst(sectorSize)
	n := 0
	for pos := lzoLen; pos < total && n < len(dst); {
		if total-pos < lzoLen {
			return n, corrupt("lzo", pos, "segment header crosses the total length %d", total)
		}
		seg32 := binary.LittleEndian.Uint32(src[pos:])
		pos += lzoLen
		if seg32 > uint32(worst) {
			return n, corrupt("lzo", pos-lzoLen, "segment length %d exceeds %d", seg32, worst)
		}
		segLen := int(seg32)
		if segLen > total-pos {
			return n, corrupt("lzo", pos-lzoLen, "segment of %d bytes crosses the total length %d", segLen, total)
		}
		// The kernel lets a segment decode to a full worst-case buffer and
		// keeps what fits in the output; so do we.
		out, direct := d.out(dst[n:], worst, 0)
		m, err := lzo1x(out, src[pos:pos+segLen])
		if err != nil {
			return n, corruptErr("lzo", pos, fmt.Errorf("segment of %d bytes: %w", segLen, err))
		}
		if direct {
			n += m
		} else {
			n += copy(dst[n:], out[:m])
		}
		pos += segLen
		if left := sectorSize - pos%sectorSize; left < lzoLen {
			pos += left
		}
	}
	return n, nil
}
