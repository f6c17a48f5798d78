package receive_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
)

// cmd is one command of a hand-built stream: its attributes in order.
type cmd struct {
	c     stream.Cmd
	attrs []attr
}

type attr struct {
	a stream.Attr
	v any // string, uint64, []byte, stream.UUID
}

var (
	uuidA = stream.UUID{0xa}
	uuidB = stream.UUID{0xb}
)

// build encodes cmds as a protocol 1 stream; required attributes the
// tests do not care about are filled in.
func build(t *testing.T, cmds ...cmd) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := stream.NewWriter(&b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := w.Begin(c.c); err != nil {
			t.Fatal(err)
		}
		have := map[stream.Attr]bool{}
		for _, a := range c.attrs {
			have[a.a] = true
		}
		for _, a := range stream.Required[c.c] {
			if !have[a] {
				c.attrs = append(c.attrs, attr{a, zeroFor(a)})
			}
		}
		for _, a := range c.attrs {
			switch v := a.v.(type) {
			case string:
				w.PutString(a.a, v)
			case uint64:
				w.PutU64(a.a, v)
			case []byte:
				w.PutBytes(a.a, v)
			case stream.UUID:
				w.PutUUID(a.a, v)
			case stream.Timespec:
				w.PutTime(a.a, v)
			}
		}
		if err := w.End(); err != nil {
			t.Fatalf("%s: %v", c.c, err)
		}
	}
	return b.Bytes()
}

func zeroFor(a stream.Attr) any {
	switch a.Kind() {
	case stream.KindString:
		return ""
	case stream.KindUUID:
		return stream.UUID{}
	case stream.KindTimespec:
		return stream.Timespec{}
	case stream.KindBytes:
		return []byte{}
	}
	return uint64(0)
}

func subvol(name string) cmd {
	return cmd{stream.CmdSubvol, []attr{{stream.AttrPath, name}, {stream.AttrUUID, uuidA}, {stream.AttrCtransid, uint64(7)}}}
}
func mkfile(p string) cmd {
	return cmd{stream.CmdMkfile, []attr{{stream.AttrPath, p}, {stream.AttrIno, uint64(257)}}}
}
func mkdir(p string) cmd {
	return cmd{stream.CmdMkdir, []attr{{stream.AttrPath, p}, {stream.AttrIno, uint64(258)}}}
}
func symlink(p, target string) cmd {
	return cmd{stream.CmdSymlink, []attr{{stream.AttrPath, p}, {stream.AttrIno, uint64(259)}, {stream.AttrPathLink, target}}}
}
func write(p string, data string) cmd {
	return cmd{stream.CmdWrite, []attr{{stream.AttrPath, p}, {stream.AttrFileOffset, uint64(0)}, {stream.AttrData, []byte(data)}}}
}
func end() cmd { return cmd{stream.CmdEnd, nil} }

// canary is a directory beside the destination whose state must never
// change.
type canary struct {
	dir   string
	state string
}

func newCanary(t *testing.T, parent string) *canary {
	t.Helper()
	dir := filepath.Join(parent, "canary")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("do not touch"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &canary{dir: dir}
	c.state = c.snapshot(t)
	return c
}

func (c *canary) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(c.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			b.WriteString(err.Error())
			return nil
		}
		content, _ := os.ReadFile(p)
		var x []string
		if names, err := listXattrNames(p); err == nil {
			x = names
		}
		b.WriteString(strings.Join([]string{p, fi.Mode().String(), fi.ModTime().String(), string(content), strings.Join(x, ",")}, "|") + "\n")
		return nil
	})
	return b.String()
}

// TestEscapes: a stream naming anything outside its subvolume, directly,
// through "..", an absolute path or a symlink leading out, fails with the
// command's offset and index, and nothing outside the destination
// changes.
func TestEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmds []cmd
	}{
		{"dotdot mkfile", []cmd{subvol("s"), mkfile("../../canary/evil")}},
		{"absolute mkfile", []cmd{subvol("s"), mkfile("/CANARY/evil")}},
		{"subvol name dotdot", []cmd{subvol("../canary")}},
		{"subvol name slash", []cmd{subvol("a/b")}},
		{"subvol name record", []cmd{subvol(receive.RecordName)}},
		{"symlink out, write through", []cmd{subvol("s"), symlink("esc", "../../canary"), write("esc/secret", "pwned")}},
		{"symlink out, mkfile through", []cmd{subvol("s"), symlink("esc", "../../canary"), mkfile("esc/evil")}},
		{"absolute symlink, mkfile through", []cmd{subvol("s"), symlink("abs", "/CANARY"), mkfile("abs/evil")}},
		{"rename out", []cmd{subvol("s"), mkfile("f"), {stream.CmdRename, []attr{{stream.AttrPath, "f"}, {stream.AttrPathTo, "../../canary/f"}}}}},
		{"rename into symlink", []cmd{subvol("s"), mkfile("f"), symlink("esc", "../../canary"), {stream.CmdRename, []attr{{stream.AttrPath, "f"}, {stream.AttrPathTo, "esc/f"}}}}},
		{"rename from outside", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdRename, []attr{{stream.AttrPath, "esc/secret"}, {stream.AttrPathTo, "stolen"}}}}},
		{"link from outside", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdLink, []attr{{stream.AttrPath, "stolen"}, {stream.AttrPathLink, "esc/secret"}}}}},
		{"link to outside name", []cmd{subvol("s"), mkfile("f"), {stream.CmdLink, []attr{{stream.AttrPath, "../../canary/l"}, {stream.AttrPathLink, "f"}}}}},
		{"unlink through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdUnlink, []attr{{stream.AttrPath, "esc/secret"}}}}},
		{"truncate through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdTruncate, []attr{{stream.AttrPath, "esc/secret"}, {stream.AttrSize, uint64(0)}}}}},
		{"chmod through symlink", []cmd{subvol("s"), symlink("esc", "../../canary/secret"), {stream.CmdChmod, []attr{{stream.AttrPath, "esc"}, {stream.AttrMode, uint64(0o777)}}}}},
		{"chown through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdChown, []attr{{stream.AttrPath, "esc/secret"}, {stream.AttrUID, uint64(1)}, {stream.AttrGID, uint64(1)}}}}},
		{"utimes through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdUtimes, []attr{{stream.AttrPath, "esc/secret"}}}}},
		{"xattr through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdSetXattr, []attr{{stream.AttrPath, "esc/secret"}, {stream.AttrXattrName, "user.x"}, {stream.AttrXattrData, []byte("v")}}}}},
		{"mknod through symlink", []cmd{subvol("s"), symlink("esc", "../../canary"), {stream.CmdMkfifo, []attr{{stream.AttrPath, "esc/fifo"}, {stream.AttrIno, uint64(300)}}}}},
		{"clone from outside", []cmd{subvol("s"), mkfile("f"), symlink("esc", "../../canary"),
			{stream.CmdClone, []attr{{stream.AttrPath, "f"}, {stream.AttrFileOffset, uint64(0)}, {stream.AttrCloneLen, uint64(12)},
				{stream.AttrCloneUUID, uuidA}, {stream.AttrCloneCtransid, uint64(7)}, {stream.AttrClonePath, "esc/secret"}, {stream.AttrCloneOffset, uint64(0)}}}}},
		{"clone from dotdot", []cmd{subvol("s"), mkfile("f"),
			{stream.CmdClone, []attr{{stream.AttrPath, "f"}, {stream.AttrFileOffset, uint64(0)}, {stream.AttrCloneLen, uint64(12)},
				{stream.AttrCloneUUID, uuidA}, {stream.AttrCloneCtransid, uint64(7)}, {stream.AttrClonePath, "../../canary/secret"}, {stream.AttrCloneOffset, uint64(0)}}}}},
		{"clone from unknown subvolume", []cmd{subvol("s"), mkfile("f"),
			{stream.CmdClone, []attr{{stream.AttrPath, "f"}, {stream.AttrFileOffset, uint64(0)}, {stream.AttrCloneLen, uint64(12)},
				{stream.AttrCloneUUID, uuidB}, {stream.AttrCloneCtransid, uint64(7)}, {stream.AttrClonePath, "secret"}, {stream.AttrCloneOffset, uint64(0)}}}}},
		{"snapshot of outside", []cmd{{stream.CmdSnapshot, []attr{{stream.AttrPath, "s"}, {stream.AttrUUID, uuidA}, {stream.AttrCtransid, uint64(8)},
			{stream.AttrCloneUUID, uuidB}, {stream.AttrCloneCtransid, uint64(7)}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			c := newCanary(t, parent)
			dest := filepath.Join(parent, "dest")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range tc.cmds {
				for j := range tc.cmds[i].attrs {
					if s, ok := tc.cmds[i].attrs[j].v.(string); ok {
						tc.cmds[i].attrs[j].v = strings.ReplaceAll(s, "/CANARY", c.dir)
					}
				}
			}
			data := build(t, append(tc.cmds, end())...)
			_, err := receive.Receive(bytes.NewReader(data), dest, receive.Options{})
			var re *receive.Error
			if !errors.As(err, &re) || re.Index != len(tc.cmds) || re.Offset <= 0 {
				t.Errorf("want an error at command %d with its offset, got %v", len(tc.cmds), err)
			}
			t.Log(err)
			if got := c.snapshot(t); got != c.state {
				t.Errorf("the canary changed:\n%s\nwas:\n%s", got, c.state)
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 2 {
				t.Errorf("%d entries beside the destination, want dest and canary", len(entries))
			}
		})
	}
}
