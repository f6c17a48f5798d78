package validate_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/validate"
)

// FuzzValidate must never panic. The input is validated as it is, and
// also read as a program of 3-byte commands over a few paths, encoded into
// a well-formed stream: random bytes rarely pass the CRC, the program
// reaches the tree model.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 4, 1, 0, 3, 3, 0, 7, 3, 6, 12, 5, 3, 2, 0, 0})
	f.Add([]byte{1, 0, 0, 7, 1, 6, 4, 1, 0, 10, 6, 0, 11, 3, 9, 2, 0, 0})
	for _, r := range rules {
		if r.bad == 0 && len(r.lines) > 4 {
			data, _ := build(f, 2, r.lines...)
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		follow(t, data)
		follow(t, program(t, data))
	})
}

// follow feeds every command the Reader decodes to a Validator, problems
// or not, then finishes it; Stream must agree on the first problem.
func follow(t *testing.T, data []byte) {
	rd := stream.NewReader(bytes.NewReader(data))
	v := validate.New()
	var first error
	for {
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			err = v.Finish(rd.Offset())
			if first == nil {
				first = err
			}
			break
		}
		if err != nil {
			if first == nil {
				first = err
			}
			break
		}
		err = v.Command(c)
		var se *stream.Error
		if err != nil && (!errors.As(err, &se) || se.Index != c.Index || se.Offset != c.Offset) {
			t.Fatalf("command %d at %d: %v", c.Index, c.Offset, err)
		}
		if first == nil {
			first = err
		}
	}
	_ = v.Summary()
	if _, err := validate.Stream(bytes.NewReader(data)); fmt.Sprint(err) != fmt.Sprint(first) {
		t.Fatalf("Stream reports %v, the Validator %v", err, first)
	}
}

var fuzzPaths = []string{".", "a", "b", "a/b", "b/a", "a/b/c", "o257-1-0", "o258-1-0/a", "c", "a/c", "..", "a//b"}

// program encodes data as a stream, 3 bytes a command: the command, then
// two bytes choosing paths and numbers. Up to 200 commands keep each run
// (and the fuzzer's minimizing) quick.
func program(t *testing.T, data []byte) []byte {
	var lines []string
	data = data[:min(len(data), 600)]
	for i := 0; i+2 < len(data); i += 3 {
		x, y := int(data[i+1]), int(data[i+2])
		a, b := fuzzPaths[x%len(fuzzPaths)], fuzzPaths[y%len(fuzzPaths)]
		o1, o2 := x%5*4096, y%4*4096
		var l string
		switch data[i] % 19 {
		case 0:
			l = fmt.Sprintf("subvol s%d uuid=%d", x%3, y%3)
		case 1:
			l = fmt.Sprintf("snapshot s%d uuid=%d", x%3, y%3)
		case 2:
			l = "end"
		case 3:
			l = "mkfile " + a
		case 4:
			l = "mkdir " + a
		case 5:
			l = "symlink " + a + " t"
		case 6:
			l = "mkfifo " + a
		case 7:
			l = "rename " + a + " " + b
		case 8:
			l = "link " + a + " " + b
		case 9:
			l = "unlink " + a
		case 10:
			l = "rmdir " + a
		case 11:
			l = fmt.Sprintf("write %s %d %d", a, o1, y%3*1000)
		case 12:
			l = fmt.Sprintf("clone %s %d %d %s %d", a, o1, y%3*4096, b, o2)
		case 13:
			l = fmt.Sprintf("truncate %s %d", a, o1+y)
		case 14:
			l = fmt.Sprintf("fallocate %s %d %d %d", a, y%2, o1, o2)
		case 15:
			l = "utimes " + a
		case 16:
			l = "header"
		case 17:
			l = fmt.Sprintf("encoded %s %d %d %d %d comp=%d", a, o1, o2, o2+4096, y%4096, x%9)
		case 18:
			l = fmt.Sprintf("update %s %d %d", a, o1, o2)
		}
		lines = append(lines, l)
	}
	data, _ = build(t, 2, lines...)
	return data
}
