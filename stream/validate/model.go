package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// kind is what a node is known to be.
type kind uint8

const (
	kindUnknown kind = iota // taken from the parent snapshot, not used in a telling way yet
	kindNonDir              // hard-linked, so not a directory; otherwise unknown
	kindDir
	kindFile
	kindSymlink
	kindSpecial // device node, fifo or socket
)

func (k kind) String() string {
	switch k {
	case kindNonDir:
		return "hard-linked file"
	case kindDir:
		return "directory"
	case kindFile:
		return "regular file"
	case kindSymlink:
		return "symlink"
	case kindSpecial:
		return "special file"
	}
	return "file of unknown type"
}

// node is an inode as far as the stream shows it. Hard links share one
// node; a directory has exactly one entry, which keeps the tree acyclic.
type node struct {
	kind kind
	// fresh marks a directory the stream created: its entries are all known.
	fresh bool
	// sized marks a regular file the stream created: size is then what a
	// receiver has at this point.
	sized bool
	size  uint64
	num   uint64 // INO attribute of the creating command, 0 if not created here
	// ents holds the names of a directory the stream knows about. A nil
	// value records a name known not to exist in a directory whose other
	// names are unknown.
	ents map[string]*entry
}

// entry is a name in a directory.
type entry struct {
	node  *node
	since int // index of the command that put the node here; 0 if assumed from the parent
}

// get returns what the stream knows about name: an entry, or nil when the
// name does not exist or nothing is known about it.
func (d *node) get(name string) *entry { return d.ents[name] }

// lookup returns name's entry in d, or nil if it does not exist. A name a
// parent snapshot directory may hold is taken to exist from here on.
func (d *node) lookup(name string) *entry {
	e, ok := d.ents[name]
	if ok || d.fresh {
		return e
	}
	e = &entry{node: &node{}}
	d.put(name, e)
	return e
}

func (d *node) put(name string, e *entry) {
	if d.ents == nil {
		d.ents = make(map[string]*entry)
	}
	d.ents[name] = e
}

// remove takes name out of d. Only a fresh directory can forget it: in
// any other the parent snapshot's entry would come back.
func (d *node) remove(name string) {
	if d.fresh {
		delete(d.ents, name)
	} else {
		d.ents[name] = nil
	}
}

// empty reports whether directory d has no entry the stream knows of; for
// a directory that is not fresh that means it may be empty.
func (d *node) empty() bool {
	for _, e := range d.ents {
		if e != nil {
			return false
		}
	}
	return true
}

// tree is one subvolume's model; the empty path is its root directory.
type tree struct {
	root *node
}

// find walks to the directory holding p's last component and returns it
// with that component. Every directory on the way must exist; avoid, if it
// is met on the way, makes it fail (a directory moved into itself).
func (t *tree) find(p string, avoid *node) (*node, string, error) {
	d := t.root
	for i := 0; ; {
		j := strings.IndexByte(p[i:], '/')
		if j < 0 {
			return d, p[i:], nil
		}
		at := p[:i+j]
		e := d.lookup(p[i : i+j])
		if e == nil {
			return nil, "", fmt.Errorf("path %q: %q does not exist", p, at)
		}
		switch n := e.node; {
		case n == avoid:
			return nil, "", errInside
		case n.kind == kindUnknown:
			n.kind = kindDir
		case n.kind != kindDir:
			return nil, "", fmt.Errorf("path %q: %q is a %s, not a directory", p, at, n.kind)
		}
		d = e.node
		i += j + 1
	}
}

// errInside is find's report of meeting the node to avoid; rename words
// the message.
var errInside = errors.New("a directory cannot move into itself")

// need returns the node at p, which must exist.
func (t *tree) need(p string) (*node, error) {
	if p == "" {
		return t.root, nil
	}
	d, name, err := t.find(p, nil)
	if err != nil {
		return nil, err
	}
	e := d.lookup(name)
	if e == nil {
		return nil, fmt.Errorf("%q does not exist", p)
	}
	return e.node, nil
}

// create adds a fresh node at p, whose name must be free.
func (t *tree) create(p string, n *node, index int) error {
	if p == "" {
		return fmt.Errorf("the subvolume root already exists")
	}
	d, name, err := t.find(p, nil)
	if err != nil {
		return err
	}
	if e := d.get(name); e != nil {
		return fmt.Errorf("%q already exists%s", p, origin(e))
	}
	d.put(name, &entry{node: n, since: index})
	return nil
}

// origin names the command that made an entry, for messages.
func origin(e *entry) string {
	if e.since == 0 {
		return ""
	}
	return fmt.Sprintf(" (since command %d)", e.since)
}

// removeEntry takes p out of the tree; dir says whether it must be an
// (empty) directory, as for rmdir, or must not be one, as for unlink.
func (t *tree) removeEntry(p string, dir bool) error {
	if p == "" {
		return fmt.Errorf("cannot remove the subvolume root")
	}
	d, name, err := t.find(p, nil)
	if err != nil {
		return err
	}
	e := d.lookup(name)
	switch {
	case e == nil:
		return fmt.Errorf("%q does not exist", p)
	case dir && e.node.kind != kindUnknown && e.node.kind != kindDir:
		return fmt.Errorf("%q is a %s, not a directory", p, e.node.kind)
	case dir && !e.node.empty():
		return fmt.Errorf("%q is not empty", p)
	case !dir && e.node.kind == kindDir:
		return fmt.Errorf("%q is a directory", p)
	case !dir && e.node.kind == kindUnknown:
		e.node.kind = kindNonDir // other links to it may remain
	}
	d.remove(name)
	return nil
}

// rename moves from to to as rename(2) would.
func (t *tree) rename(from, to string, index int) error {
	if from == "" || to == "" {
		return fmt.Errorf("cannot rename the subvolume root")
	}
	sd, sname, err := t.find(from, nil)
	if err != nil {
		return err
	}
	se := sd.lookup(sname)
	if se == nil {
		return fmt.Errorf("%q does not exist", from)
	}
	src := se.node
	dd, dname, err := t.find(to, src)
	if err == errInside {
		return fmt.Errorf("%q would move into its own subtree", from)
	}
	if err != nil {
		return err
	}
	if de := dd.get(dname); de != nil {
		dst := de.node
		switch {
		case dst == src:
			return nil // two links to one inode: rename(2) does nothing
		case dst.kind == kindDir && src.kind != kindUnknown && src.kind != kindDir:
			return fmt.Errorf("%q is a directory, %q is not", to, from)
		case dst.kind == kindDir && !dst.empty():
			return fmt.Errorf("%q is not empty", to)
		case src.kind == kindDir && dst.kind != kindUnknown && dst.kind != kindDir:
			return fmt.Errorf("%q is a directory, %q is not", from, to)
		}
	}
	sd.remove(sname)
	dd.put(dname, &entry{node: src, since: index})
	return nil
}

// link adds to as a new name of the inode at existing.
func (t *tree) link(to, existing string, index int) error {
	n, err := t.need(existing)
	if err != nil {
		return err
	}
	if n.kind == kindDir {
		return fmt.Errorf("%q is a directory", existing)
	}
	if n.kind == kindUnknown {
		n.kind = kindNonDir
	}
	return t.create(to, n, index)
}

// file returns the regular file at p.
func (t *tree) file(p string) (*node, error) {
	n, err := t.need(p)
	if err != nil {
		return nil, err
	}
	switch n.kind {
	case kindUnknown, kindNonDir:
		n.kind = kindFile
	case kindFile:
	default:
		return nil, fmt.Errorf("%q is a %s, not a regular file", p, n.kind)
	}
	return n, nil
}

// orphan returns the earliest entry still in the tree that the stream put
// under a temporary orphan name, with its path; since is 0 if there is
// none. The kernel makes those names unique in the subvolume's root
// directory (gen_unique_name), so only the root's entries can be orphans.
func (t *tree) orphan() (name string, since int) {
	for n, e := range t.root.ents {
		if e != nil && e.since > 0 && (since == 0 || e.since < since) && isOrphan(n, e.node.num) {
			name, since = n, e.since
		}
	}
	return name, since
}

// isOrphan reports whether name is the kernel's temporary name
// o<ino>-<gen>-<n> (printed with %llu, so without leading zeros) for inode
// num (0: number unknown). The number keeps a file a user named that way
// from counting when the stream created it.
func isOrphan(name string, num uint64) bool {
	rest, ok := strings.CutPrefix(name, "o")
	f := strings.Split(rest, "-")
	if !ok || len(f) != 3 {
		return false
	}
	for _, s := range f {
		if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 1 && s[0] == '0' {
			return false
		}
	}
	ino, err := strconv.ParseUint(f[0], 10, 64)
	return err == nil && (num == 0 || num == ino)
}
