package export

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/item"
)

// PAX record keys beyond archive/tar's own.
const (
	paxXattrPrefix  = "SCHILY.xattr."           // GNU tar --xattrs, bsdtar
	paxCreationTime = "LIBARCHIVE.creationtime" // bsdtar's birth time
	paxHdrCharset   = "hdrcharset"              // BINARY: names are bytes, not UTF-8
	paxACLAccess    = "SCHILY.acl.access"       // star's ACL text, which bsdtar reads
	paxACLDefault   = "SCHILY.acl.default"
)

// PAXXattrKey is the PAX record key of xattr name, as GNU tar writes it
// (xattr_encode_keyword): '%' and '=' percent-encoded, since a key holds
// no '=' and the encoding must be undone unambiguously.
func PAXXattrKey(name []byte) string {
	var b strings.Builder
	b.WriteString(paxXattrPrefix)
	for _, c := range name {
		switch c {
		case '%':
			b.WriteString("%25")
		case '=':
			b.WriteString("%3D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// aclText turns a POSIX ACL xattr (version 2: a 4-byte header, then 8-byte
// entries of tag, permissions and id) into star's text form, e.g.
// "user::rw-,user:1000:r--:1000,group::r--,mask::r--,other::---".
func aclText(b []byte) (string, bool) {
	if len(b) < 4 || len(b)%8 != 4 || binary.LittleEndian.Uint32(b) != 2 {
		return "", false
	}
	var out []string
	for e := b[4:]; len(e) >= 8; e = e[8:] {
		tag, perm, id := binary.LittleEndian.Uint16(e), binary.LittleEndian.Uint16(e[2:]), binary.LittleEndian.Uint32(e[4:])
		p := []byte("---")
		for i, c := range "rwx" {
			if perm&(4>>i) != 0 {
				p[i] = byte(c)
			}
		}
		switch tag {
		case 0x01:
			out = append(out, "user::"+string(p))
		case 0x02:
			out = append(out, fmt.Sprintf("user:%d:%s:%d", id, p, id))
		case 0x04:
			out = append(out, "group::"+string(p))
		case 0x08:
			out = append(out, fmt.Sprintf("group:%d:%s:%d", id, p, id))
		case 0x10:
			out = append(out, "mask::"+string(p))
		case 0x20:
			out = append(out, "other::"+string(p))
		default:
			return "", false
		}
	}
	return strings.Join(out, ","), true
}

// ToTar writes the directory at start to w as a POSIX PAX tar archive:
// nanosecond times, xattrs as SCHILY.xattr records, btrfs's creation time
// as LIBARCHIVE.creationtime, hard links as link entries, and files with
// holes as GNU sparse 1.0 entries, which GNU tar and bsdtar restore with
// their holes. Sockets, which tar cannot hold, are left out and counted.
func ToTar(w io.Writer, start fstree.Location, opts Options) (*Summary, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	t := &tarSink{bw: bw, tw: tar.NewWriter(bw), sum: &Summary{}}
	return run(start, t, opts, t.sum)
}

type tarSink struct {
	bw  *bufio.Writer // under tw; sparse entries are written to it directly
	tw  *tar.Writer
	sum *Summary
	// sockets left out, so that their other names are left out too
	omitted map[string]bool
}

func (t *tarSink) skip(why string) {
	if t.sum.Skipped == nil {
		t.sum.Skipped = map[string]int{}
	}
	t.sum.Skipped[why]++
}

// header is e's tar header, of type typ.
func (t *tarSink) header(e *entry, typ byte, name string) *tar.Header {
	ii := &e.inode
	h := &tar.Header{
		Typeflag:   typ,
		Name:       name,
		Mode:       int64(ii.Mode & 0o7777),
		Uid:        int(ii.UID),
		Gid:        int(ii.GID),
		ModTime:    timeOf(ii.Mtime),
		AccessTime: timeOf(ii.Atime),
		ChangeTime: timeOf(ii.Ctime),
		Format:     tar.FormatPAX,
		PAXRecords: t.records(e, name),
	}
	return h
}

// records are e's PAX records beyond what archive/tar makes of a header.
func (t *tarSink) records(e *entry, name string) map[string]string {
	recs := map[string]string{}
	for _, xa := range e.xattrs {
		recs[PAXXattrKey(xa.Name)] = string(xa.Value)
		// libarchive restores ACLs only from star's text records.
		key := map[string]string{"system.posix_acl_access": paxACLAccess, "system.posix_acl_default": paxACLDefault}[string(xa.Name)]
		if text, ok := aclText(xa.Value); ok && key != "" {
			recs[key] = text
		}
	}
	if o := e.inode.Otime; o.Sec != 0 || o.Nsec != 0 {
		recs[paxCreationTime] = paxTime(timeOf(o))
	}
	if !utf8.ValidString(name) {
		recs[paxHdrCharset] = "BINARY"
	}
	return recs
}

func (t *tarSink) root(e *entry) error {
	return t.tw.WriteHeader(t.header(e, tar.TypeDir, "./"))
}

func (t *tarSink) dir(e *entry) error {
	return t.tw.WriteHeader(t.header(e, tar.TypeDir, e.path+"/"))
}

func (t *tarSink) file(e *entry, c *content) error {
	if c.dataBytes() < c.size() {
		return t.sparse(e, c)
	}
	h := t.header(e, tar.TypeReg, e.path)
	h.Size = c.size()
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	return c.each(func(_ int64, b []byte) error {
		_, err := t.tw.Write(b)
		return err
	})
}

func (t *tarSink) hardLink(e *entry, first string) error {
	if t.omitted[first] {
		t.skip("sockets left out (tar cannot hold them)")
		return nil
	}
	h := t.header(e, tar.TypeLink, e.path)
	h.Linkname = first
	if !utf8.ValidString(first) {
		h.PAXRecords[paxHdrCharset] = "BINARY"
	}
	return t.tw.WriteHeader(h)
}

func (t *tarSink) symlink(e *entry, target []byte) error {
	h := t.header(e, tar.TypeSymlink, e.path)
	h.Linkname = string(target)
	if !utf8.Valid(target) {
		h.PAXRecords[paxHdrCharset] = "BINARY"
	}
	return t.tw.WriteHeader(h)
}

func (t *tarSink) special(e *entry) error {
	var typ byte
	switch e.typ() {
	case item.ModeFIFO:
		typ = tar.TypeFifo
	case item.ModeChar:
		typ = tar.TypeChar
	case item.ModeBlock:
		typ = tar.TypeBlock
	default:
		t.skip("sockets left out (tar cannot hold them)")
		if t.omitted == nil {
			t.omitted = map[string]bool{}
		}
		t.omitted[e.path] = true
		return nil
	}
	h := t.header(e, typ, e.path)
	h.Devmajor, h.Devminor = int64(e.inode.Rdev>>20), int64(e.inode.Rdev&0xfffff)
	return t.tw.WriteHeader(h)
}

func (t *tarSink) finish(err error, partial []*Error) error {
	var marker, msg string
	switch {
	case err != nil:
		marker, msg = IncompleteMarker, fmt.Sprintf("coldsend export stopped before the end: %v\n", err)
	case len(partial) > 0:
		var b strings.Builder
		fmt.Fprintf(&b, "coldsend export: %d parts could not be read; what is missing or zero-filled:\n", len(partial))
		for _, e := range partial {
			fmt.Fprintf(&b, "%v\n", e)
		}
		marker, msg = PartialMarker, b.String()
	}
	var werr error
	if marker != "" {
		if werr = t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: marker, Mode: 0o644, Size: int64(len(msg)), ModTime: time.Now(), Format: tar.FormatPAX}); werr == nil {
			_, werr = io.WriteString(t.tw, msg)
		}
	}
	if werr == nil {
		werr = t.tw.Close()
	}
	if werr == nil {
		werr = t.bw.Flush()
	}
	if err != nil {
		return err
	}
	return werr
}

// sparse writes a file with holes as a GNU sparse 1.0 entry, which
// archive/tar cannot write: an extended header with the GNU.sparse
// records, a ustar header whose size is what is stored, then the map of
// data ranges (decimal numbers, one per line, padded to a block) and the
// data ranges themselves.
func (t *tarSink) sparse(e *entry, c *content) error {
	ranges := c.ranges
	if n := len(ranges); n == 0 || ranges[n-1].Off+ranges[n-1].Len < c.size() {
		// The map ends at the file's size, as GNU tar writes it.
		ranges = append(ranges[:n:n], fstree.Range{Off: c.size()})
	}
	sparseMap := strconv.AppendInt(nil, int64(len(ranges)), 10)
	sparseMap = append(sparseMap, '\n')
	for _, r := range ranges {
		sparseMap = append(strconv.AppendInt(sparseMap, r.Off, 10), '\n')
		sparseMap = append(strconv.AppendInt(sparseMap, r.Len, 10), '\n')
	}
	sparseMap = append(sparseMap, make([]byte, padding(int64(len(sparseMap))))...)
	stored := int64(len(sparseMap)) + c.dataBytes()

	ii := &e.inode
	recs := t.records(e, e.path)
	recs["GNU.sparse.major"] = "1"
	recs["GNU.sparse.minor"] = "0"
	recs["GNU.sparse.name"] = e.path
	recs["GNU.sparse.realsize"] = strconv.FormatInt(c.size(), 10)
	recs["mtime"] = paxTime(timeOf(ii.Mtime))
	recs["atime"] = paxTime(timeOf(ii.Atime))
	recs["ctime"] = paxTime(timeOf(ii.Ctime))
	if ii.UID > maxOctal7 {
		recs["uid"] = strconv.FormatUint(uint64(ii.UID), 10)
	}
	if ii.GID > maxOctal7 {
		recs["gid"] = strconv.FormatUint(uint64(ii.GID), 10)
	}
	if stored > maxOctal11 {
		recs["size"] = strconv.FormatInt(stored, 10)
	}
	var pax []byte
	for _, k := range slices.Sorted(maps.Keys(recs)) {
		pax = append(pax, paxRecord(k, recs[k])...)
	}

	dir, base := path.Split(e.path)
	fallback := dir + "GNUSparseFile.0/" + base // readers without sparse support extract this
	if err := t.tw.Flush(); err != nil {
		return err
	}
	blocks := ustarHeader(tar.TypeXHeader, "PaxHeaders.0/"+base, 0o644, 0, 0, int64(len(pax)), time.Unix(ii.Mtime.Sec, 0))
	blocks = append(blocks, pax...)
	blocks = append(blocks, make([]byte, padding(int64(len(pax))))...)
	blocks = append(blocks, ustarHeader(tar.TypeReg, fallback, int64(ii.Mode&0o7777), uint64(ii.UID), uint64(ii.GID), stored, time.Unix(ii.Mtime.Sec, 0))...)
	blocks = append(blocks, sparseMap...)
	if _, err := t.bw.Write(blocks); err != nil {
		return err
	}
	if err := c.each(func(_ int64, b []byte) error {
		_, err := t.bw.Write(b)
		return err
	}); err != nil {
		return err
	}
	_, err := t.bw.Write(make([]byte, padding(c.dataBytes())))
	return err
}

const (
	blockSize  = 512
	maxOctal7  = 1<<21 - 1 // an 8-byte octal field
	maxOctal11 = 1<<33 - 1 // a 12-byte octal field
)

func padding(n int64) int64 { return -n & (blockSize - 1) }

// ustarHeader formats one ustar header block. A name too long for the
// name and prefix fields is cut: it only matters to readers that ignore
// the PAX records that precede it.
func ustarHeader(typ byte, name string, mode int64, uid, gid uint64, size int64, mtime time.Time) []byte {
	b := make([]byte, blockSize)
	prefix := ""
	if len(name) > 100 {
		if i := strings.LastIndexByte(name[:min(len(name), 156)], '/'); i > 0 && len(name)-i-1 <= 100 {
			prefix, name = name[:i], name[i+1:]
		} else {
			name = name[len(name)-100:]
		}
	}
	copy(b[0:100], name)
	octal(b[100:108], uint64(mode))
	octal(b[108:116], min(uid, maxOctal7))
	octal(b[116:124], min(gid, maxOctal7))
	octal(b[124:136], uint64(size))
	octal(b[136:148], uint64(max(mtime.Unix(), 0)))
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[345:500], prefix)
	copy(b[148:156], "        ")
	var sum uint64
	for _, c := range b {
		sum += uint64(c)
	}
	copy(b[148:155], fmt.Sprintf("%06o\x00", sum))
	return b
}

// octal writes v zero-padded in all but the field's last byte, a NUL; a
// value too large for the field is written as 0 (the PAX records that
// precede the header hold the real one).
func octal(field []byte, v uint64) {
	s := strconv.FormatUint(v, 8)
	n := len(field) - 1
	if len(s) > n {
		s = "0"
	}
	copy(field[n-len(s):n], s)
	for i := range n - len(s) {
		field[i] = '0'
	}
}

// paxRecord formats "LEN KEY=VALUE\n", where LEN counts the whole record,
// its own digits included.
func paxRecord(k, v string) string {
	rest := len(k) + len(v) + 3 // space, '=', newline
	n := rest + len(strconv.Itoa(rest))
	if len(strconv.Itoa(n)) > len(strconv.Itoa(rest)) {
		n++
	}
	return strconv.Itoa(n) + " " + k + "=" + v + "\n"
}

// paxTime formats a PAX time: seconds, and a fraction only when there is
// one; times before 1970 count down from the epoch ("-1.5").
func paxTime(t time.Time) string {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if nsec == 0 {
		return strconv.FormatInt(sec, 10)
	}
	sign := ""
	if sec < 0 {
		sign, sec, nsec = "-", -sec-1, 1e9-nsec
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%09d", sign, sec, nsec), "0")
}
