package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// rawCmd builds a command with a correct CRC around any payload.
func rawCmd(c Cmd, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint16(b, uint16(c))
	b = append(b, 0, 0, 0, 0)
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[6:], crc(b))
	return b
}

func tlv(a Attr, v []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(a))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func header(v uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte(Magic), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	u64one   = binary.LittleEndian.AppendUint64(nil, 1)
	mkdirCmd = rawCmd(CmdMkdir, cat(tlv(AttrPath, []byte("d")), tlv(AttrIno, u64one)))
	endCmd   = rawCmd(CmdEnd, nil)
)

func TestReaderErrors(t *testing.T) {
	h := header(1)
	second := int64(len(h) + len(mkdirCmd)) // offset of the second command
	badCRC := bytes.Clone(mkdirCmd)
	badCRC[len(badCRC)-1] ^= 1
	overrun := cat(tlv(AttrPath, []byte("d")), tlv(AttrIno, u64one))
	binary.LittleEndian.PutUint16(overrun[2:], 200)
	huge := rawCmd(CmdWrite, nil)
	binary.LittleEndian.PutUint32(huge, 1<<30)

	tests := []struct {
		name   string
		input  []byte
		want   error
		offset int64
		index  int
	}{
		{"empty", nil, ErrEmpty, 0, 0},
		{"bad magic", cat([]byte("btrfs-streaX\x00"), h[13:], endCmd), ErrBadMagic, 0, 0},
		{"version 0", cat(header(0), endCmd), ErrVersion, 0, 0},
		{"version 4", cat(header(4), endCmd), ErrVersion, 0, 0},
		{"short header", h[:9], ErrTruncated, 0, 0},
		{"crc mismatch", cat(h, mkdirCmd, badCRC, endCmd), ErrCRC, second, 2},
		{"tlv past command", cat(h, mkdirCmd, rawCmd(CmdMkdir, overrun)), ErrTLV, second, 2},
		{"tlv header cut", cat(h, rawCmd(CmdMkdir, []byte{15})), ErrTLV, int64(len(h)), 1},
		{"attribute type 0", cat(h, rawCmd(CmdMkdir, tlv(0, nil))), ErrTLV, int64(len(h)), 1},
		{"attribute type 36", cat(h, rawCmd(CmdMkdir, tlv(36, nil))), ErrTLV, int64(len(h)), 1},
		{"u64 of 4 bytes", cat(h, rawCmd(CmdMkdir, cat(tlv(AttrPath, nil), tlv(AttrIno, []byte{1, 2, 3, 4})))), ErrTLV, int64(len(h)), 1},
		{"missing path", cat(h, rawCmd(CmdMkdir, tlv(AttrIno, u64one))), ErrMissingAttr, int64(len(h)), 1},
		{"missing ino", cat(h, mkdirCmd, rawCmd(CmdMkdir, tlv(AttrPath, []byte("x")))), ErrMissingAttr, second, 2},
		{"unknown command", cat(h, mkdirCmd, rawCmd(99, nil)), ErrUnknownCmd, second, 2},
		{"command 0", cat(h, rawCmd(0, nil)), ErrUnknownCmd, int64(len(h)), 1},
		{"cut in a command", cat(h, mkdirCmd, mkdirCmd[:15]), ErrTruncated, second, 2},
		{"cut in a command header", cat(h, mkdirCmd, mkdirCmd[:5]), ErrTruncated, second, 2},
		{"no END", cat(h, mkdirCmd), ErrTruncated, second, 2},
		{"huge length", cat(h, huge), ErrTooLarge, int64(len(h)), 1},
		{"garbage after END", cat(h, endCmd, []byte("garbage here, not a stream")), ErrBadMagic, int64(len(h) + len(endCmd)), 0},
		{"v1 data keeps its length", cat(h, rawCmd(CmdWrite, cat(tlv(AttrPath, []byte("f")), tlv(AttrFileOffset, u64one), []byte{byte(AttrData), 0, 9, 0, 'x'}))), ErrTLV, int64(len(h)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.input))
			var err error
			for range 10 {
				if _, err = r.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("%v is not a *Error", err)
			}
			if se.Offset != tt.offset || se.Index != tt.index {
				t.Errorf("at offset %d index %d, want %d %d (%v)", se.Offset, se.Index, tt.offset, tt.index, err)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestReaderConcatenated(t *testing.T) {
	h1, h2 := header(1), header(2)
	input := cat(h1, mkdirCmd, endCmd, h2, mkdirCmd, mkdirCmd, endCmd)
	for _, r := range []io.Reader{bytes.NewReader(input), iotest.OneByteReader(bytes.NewReader(input)), iotest.DataErrReader(bytes.NewReader(input))} {
		sr := NewReader(r)
		var got []string
		for {
			c, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c.Cmd.String()+"@"+string(rune('0'+c.Stream))+"v"+string(rune('0'+c.Version)))
			if c.Index != len(got) {
				t.Errorf("index %d, want %d", c.Index, len(got))
			}
		}
		want := "mkdir@1v1 end@1v1 mkdir@2v2 mkdir@2v2 end@2v2"
		if s := join(got); s != want {
			t.Errorf("got %s, want %s", s, want)
		}
		if sr.Offset() != int64(len(input)) {
			t.Errorf("offset %d, want %d", sr.Offset(), len(input))
		}
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestReaderPassesInputErrors(t *testing.T) {
	boom := errors.New("device gone")
	r := NewReader(io.MultiReader(bytes.NewReader(cat(header(1), mkdirCmd)), iotest.ErrReader(boom)))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
}

// TestReaderDuplicates: as in btrfs-progs, a repeated attribute's last
// value wins; the count lets validators complain.
func TestReaderDuplicates(t *testing.T) {
	input := cat(header(1), rawCmd(CmdMkdir, cat(tlv(AttrPath, []byte("a")), tlv(AttrIno, u64one), tlv(AttrPath, []byte("b")))), endCmd)
	c, err := NewReader(bytes.NewReader(input)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if c.String(AttrPath) != "b" || c.Duplicates != 1 || len(c.Attrs()) != 2 {
		t.Errorf("path %q duplicates %d attrs %v", c.String(AttrPath), c.Duplicates, c.Attrs())
	}
}
