package volume

import (
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
)

// RAID5/6 parity uses the Linux raid6 field: GF(2^8) with polynomial
// 0x11d and generator 2. P is the XOR of the data stripes of a full
// stripe; Q is the sum of g^i * D_i over data index i in logical order.

var gfExp, gfLog = makeGFTables()

func makeGFTables() (exp [510]byte, log [256]byte) {
	x := 1
	for i := range 255 {
		exp[i] = byte(x)
		log[x] = byte(i)
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11d
		}
	}
	for i := 255; i < len(exp); i++ {
		exp[i] = exp[i-255]
	}
	return exp, log
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// gfInv returns the multiplicative inverse of a, which must be non-zero.
func gfInv(a byte) byte { return gfExp[255-int(gfLog[a])] }

// gfPow2 returns g^i.
func gfPow2(i int) byte { return gfExp[i%255] }

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// mulXorInto sets dst ^= c*src.
func mulXorInto(dst, src []byte, c byte) {
	var row [256]byte
	for i := range row {
		row[i] = gfMul(c, byte(i))
	}
	for i := range dst {
		dst[i] ^= row[src[i]]
	}
}

// mulInPlace sets b = c*b.
func mulInPlace(b []byte, c byte) {
	var row [256]byte
	for i := range row {
		row[i] = gfMul(c, byte(i))
	}
	for i := range b {
		b[i] = row[b[i]]
	}
}

// raidRow is one full stripe of a RAID5/6 chunk restricted to the byte
// range [so, so+len) of each of its stripes: index k < d is data index k,
// d is P and d+1 is Q.
type raidRow struct {
	c    *Chunk
	devs []*Device // by stripe index of the chunk, nil when missing
	fs   uint64    // full stripe number
	so   uint64    // offset inside each stripe element
	d    int       // data stripes per full stripe
}

func (r *raidRow) stripeIndex(k int) int {
	return int((r.fs + uint64(k)) % uint64(len(r.c.Stripes)))
}

func (r *raidRow) physical(k int) Physical {
	return addSat(r.c.Stripes[r.stripeIndex(k)].Offset, r.fs*ondisk.StripeLen+r.so)
}

func (r *raidRow) read(b []byte, k int) error {
	dev := r.devs[r.stripeIndex(k)]
	if dev == nil {
		s := r.c.Stripes[r.stripeIndex(k)]
		return missingf("devid %d (uuid %s) is missing", s.DevID, s.DevUUID)
	}
	return dev.readAt(b, r.physical(k), "read")
}

func (r *raidRow) name(k int) string {
	switch k - r.d {
	case 0:
		return "P"
	case 1:
		return "Q"
	}
	return fmt.Sprintf("data stripe %d", k)
}

// lostCounts summarizes a lost set (see lostSet): the data indexes lost,
// and whether P and Q can be used.
func (r *raidRow) lostCounts(lost []bool) (lostData []int, pOK, qOK bool) {
	for k := range r.d {
		if lost[k] {
			lostData = append(lostData, k)
		}
	}
	np := len(r.c.Stripes) - r.d
	return lostData, !lost[r.d], np == 2 && !lost[r.d+1]
}

// canRebuild reports whether the data marked lost can be rebuilt from
// what remains.
func (r *raidRow) canRebuild(lost []bool) bool {
	lostData, pOK, qOK := r.lostCounts(lost)
	return len(lostData) == 1 && (pOK || qOK) || len(lostData) == 2 && pOK && qOK
}

// parityUsed names the parity a rebuild without lost uses.
func (r *raidRow) parityUsed(lost []bool) string {
	lostData, pOK, qOK := r.lostCounts(lost)
	switch {
	case len(lostData) == 1 && pOK:
		return "P"
	case len(lostData) == 1 && qOK:
		return "Q"
	case len(lostData) == 2 && pOK && qOK:
		return "P and Q"
	}
	return "nothing"
}

// rebuild fills out with data index target of the row, computed from the
// stripes not marked in lost (see lostSet, which always marks target). It
// returns which parity it used.
func (r *raidRow) rebuild(out []byte, target int, lost []bool) (string, error) {
	lostData, pOK, qOK := r.lostCounts(lost)
	n := len(out)
	tmp := make([]byte, n)
	readInto := func(b []byte, k int) error {
		if err := r.read(b, k); err != nil {
			return fmt.Errorf("reading %s for a rebuild: %w", r.name(k), err)
		}
		return nil
	}
	switch {
	case len(lostData) == 1 && pOK:
		if err := readInto(out, r.d); err != nil {
			return "", err
		}
		for k := range r.d {
			if k == target {
				continue
			}
			if err := readInto(tmp, k); err != nil {
				return "", err
			}
			xorInto(out, tmp)
		}
		return "P", nil
	case len(lostData) == 1 && qOK:
		if err := readInto(out, r.d+1); err != nil {
			return "", err
		}
		for k := range r.d {
			if k == target {
				continue
			}
			if err := readInto(tmp, k); err != nil {
				return "", err
			}
			mulXorInto(out, tmp, gfPow2(k))
		}
		mulInPlace(out, gfInv(gfPow2(target)))
		return "Q", nil
	case len(lostData) == 2 && pOK && qOK:
		a, b := lostData[0], lostData[1]
		ga, gb := gfPow2(a), gfPow2(b)
		if ga == gb {
			return "", corruptf("cannot rebuild data stripes %d and %d: beyond 255 data stripes Q does not tell them apart", a, b)
		}
		// With Pxy = Da^Db and Qxy = ga*Da ^ gb*Db after removing the
		// surviving data: Da = (gb*Pxy ^ Qxy) / (ga^gb), Db = Pxy ^ Da.
		pxy := make([]byte, n)
		qxy := make([]byte, n)
		if err := readInto(pxy, r.d); err != nil {
			return "", err
		}
		if err := readInto(qxy, r.d+1); err != nil {
			return "", err
		}
		for k := range r.d {
			if k == a || k == b {
				continue
			}
			if err := readInto(tmp, k); err != nil {
				return "", err
			}
			xorInto(pxy, tmp)
			mulXorInto(qxy, tmp, gfPow2(k))
		}
		inv := gfInv(ga ^ gb)
		copy(out, qxy)
		mulXorInto(out, pxy, gb)
		mulInPlace(out, inv)
		if target == b {
			xorInto(out, pxy)
		}
		return "P and Q", nil
	}
	lostNames := ""
	for k, l := range lost {
		if l {
			if lostNames != "" {
				lostNames += ", "
			}
			lostNames += r.name(k)
		}
	}
	return "", fmt.Errorf("cannot rebuild data stripe %d of full stripe %d: %s unavailable", target, r.fs, lostNames)
}

// addSat adds without wrapping: an overflowing physical offset from a
// corrupt chunk saturates, and the device bounds check then refuses it.
func addSat(a Physical, b uint64) Physical {
	if a+Physical(b) < a {
		return ^Physical(0)
	}
	return a + Physical(b)
}
