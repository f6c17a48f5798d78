package validate_test

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/stream"
)

// build encodes a stream from a compact command list, one command per
// line, and returns it with each command's offset (offs[i] for command
// i+1). The stream header comes first; a "header" line adds another. Words
// are separated by spaces; a word in double quotes is Go-unquoted; "." is
// the subvolume root (the empty path). Lines:
//
//	subvol|snapshot NAME [uuid=N]
//	mkfile|mkdir|mknod|mkfifo|mksock PATH [ino=N]
//	symlink PATH TARGET [ino=N]
//	rename FROM TO | link NEW EXISTING | unlink PATH | rmdir PATH
//	write PATH OFF LEN | truncate PATH SIZE | update PATH OFF LEN
//	fallocate PATH MODE OFF LEN
//	encoded PATH OFF FILELEN ULEN UOFF [comp=N] [enc=N]
//	clone PATH OFF LEN SRC SRCOFF [uuid=N]  (default: the current subvolume's)
//	chmod PATH [MODE] (octal, default 644)
//	chown|utimes|setxattr|rmxattr|fileattr|verity PATH
//	end
//
// A "+dup" word repeats the PATH attribute and "+fileattr" adds a FILEATTR
// attribute. UUIDs are written as N in the first byte. mk* commands get
// increasing inode numbers from 257 unless ino= says otherwise.
func build(t testing.TB, version uint32, lines ...string) ([]byte, []int64) {
	t.Helper()
	var buf bytes.Buffer
	w, err := stream.NewWriter(&buf, version)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	var offs []int64
	cur := uuid(1)
	ino := uint64(256)
	for _, line := range lines {
		var args []string
		opts := map[string]uint64{}
		mods := map[string]bool{}
		for _, word := range strings.Fields(line) {
			switch k, v, ok := strings.Cut(word, "="); {
			case strings.HasPrefix(word, "+"):
				mods[word] = true
			case ok && !strings.HasPrefix(word, `"`):
				opts[k] = num(t, v)
			case strings.HasPrefix(word, `"`):
				s, err := strconv.Unquote(word)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				args = append(args, s)
			case word == ".":
				args = append(args, "")
			default:
				args = append(args, word)
			}
		}
		arg := func(i int) string {
			if i >= len(args) {
				t.Fatalf("%q: too few words", line)
			}
			return args[i]
		}
		n := func(i int) uint64 { return num(t, arg(i)) }
		opt := func(k string, def uint64) uint64 {
			if v, ok := opts[k]; ok {
				return v
			}
			return def
		}
		if arg(0) == "header" {
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cmd, ok := cmds[arg(0)]
		if !ok {
			t.Fatalf("%q: unknown command", line)
		}
		offs = append(offs, w.Offset())
		w.Begin(cmd)
		if cmd != stream.CmdEnd {
			w.PutString(stream.AttrPath, arg(1))
		}
		switch cmd {
		case stream.CmdSubvol, stream.CmdSnapshot:
			cur = uuid(byte(opt("uuid", 1)))
			w.PutUUID(stream.AttrUUID, cur)
			w.PutU64(stream.AttrCtransid, 7)
			if cmd == stream.CmdSnapshot {
				w.PutUUID(stream.AttrCloneUUID, uuid(99))
				w.PutU64(stream.AttrCloneCtransid, 5)
			}
		case stream.CmdMkfile, stream.CmdMkdir, stream.CmdMknod, stream.CmdMkfifo, stream.CmdMksock, stream.CmdSymlink:
			ino++
			w.PutU64(stream.AttrIno, opt("ino", ino))
			switch cmd {
			case stream.CmdMknod:
				w.PutU64(stream.AttrMode, 0o20644)
				w.PutU64(stream.AttrRdev, 0x103)
			case stream.CmdSymlink:
				w.PutString(stream.AttrPathLink, arg(2))
			}
		case stream.CmdRename:
			w.PutString(stream.AttrPathTo, arg(2))
		case stream.CmdLink:
			w.PutString(stream.AttrPathLink, arg(2))
		case stream.CmdWrite:
			w.PutU64(stream.AttrFileOffset, n(2))
			w.PutData(make([]byte, n(3)))
		case stream.CmdTruncate:
			w.PutU64(stream.AttrSize, n(2))
		case stream.CmdUpdateExtent:
			w.PutU64(stream.AttrFileOffset, n(2))
			w.PutU64(stream.AttrSize, n(3))
		case stream.CmdFallocate:
			w.PutU32(stream.AttrFallocateMode, uint32(n(2)))
			w.PutU64(stream.AttrFileOffset, n(3))
			w.PutU64(stream.AttrSize, n(4))
		case stream.CmdEncodedWrite:
			w.PutU64(stream.AttrFileOffset, n(2))
			w.PutU64(stream.AttrUnencodedFileLen, n(3))
			w.PutU64(stream.AttrUnencodedLen, n(4))
			w.PutU64(stream.AttrUnencodedOffset, n(5))
			w.PutU32(stream.AttrCompression, uint32(opt("comp", 2)))
			if e, ok := opts["enc"]; ok {
				w.PutU32(stream.AttrEncryption, uint32(e))
			}
			w.PutData([]byte("compressed"))
		case stream.CmdClone:
			w.PutU64(stream.AttrFileOffset, n(2))
			w.PutU64(stream.AttrCloneLen, n(3))
			cu := cur
			if u, ok := opts["uuid"]; ok {
				cu = uuid(byte(u))
			}
			w.PutUUID(stream.AttrCloneUUID, cu)
			w.PutU64(stream.AttrCloneCtransid, 7)
			w.PutString(stream.AttrClonePath, arg(4))
			w.PutU64(stream.AttrCloneOffset, n(5))
		case stream.CmdChmod:
			mode := uint64(0o644)
			if len(args) > 2 {
				m, err := strconv.ParseUint(args[2], 8, 32)
				if err != nil {
					t.Fatalf("%q: mode: %v", line, err)
				}
				mode = m
			}
			w.PutU64(stream.AttrMode, mode)
		case stream.CmdChown:
			w.PutU64(stream.AttrUID, 0)
			w.PutU64(stream.AttrGID, 0)
		case stream.CmdUtimes:
			for _, a := range []stream.Attr{stream.AttrAtime, stream.AttrMtime, stream.AttrCtime} {
				w.PutTime(a, stream.Timespec{Sec: 1})
			}
		case stream.CmdSetXattr:
			w.PutString(stream.AttrXattrName, "user.x")
			w.PutBytes(stream.AttrXattrData, []byte("v"))
		case stream.CmdRemoveXattr:
			w.PutString(stream.AttrXattrName, "user.x")
		case stream.CmdFileattr:
			w.PutU64(stream.AttrFileattr, 0)
		case stream.CmdEnableVerity:
			w.PutU8(stream.AttrVerityAlgorithm, 1)
			w.PutU32(stream.AttrVerityBlockSize, 4096)
			w.PutBytes(stream.AttrVeritySaltData, nil)
			w.PutBytes(stream.AttrVeritySigData, nil)
		}
		if mods["+dup"] {
			w.PutString(stream.AttrPath, arg(1))
		}
		if mods["+fileattr"] {
			w.PutU64(stream.AttrFileattr, 0)
		}
		if err := w.End(); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	return buf.Bytes(), offs
}

var cmds = map[string]stream.Cmd{
	"subvol": stream.CmdSubvol, "snapshot": stream.CmdSnapshot,
	"mkfile": stream.CmdMkfile, "mkdir": stream.CmdMkdir, "mknod": stream.CmdMknod,
	"mkfifo": stream.CmdMkfifo, "mksock": stream.CmdMksock, "symlink": stream.CmdSymlink,
	"rename": stream.CmdRename, "link": stream.CmdLink, "unlink": stream.CmdUnlink,
	"rmdir": stream.CmdRmdir, "write": stream.CmdWrite, "truncate": stream.CmdTruncate,
	"update": stream.CmdUpdateExtent, "fallocate": stream.CmdFallocate,
	"encoded": stream.CmdEncodedWrite, "clone": stream.CmdClone, "chmod": stream.CmdChmod,
	"chown": stream.CmdChown, "utimes": stream.CmdUtimes, "setxattr": stream.CmdSetXattr,
	"rmxattr": stream.CmdRemoveXattr, "fileattr": stream.CmdFileattr,
	"verity": stream.CmdEnableVerity, "end": stream.CmdEnd,
}

func num(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return v
}

func uuid(b byte) stream.UUID { return stream.UUID{b} }

// claimVersion rewrites the first stream header's version, to make streams
// that use what their version lacks (Writer refuses to).
func claimVersion(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[len(stream.Magic):], v)
}
