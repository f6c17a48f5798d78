package dump_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coldsend/coldsend/internal/fixturestreams"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// TestJSONRoundTrip writes every command of the kernel fixtures and of the
// synthetic streams as JSON, parses each line back with encoding/json and
// checks keys, their order and every value against the decoded command.
func TestJSONRoundTrip(t *testing.T) {
	type input struct {
		name string
		data []byte
	}
	var inputs []input
	all, err := fixturestreams.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, fs := range all {
		data, err := fs.Read()
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{fs.Name(), data})
	}
	paths, _ := filepath.Glob("testdata/*.stream")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{p, data})
	}

	var cmds int
	seen := map[string]int{} // keys with a suffix, to see base64 used
	for _, in := range inputs {
		var out bytes.Buffer
		j := dump.NewJSON(&out)
		r := stream.NewReader(bytes.NewReader(in.data))
		for {
			c, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", in.name, err)
			}
			out.Reset()
			if err := j.Command(c); errors.Is(err, dump.ErrPathTooLong) {
				break // refused from here on, as the text format does
			} else if err != nil {
				t.Fatal(err)
			}
			if err := j.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := checkJSON(out.Bytes(), c, in.data, seen); err != nil {
				t.Fatalf("%s: command %d (%s): %v\n%s", in.name, c.Index, c.Cmd, err, out.Bytes())
			}
			cmds++
		}
	}
	for _, k := range []string{"path_base64", "xattr_name_base64", "path_to_base64", "path_link_base64", "clone_path_base64"} {
		if seen[k] == 0 {
			t.Errorf("no %s in the output: non-UTF-8 names untested", k)
		}
	}
	t.Logf("%d inputs, %d commands round-tripped; base64 keys: %v", len(inputs), cmds, seen)
}

// checkJSON checks one line of JSON output against the command it was
// made from; raw is the whole input, to check data_offset.
func checkJSON(line []byte, c *stream.Command, raw []byte, seen map[string]int) error {
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte{'\n'}) != 1 {
		return fmt.Errorf("not one line")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return err
	}
	keys, err := keyOrder(line)
	if err != nil {
		return err
	}
	want := []string{"stream", "index", "offset", "cmd", "len", "crc"}
	if c.Duplicates > 0 {
		want = append(want, "duplicates")
	}
	num := func(k string, v string) error {
		if got := string(m[k]); got != v {
			return fmt.Errorf("%s = %s, want %s", k, got, v)
		}
		return nil
	}
	var cmd string
	if err := json.Unmarshal(m["cmd"], &cmd); err != nil || cmd != c.Cmd.String() {
		return fmt.Errorf("cmd = %s, want %s", m["cmd"], c.Cmd)
	}
	for _, kv := range [][2]string{
		{"stream", strconv.Itoa(c.Stream)}, {"index", strconv.Itoa(c.Index)},
		{"offset", strconv.FormatInt(c.Offset, 10)}, {"len", strconv.Itoa(c.Size())},
		{"crc", strconv.FormatUint(uint64(c.CRC), 10)},
	} {
		if err := num(kv[0], kv[1]); err != nil {
			return err
		}
	}
	for _, a := range c.Attrs() {
		name := a.String()
		v := c.Bytes(a)
		switch {
		case a == stream.AttrData:
			want = append(want, "data_len", "data_offset")
			off := c.Offset + c.DataOffset(a)
			if err := num("data_len", strconv.Itoa(len(v))); err != nil {
				return err
			}
			if err := num("data_offset", strconv.FormatInt(off, 10)); err != nil {
				return err
			}
			if !bytes.Equal(raw[off:off+int64(len(v))], v) {
				return fmt.Errorf("data_offset %d does not point at the data", off)
			}
		case a.Kind() == stream.KindU8 || a.Kind() == stream.KindU32 || a.Kind() == stream.KindU64:
			want = append(want, name)
			if err := num(name, strconv.FormatUint(c.U64(a), 10)); err != nil {
				return err
			}
		case a.Kind() == stream.KindUUID:
			want = append(want, name)
			if err := num(name, `"`+c.UUID(a).String()+`"`); err != nil {
				return err
			}
		case a.Kind() == stream.KindTimespec:
			want = append(want, name)
			var ts struct {
				Sec  int64  `json:"sec"`
				Nsec uint32 `json:"nsec"`
			}
			if err := json.Unmarshal(m[name], &ts); err != nil {
				return err
			}
			if got := c.Time(a); ts.Sec != got.Sec || ts.Nsec != got.Nsec {
				return fmt.Errorf("%s = %+v, want %+v", name, ts, got)
			}
		case utf8.Valid(v):
			want = append(want, name)
			var s string
			if err := json.Unmarshal(m[name], &s); err != nil {
				return err
			}
			if s != string(v) {
				return fmt.Errorf("%s = %q, want %q", name, s, v)
			}
		default:
			name += "_base64"
			want = append(want, name)
			seen[name]++
			var s string
			if err := json.Unmarshal(m[name], &s); err != nil {
				return err
			}
			got, err := base64.StdEncoding.DecodeString(s)
			if err != nil || !bytes.Equal(got, v) {
				return fmt.Errorf("%s = %q (%v), want %q", name, got, err, v)
			}
		}
	}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		return fmt.Errorf("keys %v, want %v", keys, want)
	}
	return nil
}

// keyOrder returns the top-level keys of a JSON object in order.
func keyOrder(line []byte) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	if _, err := d.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// TestJSONFormat pins the exact form of a few commands.
func TestJSONFormat(t *testing.T) {
	type attr struct {
		a stream.Attr
		v []byte
	}
	le64 := func(v uint64) []byte {
		return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(v >> 40), byte(v >> 48), byte(v >> 56)}
	}
	tests := []struct {
		name  string
		cmd   stream.Cmd
		attrs []attr
		want  string // after the fixed keys
	}{
		{"ascii", stream.CmdTruncate, []attr{{stream.AttrPath, []byte("a \"b\"\\\n\t\x01\x7f")}, {stream.AttrSize, le64(1 << 63)}},
			`,"path":"a \"b\"\\\n\t\u0001` + "\x7f" + `","size":9223372036854775808}`},
		{"utf8", stream.CmdUnlink, []attr{{stream.AttrPath, []byte("ä/€")}}, `,"path":"ä/€"}`},
		{"not utf8", stream.CmdUnlink, []attr{{stream.AttrPath, []byte("\xff\x00a")}}, `,"path_base64":"/wBh"}`},
		{"nul is utf8", stream.CmdUnlink, []attr{{stream.AttrPath, []byte("a\x00b")}}, `,"path":"a\u0000b"}`},
		{"times and uuid", stream.CmdUtimes, []attr{
			{stream.AttrPath, []byte("f")},
			{stream.AttrAtime, append(le64(1<<64-1), 1, 0, 0, 0)},
			{stream.AttrMtime, append(le64(0), 255, 255, 255, 255)},
			{stream.AttrCtime, append(le64(5), 0, 0, 0, 0)},
		}, `,"path":"f","atime":{"sec":-1,"nsec":1},"mtime":{"sec":0,"nsec":4294967295},"ctime":{"sec":5,"nsec":0}}`},
		{"duplicates", stream.CmdChmod, []attr{{stream.AttrMode, le64(0o644)}, {stream.AttrPath, []byte("x")}, {stream.AttrMode, le64(0o755)}},
			`,"duplicates":1,"mode":493,"path":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw bytes.Buffer
			w, err := stream.NewWriter(&raw, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			if err := w.Begin(tc.cmd); err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.attrs {
				w.PutBytes(a.a, a.v)
			}
			if err := w.End(); err != nil {
				t.Fatal(err)
			}
			c, err := stream.NewReader(&raw).Next()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			j := dump.NewJSON(&out)
			if err := j.Command(c); err != nil {
				t.Fatal(err)
			}
			if err := j.Flush(); err != nil {
				t.Fatal(err)
			}
			head := fmt.Sprintf(`{"stream":1,"index":1,"offset":17,"cmd":%q,"len":%d,"crc":%d`, tc.cmd, c.Size(), c.CRC)
			if got, want := out.String(), head+tc.want+"\n"; got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if !json.Valid(out.Bytes()) {
				t.Errorf("invalid JSON: %s", out.Bytes())
			}
		})
	}
}
