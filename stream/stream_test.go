package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// sample returns, for a command, a value for every attribute it can carry
// in version v: its mandatory attributes plus the optional ones the kernel
// also emits.
func sample(c Cmd, v uint32) []Attr {
	attrs := append([]Attr(nil), Required[c]...)
	switch c {
	case CmdMkfifo, CmdMksock:
		attrs = append(attrs, AttrRdev, AttrMode)
	case CmdUtimes:
		if v >= 2 {
			attrs = append(attrs, AttrOtime)
		}
	case CmdEncodedWrite:
		attrs = append(attrs, AttrCompression, AttrEncryption)
	}
	// DATA last, as the kernel puts it and as v2 requires.
	for i, a := range attrs {
		if a == AttrData {
			attrs = append(append(attrs[:i:i], attrs[i+1:]...), AttrData)
			break
		}
	}
	return attrs
}

func value(a Attr, seed int) []byte {
	switch a.Kind() {
	case KindU8:
		return []byte{byte(seed)}
	case KindU32:
		return binary.LittleEndian.AppendUint32(nil, uint32(seed)*0x01010101)
	case KindU64:
		return binary.LittleEndian.AppendUint64(nil, uint64(seed)<<40|uint64(a))
	case KindUUID:
		return bytes.Repeat([]byte{byte(seed)}, 16)
	case KindTimespec:
		b := binary.LittleEndian.AppendUint64(nil, uint64(1700000000+seed))
		return binary.LittleEndian.AppendUint32(b, uint32(seed)*1000)
	case KindString:
		return []byte("dir/o257-8-0 \n\\\xff" + a.String())
	}
	if a == AttrData {
		return bytes.Repeat([]byte{0xa5, 0x5a, byte(seed)}, 1000)
	}
	return []byte{0, 1, 2, byte(seed), 0xff}
}

// TestRoundTripEveryCommand encodes every command of every version with
// all its attributes and decodes it again.
func TestRoundTripEveryCommand(t *testing.T) {
	for v := uint32(MinVersion); v <= MaxVersion; v++ {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		type sent struct {
			cmd    Cmd
			offset int64
			attrs  []Attr
		}
		var want []sent
		for c := CmdSubvol; c <= CmdMax; c++ {
			if c.Version() > v || c == CmdEnd {
				continue
			}
			attrs := sample(c, v)
			want = append(want, sent{c, w.Offset(), attrs})
			if err := w.Begin(c); err != nil {
				t.Fatal(err)
			}
			for i, a := range attrs {
				if a == AttrData {
					w.PutData(value(a, i))
				} else {
					w.PutBytes(a, value(a, i))
				}
			}
			if err := w.End(); err != nil {
				t.Fatalf("v%d %s: %v", v, c, err)
			}
		}
		want = append(want, sent{CmdEnd, w.Offset(), nil})
		if err := w.Begin(CmdEnd); err != nil {
			t.Fatal(err)
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}

		r := NewReader(&buf)
		for i, s := range want {
			c, err := r.Next()
			if err != nil {
				t.Fatalf("v%d command %d (%s): %v", v, i+1, s.cmd, err)
			}
			if c.Cmd != s.cmd || c.Offset != s.offset || c.Index != i+1 || c.Version != v || c.Stream != 1 {
				t.Fatalf("v%d: got %s at %d index %d v%d, want %s at %d index %d", v, c.Cmd, c.Offset, c.Index, c.Version, s.cmd, s.offset, i+1)
			}
			if got := c.Attrs(); !reflect.DeepEqual(got, s.attrs) && len(s.attrs) > 0 {
				t.Errorf("v%d %s: attrs %v, want %v", v, s.cmd, got, s.attrs)
			}
			for j, a := range s.attrs {
				if !bytes.Equal(c.Bytes(a), value(a, j)) {
					t.Errorf("v%d %s: %s = %x, want %x", v, s.cmd, a, c.Bytes(a), value(a, j))
				}
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("v%d: after END: %v, want io.EOF", v, err)
		}
	}
}

func TestAccessors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, 2)
	_ = w.WriteHeader()
	_ = w.Begin(CmdUtimes)
	w.PutString(AttrPath, "a\x00b")
	w.PutTime(AttrAtime, Timespec{Sec: -5, Nsec: 7})
	w.PutTime(AttrMtime, Timespec{Sec: 1 << 40})
	w.PutTime(AttrCtime, Timespec{})
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	_ = w.Begin(CmdFallocate)
	w.PutString(AttrPath, "f")
	w.PutU32(AttrFallocateMode, 3)
	w.PutU64(AttrFileOffset, 1<<63)
	w.PutU64(AttrSize, 4096)
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	c, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if c.String(AttrPath) != "a\x00b" || c.CString(AttrPath) != "a" {
		t.Errorf("path %q / %q", c.String(AttrPath), c.CString(AttrPath))
	}
	if got := c.Time(AttrAtime); got != (Timespec{-5, 7}) {
		t.Errorf("atime %+v", got)
	}
	if got := c.Time(AttrMtime); got.Sec != 1<<40 {
		t.Errorf("mtime %+v", got)
	}
	if c.Has(AttrOtime) || c.Bytes(AttrOtime) != nil || c.U64(AttrOtime) != 0 {
		t.Error("absent otime reported present")
	}
	if c.DataOffset(AttrPath) != CmdHeaderSize+TLVHeaderSize {
		t.Errorf("path value at %d", c.DataOffset(AttrPath))
	}
	c, err = r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if c.U64(AttrFallocateMode) != 3 || c.U64(AttrFileOffset) != 1<<63 || c.Index != 2 {
		t.Errorf("fallocate %d %d index %d", c.U64(AttrFallocateMode), c.U64(AttrFileOffset), c.Index)
	}
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 0xff}
	if u.String() != "12345678-9abc-def0-0102-0304050607ff" {
		t.Errorf("uuid %s", u)
	}
}

func TestWriterLimits(t *testing.T) {
	big := make([]byte, 70000)
	tests := []struct {
		name    string
		version uint32
		build   func(w *Writer)
		want    error
	}{
		{"v2 command in v1", 1, func(w *Writer) { _ = w.Begin(CmdFallocate) }, ErrNotInVersion},
		{"v3 command in v2", 2, func(w *Writer) { _ = w.Begin(CmdEnableVerity) }, ErrNotInVersion},
		{"unknown command", 3, func(w *Writer) { _ = w.Begin(Cmd(99)) }, ErrUnknownCmd},
		{"v2 attribute in v1", 1, func(w *Writer) {
			_ = w.Begin(CmdTruncate)
			w.PutString(AttrPath, "f")
			w.PutU64(AttrSize, 1)
			w.PutU64(AttrFileattr, 1)
		}, ErrNotInVersion},
		{"wrong size", 1, func(w *Writer) {
			_ = w.Begin(CmdTruncate)
			w.PutString(AttrPath, "f")
			w.PutBytes(AttrSize, []byte{1, 2, 3})
		}, ErrTLV},
		{"missing attribute", 1, func(w *Writer) {
			_ = w.Begin(CmdTruncate)
			w.PutString(AttrPath, "f")
		}, ErrMissingAttr},
		{"v1 write over 64K", 1, func(w *Writer) {
			_ = w.Begin(CmdWrite)
			w.PutString(AttrPath, "f")
			w.PutU64(AttrFileOffset, 0)
			w.PutData(big[:64<<10-30])
		}, ErrTooLarge},
		{"TLV over 65535", 2, func(w *Writer) {
			_ = w.Begin(CmdSetXattr)
			w.PutString(AttrPath, "f")
			w.PutString(AttrXattrName, "user.x")
			w.PutBytes(AttrXattrData, big)
		}, ErrTooLarge},
		{"v2 write over 144K", 2, func(w *Writer) {
			_ = w.Begin(CmdWrite)
			w.PutString(AttrPath, "f")
			w.PutU64(AttrFileOffset, 0)
			w.PutData(make([]byte, 144<<10))
		}, ErrTooLarge},
		{"attribute after v2 data", 2, func(w *Writer) {
			_ = w.Begin(CmdWrite)
			w.PutString(AttrPath, "f")
			w.PutData([]byte("x"))
			w.PutU64(AttrFileOffset, 0)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			tt.build(w)
			err = w.End()
			if err == nil {
				t.Fatal("End succeeded")
			}
			var se *Error
			if !errors.As(err, &se) || se.Index != 1 {
				t.Errorf("error %v is not a *Error for command 1", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for a failed command", buf.Len())
			}
		})
	}
	// The largest commands the kernel makes still fit.
	for _, v := range []uint32{1, 2} {
		w, _ := NewWriter(io.Discard, v)
		_ = w.Begin(CmdWrite)
		w.PutString(AttrPath, strings.Repeat("p", 4095))
		w.PutU64(AttrFileOffset, 0)
		if w.Room() < 48<<10 {
			t.Errorf("v%d: room for %d data bytes only", v, w.Room())
		}
		w.PutData(make([]byte, w.Room()))
		if err := w.End(); err != nil {
			t.Errorf("v%d: filling the command: %v", v, err)
		}
	}
	if _, err := NewWriter(io.Discard, 4); !errors.Is(err, ErrVersion) {
		t.Errorf("version 4: %v", err)
	}
}
