package validate_test

import (
	"bytes"
	"cmp"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/validate"
)

type rule struct {
	name    string
	version uint32 // of the Writer; 0 means 2
	claim   uint32 // version written into the header afterwards, 0 for none
	lines   []string
	bad     int    // index of the command reported, 0 when the stream is clean
	want    string // part of the problem's message
}

var long = strings.Repeat("n", 256)

var rules = []rule{
	// Stream framing.
	{name: "header and end only", lines: []string{"end"}},
	{name: "command before subvol", lines: []string{"mkfile a", "end"}, bad: 1, want: "outside a subvolume"},
	{name: "concatenated streams", lines: []string{"subvol s", "end", "header", "snapshot t uuid=2", "end"}},
	{name: "second stream starts without subvol", lines: []string{"subvol s", "end", "header", "mkfile a", "end"}, bad: 3, want: "outside a subvolume"},
	{name: "send -e framing", lines: []string{"subvol s", "mkfile o257-7-0 ino=257", "rename o257-7-0 f", "subvol t uuid=2", "mkfile f", "end"}},
	{name: "subvolume created twice", lines: []string{"subvol s", "end", "header", "subvol s uuid=2", "end"}, bad: 3, want: `"s" was already created by command 1`},
	{name: "subvolume name with a slash", lines: []string{"subvol a/b", "end"}, bad: 1, want: "single path component"},
	{name: "subvolume name ..", lines: []string{"snapshot ..", "end"}, bad: 1, want: "single path component"},

	// Protocol version.
	{name: "v2 command in v2", lines: []string{"subvol s", "mkfile f", "fallocate f 0 0 10", "end"}},
	{name: "v2 command in v1", claim: 1, lines: []string{"subvol s", "mkfile f", "fallocate f 0 0 10", "end"}, bad: 3, want: "fallocate needs protocol 2, stream is 1"},
	{name: "v2 attribute in v1", claim: 1, lines: []string{"subvol s", "mkfile f", "chmod f +fileattr", "end"}, bad: 3, want: "attribute fileattr needs protocol 2"},
	{name: "v3 command in v2", version: 3, claim: 2, lines: []string{"subvol s", "mkfile f", "verity f", "end"}, bad: 3, want: "enable_verity needs protocol 3"},
	{name: "v3 command in v3", version: 3, lines: []string{"subvol s", "mkfile f", "verity f", "end"}},
	{name: "repeated attribute", lines: []string{"subvol s", "mkfile f", "chmod f +dup", "end"}, bad: 3, want: "repeated"},

	// Paths.
	{name: "dotdot component", lines: []string{"subvol s", "mkfile ../x", "end"}, bad: 2, want: `".." component`},
	{name: "empty component", lines: []string{"subvol s", "mkdir a", "mkfile a//b", "end"}, bad: 3, want: `"" component`},
	{name: "leading slash", lines: []string{"subvol s", "utimes /a", "end"}, bad: 2, want: `"" component`},
	{name: "NUL in a path", lines: []string{"subvol s", `mkfile "a\x00b"`, "end"}, bad: 2, want: `a receiver would use "a"`},
	{name: "NUL in rename target", lines: []string{"subvol s", "mkfile a", `rename a "b\x00"`, "end"}, bad: 3, want: "NUL"},
	{name: "name over NAME_MAX", lines: []string{"subvol s", "mkfile " + long, "end"}, bad: 2, want: "NAME_MAX"},
	{name: "name at NAME_MAX", lines: []string{"subvol s", "mkfile " + long[1:], "end"}},
	{name: "path over PATH_MAX", lines: []string{"subvol s", "utimes " + strings.Repeat(long[1:]+"/", 16) + "x", "end"}, bad: 2, want: "PATH_MAX"},

	// Creating.
	{name: "create all kinds", lines: []string{"subvol s", "mkdir d", "mkfile d/f", "symlink d/l ../f", "mknod d/n", "mkfifo d/p", "mksock d/s", "end"}},
	{name: "create in missing dir", lines: []string{"subvol s", "mkfile d/f", "end"}, bad: 2, want: `path "d/f": "d" does not exist`},
	{name: "create under a file", lines: []string{"subvol s", "mkfile f", "mkdir f/g", "end"}, bad: 3, want: `path "f/g": "f" is a regular file, not a directory`},
	{name: "create under a symlink", lines: []string{"subvol s", "symlink l x", "mkfifo l/g", "end"}, bad: 3, want: `"l" is a symlink`},
	{name: "create twice", lines: []string{"subvol s", "mkdir d", "mkfifo d", "end"}, bad: 3, want: `"d" already exists (since command 2)`},
	{name: "create the root", lines: []string{"subvol s", "mkdir .", "end"}, bad: 2, want: "root already exists"},
	{name: "incremental: create in a parent's dir", lines: []string{"snapshot s", "mkfile old/f", "mkfile f", "end"}},
	{name: "incremental: create under a fresh dir", lines: []string{"snapshot s", "mkdir d", "mkfile d/x/f", "end"}, bad: 3, want: `path "d/x/f": "d/x" does not exist`},
	{name: "incremental: create under a removed dir", lines: []string{"snapshot s", "rmdir old", "mkfile old/f", "end"}, bad: 3, want: `"old" does not exist`},
	{name: "incremental: create over a used name", lines: []string{"snapshot s", "utimes f", "mkfile f", "end"}, bad: 3, want: `"f" already exists`},

	// Renaming.
	{name: "rename missing", lines: []string{"subvol s", "rename a b", "end"}, bad: 2, want: `"a" does not exist`},
	{name: "rename into missing dir", lines: []string{"subvol s", "mkfile a", "rename a d/b", "end"}, bad: 3, want: `"d" does not exist`},
	{name: "rename file over file", lines: []string{"subvol s", "mkfile a", "mkfile b", "rename a b", "utimes b", "end"}},
	{name: "renamed away", lines: []string{"subvol s", "mkfile a", "mkfile b", "rename a b", "utimes a", "end"}, bad: 5, want: `"a" does not exist`},
	{name: "rename dir over empty dir", lines: []string{"subvol s", "mkdir a", "mkdir b", "rename a b", "end"}},
	{name: "rename dir over full dir", lines: []string{"subvol s", "mkdir a", "mkdir b", "mkfile b/f", "rename a b", "end"}, bad: 5, want: `"b" is not empty`},
	{name: "rename file over dir", lines: []string{"subvol s", "mkfile a", "mkdir b", "rename a b", "end"}, bad: 4, want: `"b" is a directory, "a" is not`},
	{name: "rename dir over file", lines: []string{"subvol s", "mkdir a", "mkfile b", "rename a b", "end"}, bad: 4, want: `"a" is a directory, "b" is not`},
	{name: "rename into own subtree", lines: []string{"subvol s", "mkdir a", "mkdir a/b", "rename a a/b/c", "end"}, bad: 4, want: `"a" would move into its own subtree`},
	{name: "rename onto itself", lines: []string{"subvol s", "mkdir a", "rename a a", "utimes a", "end"}},
	{name: "rename moves the subtree", lines: []string{"subvol s", "mkdir a", "mkfile a/f", "rename a b", "utimes b/f", "end"}},
	{name: "subtree moved away", lines: []string{"subvol s", "mkdir a", "mkfile a/f", "rename a b", "utimes a/f", "end"}, bad: 5, want: `"a" does not exist`},
	{name: "rename between hard links", lines: []string{"subvol s", "mkfile a", "link b a", "rename a b", "utimes a", "utimes b", "end"}},
	{name: "rename the root", lines: []string{"subvol s", "mkdir a", "rename . a/b", "end"}, bad: 3, want: "root"},
	{name: "incremental: swap two dirs", lines: []string{"snapshot s", "rename a o300-7-0", "rename b a", "rename o300-7-0 b", "utimes a/x", "end"}},
	{name: "incremental: move a dir into its former child", lines: []string{"snapshot s", "rename p/c c", "rename p c/p", "utimes c/p/f", "end"}},
	{name: "incremental: rename over a dir known to hold a name", lines: []string{"snapshot s", "utimes b/x", "rename a b", "end"}, bad: 3, want: `"b" is not empty`},
	{name: "incremental: rename into own subtree", lines: []string{"snapshot s", "rename a a/b/c", "end"}, bad: 2, want: "own subtree"},

	// Links and removal.
	{name: "link", lines: []string{"subvol s", "mkfile f", "mkdir d", "link d/g f", "unlink f", "write d/g 0 5", "end"}},
	{name: "link a dir", lines: []string{"subvol s", "mkdir d", "link e d", "end"}, bad: 3, want: `"d" is a directory`},
	{name: "link over a name", lines: []string{"subvol s", "mkfile f", "link g f", "link g f", "end"}, bad: 4, want: `"g" already exists`},
	{name: "link missing", lines: []string{"subvol s", "link g f", "end"}, bad: 2, want: `"f" does not exist`},
	{name: "incremental: hard-linked name used as dir", lines: []string{"snapshot s", "link b a", "mkfile a/x", "end"}, bad: 3, want: `"a" is a hard-linked file, not a directory`},
	{name: "unlink a dir", lines: []string{"subvol s", "mkdir d", "unlink d", "end"}, bad: 3, want: `"d" is a directory`},
	{name: "unlink missing", lines: []string{"subvol s", "unlink d", "end"}, bad: 2, want: `"d" does not exist`},
	{name: "unlink twice", lines: []string{"snapshot s", "unlink f", "unlink f", "end"}, bad: 3, want: `"f" does not exist`},
	{name: "rmdir a file", lines: []string{"subvol s", "mkfile f", "rmdir f", "end"}, bad: 3, want: `"f" is a regular file, not a directory`},
	{name: "rmdir a full dir", lines: []string{"subvol s", "mkdir d", "mkfile d/f", "rmdir d", "end"}, bad: 4, want: `"d" is not empty`},
	{name: "rmdir an emptied dir", lines: []string{"subvol s", "mkdir d", "mkfile d/f", "unlink d/f", "rmdir d", "end"}},
	{name: "rmdir the root", lines: []string{"subvol s", "rmdir .", "end"}, bad: 2, want: "root"},
	{name: "incremental: rmdir a parent's dir", lines: []string{"snapshot s", "rename d/a x", "rmdir d", "end"}},
	{name: "incremental: rmdir a written file", lines: []string{"snapshot s", "write f 0 4", "rmdir f", "end"}, bad: 3, want: `"f" is a regular file`},

	// Commands on existing paths.
	{name: "metadata on anything", lines: []string{"subvol s", "symlink l t", "chown l", "utimes l", "setxattr l", "rmxattr l", "fileattr l", "chmod .", "mkfifo p", "chmod p", "end"}},
	{name: "metadata on missing", lines: []string{"subvol s", "chmod f", "end"}, bad: 2, want: `"f" does not exist`},
	{name: "write a dir", lines: []string{"subvol s", "mkdir d", "write d 0 4", "end"}, bad: 3, want: `"d" is a directory, not a regular file`},
	{name: "chmod a symlink", lines: []string{"subvol s", "mkdir d", "mkfile f", "write f 0 4", "symlink l /outside/victim", "chmod l 04777", "end"}, bad: 6, want: `"l" is a symlink: chmod follows it`},
	{name: "chmod a renamed symlink", lines: []string{"subvol s", "symlink l t", "rename l m", "chmod m", "end"}, bad: 4, want: `"m" is a symlink`},
	{name: "incremental: chmod a parent's entry", lines: []string{"snapshot s", "chmod l", "end"}},
	{name: "truncate a symlink", lines: []string{"subvol s", "symlink l t", "truncate l 0", "end"}, bad: 3, want: `"l" is a symlink, not a regular file`},
	{name: "fallocate a fifo", lines: []string{"subvol s", "mkfifo p", "fallocate p 0 0 4", "end"}, bad: 3, want: "special file"},
	{name: "update_extent on missing", lines: []string{"subvol s", "update f 0 4096", "end"}, bad: 2, want: `"f" does not exist`},
	{name: "verity on a dir", version: 3, lines: []string{"subvol s", "mkdir d", "verity d", "end"}, bad: 3, want: "not a regular file"},
	{name: "write past the largest offset", lines: []string{"subvol s", "mkfile f", "write f 0x7ffffffffffffffe 4", "end"}, bad: 3, want: "largest file offset"},
	{name: "clone after update_extent", lines: []string{"subvol s", "mkfile a", "update a 0 4096", "mkfile b", "clone b 0 4096 a 0", "end"}},
	{name: "incremental: data on a parent's file", lines: []string{"snapshot s", "write f 0 4", "truncate f 9", "update f 0 4", "fallocate f 1 0 4", "end"}},

	// Clones.
	{name: "clone a written range", lines: []string{"subvol s", "mkfile a", "mkfile b", "write a 0 4096", "clone b 0 4096 a 0", "end"}},
	{name: "clone an unwritten range", lines: []string{"subvol s", "mkfile a", "mkfile b", "write a 0 4096", "clone b 0 8192 a 0", "end"}, bad: 5, want: `clone source "a" holds 4096 bytes at this point; [0, 8192) is not all written yet`},
	{name: "clone from an empty file", lines: []string{"subvol s", "mkfile a", "mkfile b", "clone b 0 4096 a 0", "end"}, bad: 4, want: "not all written"},
	{name: "clone after truncate", lines: []string{"subvol s", "mkfile a", "truncate a 8192", "mkfile b", "clone b 0 8192 a 0", "end"}},
	{name: "clone after fallocate", lines: []string{"subvol s", "mkfile a", "fallocate a 0 0 8192", "mkfile b", "clone b 0 8192 a 0", "end"}},
	{name: "clone after fallocate keep-size", lines: []string{"subvol s", "mkfile a", "fallocate a 1 0 8192", "mkfile b", "clone b 0 8192 a 0", "end"}, bad: 5, want: "not all written"},
	{name: "clone after encoded write", lines: []string{"subvol s", "mkfile a", "encoded a 4096 4096 8192 0", "mkfile b", "clone b 0 8192 a 0", "end"}},
	{name: "clone from a clone", lines: []string{"subvol s", "mkfile a", "write a 0 4096", "mkfile b", "clone b 4096 4096 a 0", "mkfile c", "clone c 0 8192 b 0", "end"}},
	{name: "clone from a renamed file", lines: []string{"subvol s", "mkfile a", "write a 0 4096", "rename a b", "mkfile c", "clone c 0 4096 b 0", "end"}},
	{name: "clone to the end of the source", lines: []string{"subvol s", "mkfile a", "write a 0 4096", "mkfile b", "clone b 0 0 a 1024", "mkfile c", "clone c 0 3072 b 0", "end"}},
	{name: "clone from another subvolume", lines: []string{"subvol s", "mkfile b", "clone b 0 4096 a 0 uuid=9", "end"}},
	{name: "clone from a missing source", lines: []string{"subvol s", "mkfile b", "clone b 0 4096 a 0", "end"}, bad: 3, want: `clone source: "a" does not exist`},
	{name: "clone from a dir", lines: []string{"subvol s", "mkdir a", "mkfile b", "clone b 0 4096 a 0", "end"}, bad: 4, want: `clone source: "a" is a directory`},
	{name: "clone into a dir", lines: []string{"subvol s", "mkfile a", "write a 0 4096", "mkdir b", "clone b 0 4096 a 0", "end"}, bad: 5, want: `"b" is a directory`},
	{name: "clone within a file", lines: []string{"subvol s", "mkfile a", "write a 0 8192", "clone a 4096 4096 a 0", "end"}},
	{name: "clone overlapping itself", lines: []string{"subvol s", "mkfile a", "write a 0 8192", "clone a 2048 4096 a 0", "end"}, bad: 4, want: `clone of [0, 4096) of "a" onto its own [2048, 6144) overlaps`},
	{name: "incremental: clone from a parent's file", lines: []string{"snapshot s", "mkfile b", "clone b 0 4096 old 0", "end"}},

	// Encoded writes.
	{name: "encoded write", lines: []string{"subvol s", "mkfile f", "encoded f 0 4096 8192 4096 comp=7", "end"}},
	{name: "encoded write encrypted", lines: []string{"subvol s", "mkfile f", "encoded f 0 4096 4096 0 enc=1", "end"}, bad: 3, want: "encryption 1"},
	{name: "encoded write unknown compression", lines: []string{"subvol s", "mkfile f", "encoded f 0 4096 4096 0 comp=8", "end"}, bad: 3, want: "unknown compression 8"},
	{name: "encoded write past the extent", lines: []string{"subvol s", "mkfile f", "encoded f 0 4096 8192 4097", "end"}, bad: 3, want: "run past unencoded_len"},

	// Orphans.
	{name: "orphan renamed into place", lines: []string{"subvol s", "mkdir o257-7-0 ino=257", "mkfile o258-7-0 ino=258", "rename o258-7-0 o257-7-0/f", "rename o257-7-0 d", "end"}},
	{name: "orphan left", lines: []string{"subvol s", "mkfile f", "mkfile o258-7-0 ino=258", "end"}, bad: 4, want: `subvolume "s" ends with "o258-7-0" still under its temporary orphan name (given by command 3)`},
	{name: "orphan dir left", lines: []string{"subvol s", "mkdir o257-7-0 ino=257", "mkfile o257-7-0/f", "end"}, bad: 4, want: `"o257-7-0" still under its temporary orphan name (given by command 2)`},
	{name: "orphan-like name in a subdirectory", lines: []string{"subvol s", "mkdir d", "mkfile d/o258-7-1 ino=258", "end"}},
	{name: "orphan-like name with a leading zero", lines: []string{"subvol s", "mkfile o258-07-0 ino=258", "end"}},
	{name: "earliest orphan reported", lines: []string{"subvol s", "mkfile o260-7-0 ino=260", "mkfile o258-7-0 ino=258", "mkfile o259-7-0 ino=259", "end"}, bad: 5, want: `"o260-7-0" still under its temporary orphan name (given by command 2)`},
	{name: "orphan ended by the next subvolume", lines: []string{"subvol s", "mkfile o257-7-0 ino=257", "subvol t uuid=2", "end"}, bad: 3, want: `subvolume "s" ends with "o257-7-0"`},
	{name: "file named like an orphan", lines: []string{"subvol s", "mkfile o300-7-0 ino=300", "rename o300-7-0 o5-5-5", "end"}},
	{name: "incremental: old inode orphaned and left", lines: []string{"snapshot s", "rename d o260-3-0", "end"}, bad: 3, want: `"o260-3-0"`},
	{name: "incremental: old inode orphaned and removed", lines: []string{"snapshot s", "rename d o260-3-0", "rename o260-3-0/x y", "rmdir o260-3-0", "end"}},
	{name: "incremental: parent's orphan-like name", lines: []string{"snapshot s", "utimes o257-1-0", "end"}},
}

func TestRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			v := cmp.Or(r.version, 2)
			data, offs := build(t, v, r.lines...)
			if r.claim != 0 {
				claimVersion(data, r.claim)
			}
			sum, err := validate.Stream(bytes.NewReader(data))
			if r.bad == 0 {
				if err != nil {
					t.Fatalf("unexpected problem: %v", err)
				}
				if sum.Commands != len(offs) || sum.Bytes != int64(len(data)) {
					t.Errorf("summary %+v, want %d commands in %d bytes", sum, len(offs), len(data))
				}
				return
			}
			var se *stream.Error
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *stream.Error at command %d", err, r.bad)
			}
			if se.Index != r.bad || se.Offset != offs[r.bad-1] {
				t.Errorf("reported at command %d offset %d, want command %d offset %d: %v", se.Index, se.Offset, r.bad, offs[r.bad-1], err)
			}
			if !strings.Contains(err.Error(), r.want) {
				t.Errorf("message %q lacks %q", err, r.want)
			}
		})
	}
}

// TestFinish feeds a stream cut before its END to a Validator directly:
// the Reader reports the truncation, and Finish the orphan still open.
func TestFinish(t *testing.T) {
	data, _ := build(t, 2, "subvol s", "mkfile o257-7-0 ino=257")
	rd := stream.NewReader(bytes.NewReader(data))
	v := validate.New()
	for {
		c, err := rd.Next()
		if err != nil {
			if !errors.Is(err, stream.ErrTruncated) {
				t.Fatalf("reader: %v, want truncation", err)
			}
			break
		}
		if err := v.Command(c); err != nil {
			t.Fatal(err)
		}
	}
	err := v.Finish(int64(len(data)))
	var se *stream.Error
	if !errors.As(err, &se) || se.Index != 3 || se.Offset != int64(len(data)) || !strings.Contains(err.Error(), `at the end of the input, subvolume "s" ends with "o257-7-0"`) {
		t.Fatalf("Finish: %v", err)
	}
	if _, err := validate.Stream(bytes.NewReader(data)); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("Stream: %v, want the reader's truncation", err)
	}
}

func TestSummary(t *testing.T) {
	data, _ := build(t, 2,
		"subvol a", "mkfile f", "write f 0 100", "encoded f 100 4096 4096 0", "subvol b uuid=2", "end",
		"header", "snapshot c uuid=3", "write f 0 7", "end")
	sum, err := validate.Stream(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := validate.Summary{Streams: 2, Commands: 9, Bytes: int64(len(data)), Subvolumes: []string{"a", "b", "c"}, DataBytes: 100 + 10 + 7}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
}

// TestEmpty: the Reader's errors come back unchanged.
func TestEmpty(t *testing.T) {
	if _, err := validate.Stream(bytes.NewReader(nil)); !errors.Is(err, stream.ErrEmpty) {
		t.Fatalf("%v", err)
	}
	if _, err := validate.Stream(strings.NewReader(stream.Magic + "\x09\x00\x00\x00")); !errors.Is(err, stream.ErrVersion) {
		t.Fatalf("%v", err)
	}
}
