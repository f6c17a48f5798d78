package compression

import (
	"encoding/binary"
	"errors"
)

// The LZO1X decoder's failures, named as the kernel's LZO_E_* codes.
var (
	errLZOInputOverrun      = errors.New("lzo: input overrun")
	errLZOOutputOverrun     = errors.New("lzo: output overrun")
	errLZOLookbehindOverrun = errors.New("lzo: lookbehind overrun")
	errLZOInputNotConsumed  = errors.New("lzo: input not fully consumed")
	errLZOError             = errors.New("lzo: malformed stream")
)

const (
	// lzoMax255 bounds a run of zero length bytes, as the kernel's
	// MAX_255_COUNT does, so a length can never overflow.
	lzoMax255 = int(^uint(0)>>1)/255 - 2
	// lzoM2MaxOffset is the farthest a 2-byte-coded match reaches back.
	lzoM2MaxOffset = 0x0800
	// lzoMinZeroRun is the shortest zero run of the lzo-rle bitstream.
	lzoMinZeroRun = 4
)

// lzo1x decodes one LZO1X stream from in into out and returns the number
// of bytes produced; it mirrors the kernel's lzo1x_decompress_safe, the
// same checks in the same order, so it accepts and rejects what the
// kernel does. Its copies move 8 or 16 bytes at a time where out has
// room, so up to 16 bytes of out past the result may be overwritten.
func lzo1x(out, in []byte) (int, error) {
	if len(in) < 3 {
		return 0, errLZOInputOverrun
	}
	ip, op := 0, 0
	// The lzo-rle encoder starts with 17 and a version byte; version 0 is
	// plain LZO1X, which is what btrfs writes.
	var version byte
	if len(in) >= 5 && in[0] == 17 {
		version = in[1]
		ip = 2
	}
	state := 0
	// The first instruction may be a literal run of its own form.
	if first := int(in[ip]); first > 17 {
		ip++
		t := first - 17
		if t < 4 {
			var err error
			if ip, op, err = lzoTrailing(out, in, ip, op, t); err != nil {
				return op, err
			}
			state = t
		} else {
			if len(out)-op < t {
				return op, errLZOOutputOverrun
			}
			if len(in)-ip < t+3 {
				return op, errLZOInputOverrun
			}
			copy(out[op:op+t], in[ip:ip+t])
			op += t
			ip += t
			state = 4
		}
	}
	for {
		// Every path back here leaves at least 3 bytes of input, as in
		// the kernel; the check keeps a damaged stream from reading past.
		if ip >= len(in) {
			return op, errLZOInputOverrun
		}
		t := int(in[ip])
		ip++
		var mPos, next int
		switch {
		case t < 16 && state == 0:
			// A literal run of 4 or more bytes.
			if t == 0 {
				var err error
				if t, ip, err = lzoLongLength(in, ip, 15); err != nil {
					return op, err
				}
			}
			t += 3
			if len(out)-op < t {
				return op, errLZOOutputOverrun
			}
			if len(in)-ip < t+3 {
				return op, errLZOInputOverrun
			}
			if t <= 16 && len(out)-op >= 16 && len(in)-ip >= 16 {
				binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(in[ip:]))
				binary.LittleEndian.PutUint64(out[op+8:], binary.LittleEndian.Uint64(in[ip+8:]))
			} else {
				copy(out[op:op+t], in[ip:ip+t])
			}
			op += t
			ip += t
			state = 4
			continue
		case t < 16 && state != 4:
			// A 2-byte match within 1 KiB, after 1-3 literals.
			next = t & 3
			mPos = op - 1 - t>>2 - int(in[ip])<<2
			ip++
			if mPos < 0 {
				return op, errLZOLookbehindOverrun
			}
			if len(out)-op < 2 {
				return op, errLZOOutputOverrun
			}
			out[op] = out[mPos]
			out[op+1] = out[mPos+1]
			op += 2
			var err error
			if ip, op, err = lzoTrailing(out, in, ip, op, next); err != nil {
				return op, err
			}
			state = next
			continue
		case t < 16:
			// A 3-byte match 2-3 KiB back, after a literal run.
			next = t & 3
			mPos = op - (1 + lzoM2MaxOffset) - t>>2 - int(in[ip])<<2
			ip++
			t = 3
		case t >= 64:
			// M2: 3-8 bytes within 2 KiB.
			next = t & 3
			mPos = op - 1 - (t>>2)&7 - int(in[ip])<<3
			ip++
			t = t>>5 + 1
		case t >= 32:
			// M3: within 16 KiB.
			t = t&31 + 2
			if t == 2 {
				var err error
				if t, ip, err = lzoLongMatch(in, ip, 31); err != nil {
					return op, err
				}
			}
			next = int(binary.LittleEndian.Uint16(in[ip:]))
			ip += 2
			mPos = op - 1 - next>>2
			next &= 3
		default:
			// M4: 16-48 KiB back, the end marker, or an lzo-rle zero run.
			if len(in)-ip < 2 {
				return op, errLZOInputOverrun
			}
			next = int(binary.LittleEndian.Uint16(in[ip:]))
			if next&0xfffc == 0xfffc && t&0xf8 == 0x18 && version != 0 {
				if len(in)-ip < 3 {
					return op, errLZOInputOverrun
				}
				t = (t&7 | int(in[ip+2])<<3) + lzoMinZeroRun
				if len(out)-op < t {
					return op, errLZOOutputOverrun
				}
				clear(out[op : op+t])
				op += t
				next &= 3
				ip += 3
				var err error
				if ip, op, err = lzoTrailing(out, in, ip, op, next); err != nil {
					return op, err
				}
				state = next
				continue
			}
			mPos = op - (t&8)<<11
			t = t&7 + 2
			if t == 2 {
				var err error
				if t, ip, err = lzoLongMatch(in, ip, 7); err != nil {
					return op, err
				}
				next = int(binary.LittleEndian.Uint16(in[ip:]))
			}
			ip += 2
			mPos -= next >> 2
			next &= 3
			if mPos == op {
				// The end marker: a well-formed stream ends here with its
				// last byte.
				switch {
				case t != 3:
					return op, errLZOError
				case ip == len(in):
					return op, nil
				case ip < len(in):
					return op, errLZOInputNotConsumed
				}
				return op, errLZOInputOverrun
			}
			mPos -= 0x4000
		}
		if mPos < 0 {
			return op, errLZOLookbehindOverrun
		}
		if len(out)-op < t {
			return op, errLZOOutputOverrun
		}
		// Copy the match forward: where it overlaps what it writes, each
		// byte must see the ones just written.
		if dist := op - mPos; dist >= 8 && len(out)-op >= t+8 {
			switch {
			case t <= 8:
				binary.LittleEndian.PutUint64(out[op:], binary.LittleEndian.Uint64(out[mPos:]))
			case dist >= t:
				copy(out[op:op+t], out[mPos:mPos+t])
			default:
				for i := 0; i < t; i += 8 {
					binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[mPos+i:]))
				}
			}
		} else {
			for i := range t {
				out[op+i] = out[mPos+i]
			}
		}
		op += t
		var err error
		if ip, op, err = lzoTrailing(out, in, ip, op, next); err != nil {
			return op, err
		}
		state = next
	}
}

// lzoTrailing copies the 0-3 literals an instruction's low bits ask for.
func lzoTrailing(out, in []byte, ip, op, t int) (int, int, error) {
	if len(in)-ip >= 6 && len(out)-op >= 4 {
		binary.LittleEndian.PutUint32(out[op:], binary.LittleEndian.Uint32(in[ip:]))
		return ip + t, op + t, nil
	}
	if len(in)-ip < t+3 {
		return ip, op, errLZOInputOverrun
	}
	if len(out)-op < t {
		return ip, op, errLZOOutputOverrun
	}
	copy(out[op:op+t], in[ip:ip+t])
	return ip + t, op + t, nil
}

// lzoLongMatch reads a long match length (lzoLongLength, plus 2) and
// checks that the two distance bytes after it are there.
func lzoLongMatch(in []byte, ip, base int) (int, int, error) {
	t, ip, err := lzoLongLength(in, ip, base)
	if err != nil {
		return 0, ip, err
	}
	if len(in)-ip < 2 {
		return 0, ip, errLZOInputOverrun
	}
	return t + 2, ip, nil
}

// lzoLongLength reads a length coded as zero bytes (255 each) and a final
// non-zero byte, plus base; ip is just past the instruction.
func lzoLongLength(in []byte, ip, base int) (int, int, error) {
	start := ip
	for ip < len(in) && in[ip] == 0 {
		ip++
	}
	if ip >= len(in) {
		return 0, ip, errLZOInputOverrun
	}
	zeros := ip - start
	if zeros > lzoMax255 {
		return 0, ip, errLZOError
	}
	t := zeros*255 + base + int(in[ip])
	return t, ip + 1, nil
}
