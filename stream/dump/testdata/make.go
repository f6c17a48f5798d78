//go:build ignore

// make.go writes the synthetic send streams of this directory, which
// make.sh then feeds to the real `btrfs receive --dump`. Run make.sh, not
// this, so the recorded outputs stay in step with the streams.
//
// Streams hold odd but decodable values: every command, every byte in
// names, boundary lengths and times. Each stream where progs is expected
// to fail holds one failure (progs stops at the first), preceded and
// followed by ordinary commands.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log"
	"math"
	"os"
	"strings"

	"github.com/coldsend/coldsend/stream"
)

// gen builds one stream in memory.
type gen struct {
	buf bytes.Buffer
	w   *stream.Writer
	v   uint32
}

func newGen(v uint32) *gen {
	g := &gen{v: v}
	w, err := stream.NewWriter(&g.buf, v)
	check(err)
	g.w = w
	check(w.WriteHeader())
	return g
}

// kv is one attribute to encode; values are converted by put.
type kv struct {
	a stream.Attr
	v any
}

func encode(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	case uint8:
		return []byte{x}
	case uint32:
		return binary.LittleEndian.AppendUint32(nil, x)
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x)
	case int:
		return binary.LittleEndian.AppendUint64(nil, uint64(x))
	case stream.UUID:
		return x[:]
	case stream.Timespec:
		b := binary.LittleEndian.AppendUint64(nil, uint64(x.Sec))
		return binary.LittleEndian.AppendUint32(b, x.Nsec)
	}
	panic(fmt.Sprintf("cannot encode %T", v))
}

// cmd writes a command with stream.Writer, or by hand when the command
// belongs to a later protocol version than the stream (progs does not
// check, so it prints such commands).
func (g *gen) cmd(c stream.Cmd, attrs ...kv) {
	if c.Version() <= g.v {
		check(g.w.Begin(c))
		for _, x := range attrs {
			if x.a == stream.AttrData {
				g.w.PutData(encode(x.v))
			} else {
				g.w.PutBytes(x.a, encode(x.v))
			}
		}
		check(g.w.End())
		return
	}
	p := make([]byte, stream.CmdHeaderSize)
	for _, x := range attrs {
		b := encode(x.v)
		p = binary.LittleEndian.AppendUint16(p, uint16(x.a))
		if !(x.a == stream.AttrData && g.v >= 2) {
			p = binary.LittleEndian.AppendUint16(p, uint16(len(b)))
		}
		p = append(p, b...)
	}
	binary.LittleEndian.PutUint32(p, uint32(len(p)-stream.CmdHeaderSize))
	binary.LittleEndian.PutUint16(p[4:], uint16(c))
	sum := ^crc32.Update(0xffffffff, crc32.MakeTable(crc32.Castagnoli), p)
	binary.LittleEndian.PutUint32(p[6:], sum)
	g.buf.Write(p)
}

func (g *gen) subvol(path string, u stream.UUID, transid uint64) {
	g.cmd(stream.CmdSubvol, kv{stream.AttrPath, path}, kv{stream.AttrUUID, u}, kv{stream.AttrCtransid, transid})
}

func (g *gen) snapshot(path string, u stream.UUID, transid uint64, pu stream.UUID, ptransid uint64) {
	g.cmd(stream.CmdSnapshot, kv{stream.AttrPath, path}, kv{stream.AttrUUID, u}, kv{stream.AttrCtransid, transid},
		kv{stream.AttrCloneUUID, pu}, kv{stream.AttrCloneCtransid, ptransid})
}

var ino uint64 = 256

func (g *gen) mk(c stream.Cmd, path string) {
	ino++
	g.cmd(c, kv{stream.AttrPath, path}, kv{stream.AttrIno, ino})
}

func (g *gen) mknod(path string, mode, rdev uint64) {
	ino++
	g.cmd(stream.CmdMknod, kv{stream.AttrPath, path}, kv{stream.AttrIno, ino}, kv{stream.AttrMode, mode}, kv{stream.AttrRdev, rdev})
}

func (g *gen) symlink(path, link string) {
	ino++
	g.cmd(stream.CmdSymlink, kv{stream.AttrPath, path}, kv{stream.AttrIno, ino}, kv{stream.AttrPathLink, link})
}

func (g *gen) rename(from, to string) {
	g.cmd(stream.CmdRename, kv{stream.AttrPath, from}, kv{stream.AttrPathTo, to})
}

func (g *gen) link(path, link string) {
	g.cmd(stream.CmdLink, kv{stream.AttrPath, path}, kv{stream.AttrPathLink, link})
}

func (g *gen) unlink(path string) { g.cmd(stream.CmdUnlink, kv{stream.AttrPath, path}) }
func (g *gen) rmdir(path string)  { g.cmd(stream.CmdRmdir, kv{stream.AttrPath, path}) }

func (g *gen) setXattr(path, name string, data string) {
	g.cmd(stream.CmdSetXattr, kv{stream.AttrPath, path}, kv{stream.AttrXattrName, name}, kv{stream.AttrXattrData, data})
}

func (g *gen) removeXattr(path, name string) {
	g.cmd(stream.CmdRemoveXattr, kv{stream.AttrPath, path}, kv{stream.AttrXattrName, name})
}

func (g *gen) write(path string, off uint64, data []byte) {
	g.cmd(stream.CmdWrite, kv{stream.AttrPath, path}, kv{stream.AttrFileOffset, off}, kv{stream.AttrData, data})
}

func (g *gen) clone(path string, off, n uint64, u stream.UUID, transid uint64, cpath string, coff uint64) {
	g.cmd(stream.CmdClone, kv{stream.AttrPath, path}, kv{stream.AttrFileOffset, off}, kv{stream.AttrCloneLen, n},
		kv{stream.AttrCloneUUID, u}, kv{stream.AttrCloneCtransid, transid}, kv{stream.AttrClonePath, cpath},
		kv{stream.AttrCloneOffset, coff})
}

func (g *gen) truncate(path string, size uint64) {
	g.cmd(stream.CmdTruncate, kv{stream.AttrPath, path}, kv{stream.AttrSize, size})
}

func (g *gen) chmod(path string, mode uint64) {
	g.cmd(stream.CmdChmod, kv{stream.AttrPath, path}, kv{stream.AttrMode, mode})
}

func (g *gen) chown(path string, uid, gid uint64) {
	g.cmd(stream.CmdChown, kv{stream.AttrPath, path}, kv{stream.AttrUID, uid}, kv{stream.AttrGID, gid})
}

func (g *gen) utimes(path string, at, mt, ct int64) {
	g.cmd(stream.CmdUtimes, kv{stream.AttrPath, path}, kv{stream.AttrAtime, stream.Timespec{Sec: at, Nsec: 123456789}},
		kv{stream.AttrMtime, stream.Timespec{Sec: mt}}, kv{stream.AttrCtime, stream.Timespec{Sec: ct, Nsec: 4294967295}})
}

func (g *gen) updateExtent(path string, off, size uint64) {
	g.cmd(stream.CmdUpdateExtent, kv{stream.AttrPath, path}, kv{stream.AttrFileOffset, off}, kv{stream.AttrSize, size})
}

func (g *gen) fallocate(path string, mode uint32, off, size uint64) {
	g.cmd(stream.CmdFallocate, kv{stream.AttrPath, path}, kv{stream.AttrFallocateMode, mode},
		kv{stream.AttrFileOffset, off}, kv{stream.AttrSize, size})
}

func (g *gen) fileattr(path string, attr uint64) {
	g.cmd(stream.CmdFileattr, kv{stream.AttrPath, path}, kv{stream.AttrFileattr, attr})
}

// encodedWrite omits COMPRESSION or ENCRYPTION when given nil.
func (g *gen) encodedWrite(path string, off, ufl, ul, uo uint64, comp, enc *uint32, data []byte) {
	attrs := []kv{{stream.AttrPath, path}, {stream.AttrFileOffset, off}, {stream.AttrUnencodedFileLen, ufl},
		{stream.AttrUnencodedLen, ul}, {stream.AttrUnencodedOffset, uo}}
	if comp != nil {
		attrs = append(attrs, kv{stream.AttrCompression, *comp})
	}
	if enc != nil {
		attrs = append(attrs, kv{stream.AttrEncryption, *enc})
	}
	g.cmd(stream.CmdEncodedWrite, append(attrs, kv{stream.AttrData, data})...)
}

func (g *gen) verity(path string, alg uint8, bs uint32, salt, sig string) {
	g.cmd(stream.CmdEnableVerity, kv{stream.AttrPath, path}, kv{stream.AttrVerityAlgorithm, alg},
		kv{stream.AttrVerityBlockSize, bs}, kv{stream.AttrVeritySaltData, salt}, kv{stream.AttrVeritySigData, sig})
}

func (g *gen) end() { g.cmd(stream.CmdEnd) }

func (g *gen) save(name string) {
	check(os.WriteFile(name+".stream", g.buf.Bytes(), 0o644))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func u32(v uint32) *uint32 { return &v }

var (
	uuidA = stream.UUID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	uuidB = stream.UUID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	uuid0 stream.UUID
)

// allBytes is every byte but NUL, which would end the C string.
func allBytes() string {
	var b []byte
	for c := 1; c < 256; c++ {
		b = append(b, byte(c))
	}
	return string(b)
}

const maxU64 = math.MaxUint64

// First and last second glibc's localtime_r accepts in UTC (tm_year
// limits), and the first second of the year from which glibc's summer time
// rule arithmetic overflows.
const (
	minSec  = -67768040609740800
	maxSec  = 67768036191676799
	ruleSec = 185542602134400
)

func main() {
	v1Commands()
	v2Commands()
	names()
	longPaths()
	subvols()
	snapshot()
	times()
	timeEdges()
	concat()
	verity()
	pathErrors()
}

// v1Commands: every v1 command, ordinary and extreme values, commands
// before the first subvol, later-version commands in a v1 stream.
func v1Commands() {
	g := newGen(1)
	g.mk(stream.CmdMkfile, "before-subvol")
	g.write("before-subvol", 0, []byte("x"))
	g.subvol("vol", uuidA, 42)
	g.mk(stream.CmdMkdir, "dir")
	g.mk(stream.CmdMkfile, "dir/file")
	g.write("dir/file", 0, nil)
	g.write("dir/file", 0, []byte("hello"))
	g.write("dir/file", maxU64, bytes.Repeat([]byte{0xaa}, 3000))
	g.mknod("chr", 0o20644, 0x0801)
	g.mknod("blk", 0o60600, 0xfd00000001)
	g.mknod("zero", 0, 0)
	g.mknod("max", maxU64, maxU64)
	g.mk(stream.CmdMkfifo, "fifo")
	g.mk(stream.CmdMksock, "sock")
	g.symlink("sym", "dir/file")
	g.symlink("sym-abs", "/etc/passwd")
	g.symlink("sym-empty", "")
	g.symlink("sym-dotdot", "../../x/")
	g.link("hard", "dir/file")
	g.link("hard2", "dir/")
	g.rename("dir/file", "dir/file2")
	g.rename("dir/", "dir3/")
	g.setXattr("dir3/file2", "user.plain", "value")
	g.setXattr("dir3/file2", "user.empty", "")
	g.setXattr("dir3/file2", "security.selinux", "system_u:object_r:unlabeled_t:s0\x00")
	g.removeXattr("dir3/file2", "user.plain")
	g.clone("dir3/file2", 4096, 8192, uuidA, 42, "dir3/file2", 0)
	g.clone("c1", 0, 0x7fffffff, uuidB, maxU64, "src", maxU64)
	g.clone("c2", maxU64, 0x80000000, uuid0, 0, "src/", 1)
	g.clone("c3", 1, 0xffffffff, uuidA, 1, "", 2)
	g.clone("c4", 2, 0x100000000, uuidA, 1, "src", 3)
	g.clone("c5", 3, 0x180000001, uuidA, 1, "src", 4)
	g.clone("c6", 4, maxU64, uuidA, 1, "src", 5)
	g.truncate("dir3/file2", 0)
	g.truncate("dir3/file2", maxU64)
	g.chmod("dir3/file2", 0o644)
	g.chmod("dir3", 0o7777)
	g.chmod("zero", 0)
	g.chmod("max", maxU64)
	g.chown("dir3/file2", 0, 0)
	g.chown("dir3/file2", 1000, 100)
	g.chown("max", maxU64, maxU64-1)
	g.utimes("dir3/file2", 0, 1, 1700000000)
	g.updateExtent("dir3/file2", 0, 4096)
	g.updateExtent("dir3/file2", maxU64, maxU64)
	g.unlink("hard")
	g.unlink("dir3/file2")
	g.rmdir("dir3")
	// Attributes given twice: the last one counts, in progs as in Reader.
	g.cmd(stream.CmdChmod, kv{stream.AttrPath, "first"}, kv{stream.AttrMode, uint64(0o600)},
		kv{stream.AttrPath, "second"}, kv{stream.AttrMode, uint64(0o755)})
	// v2 and v3 commands inside a v1 stream.
	g.fallocate("late", 1, 0, 4096)
	g.fileattr("late", 0x10)
	g.encodedWrite("late", 0, 8192, 8192, 0, u32(1), nil, []byte("compressed bytes"))
	g.verity("late", 1, 4096, "salt", "")
	g.end()
	g.save("v1-commands")
}

// v2Commands: the v2 commands with their extreme values and a write too
// large for a v1 TLV.
func v2Commands() {
	g := newGen(2)
	g.subvol("vol2", uuidB, maxU64)
	g.mk(stream.CmdMkfile, "big")
	g.write("big", 0, make([]byte, 65636))
	g.encodedWrite("big", 0, 131072, 131072, 0, u32(1), u32(0), []byte("zlib"))
	g.encodedWrite("big", 131072, 4096, 8192, 4096, nil, nil, make([]byte, 3000))
	g.encodedWrite("big", maxU64, maxU64, maxU64, maxU64, u32(math.MaxUint32), u32(math.MaxUint32), nil)
	g.encodedWrite("big", 1, 2, 3, 4, nil, u32(7), []byte{0})
	g.fallocate("big", 0, 0, 1)
	g.fallocate("big", 3, 4096, 8192)
	g.fallocate("big", 0x7fffffff, maxU64, maxU64)
	g.fallocate("big", 0x80000000, 1, 2)
	g.fallocate("big", math.MaxUint32, 3, 4)
	g.fileattr("big", 0)
	g.fileattr("big", 0x80000010)
	g.fileattr("big", maxU64)
	g.verity("big", 1, 4096, "", "")
	g.verity("big", 2, 65536, strings.Repeat("s", 32), "signature\x00bytes")
	g.verity("big", 255, math.MaxUint32, "\x00\xff", strings.Repeat("\n", 1000))
	g.write("big", 65636, []byte("tail"))
	g.utimes("big", 1, 2, 3)
	g.end()
	g.save("v2-commands")
}

// names: escaping of every byte, the 32-column alignment and raw fields.
func names() {
	g := newGen(1)
	all := allBytes()
	g.subvol("odd \\ name\t\n", uuidA, 7)
	g.mk(stream.CmdMkfile, all)
	g.mk(stream.CmdMkfile, "\a\b\x1b\f\n\r\t\v \\")
	g.mk(stream.CmdMkfile, "\x01\x06\x0e\x1a\x1c\x1f\x7f\x80\xfe\xff")
	g.mk(stream.CmdMkfile, "ä ö ü — €")
	g.mk(stream.CmdMkfile, "quotes \"double\" 'single' `back`")
	g.mk(stream.CmdMkfile, "percent %s %d %n %% %")
	g.mk(stream.CmdMkfile, "cut\x00after NUL")
	g.mk(stream.CmdMkfile, "")
	g.mk(stream.CmdMkfile, "/")
	g.mk(stream.CmdMkfile, "trailing/")
	g.mk(stream.CmdMkfile, "double//")
	g.mk(stream.CmdMkfile, "/leading")
	// Lengths around the 32-column alignment; the subvolume path is
	// "./odd\ \\\ name\t\n" (19 columns once escaped) plus a slash.
	for n := 9; n <= 14; n++ {
		g.truncate(strings.Repeat("a", n), uint64(n))
	}
	for n := 4; n <= 7; n++ {
		g.truncate(strings.Repeat(" ", n), uint64(n))
	}
	g.truncate("\xff\xfe\xfd", 3)
	g.truncate(strings.Repeat("b", 200), 200)
	g.symlink("sym", all)
	g.symlink("sym2", "dest with space\\and\nnewline")
	g.link("hard", all)
	g.rename("from \n", all)
	g.rename(all, "to \n")
	g.setXattr("x", all, all)
	g.setXattr("x", "user.nul\x00hidden", "before\x00after")
	g.setXattr("x", "user.\n\t %s", "%s%d%n\n\r\x1b")
	g.setXattr("x", "", "")
	g.setXattr("x", "user.utf8.ä", "wert ä")
	g.setXattr("x", "user.len", strings.Repeat("z", 300))
	g.removeXattr("x", all)
	g.removeXattr("x", "user.nul\x00hidden")
	g.clone("x", 0, 4096, uuidA, 7, all, 0)
	g.clone("x", 0, 4096, uuidA, 7, "with space\\ and\nnewline/", 0)
	g.clone(all, 0, 4096, uuidA, 7, "x", 0)
	g.write("\n", 0, []byte("\n"))
	g.chmod("%", 0o755)
	g.chown("\\", 1, 2)
	g.utimes(" ", 0, 0, 0)
	g.unlink(all)
	g.rmdir("\x7f")
	g.end()
	g.save("names")
}

// longPaths: the longest paths progs accepts, and links, which it never
// joins and so never limits.
func longPaths() {
	g := newGen(1)
	// Before a subvol the prefix is "." (1 byte): 1+4092+2 < 4096.
	g.mk(stream.CmdMkfile, strings.Repeat("p", 4092))
	g.symlink("s", strings.Repeat("l", 8000))
	g.link("h", strings.Repeat("m", 5000))
	g.mk(stream.CmdMkfile, "short\x00"+strings.Repeat("q", 5000))
	g.subvol("v", uuidA, 1)
	// Prefix "./v" (3 bytes): 3+4090+2 < 4096.
	g.mk(stream.CmdMkfile, strings.Repeat("r", 4090))
	g.rename("a", strings.Repeat("t", 4090))
	g.clone("b", 0, 1, uuidA, 1, strings.Repeat("u", 4090), 0)
	g.setXattr("c", strings.Repeat("n", 5000), strings.Repeat("d", 100))
	g.end()
	g.save("long-paths")
}

// subvols: subvolume paths become prefixes; odd and repeated ones.
func subvols() {
	g := newGen(1)
	g.subvol("", uuidA, 1)
	g.mk(stream.CmdMkfile, "f")
	g.subvol("a/", uuidA, 2)
	g.mk(stream.CmdMkfile, "f")
	g.subvol("/", uuidA, 3)
	g.mk(stream.CmdMkfile, "f")
	g.subvol("//", uuidA, 4)
	g.mk(stream.CmdMkfile, "f/")
	g.subvol("x\x00y", uuidA, 5)
	g.mk(stream.CmdMkfile, "f")
	g.snapshot("deep/er/snap/", uuidB, 6, uuidA, 5)
	g.mk(stream.CmdMkfile, "f")
	g.rename("f", "")
	g.clone("f", 0, 1, uuidA, 1, "/", 0)
	g.end()
	g.save("subvols")
}

// snapshot: an incremental-looking stream that starts with a snapshot.
func snapshot() {
	g := newGen(2)
	g.snapshot("snap", uuidA, 100, uuidB, 99)
	g.mk(stream.CmdMkfile, "o257-7-0")
	g.rename("o257-7-0", "new file")
	g.write("new file", 0, []byte("data"))
	g.clone("new file", 4096, 4096, uuidB, 99, "old file", 0)
	g.snapshot("snap2", uuid0, 0, uuid0, 0)
	g.mk(stream.CmdMkdir, "d")
	g.end()
	g.save("snapshot")
}

// times: utimes values every zone converts, across the calendar.
func times() {
	g := newGen(1)
	g.subvol("t", uuidA, 1)
	vals := []int64{
		0, -1, 1, 86399, 86400, 1e9, 1e10, 1 << 31, 1<<31 - 1, -1 << 31, -1<<31 - 1, 1 << 32,
		1616826600, 1616828400, 1636264800, 1636268400, // around DST changes
		1617494400, 1633190400, 1617467400, 1633224600, // Lord Howe's half-hour DST
		-2208988800, -2717640000, -2717650000, -5e9, -1e10, // 1900, LMT era
		-62135596800, -62135596801, -62167219200, -62167219201, // years 1, 0, -1
		-30610224000, -30610224001, -59011459200, -61000000000, // 1000, 999, 100, ~37
		-77000000000, -1e12, -1e15, -1e16, // negative years
		253402300799, 253402300800, 1e12, 1e15, 1e16, // 9999/10000 and beyond
		ruleSec - 15897600 - 86400, ruleSec - 1, ruleSec, ruleSec + 15897600, // July around the rule overflow
		maxSec - 50000, maxSec - 39600, // year 1900+MaxInt32 prints wrapped
		minSec + 17762, minSec + 50000,
	}
	for i := 0; i+3 <= len(vals); i += 3 {
		g.utimes(fmt.Sprintf("f%d", i), vals[i], vals[i+1], vals[i+2])
	}
	rest := len(vals) % 3
	if rest > 0 {
		v := vals[len(vals)-rest:]
		g.utimes("last", v[0], v[len(v)-1], 0)
	}
	g.end()
	g.save("times")
}

// timeEdges: each stream crosses localtime_r's limits zone by zone; progs
// stops at the first time its zone cannot convert, so every zone's limit
// is checked where it fails.
func timeEdges() {
	edge := func(name string, vals []int64) {
		g := newGen(1)
		g.subvol("e", uuidA, 1)
		for i, v := range vals {
			g.utimes(fmt.Sprintf("v%d", i), v, 0, 0)
		}
		g.utimes("never", math.MaxInt64, 0, 0)
		g.chmod("after", 0o644)
		g.end()
		g.save(name)
	}
	// Local time = UTC + offset must stay <= maxSec: Lord Howe (+11 in
	// summer) fails first, then Kolkata (+5:30), UTC, Santiago (-3),
	// New York (-5).
	edge("time-max", []int64{
		maxSec - 39600, maxSec - 39599,
		maxSec - 19800, maxSec - 19799,
		maxSec, maxSec + 1,
		maxSec + 10800, maxSec + 10801,
		maxSec + 18000, maxSec + 18001,
	})
	// Local time >= minSec, with each zone's local mean time offset:
	// New York (-4:56:02) fails first, then Santiago (-4:42:45), UTC,
	// Kolkata (+5:53:28), Lord Howe (+10:36:20).
	edge("time-min", []int64{
		minSec + 17762, minSec + 17761,
		minSec + 16965, minSec + 16964,
		minSec, minSec - 1,
		minSec - 21208, minSec - 21209,
		minSec - 38180, minSec - 38181,
	})
	// The failing time in mtime or ctime rather than atime.
	for _, tc := range []struct {
		name       string
		at, mt, ct int64
	}{
		{"time-mtime", 0, math.MaxInt64, 0},
		{"time-ctime", 0, 1, math.MinInt64},
	} {
		g := newGen(1)
		g.subvol("e", uuidA, 1)
		g.utimes("ok", 1, 2, 3)
		g.utimes("bad", tc.at, tc.mt, tc.ct)
		g.chmod("after", 0o644)
		g.end()
		g.save(tc.name)
	}
}

// concat: two streams back to back; progs prints only the first, and
// concat-2 is the second alone.
func concat() {
	a := newGen(1)
	a.subvol("first", uuidA, 1)
	a.mk(stream.CmdMkfile, "f")
	a.end()
	b := newGen(2)
	b.mk(stream.CmdMkfile, "before-subvol")
	b.subvol("second", uuidB, 2)
	b.mk(stream.CmdMkfile, "f")
	b.end()
	check(os.WriteFile("concat.stream", append(a.buf.Bytes(), b.buf.Bytes()...), 0o644))
	b.save("concat-2")
}

// verity: the same enable_verity commands in a v2 stream, which progs
// prints, and in a v3 stream, which it refuses.
func verity() {
	for _, v := range []uint32{2, 3} {
		g := newGen(v)
		g.subvol("verity", uuidA, 1)
		g.mk(stream.CmdMkfile, "f")
		g.write("f", 0, []byte("content"))
		g.verity("f", 1, 4096, "", "")
		g.verity("f", 2, 1024, "0123456789abcdef", strings.Repeat("\x00", 100))
		g.end()
		g.save(fmt.Sprintf("verity-v%d", v))
	}
}

// pathErrors: one path progs cannot join per stream.
func pathErrors() {
	long := func(n int) string { return strings.Repeat("L", n) }
	cases := []struct {
		name string
		f    func(g *gen)
	}{
		// "." + 4093 bytes: 1+4093+2 reaches PATH_MAX.
		{"path-early", func(g *gen) { g.mk(stream.CmdMkfile, long(4093)) }},
		{"path-subvol", func(g *gen) { g.subvol(long(4093), uuidA, 1) }},
		// The subvolume path fits, a file in it cannot.
		{"path-in-subvol", func(g *gen) {
			g.subvol(long(4092), uuidA, 1)
			g.mk(stream.CmdMkfile, "f")
		}},
		{"path-rename", func(g *gen) {
			g.subvol("v", uuidA, 1)
			g.rename("f", long(4091))
		}},
		{"path-clone", func(g *gen) {
			g.subvol("v", uuidA, 1)
			g.clone("f", 0, 1, uuidA, 1, long(4091), 0)
		}},
		// The trailing slash counts before it is dropped.
		{"path-trailing-slash", func(g *gen) { g.mk(stream.CmdMkfile, long(4092)+"/") }},
		{"path-utimes", func(g *gen) {
			g.subvol("v", uuidA, 1)
			g.utimes(long(4091), 0, 0, 0)
		}},
	}
	for _, tc := range cases {
		g := newGen(1)
		g.mk(stream.CmdMkdir, "ok")
		tc.f(g)
		g.mk(stream.CmdMkfile, "after")
		g.end()
		g.save(tc.name)
	}
}
