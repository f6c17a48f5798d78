package fstree

import (
	"bytes"
	"fmt"
	"iter"
	"strconv"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// A btrfs directory has exactly one parent: its INODE_REF names the
// directory and DIR_INDEX entry that link it, and a subvolume root's first
// ROOT_BACKREF does the same in its parent subvolume. A recursive walk
// that only descends through that one link enters every directory at most
// once, however a corrupt tree points entries at directories, so it cannot
// loop and its memory stays bounded by the depth of the tree.

// LinkError reports a directory reached through an entry that is not its
// one link: a loop back to an ancestor, or a cross-link to a directory
// that lives elsewhere. Only corruption makes either. It wraps
// ondisk.ErrCorrupt.
type LinkError struct {
	Subvol uint64 // subvolume holding the directory reached
	Ino    uint64 // the directory reached (256 for a subvolume root)
	Path   string // the entry that reached it, from the walk's start
	// Other says where the directory already is: the path of an
	// ancestor in the walk (from its start), or for a cross-link the
	// link recorded in the directory itself.
	Other string
	Loop  bool // Other is an ancestor of Path: following it would loop
}

func (e *LinkError) Error() string {
	if e.Loop {
		return fmt.Sprintf("%v: directory inode %d of subvolume %d is reached again at %s, inside itself (it is already at %s): not descending",
			ondisk.ErrCorrupt, e.Ino, e.Subvol, quotePath(e.Path), quotePath(e.Other))
	}
	return fmt.Sprintf("%v: directory inode %d of subvolume %d is reached at %s, but its one link is %s (a directory has one parent): not descending",
		ondisk.ErrCorrupt, e.Ino, e.Subvol, quotePath(e.Path), e.Other)
}

func (e *LinkError) Unwrap() error { return ondisk.ErrCorrupt }

func quotePath(p string) string {
	if p == "" {
		return "the start of the walk"
	}
	return strconv.Quote(p)
}

// WalkEntry is one directory entry met by Walk.
type WalkEntry struct {
	DirEntry
	// Path is the entry's path from the walk's start, '/'-separated.
	Path []byte
	// Loc is what the entry names: an inode of the same subvolume, or
	// for a nested subvolume the root directory of that subvolume. For
	// the empty placeholder a snapshot shows where a nested subvolume
	// was, Loc.Subvol is nil.
	Loc Location
	// Inode is Loc's inode item; nil for a placeholder.
	Inode *item.Inode
}

// IsDir reports whether the entry is a directory (a placeholder counts).
func (e *WalkEntry) IsDir() bool {
	return e.Inode == nil || e.Inode.Mode&item.ModeTypeMask == item.ModeDir
}

// Walk iterates over every entry below the directory start, in the order
// of ls -R: a directory's entries in DIR_INDEX order, then its
// subdirectories one by one, nested subvolumes entered. Each entry comes
// with a nil error. A directory entry that is not the directory's one link
// comes as usual, followed by its *LinkError, and is not descended into:
// a consumer that goes on walks the rest of the tree. Any other error
// (reading the tree) comes last: the walk ends with it.
func Walk(start Location) iter.Seq2[*WalkEntry, error] {
	return WalkWith(start, WalkOptions{})
}

// WalkOptions adjust WalkWith.
type WalkOptions struct {
	// KeepGoing makes read errors not end the walk: a directory that
	// cannot be listed (whole or in part) is followed by a *ReadError, an
	// entry whose inode or subvolume cannot be read comes as a
	// *ReadError instead, and the walk goes on with the rest.
	KeepGoing bool
	// OneSubvolume yields nested subvolumes' roots but does not enter
	// them.
	OneSubvolume bool
	// DepthFirst enters each directory as soon as it is yielded, so that
	// a directory's whole subtree follows it (the order tar -c writes
	// and tar -x expects), instead of after its siblings.
	DepthFirst bool
}

// ReadError is a part of the tree a KeepGoing walk could not read.
type ReadError struct {
	Path string // the directory or entry, from the walk's start
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("%s: %v", quotePath(e.Path), e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// WalkWith is Walk with options.
func WalkWith(start Location, opts WalkOptions) iter.Seq2[*WalkEntry, error] {
	return func(yield func(*WalkEntry, error) bool) {
		w := &walker{yield: yield, opts: opts}
		w.dir(start, nil)
	}
}

type walker struct {
	opts  WalkOptions
	yield func(*WalkEntry, error) bool
	// stack holds the directories from the start down to the one being
	// listed, with their paths: the loop check, bounded by the depth.
	stack []walkFrame
}

type walkFrame struct {
	loc  Location
	path []byte
}

// dir walks directory loc and below; false means the walk is over.
func (w *walker) dir(loc Location, path []byte) bool {
	w.stack = append(w.stack, walkFrame{loc, path})
	defer func() { w.stack = w.stack[:len(w.stack)-1] }()
	var subs []*WalkEntry // only the subdirectories wait: memory follows the depth
	for de, err := range loc.Subvol.Entries(loc.Ino) {
		if err != nil {
			if w.opts.KeepGoing {
				if !w.yield(nil, &ReadError{Path: string(path), Err: err}) {
					return false
				}
				break
			}
			w.yield(nil, err)
			return false
		}
		e := &WalkEntry{DirEntry: de, Path: de.Name}
		if path != nil {
			e.Path = append(append(append([]byte(nil), path...), '/'), e.Name...)
		}
		descend, linkErr, err := w.resolve(loc, e)
		if err != nil {
			if w.opts.KeepGoing {
				if !w.yield(nil, &ReadError{Path: string(e.Path), Err: err}) {
					return false
				}
				continue
			}
			w.yield(nil, fmt.Errorf("%s: %w", e.Path, err))
			return false
		}
		if !w.yield(e, nil) || linkErr != nil && !w.yield(nil, linkErr) {
			return false
		}
		switch {
		case descend && w.opts.DepthFirst:
			if !w.dir(e.Loc, e.Path) {
				return false
			}
		case descend:
			subs = append(subs, e)
		}
	}
	for _, e := range subs {
		if !w.dir(e.Loc, e.Path) {
			return false
		}
	}
	return true
}

// resolve fills e.Loc and e.Inode and says whether to descend into it.
func (w *walker) resolve(parent Location, e *WalkEntry) (descend bool, linkErr *LinkError, err error) {
	s := parent.Subvol
	e.Loc = Location{s, e.Location.ObjectID}
	if e.IsSubvolume() {
		sub, err := s.NestedSubvol(parent.Ino, &e.DirEntry)
		if err != nil || sub == nil {
			e.Loc = Location{}
			return false, nil, err
		}
		e.Loc = Location{sub, ondisk.SubvolumeRootDirInodeID}
	}
	ii, err := e.Loc.Subvol.Inode(e.Loc.Ino)
	if err != nil {
		return false, nil, err
	}
	e.Inode = &ii
	if !e.IsDir() || e.IsSubvolume() && w.opts.OneSubvolume {
		return false, nil, nil
	}
	if linkErr = w.ancestor(e); linkErr != nil {
		return false, linkErr, nil
	}
	var other string
	if e.IsSubvolume() {
		other, err = rootLinkMismatch(e.Loc.Subvol, s.ID, parent.Ino, &e.DirEntry)
	} else {
		other, err = dirLinkMismatch(s, e.Loc.Ino, parent.Ino, &e.DirEntry)
	}
	if err != nil || other == "" {
		return err == nil, nil, err
	}
	return false, &LinkError{Subvol: e.Loc.Subvol.ID, Ino: e.Loc.Ino, Path: string(e.Path), Other: other}, nil
}

// ancestor reports e if it names a directory on the walk's current path.
func (w *walker) ancestor(e *WalkEntry) *LinkError {
	for _, f := range w.stack {
		if f.loc.Subvol.ID == e.Loc.Subvol.ID && f.loc.Ino == e.Loc.Ino {
			return &LinkError{Subvol: e.Loc.Subvol.ID, Ino: e.Loc.Ino, Path: string(e.Path), Other: string(f.path), Loop: true}
		}
	}
	return nil
}

// dirLinkMismatch checks that entry e of directory parent is the one link
// of directory ino, which its first INODE_REF records. It returns "" when
// it is, and otherwise a description of the recorded link.
func dirLinkMismatch(s *Subvol, ino, parent uint64, e *DirEntry) (string, error) {
	c, err := s.Tree.Seek(ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey})
	if err != nil {
		return "", err
	}
	if !c.Valid() || c.Key().ObjectID != ino || c.Key().Type != ondisk.InodeRefKey {
		return "no INODE_REF: it has no link at all", nil
	}
	refs, err := item.ParseInodeRefs(c.Data())
	if err != nil {
		return "", itemError(c, s.ID, err)
	}
	linkParent := c.Key().Offset
	if len(refs) > 0 && linkParent == parent && refs[0].Index == e.Index && bytes.Equal(refs[0].Name, e.Name) {
		return "", nil
	}
	if len(refs) == 0 {
		return "no name in its INODE_REF", nil
	}
	return describeLink(s, linkParent, refs[0].Index, refs[0].Name), nil
}

// rootLinkMismatch checks that entry e of directory dir in subvolume
// parentID is the one link of subvolume sub, which its first ROOT_BACKREF
// records.
func rootLinkMismatch(sub *Subvol, parentID, dir uint64, e *DirEntry) (string, error) {
	c, err := sub.fs.root.Seek(ondisk.Key{ObjectID: sub.ID, Type: ondisk.RootBackrefKey})
	if err != nil {
		return "", err
	}
	if !c.Valid() || c.Key().ObjectID != sub.ID || c.Key().Type != ondisk.RootBackrefKey {
		return "no ROOT_BACKREF: the subvolume has no link at all", nil
	}
	rr, err := item.ParseRootRef(c.Data())
	if err != nil {
		return "", itemError(c, ondisk.RootTreeObjectID, err)
	}
	if c.Key().Offset == parentID && rr.DirID == dir && rr.Sequence == e.Index && bytes.Equal(rr.Name, e.Name) {
		return "", nil
	}
	parent, err := sub.fs.OpenSubvol(c.Key().Offset)
	if err != nil {
		return fmt.Sprintf("name %q in directory inode %d of subvolume %d", rr.Name, rr.DirID, c.Key().Offset), nil
	}
	return describeLink(parent, rr.DirID, rr.Sequence, rr.Name), nil
}

// describeLink names the link (dir, index, name) of subvolume s for an
// error: with the directory's path when it can be found.
func describeLink(s *Subvol, dir, index uint64, name []byte) string {
	where := fmt.Sprintf("name %q (index %d) in directory inode %d of subvolume %d", name, index, dir, s.ID)
	p, err := s.InodePath(dir)
	if err == nil {
		where += fmt.Sprintf(", path %q", joinPath(p, string(name)))
	}
	return where
}

// dirRefIndex is the index in the first INODE_REF of directory ino.
func dirRefIndex(s *Subvol, ino uint64) (uint64, error) {
	c, err := s.Tree.Seek(ondisk.Key{ObjectID: ino, Type: ondisk.InodeRefKey})
	if err != nil || !c.Valid() || c.Key().ObjectID != ino || c.Key().Type != ondisk.InodeRefKey {
		return 0, err
	}
	refs, err := item.ParseInodeRefs(c.Data())
	if err != nil || len(refs) == 0 {
		return 0, itemError(c, s.ID, err)
	}
	return refs[0].Index, nil
}

// rootRefIndex is the sequence in the first ROOT_BACKREF of sub.
func rootRefIndex(sub *Subvol) (uint64, error) {
	c, err := sub.fs.root.Seek(ondisk.Key{ObjectID: sub.ID, Type: ondisk.RootBackrefKey})
	if err != nil || !c.Valid() || c.Key().ObjectID != sub.ID || c.Key().Type != ondisk.RootBackrefKey {
		return 0, err
	}
	rr, err := item.ParseRootRef(c.Data())
	if err != nil {
		return 0, itemError(c, ondisk.RootTreeObjectID, err)
	}
	return rr.Sequence, nil
}
