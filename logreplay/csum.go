package logreplay

import (
	"bytes"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// This file ports the checksum tree operations replay uses (file-item.c):
// reading the log's checksums, deleting a range from the checksum tree,
// and adding checksums to it.

// sum is a run of checksums of consecutive sectors from logical on (the
// kernel's btrfs_ordered_sum).
type sum struct {
	logical uint64
	sums    []byte
}

func (s sum) length(r *replayer) uint64 {
	return uint64(len(s.sums)/r.csumSize) * r.sectorSize
}

func csumKey(bytenr uint64) ondisk.Key {
	return ondisk.Key{ObjectID: ondisk.ExtentCsumObjectID, Type: ondisk.ExtentCsumKey, Offset: bytenr}
}

func isCsumKey(k ondisk.Key) bool {
	return k.ObjectID == ondisk.ExtentCsumObjectID && k.Type == ondisk.ExtentCsumKey
}

// maxCsumItems is MAX_CSUM_ITEMS: the checksums one item may hold.
func (r *replayer) maxCsumItems() int {
	return (r.leafDataSize()-2*itemHdrSize)/r.csumSize - 1
}

func (r *replayer) parseCsum(k ondisk.Key, b []byte) (item.Csum, error) {
	c, err := item.ParseCsum(b, k.Offset, r.csumSize, int(r.sectorSize))
	if err != nil {
		return c, fmt.Errorf("%v: %w", k, err)
	}
	return c, nil
}

// lookupCsumsList is btrfs_lookup_csums_list on a log tree: the
// checksums its items hold for [start, end], each sector once (items
// that overlap an earlier one contribute only what is past it).
func (r *replayer) lookupCsumsList(l *logTree, start, end uint64) ([]sum, error) {
	c, err := l.t.SeekLE(csumKey(start))
	if err != nil {
		return nil, err
	}
	// Start from the item before start when it reaches into the range.
	if !c.Valid() {
		c, err = l.t.Seek(csumKey(start))
	} else if k := c.Key(); !isCsumKey(k) {
		err = c.Next()
	} else if k.Offset < start {
		cs, perr := r.parseCsum(k, c.Data())
		if perr != nil {
			return nil, perr
		}
		if cs.End() <= start {
			err = c.Next()
		}
	}
	if err != nil {
		return nil, err
	}
	var out []sum
	for start <= end && c.Valid() {
		k := c.Key()
		if !isCsumKey(k) || k.Offset > end {
			break
		}
		cs, err := r.parseCsum(k, c.Data())
		if err != nil {
			return nil, err
		}
		start = max(start, k.Offset)
		if cEnd := cs.End(); cEnd > start {
			to := min(cEnd, end+1)
			i := int((start-k.Offset)/r.sectorSize) * r.csumSize
			j := int((to-k.Offset+r.sectorSize-1)/r.sectorSize) * r.csumSize
			out = append(out, sum{logical: start, sums: bytes.Clone(cs.Sums[i:j])})
			start = to
		}
		if err := c.Next(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// delCsums is btrfs_del_csums: no checksum item covers [bytenr,
// bytenr+length) after it; items reaching over an edge are cut there (an
// item over both edges is split in two).
func (r *replayer) delCsums(t *tree, bytenr, length uint64) error {
	end := bytenr + length
	if length == 0 {
		return nil
	}
	k := csumKey(end - 1)
	for {
		it, ok, err := t.prev(k)
		if err != nil {
			return err
		}
		if !ok || !isCsumKey(it.key) {
			return nil
		}
		cs, err := r.parseCsum(it.key, it.data)
		if err != nil {
			return err
		}
		cStart, cEnd := it.key.Offset, cs.End()
		if cEnd <= bytenr {
			return nil
		}
		idx := func(at uint64) int { return int((at-cStart)/r.sectorSize) * r.csumSize }
		switch {
		case cStart >= bytenr && cEnd <= end:
			err = t.del(it.key)
		case cStart < bytenr && cEnd <= end:
			err = t.put(it.key, it.data[:idx(bytenr)])
		case cStart >= bytenr: // past end on the right: the head goes
			if err = t.del(it.key); err == nil {
				err = t.put(csumKey(end), it.data[idx(end):])
			}
		default: // over both edges
			if err = t.put(it.key, it.data[:idx(bytenr)]); err == nil {
				err = t.put(csumKey(end), it.data[idx(end):])
			}
		}
		if err != nil {
			return err
		}
		if cStart == 0 {
			return nil
		}
		k = csumKey(cStart - 1)
	}
}

// csumFileBlocks is btrfs_csum_file_blocks: the checksums go into the
// tree, extending the item that ends where they start when it has room,
// else into new items that stop short of the next item. (The kernel also
// bounds an extension by the free space of the item's leaf; this tree's
// leaves split instead, so items may be longer here, never overlapping.)
func (r *replayer) csumFileBlocks(t *tree, s sum) error {
	maxItems := r.maxCsumItems()
	logical, sums := s.logical, s.sums
	for len(sums) > 0 {
		n := len(sums) / r.csumSize
		// A sector already covered is overwritten in place.
		if it, ok, err := t.prev(csumKey(logical)); err != nil {
			return err
		} else if ok && isCsumKey(it.key) {
			cs, err := r.parseCsum(it.key, it.data)
			if err != nil {
				return err
			}
			if cs.End() > logical {
				i := int((logical-it.key.Offset)/r.sectorSize) * r.csumSize
				m := min(len(sums), len(it.data)-i)
				copy(it.data[i:], sums[:m])
				if err := t.put(it.key, it.data); err != nil {
					return err
				}
				logical += uint64(m/r.csumSize) * r.sectorSize
				sums = sums[m:]
				continue
			}
			if cs.End() == logical && len(it.data)/r.csumSize < maxItems {
				room := maxItems - len(it.data)/r.csumSize
				m := min(n, room)
				if lim, ok, err := r.nextCsumStart(t, logical); err != nil {
					return err
				} else if ok {
					m = min(m, int((lim-logical)/r.sectorSize))
				}
				if m > 0 {
					if err := t.put(it.key, append(it.data, sums[:m*r.csumSize]...)); err != nil {
						return err
					}
					logical += uint64(m) * r.sectorSize
					sums = sums[m*r.csumSize:]
					continue
				}
			}
		}
		m := min(n, maxItems)
		if lim, ok, err := r.nextCsumStart(t, logical); err != nil {
			return err
		} else if ok {
			m = max(1, min(m, int((lim-logical)/r.sectorSize)))
		}
		if err := t.put(csumKey(logical), bytes.Clone(sums[:m*r.csumSize])); err != nil {
			return err
		}
		logical += uint64(m) * r.sectorSize
		sums = sums[m*r.csumSize:]
	}
	return nil
}

// nextCsumStart is where the first checksum item after logical starts.
func (r *replayer) nextCsumStart(t *tree, logical uint64) (uint64, bool, error) {
	it, ok, err := t.after(csumKey(logical))
	if err != nil || !ok || !isCsumKey(it.key) {
		return 0, false, err
	}
	return it.key.Offset, true, nil
}
