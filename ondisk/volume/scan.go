package volume

import (
	"bytes"
	"encoding/binary"

	"github.com/coldsend/coldsend/ondisk"
)

// scanWindow is how much of a chunk ScanTreeBlocks reads at once: large
// reads for speed, bounded so memory does not grow with the chunk.
const scanWindow = 1 << 20

// ScanTreeBlocks calls fn with the header of every tree block found in
// the chunks where tree blocks live (metadata and mixed block groups),
// nodesize by nodesize from each chunk's start: every block whose header
// names this filesystem and its own logical address and whose checksum
// verifies, whatever its tree, level or generation. A block that fails on
// the first copy is tried on the others. No warnings are issued: most of
// what a scan reads is free space. fn's error stops the scan.
//
// It mirrors btrfs-progs' btrfs_find_root_search (common/find-root.c),
// which walks btrfs_next_bg_metadata's block groups the same way.
func (v *Volume) ScanTreeBlocks(fn func(h ondisk.Header) error) error {
	ns := uint64(v.sb.NodeSize)
	buf := make([]byte, scanWindow)
	one := make([]byte, ns)
	for i := range v.chunks.chunks {
		c := &v.chunks.chunks[i]
		if c.Type&ondisk.BlockGroupMetadata == 0 {
			continue
		}
		for off := uint64(0); off+ns <= c.Length; {
			n := min(uint64(len(buf)), c.Length-off) / ns * ns
			win := buf[:n]
			winErr := v.ReadMirror(win, c.Logical+Logical(off), 0)
			for b := uint64(0); b < n; b += ns {
				logical := c.Logical + Logical(off+b)
				blk := win[b : b+ns]
				if winErr == nil && v.isTreeBlock(blk, logical) {
					if err := v.reportBlock(blk, fn); err != nil {
						return err
					}
					continue
				}
				// Only a block that claims to be here, or an unreadable
				// window, is worth the other copies.
				if winErr == nil && !v.claims(blk, logical) {
					continue
				}
				first := 1
				if winErr != nil {
					first = 0 // the window failed, perhaps not this block
				}
				for m := first; m < c.NumCopies(); m++ {
					if v.ReadMirror(one, logical, m) == nil && v.isTreeBlock(one, logical) {
						if err := v.reportBlock(one, fn); err != nil {
							return err
						}
						break
					}
				}
			}
			off += n
		}
	}
	return nil
}

// claims reports whether b's header names this filesystem and logical.
func (v *Volume) claims(b []byte, logical Logical) bool {
	return bytes.Equal(b[32:48], v.metaFSID[:]) && binary.LittleEndian.Uint64(b[48:]) == uint64(logical)
}

// isTreeBlock reports whether b is a tree block of this filesystem at
// logical with a valid checksum.
func (v *Volume) isTreeBlock(b []byte, logical Logical) bool {
	return v.claims(b, logical) && v.sb.CsumType.Verify(b[:ondisk.CsumSize], b[ondisk.CsumSize:])
}

func (v *Volume) reportBlock(b []byte, fn func(ondisk.Header) error) error {
	h, err := ondisk.ParseHeader(b)
	if err != nil || h.Level >= ondisk.MaxLevel {
		return nil
	}
	return fn(h)
}
