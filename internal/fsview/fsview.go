// Package fsview is a plain-text record of what a directory tree shows:
// one line per name with its inode, type, permissions, owner, link
// count, size, device number, times, contents' sha256 or symlink target,
// and xattrs. The log replay tests record the kernel's mount of a crash
// image with it (internal/cmd/fsview) and compare coldsend's in-memory
// replay of another copy line by line.
package fsview

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Entry is one name.
type Entry struct {
	Path   string // relative to the top, "." for the top
	Ino    uint64
	Type   string // reg, dir, lnk, chr, blk, fifo, sock
	Perm   uint32 // mode without the type bits
	UID    uint32
	GID    uint32
	Nlink  uint32
	Size   uint64
	Rdev   uint64
	Mtime  int64 // ns
	Ctime  int64 // ns
	SHA256 string
	Target string
	Xattrs map[string][]byte
}

// Line renders e on one line.
func (e *Entry) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ino=%d %s perm=%04o uid=%d gid=%d nlink=%d size=%d", strconv.Quote(e.Path), e.Ino, e.Type, e.Perm, e.UID, e.GID, e.Nlink, e.Size)
	if e.Rdev != 0 {
		fmt.Fprintf(&b, " rdev=%d", e.Rdev)
	}
	fmt.Fprintf(&b, " mtime=%d ctime=%d", e.Mtime, e.Ctime)
	if e.SHA256 != "" {
		fmt.Fprintf(&b, " sha256=%s", e.SHA256)
	}
	if e.Type == "lnk" {
		fmt.Fprintf(&b, " target=%s", strconv.Quote(e.Target))
	}
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for k := range e.Xattrs {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, " xattr:%s=%s", strconv.Quote(n), hex.EncodeToString(e.Xattrs[n]))
	}
	return b.String()
}

// Format renders entries sorted by path, one line each.
func Format(entries []*Entry) string {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b *Entry) int { return strings.Compare(a.Path, b.Path) })
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Line())
		b.WriteByte('\n')
	}
	return b.String()
}

// TypeOfMode names the file type bits of a mode.
func TypeOfMode(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "reg"
	case 0o040000:
		return "dir"
	case 0o120000:
		return "lnk"
	case 0o020000:
		return "chr"
	case 0o060000:
		return "blk"
	case 0o010000:
		return "fifo"
	case 0o140000:
		return "sock"
	}
	return "unknown"
}
