package compression

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// A raw DEFLATE (RFC 1951) decoder for a whole compressed extent at once.
// A streaming inflater decodes into a 32 KiB window and copies out of it;
// an extent is at most MaxUnit bytes and sits in memory whole, so this one
// decodes straight into the output, refills its bit buffer 8 bytes at a
// time and copies matches 8 bytes at a time. It accepts and rejects what
// the standard library's compress/flate does, which its fuzz target
// checks; it replaced github.com/klauspost/compress/flate, which accepts
// one stream more (a literal code without symbols).

var (
	errInflateEOF        = errors.New("flate: unexpected end of data")
	errInflateBlockType  = errors.New("flate: reserved block type")
	errInflateStored     = errors.New("flate: stored block length does not match its complement")
	errInflateCounts     = errors.New("flate: too many length or distance codes")
	errInflateCode       = errors.New("flate: invalid Huffman code")
	errInflateCodeLens   = errors.New("flate: code lengths repeat past the end or before the first")
	errInflateTree       = errors.New("flate: over-subscribed or incomplete Huffman code")
	errInflateSymbol     = errors.New("flate: invalid length or distance symbol")
	errInflateDistTooFar = errors.New("flate: distance reaches back before the start of the data")
)

// Table entries (uint32): bits 0-4 the code length to consume, bits 8-11
// extra bits to read after it, bits 16-31 a value (literal byte, length or
// distance base, or the index of a subtable), and one kind flag.
const (
	entLiteral = 1 << 5
	entEnd     = 1 << 6
	entSub     = 1 << 7 // in a main table: look the rest up in a subtable
	entInvalid = 1 << 12
	// A length or distance entry has none of these flags.

	litMainBits  = 10
	distMainBits = 8
	clenMainBits = 7
	maxCodeLen   = 15

	// The largest tables: a main table and a subtable of 2^(15-main)
	// entries for each code longer than the main table's bits.
	litTableSize  = 1<<litMainBits + 288<<(maxCodeLen-litMainBits)
	distTableSize = 1<<distMainBits + 32<<(maxCodeLen-distMainBits)
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clenOrder is the order of the code-length code's lengths in a
	// dynamic block header.
	clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	// What each symbol decodes to, before its code length is added.
	litSyms, distSyms, clenSyms [288]uint32
	// The fixed block's code lengths.
	fixedLitLens, fixedDistLens [288]uint8
)

func init() {
	for s := range 288 {
		switch {
		case s < 256:
			litSyms[s] = entLiteral | uint32(s)<<16
		case s == 256:
			litSyms[s] = entEnd
		case s <= 285:
			litSyms[s] = uint32(lengthExtra[s-257])<<8 | uint32(lengthBase[s-257])<<16
		default:
			litSyms[s] = entInvalid
		}
		if s < 30 {
			distSyms[s] = uint32(distExtra[s])<<8 | uint32(distBase[s])<<16
		} else {
			distSyms[s] = entInvalid
		}
		clenSyms[s] = uint32(s) << 16
		switch {
		case s < 144:
			fixedLitLens[s] = 8
		case s < 256:
			fixedLitLens[s] = 9
		case s < 280:
			fixedLitLens[s] = 7
		default:
			fixedLitLens[s] = 8
		}
		fixedDistLens[s] = 5
	}
}

// inflater holds the tables between extents, so decoding allocates
// nothing after the first use.
type inflater struct {
	in   []byte
	pos  int    // next byte of in to load into the bit buffer
	bits uint64 // the bit buffer, next bit lowest
	nb   uint   // valid bits in it; bits above may hold the next bytes of in
	lit  [litTableSize]uint32
	dist [distTableSize]uint32
	clen [1 << clenMainBits]uint32
	lens [286 + 32]uint8
	// sorted is build's list of symbols in canonical order.
	sorted [288]uint16
}

// consumed is how many bytes of the input the decoder has used.
func (f *inflater) consumed() int { return f.pos - int(f.nb>>3) }

// fill makes at least 56 bits of the bit buffer valid, or all that is
// left of the input, and returns the new pos, buffer and count. Bits above
// nb are either zero or the input bytes that belong there, so OR-ing a
// wider load over them is harmless.
func fill(in []byte, pos int, bitBuf uint64, nb uint) (int, uint64, uint) {
	if pos+8 <= len(in) {
		bitBuf |= binary.LittleEndian.Uint64(in[pos:]) << nb
		return pos + int(63-nb)>>3, bitBuf, nb | 56
	}
	for nb < 56 && pos < len(in) {
		bitBuf |= uint64(in[pos]) << nb
		pos++
		nb += 8
	}
	return pos, bitBuf, nb
}

func (f *inflater) refill() { f.pos, f.bits, f.nb = fill(f.in, f.pos, f.bits, f.nb) }

// need reports whether n bits are valid (refilling if needed).
func (f *inflater) need(n uint) bool {
	if f.nb < n {
		f.refill()
	}
	return f.nb >= n
}

func (f *inflater) take(n uint) uint64 {
	v := f.bits & (1<<n - 1)
	f.bits >>= n
	f.nb -= n
	return v
}

// inflate decodes the raw DEFLATE stream in into out and returns the number
// of bytes produced: len(out) as soon as out is full (what follows is not
// looked at), less when the stream ends first.
func (f *inflater) inflate(out, in []byte) (int, error) {
	f.in, f.pos, f.bits, f.nb = in, 0, 0, 0
	op := 0
	for op < len(out) {
		if !f.need(3) {
			return op, errInflateEOF
		}
		final := f.take(1) == 1
		var err error
		switch f.take(2) {
		case 0:
			op, err = f.stored(out, op)
		case 1:
			f.build(f.lit[:], fixedLitLens[:], litSyms[:], litMainBits)
			f.build(f.dist[:], fixedDistLens[:32], distSyms[:], distMainBits)
			op, err = f.codes(out, op)
		case 2:
			if err = f.dynamicTables(); err == nil {
				op, err = f.codes(out, op)
			}
		default:
			err = errInflateBlockType
		}
		if err != nil || final {
			return op, err
		}
	}
	return op, nil
}

// stored copies a stored block: byte-aligned LEN, NLEN, then LEN bytes.
func (f *inflater) stored(out []byte, op int) (int, error) {
	// Drop the rest of the current byte and give back the whole bytes the
	// bit buffer holds.
	f.pos -= int(f.nb >> 3)
	f.bits, f.nb = 0, 0
	if len(f.in)-f.pos < 4 {
		f.pos = len(f.in)
		return op, errInflateEOF
	}
	n := int(binary.LittleEndian.Uint16(f.in[f.pos:]))
	if binary.LittleEndian.Uint16(f.in[f.pos+2:]) != ^uint16(n) {
		f.pos += 4
		return op, errInflateStored
	}
	f.pos += 4
	m := min(n, len(out)-op, len(f.in)-f.pos)
	copy(out[op:op+m], f.in[f.pos:f.pos+m])
	op += m
	f.pos += m
	if m < n && op < len(out) {
		return op, errInflateEOF
	}
	return op, nil
}

// dynamicTables reads a dynamic block's header and builds its tables.
func (f *inflater) dynamicTables() error {
	if !f.need(14) {
		return errInflateEOF
	}
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	nclen := int(f.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return errInflateCounts
	}
	var clens [19]uint8
	for i := range nclen {
		if !f.need(3) {
			return errInflateEOF
		}
		clens[clenOrder[i]] = uint8(f.take(3))
	}
	if !f.build(f.clen[:], clens[:], clenSyms[:], clenMainBits) {
		return errInflateTree
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		sym, err := f.symbol(f.clen[:], clenMainBits)
		if err != nil {
			return err
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return errInflateCodeLens
			}
			if !f.need(2) {
				return errInflateEOF
			}
			rep, val = 3+int(f.take(2)), lens[i-1]
		case 17:
			if !f.need(3) {
				return errInflateEOF
			}
			rep = 3 + int(f.take(3))
		default:
			if !f.need(7) {
				return errInflateEOF
			}
			rep = 11 + int(f.take(7))
		}
		if i+rep > len(lens) {
			return errInflateCodeLens
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if !f.build(f.lit[:], lens[:nlit], litSyms[:], litMainBits) ||
		!f.build(f.dist[:], lens[nlit:], distSyms[:], distMainBits) {
		return errInflateTree
	}
	return nil
}

// lookup finds the entry for the next code without consuming it.
func lookup(t []uint32, bitBuf uint64, mainBits uint) uint32 {
	e := t[bitBuf&(1<<mainBits-1)]
	if e&entSub != 0 {
		subBits := (e >> 8) & 15
		e = t[e>>16+uint32(bitBuf>>mainBits)&(1<<subBits-1)]
	}
	return e
}

// symbol decodes one code of a code-length table and returns its value.
func (f *inflater) symbol(t []uint32, mainBits uint) (int, error) {
	f.need(maxCodeLen)
	e := lookup(t, f.bits, mainBits)
	n := uint(e & 31)
	if e&entInvalid != 0 || n > f.nb {
		return 0, badEntry(e, f.nb, f.pos == len(f.in))
	}
	f.take(n)
	return int(e >> 16), nil
}

// badEntry is the error for an entry that cannot be used: its code runs
// past the end of the input, no symbol has that code, or the symbol is
// not allowed (lengths 286-287, distances 30-31 of a fixed block).
func badEntry(e uint32, nb uint, atEnd bool) error {
	n := uint(e & 31)
	switch {
	case n > nb, n == 0 && atEnd && nb < maxCodeLen:
		return errInflateEOF
	case n == 0:
		return errInflateCode
	}
	return errInflateSymbol
}

// codes decodes one Huffman-coded block with the tables built for it. The
// bit buffer lives in locals here, where nearly all the time goes.
func (f *inflater) codes(out []byte, op int) (int, error) {
	in, pos, bitBuf, nb := f.in, f.pos, f.bits, f.nb
	lit, dist := &f.lit, &f.dist
	var err error
	for {
		if nb < 48 {
			pos, bitBuf, nb = fill(in, pos, bitBuf, nb)
		}
		e := lookup(lit[:], bitBuf, litMainBits)
		n := uint(e & 31)
		if e&entInvalid != 0 || n > nb {
			err = badEntry(e, nb, pos == len(in))
			break
		}
		bitBuf >>= n
		nb -= n
		if e&entLiteral != 0 {
			out[op] = byte(e >> 16)
			op++
			if op == len(out) {
				break
			}
			continue
		}
		if e&entEnd != 0 {
			break
		}
		// A match: its length, then a distance code. With 48 bits in the
		// buffer, the length's code and extra bits leave at least 28.
		extra := uint(e>>8) & 15
		if extra > nb {
			err = errInflateEOF
			break
		}
		length := int(e>>16) + int(bitBuf&(1<<extra-1))
		bitBuf >>= extra
		nb -= extra
		if nb < 28 {
			pos, bitBuf, nb = fill(in, pos, bitBuf, nb)
		}
		e = lookup(dist[:], bitBuf, distMainBits)
		n = uint(e & 31)
		if e&entInvalid != 0 || n > nb {
			err = badEntry(e, nb, pos == len(in))
			break
		}
		bitBuf >>= n
		nb -= n
		extra = uint(e>>8) & 15
		if extra > nb {
			err = errInflateEOF
			break
		}
		d := int(e>>16) + int(bitBuf&(1<<extra-1))
		bitBuf >>= extra
		nb -= extra
		if d > op {
			err = errInflateDistTooFar
			break
		}
		length = min(length, len(out)-op)
		from := op - d
		if d >= 8 && len(out)-op >= length+8 {
			switch {
			case length <= 8:
				binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[from:]))
			case d >= length:
				copy(out[op:op+length], out[from:from+length])
			default:
				for i := 0; i < length; i += 8 {
					binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[from+i:]))
				}
			}
		} else {
			for i := range length {
				out[op+i] = out[from+i]
			}
		}
		op += length
		if op == len(out) {
			break
		}
	}
	f.pos, f.bits, f.nb = pos, bitBuf, nb
	return op, err
}

// build fills the decoding table t for the code lengths lens, whose
// symbols decode to syms[i] with the code length added. Codes longer than
// mainBits continue in subtables after the main table, each of
// 2^(longest-mainBits) entries. It reports false for an over-subscribed
// code, and for an incomplete one other than a single code of length 1;
// an empty code builds a table of invalid entries. Entries no code
// reaches are invalid, with length 0.
func (f *inflater) build(t []uint32, lens []uint8, syms []uint32, mainBits uint) bool {
	var count [maxCodeLen + 1]int
	longest := 0
	for _, l := range lens {
		count[l]++
		longest = max(longest, int(l))
	}
	count[0] = 0
	main := t[:1<<mainBits]
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false
		}
	}
	if left > 0 {
		if longest > 1 || count[1] > 1 {
			return false
		}
		// Empty, or one code of length 1: the rest decodes to nothing.
		for i := range main {
			main[i] = entInvalid
		}
		if longest == 0 {
			return true
		}
	}
	// A complete code fills every entry, so no entry needs clearing first.
	// Symbols go in canonical order (by length, then value): codes sharing
	// the main table's bits then come one after another.
	var first, next [maxCodeLen + 2]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
		first[l+1] = first[l] + count[l]
	}
	sorted := f.sorted[:first[maxCodeLen+1]]
	for sym, l := range lens {
		if l != 0 {
			sorted[first[l]] = uint16(sym)
			first[l]++
		}
	}
	subBits := uint(0)
	if uint(longest) > mainBits {
		subBits = uint(longest) - mainBits
	}
	nextSub, prefix := 1<<mainBits, -1
	var sub []uint32
	for _, sym := range sorted {
		l := lens[sym]
		c := next[l]
		next[l]++
		rev := int(bits.Reverse16(uint16(c)) >> (16 - l))
		ent := syms[sym] | uint32(l)
		if uint(l) <= mainBits {
			for i := rev; i < len(main); i += 1 << l {
				main[i] = ent
			}
			continue
		}
		if p := rev & (1<<mainBits - 1); p != prefix {
			prefix = p
			main[p] = entSub | uint32(subBits)<<8 | uint32(nextSub)<<16
			sub = t[nextSub : nextSub+1<<subBits]
			nextSub += 1 << subBits
		}
		for i := rev >> mainBits; i < len(sub); i += 1 << (uint(l) - mainBits) {
			sub[i] = ent
		}
	}
	return true
}
