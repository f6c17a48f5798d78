package streamdiff

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

// First returns "" when got and want are identical, otherwise a
// description of the first differing command (with the commands around
// it for context).
func First(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	if len(got) < stream.HeaderSize || len(want) < stream.HeaderSize || !bytes.Equal(got[:stream.HeaderSize], want[:stream.HeaderSize]) {
		return fmt.Sprintf("stream headers differ: got %q, want %q", got[:min(len(got), stream.HeaderSize)], want[:min(len(want), stream.HeaderSize)])
	}
	g, gerr := decode(got)
	w, werr := decode(want)
	for i := 0; i < max(len(g), len(w)); i++ {
		var gc, wc *cmd
		if i < len(g) {
			gc = &g[i]
		}
		if i < len(w) {
			wc = &w[i]
		}
		if gc != nil && wc != nil && bytes.Equal(gc.raw, wc.raw) {
			continue
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "first difference at command %d (got %d commands, want %d):\n", i+1, len(g), len(w))
		for j := max(0, i-3); j < i; j++ {
			fmt.Fprintf(&b, "    same: %s", w[j].text)
		}
		fmt.Fprintf(&b, "     got: %s", describe(gc))
		fmt.Fprintf(&b, "    want: %s", describe(wc))
		if gc != nil && wc != nil && gc.text == wc.text {
			fmt.Fprintf(&b, "     got: %s    want: %s", gc.json, wc.json)
		}
		for j := i + 1; j < min(i+3, len(w)); j++ {
			fmt.Fprintf(&b, "    next: %s", w[j].text)
		}
		return b.String()
	}
	return fmt.Sprintf("streams differ outside commands (decode errors: got %v, want %v)", gerr, werr)
}

type cmd struct {
	raw        []byte
	text, json string
}

func describe(c *cmd) string {
	if c == nil {
		return "(no command)\n"
	}
	return c.text
}

func decode(data []byte) ([]cmd, error) {
	r := stream.NewReader(bytes.NewReader(data))
	var out []cmd
	var tb, jb bytes.Buffer
	text := dump.NewText(&tb, time.UTC)
	js := dump.NewJSON(&jb)
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			out = append(out, cmd{text: fmt.Sprintf("(decode error: %v)\n", err)})
			return out, err
		}
		tb.Reset()
		jb.Reset()
		if c.Cmd == stream.CmdEnd {
			tb.WriteString("end\n")
		} else if err := text.Command(c); err != nil {
			fmt.Fprintf(&tb, "(%v)\n", err)
		}
		_ = js.Command(c)
		_ = text.Flush()
		_ = js.Flush()
		out = append(out, cmd{raw: bytes.Clone(data[c.Offset : c.Offset+int64(c.Size())]), text: tb.String(), json: jb.String()})
	}
}

// Lines returns "" when got and want are identical, otherwise the first
// line where two texts (dumps) differ, quoted.
func Lines(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	g := bytes.SplitAfter(got, []byte{'\n'})
	w := bytes.SplitAfter(want, []byte{'\n'})
	for i := 0; ; i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return fmt.Sprintf("line %d\n  got:  %q\n  want: %q", i+1, gl, wl)
		}
	}
}
