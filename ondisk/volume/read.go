package volume

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coldsend/coldsend/ondisk"
)

// Reading a logical range. The normal read takes the first copy, or the
// data stripes of RAID5/6, working around missing devices. Only when that
// fails (an I/O error, or a unit failing its check) are the other ways
// the profile allows tried, unit by unit: every other mirror, or for
// RAID5/6 a rebuild from parity treating each stripe (RAID6: each one or
// two stripes) as the one holding bad bytes, since a device that is
// present can still be wrong (zeroed, overwritten, stale). A unit is the
// granularity the caller can verify: a sector for data checked against
// the checksum tree, the whole block for a tree block.

// mapStripe locates byte off of chunk c for mirror (which must be below
// c.NumCopies; RAID5/6 are handled by raidPieces): the stripe index, the
// physical offset and how many bytes are contiguous from there.
func (c *Chunk) mapStripe(off uint64, mirror int) (idx int, phys Physical, n uint64) {
	sn, so := off/ondisk.StripeLen, off%ondisk.StripeLen
	switch c.Profile() {
	case ondisk.BlockGroupRAID0:
		k := uint64(len(c.Stripes))
		idx = int(sn % k)
		return idx, addSat(c.Stripes[idx].Offset, (sn/k)*ondisk.StripeLen+so), ondisk.StripeLen - so
	case ondisk.BlockGroupRAID10:
		sub := uint64(c.SubStripes)
		groups := uint64(len(c.Stripes)) / sub
		idx = int((sn%groups)*sub) + mirror
		return idx, addSat(c.Stripes[idx].Offset, (sn/groups)*ondisk.StripeLen+so), ondisk.StripeLen - so
	case ondisk.BlockGroupDUP, ondisk.BlockGroupRAID1, ondisk.BlockGroupRAID1C3, ondisk.BlockGroupRAID1C4:
		idx = mirror
	}
	return idx, addSat(c.Stripes[idx].Offset, off), c.Length - off
}

// location says where a read was served from, for messages.
type location struct {
	devid   DevID
	phys    Physical
	rebuilt string // parity used when the data was rebuilt
	missing DevID  // devid whose absence forced another copy or a rebuild, 0 if none
	treated []DevID
}

func (l location) String() string {
	switch {
	case len(l.treated) > 0:
		return fmt.Sprintf("a rebuild from %s treating %s as bad", l.rebuilt, devidList(l.treated))
	case l.rebuilt == "" && l.missing != 0:
		return fmt.Sprintf("devid %d missing, read devid %d physical %d", l.missing, l.devid, l.phys)
	case l.rebuilt == "":
		return fmt.Sprintf("devid %d physical %d", l.devid, l.phys)
	case l.missing != 0:
		return fmt.Sprintf("devid %d missing, rebuilt from %s", l.missing, l.rebuilt)
	}
	return "rebuilt from " + l.rebuilt
}

func devidList(ids []DevID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	if len(s) == 1 {
		return "devid " + s[0]
	}
	return "devids " + strings.Join(s, " and ")
}

// lookupRange finds the chunk holding [logical, logical+n).
func (v *Volume) lookupRange(logical Logical, n int) (int, error) {
	i := v.chunks.index(logical)
	if i < 0 {
		return -1, invalidf("no chunk maps this address")
	}
	c := &v.chunks.chunks[i]
	if uint64(n) > uint64(c.End()-logical) {
		return -1, invalidf("%d bytes run past the end of the %s chunk [%d, %d)", n, c.ProfileName(), c.Logical, c.End())
	}
	return i, nil
}

// mirrorPiece is the part of a read of a mirrored or striped chunk that
// one stripe serves.
type mirrorPiece struct {
	idx  int      // stripe index in the chunk
	phys Physical // physical offset on that stripe's device
	n    uint64
	// missing is the devid of the copy asked for when its device is
	// missing and another copy stands in, 0 otherwise.
	missing DevID
}

// mirrorPieces calls fn for each piece of [off, off+n) of chunk c read
// from copy mirror, pos being the piece's offset in the range. Where the
// copy's device is missing, any other copy will do (RAID10 may need
// different ones for different stripes).
func mirrorPieces(c *Chunk, devs []*Device, off, n uint64, mirror int, fn func(pos uint64, pc mirrorPiece) error) error {
	for pos := uint64(0); pos < n; {
		idx, phys, avail := c.mapStripe(off+pos, mirror)
		pc := mirrorPiece{idx: idx, phys: phys, n: min(avail, n-pos)}
		if devs[idx] == nil {
			for k := 1; k < c.NumCopies(); k++ {
				i2, p2, _ := c.mapStripe(off+pos, (mirror+k)%c.NumCopies())
				if devs[i2] != nil {
					pc.missing, pc.idx, pc.phys = c.Stripes[idx].DevID, i2, p2
					break
				}
			}
		}
		if err := fn(pos, pc); err != nil {
			return err
		}
		pos += pc.n
	}
	return nil
}

func (pc mirrorPiece) location(c *Chunk) location {
	return location{devid: c.Stripes[pc.idx].DevID, phys: pc.phys, missing: pc.missing}
}

// raidPiece is the part of a read of a RAID5/6 chunk inside one stripe
// element: data index target of one row.
type raidPiece struct {
	row    raidRow
	target int
	n      uint64
}

// raidPieces calls fn for each piece of [off, off+n) of RAID5/6 chunk c.
func raidPieces(c *Chunk, devs []*Device, off, n uint64, fn func(pos uint64, pc raidPiece) error) error {
	d := len(c.Stripes) - c.parity()
	for pos := uint64(0); pos < n; {
		o := off + pos
		sn, so := o/ondisk.StripeLen, o%ondisk.StripeLen
		pc := raidPiece{
			row:    raidRow{c: c, devs: devs, fs: sn / uint64(d), so: so, d: d},
			target: int(sn % uint64(d)),
			n:      min(ondisk.StripeLen-so, n-pos),
		}
		if err := fn(pos, pc); err != nil {
			return err
		}
		pos += pc.n
	}
	return nil
}

// lostSet marks the row indexes a rebuild of target must not use: target
// itself, stripes on missing devices, stripes whose chunk index is in bad,
// and P when skipP is set.
func (r *raidRow) lostSet(target int, bad []int, skipP bool) []bool {
	lost := make([]bool, len(r.c.Stripes))
	lost[target] = true
	if skipP {
		lost[r.d] = true
	}
	for k := range lost {
		si := r.stripeIndex(k)
		if r.devs[si] == nil || slices.Contains(bad, si) {
			lost[k] = true
		}
	}
	return lost
}

// raidLost says how a reads one RAID5/6 piece: directly (nil) or rebuilt
// without the row indexes marked in the returned set.
func (a *attempt) raidLost(pc *raidPiece) []bool {
	si := pc.row.stripeIndex(pc.target)
	switch {
	case a.mirror > 0:
		// ReadMirror's numbering: 1 rebuilds from P, 2 from Q.
		return pc.row.lostSet(pc.target, nil, a.mirror == 2)
	case pc.row.devs[si] == nil || slices.Contains(a.bad, si):
		return pc.row.lostSet(pc.target, a.bad, false)
	}
	return nil
}

// attempt is one way to read a range: a copy of a mirrored profile, or for
// RAID5/6 the stripes treated as bad (beside missing devices) and rebuilt
// from the others wherever their data is needed. The first attempt of
// every profile is the normal read.
type attempt struct {
	mirror int   // the copy (RAID5/6: ReadMirror's numbering, 0 for repairs)
	bad    []int // RAID5/6: chunk stripe indexes treated as bad
}

// attempts lists the ways to read chunk c, the normal read first.
func (c *Chunk) attempts() []attempt {
	if c.parity() == 0 {
		out := make([]attempt, c.NumCopies())
		for m := range out {
			out[m].mirror = m
		}
		return out
	}
	out := []attempt{{}}
	for i := range c.Stripes {
		out = append(out, attempt{bad: []int{i}})
	}
	if c.parity() == 2 {
		for i := range c.Stripes {
			for j := i + 1; j < len(c.Stripes); j++ {
				out = append(out, attempt{bad: []int{i, j}})
			}
		}
	}
	return out
}

// plan returns a key that is the same for attempts reading [off, off+n)
// the same way, or "" when a cannot read it at all (too many stripes lost
// for the parity).
func (a *attempt) plan(c *Chunk, devs []*Device, off, n uint64) string {
	var b strings.Builder
	if c.parity() == 0 {
		_ = mirrorPieces(c, devs, off, n, a.mirror, func(_ uint64, pc mirrorPiece) error {
			fmt.Fprintf(&b, "%d,", pc.idx)
			return nil
		})
		return b.String()
	}
	ok := true
	_ = raidPieces(c, devs, off, n, func(_ uint64, pc raidPiece) error {
		lost := a.raidLost(&pc)
		if lost == nil {
			b.WriteString("d,")
			return nil
		}
		if !pc.row.canRebuild(lost) {
			ok = false
		}
		for _, l := range lost {
			b.WriteByte("01"[btoi(l)])
		}
		b.WriteByte(',')
		return nil
	})
	if !ok {
		return ""
	}
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// read fills p from chunk offset off the way a says.
func (a *attempt) read(p []byte, c *Chunk, devs []*Device, off uint64) error {
	if c.parity() == 0 {
		return mirrorPieces(c, devs, off, uint64(len(p)), a.mirror, func(pos uint64, pc mirrorPiece) error {
			d := devs[pc.idx]
			if d == nil {
				s := c.Stripes[pc.idx]
				return missingf("devid %d (uuid %s) is missing", s.DevID, s.DevUUID)
			}
			return d.readAt(p[pos:pos+pc.n], pc.phys, "read")
		})
	}
	return raidPieces(c, devs, off, uint64(len(p)), func(pos uint64, pc raidPiece) error {
		seg := p[pos : pos+pc.n]
		if lost := a.raidLost(&pc); lost != nil {
			_, err := pc.row.rebuild(seg, pc.target, lost)
			return err
		}
		return devs[pc.row.stripeIndex(pc.target)].readAt(seg, pc.row.physical(pc.target), "read")
	})
}

// ReadMirror fills p from logical address logical using copy mirror, in
// [0, NumCopies(logical)). The range must lie inside one chunk; it may
// cross stripe boundaries. Where the copy's device is missing, another
// copy stands in. For RAID5/6, mirror 0 is the data as stored (rebuilt
// where a device is missing), mirror 1 rebuilds every byte from P (or Q
// when P is missing) and mirror 2 (RAID6) from Q without P. Error
// messages number mirrors from 1, as btrfs does.
func (v *Volume) ReadMirror(p []byte, logical Logical, mirror int) error {
	i, err := v.lookupRange(logical, len(p))
	if err == nil {
		c, devs := &v.chunks.chunks[i], v.stripes[i]
		if mirror < 0 || mirror >= c.NumCopies() {
			err = fmt.Errorf("mirror %d does not exist: the %s chunk at logical %d has %d copies", mirror, c.ProfileName(), c.Logical, c.NumCopies())
		} else {
			a := attempt{mirror: mirror}
			err = a.read(p, c, devs, uint64(logical-c.Logical))
		}
	}
	var de *DeviceError
	if err == nil || errors.As(err, &de) {
		return err
	}
	return &ondisk.BlockError{Logical: uint64(logical), Err: err}
}

// attemptError is one attempt's failure on one unit.
type attemptError struct {
	what string // the attempt and where it read
	err  error
}

func (e *attemptError) Error() string { return fmt.Sprintf("%v on %s", e.err, e.what) }

func (e *attemptError) Unwrap() error { return e.err }

// attemptErrors lists why every attempt on a unit failed.
type attemptErrors []*attemptError

func (e attemptErrors) Error() string {
	s := make([]string, len(e))
	for i, m := range e {
		s[i] = m.Error()
	}
	return strings.Join(s, ", ")
}

func (e attemptErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, m := range e {
		out[i] = m
	}
	return out
}

// describe names attempt a on the unit at chunk offset off for messages:
// "mirror N (where)" for copies and the normal read, "rebuild ..." for
// repairs of RAID5/6.
func (a *attempt) describe(c *Chunk, devs []*Device, off uint64) string {
	var loc location
	if c.parity() == 0 {
		_ = mirrorPieces(c, devs, off, 1, a.mirror, func(_ uint64, pc mirrorPiece) error {
			loc = pc.location(c)
			return nil
		})
		return fmt.Sprintf("mirror %d (%s)", a.mirror+1, loc)
	}
	_ = raidPieces(c, devs, off, 1, func(_ uint64, pc raidPiece) error {
		si := pc.row.stripeIndex(pc.target)
		loc = location{devid: c.Stripes[si].DevID, phys: pc.row.physical(pc.target)}
		if lost := a.raidLost(&pc); lost != nil {
			if devs[si] == nil {
				loc.missing = loc.devid
			}
			loc.rebuilt = pc.row.parityUsed(lost)
			for _, b := range a.bad {
				loc.treated = append(loc.treated, c.Stripes[b].DevID)
			}
		}
		return nil
	})
	if len(a.bad) > 0 {
		return loc.String()
	}
	return fmt.Sprintf("mirror %d (%s)", a.mirror+1, loc)
}

// readCopies reads [logical, logical+len(p)) into p. check, when not nil,
// verifies whole units of unit bytes (a unit of 0 or len(p) means the
// whole range), each given with its logical address. Units that the
// normal read cannot serve, or that fail check, are read again by every
// other attempt the profile allows, each unit keeping the first attempt
// it passes with. When a unit passes none, the error names it and what
// every attempt did with it.
func (v *Volume) readCopies(p []byte, logical Logical, tree uint64, unit int, check func(b []byte, logical Logical) error) error {
	i, err := v.lookupRange(logical, len(p))
	if err != nil {
		return &ondisk.BlockError{Logical: uint64(logical), Tree: tree, Err: err}
	}
	c, devs := &v.chunks.chunks[i], v.stripes[i]
	off := uint64(logical - c.Logical)
	normal := attempt{}
	readErr := normal.read(p, c, devs, off)
	if readErr == nil && (check == nil || check(p, logical) == nil) {
		return nil
	}
	if unit <= 0 || unit > len(p) || check == nil {
		unit = len(p)
	}
	r := &repair{v: v, c: c, devs: devs, tree: tree, unit: unit, attempts: c.attempts()}
	if unit == len(p) {
		return r.group(p, off, readErr, true, check)
	}
	// Units are repaired within the pieces of one stripe, so that every
	// attempt's plan for a group is one way of reading it.
	return pieceBounds(c, devs, off, uint64(len(p)), func(pos, n uint64) error {
		return r.group(p[pos:pos+n], off+pos, readErr, false, check)
	})
}

// pieceBounds calls fn for each stripe piece of the normal read of
// [off, off+n) of chunk c.
func pieceBounds(c *Chunk, devs []*Device, off, n uint64, fn func(pos, n uint64) error) error {
	if c.parity() > 0 {
		return raidPieces(c, devs, off, n, func(pos uint64, pc raidPiece) error { return fn(pos, pc.n) })
	}
	return mirrorPieces(c, devs, off, n, 0, func(pos uint64, pc mirrorPiece) error { return fn(pos, pc.n) })
}

// repair re-reads the units of a range that the normal read did not serve.
type repair struct {
	v        *Volume
	c        *Chunk
	devs     []*Device
	tree     uint64
	unit     int
	attempts []attempt
}

// group repairs the units of p, normally read from chunk offset off. When
// that read failed (readErr), and the failure may not concern p (whole is
// false: p is one piece of a larger read), p is read the normal way again
// first.
// check is passed along rather than kept in repair, so that the caller's
// closure need not escape to the heap on the normal path.
func (r *repair) group(p []byte, off uint64, readErr error, whole bool, check func([]byte, Logical) error) error {
	c := r.c
	nu := (len(p) + r.unit - 1) / r.unit
	unitAt := func(b []byte, u int) []byte { return b[u*r.unit : min((u+1)*r.unit, len(b))] }
	unitOff := func(u int) uint64 { return off + uint64(u*r.unit) }
	fails := make([]attemptErrors, nu)
	done := make([]bool, nu)
	left := nu
	seen := map[string]bool{}
	start := 0
	if readErr == nil || whole {
		normal := &r.attempts[0]
		for u := range nu {
			err := readErr
			if err == nil && check != nil {
				err = check(unitAt(p, u), c.Logical+Logical(unitOff(u)))
			}
			if err == nil {
				done[u] = true
				left--
				continue
			}
			fails[u] = attemptErrors{{what: normal.describe(c, r.devs, unitOff(u)), err: err}}
		}
		if left == 0 {
			return nil
		}
		seen[normal.plan(c, r.devs, off, uint64(len(p)))] = true
		start = 1
	}
	// The first unit repaired by another attempt, for the warning.
	fixed, fixedBy := -1, ""
	var fixedFails attemptErrors
	var fixedDevids []DevID
	tmp := make([]byte, len(p))
	for ai := start; ai < len(r.attempts) && left > 0; ai++ {
		a := &r.attempts[ai]
		key := a.plan(c, r.devs, off, uint64(len(p)))
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		err := a.read(tmp, c, r.devs, off)
		for u := range nu {
			if done[u] {
				continue
			}
			uerr := err
			if uerr == nil && check != nil {
				uerr = check(unitAt(tmp, u), c.Logical+Logical(unitOff(u)))
			}
			if uerr != nil {
				fails[u] = append(fails[u], &attemptError{what: a.describe(c, r.devs, unitOff(u)), err: uerr})
				continue
			}
			copy(unitAt(p, u), unitAt(tmp, u))
			done[u] = true
			left--
			if fixed < 0 && len(fails[u]) > 0 {
				fixed, fixedBy, fixedFails = u, a.describe(c, r.devs, unitOff(u)), fails[u]
				fixedDevids = r.heldBad(a, unitOff(u))
			}
		}
	}
	for u := range nu {
		if !done[u] {
			return &ondisk.BlockError{Logical: uint64(c.Logical) + unitOff(u), Tree: r.tree, Err: fails[u]}
		}
	}
	// Devices missing at Open were announced then; only damage is news.
	if fixed >= 0 && slices.ContainsFunc(fixedFails, func(e *attemptError) bool { return !errors.Is(e.err, ErrMissingDevice) }) {
		n := 0
		for u := range fails {
			if len(fails[u]) > 0 {
				n++
			}
		}
		more := ""
		if n > 1 {
			more = fmt.Sprintf(" (%d of the %d sectors read here were bad)", n, nu)
		}
		at := c.Logical + Logical(unitOff(fixed))
		r.v.repairs.note(n, fixedDevids)
		r.v.warn(ondisk.Warning{Kind: ondisk.WarnRepair, Logical: uint64(at), Tree: r.tree,
			Msg: fmt.Sprintf("logical %d: %v; used %s%s", at, fixedFails, fixedBy, more)})
	}
	return nil
}

// heldBad names the devices that held the bad bytes of the unit at chunk
// offset off, given that attempt a read it correctly: the devices a
// treated as bad (RAID5/6), or the normal read's device for a mirror.
func (r *repair) heldBad(a *attempt, off uint64) []DevID {
	if len(a.bad) > 0 {
		var ids []DevID
		for _, b := range a.bad {
			ids = append(ids, r.c.Stripes[b].DevID)
		}
		return ids
	}
	if r.c.parity() > 0 {
		return nil
	}
	var ids []DevID
	_ = mirrorPieces(r.c, r.devs, off, 1, 0, func(_ uint64, pc mirrorPiece) error {
		ids = append(ids, r.c.Stripes[pc.idx].DevID)
		return nil
	})
	return ids
}

// repairLog counts what reads had to repair, for a summary.
type repairLog struct {
	mu    sync.Mutex
	reads int           // repaired reads (one WarnRepair warning each)
	units int           // units repaired
	byDev map[DevID]int // units repaired around a device that held bad bytes
}

// note records one read whose n units were repaired around the devices in
// devids.
func (l *repairLog) note(n int, devids []DevID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	l.units += n
	if l.byDev == nil {
		l.byDev = map[DevID]int{}
	}
	for _, id := range devids {
		l.byDev[id] += n
	}
}

// RepairSummary describes what reads so far served from other copies or
// parity because the normal copy failed its checks or could not be read,
// naming the devices that held the bad bytes; "" when nothing was.
func (v *Volume) RepairSummary() string {
	l := &v.repairs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.units == 0 {
		return ""
	}
	var devs []string
	for _, id := range slices.Sorted(maps.Keys(l.byDev)) {
		devs = append(devs, fmt.Sprintf("devid %d (%d)", id, l.byDev[id]))
	}
	return fmt.Sprintf("%d reads were repaired from other copies or parity (%d sectors or blocks); bad bytes on %s",
		l.reads, l.units, strings.Join(devs, ", "))
}

// ReadLogical fills p from logical, falling back to other copies where a
// read fails. It does not verify content; see ReadVerified.
func (v *Volume) ReadLogical(p []byte, logical Logical) error {
	return v.readCopies(p, logical, 0, 0, nil)
}

// ReadVerified fills p from logical and verifies it with check, which is
// given whole units of unit bytes (0 means all of p) with their logical
// addresses. A unit that fails is read from every other copy or, for
// RAID5/6, rebuilt treating each stripe (RAID6: each pair) as the bad one,
// until it passes. When a unit passes none, the error names the unit and
// every attempt's failure.
func (v *Volume) ReadVerified(p []byte, logical Logical, unit int, check func(b []byte, logical Logical) error) error {
	return v.readCopies(p, logical, 0, unit, check)
}

// ReadTreeBlock reads and verifies the tree block at logical: checksum,
// bytenr, fsid, level, generation and first key as want demands, then the
// structural checks of ParseNode. A copy failing any check is skipped for
// the next; if all fail, the *BlockError says what failed on each.
func (v *Volume) ReadTreeBlock(logical Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	if logical == 0 || uint64(logical)%uint64(v.sb.SectorSize) != 0 {
		return nil, &ondisk.BlockError{Logical: uint64(logical), Tree: want.Owner, Err: corruptf("tree block address is not aligned to sectorsize %d", v.sb.SectorSize)}
	}
	buf := make([]byte, v.sb.NodeSize)
	var node *ondisk.Node
	err := v.readCopies(buf, logical, want.Owner, len(buf), func(b []byte, _ Logical) error {
		var err error
		node, err = v.checkTreeBlock(b, logical, want)
		return err
	})
	if err != nil {
		return nil, err
	}
	return node, nil
}

func (v *Volume) checkTreeBlock(b []byte, logical Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	ct := v.sb.CsumType
	if !ct.Verify(b[:ondisk.CsumSize], b[ondisk.CsumSize:]) {
		var sum [ondisk.CsumSize]byte
		ct.Sum(&sum, b[ondisk.CsumSize:])
		return nil, invalidf("checksum mismatch (stored %x, computed %x)", b[:ct.Size()], sum[:ct.Size()])
	}
	h, err := ondisk.ParseHeader(b)
	if err != nil {
		return nil, err
	}
	switch {
	case h.Bytenr != uint64(logical):
		return nil, invalidf("bytenr mismatch (header says %d)", h.Bytenr)
	case h.FSID != v.metaFSID:
		return nil, invalidf("fsid mismatch (header has %s, filesystem is %s)", h.FSID, v.metaFSID)
	case h.Level != want.Level:
		return nil, invalidf("level mismatch (header has %d, expected %d)", h.Level, want.Level)
	case want.Generation != 0 && h.Generation != want.Generation:
		return nil, invalidf("generation mismatch (header has %d, expected %d)", h.Generation, want.Generation)
	}
	n, err := ondisk.ParseNode(b)
	if err != nil {
		return nil, err
	}
	if want.FirstKey != nil {
		if n.NumItems() == 0 {
			return nil, invalidf("block is empty, expected first key %v", *want.FirstKey)
		}
		if k := n.Key(0); k != *want.FirstKey {
			return nil, invalidf("first key mismatch (block has %v, expected %v)", k, *want.FirstKey)
		}
	}
	return n, nil
}

// MapPhysical returns where byte logical of copy mirror is stored. For
// RAID5/6 only mirror 0 (the data stripe) has a location; the other
// copies are rebuilt from parity.
func (v *Volume) MapPhysical(logical Logical, mirror int) (devid DevID, physical Physical, err error) {
	i, err := v.lookupRange(logical, 1)
	if err != nil {
		return 0, 0, &ondisk.BlockError{Logical: uint64(logical), Err: err}
	}
	c := &v.chunks.chunks[i]
	off := uint64(logical - c.Logical)
	if c.parity() > 0 {
		if mirror != 0 {
			return 0, 0, &ondisk.BlockError{Logical: uint64(logical), Err: fmt.Errorf("mirror %d of a %s chunk is rebuilt from parity and has no location", mirror, c.ProfileName())}
		}
		d := uint64(len(c.Stripes) - c.parity())
		sn, so := off/ondisk.StripeLen, off%ondisk.StripeLen
		row := raidRow{c: c, fs: sn / d, so: so, d: int(d)}
		target := int(sn % d)
		return c.Stripes[row.stripeIndex(target)].DevID, row.physical(target), nil
	}
	if mirror < 0 || mirror >= c.NumCopies() {
		return 0, 0, &ondisk.BlockError{Logical: uint64(logical), Err: fmt.Errorf("mirror %d does not exist: the %s chunk has %d copies", mirror, c.ProfileName(), c.NumCopies())}
	}
	idx, phys, _ := c.mapStripe(off, mirror)
	return c.Stripes[idx].DevID, phys, nil
}
