package dump

import (
	"bufio"
	"encoding/base64"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/coldsend/coldsend/stream"
)

// JSON writes one JSON object per command (JSON Lines), END included:
//
//	{"stream":1,"index":5,"offset":1234,"cmd":"write","len":49183,"crc":305419896,
//	 "path":"a/b","file_offset":0,"data_len":49152,"data_offset":1265}
//
// The fixed keys come first; "duplicates" follows them when an attribute
// was repeated. Then every attribute present, in stream order, named by
// stream.Attr.String(): integers as numbers, uuids as strings, timespecs
// as {"sec":N,"nsec":N}, paths, names and other byte strings as strings
// when they are valid UTF-8 and otherwise base64 (standard encoding) under
// the name plus "_base64". File data is never written: "data_len" and
// "data_offset" (absolute input offset of the data) stand for DATA.
// Output is buffered: call Flush at the end.
type JSON struct {
	w     *bufio.Writer
	buf   []byte
	limit pathLimit
}

// NewJSON returns a JSON writing to w. A *bufio.Writer is used as is.
func NewJSON(w io.Writer) *JSON {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	return &JSON{w: bw, buf: make([]byte, 0, 512)}
}

// Flush writes out buffered output.
func (j *JSON) Flush() error { return j.w.Flush() }

// Command writes one command as a line of JSON. A command whose paths
// Text refuses (PATH_MAX) is refused here too, with the same error: no
// receiver could apply it, and both formats stop at the same command.
func (j *JSON) Command(c *stream.Command) error {
	if err := j.limit.check(c); err != nil {
		return err
	}
	b := append(j.buf[:0], `{"stream":`...)
	b = strconv.AppendInt(b, int64(c.Stream), 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, int64(c.Index), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, c.Offset, 10)
	b = append(b, `,"cmd":`...)
	b = appendJSONString(b, c.Cmd.String())
	b = append(b, `,"len":`...)
	b = strconv.AppendInt(b, int64(c.Size()), 10)
	b = append(b, `,"crc":`...)
	b = strconv.AppendUint(b, uint64(c.CRC), 10)
	if c.Duplicates > 0 {
		b = append(b, `,"duplicates":`...)
		b = strconv.AppendInt(b, int64(c.Duplicates), 10)
	}
	for _, a := range c.Attrs() {
		name := a.String()
		if a == stream.AttrData {
			b = append(b, `,"data_len":`...)
			b = strconv.AppendInt(b, int64(len(c.Bytes(a))), 10)
			b = append(b, `,"data_offset":`...)
			b = strconv.AppendInt(b, c.Offset+c.DataOffset(a), 10)
			continue
		}
		switch a.Kind() {
		case stream.KindU8, stream.KindU32, stream.KindU64:
			b = appendKey(b, name, "")
			b = strconv.AppendUint(b, c.U64(a), 10)
		case stream.KindUUID:
			b = appendKey(b, name, "")
			b = append(b, '"')
			b = appendUUID(b, c.UUID(a))
			b = append(b, '"')
		case stream.KindTimespec:
			ts := c.Time(a)
			b = appendKey(b, name, "")
			b = append(b, `{"sec":`...)
			b = strconv.AppendInt(b, ts.Sec, 10)
			b = append(b, `,"nsec":`...)
			b = strconv.AppendUint(b, uint64(ts.Nsec), 10)
			b = append(b, '}')
		default:
			v := c.Bytes(a)
			if utf8.Valid(v) {
				b = appendKey(b, name, "")
				b = appendJSONString(b, v)
			} else {
				b = appendKey(b, name, "_base64")
				b = append(b, '"')
				b = base64.StdEncoding.AppendEncode(b, v)
				b = append(b, '"')
			}
		}
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func appendKey(b []byte, name, suffix string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, suffix...)
	return append(b, '"', ':')
}

// appendJSONString appends s, valid UTF-8, as a JSON string: only the
// quote, the backslash and control characters need escaping.
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
