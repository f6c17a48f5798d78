package fstree

import (
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Subvolume describes one subvolume or snapshot, as `btrfs subvolume list`
// shows it.
type Subvolume struct {
	ID       uint64
	TopLevel uint64 // the subvolume that contains it; 0 for the top level
	DirID    uint64 // directory inode in TopLevel holding its entry
	Name     []byte // its entry's name in that directory
	Path     string // from the top level, '/'-separated, "" for id 5
	Item     item.Root
	// RootOffset is the offset of its ROOT_ITEM's key: the transaction a
	// snapshot was taken in, 0 for a subvolume created empty.
	RootOffset uint64
}

// ReadOnly reports whether the subvolume is read-only.
func (s *Subvolume) ReadOnly() bool { return s.Item.Flags&item.RootSubvolRDONLY != 0 }

// IsSnapshot reports whether the subvolume was made as a snapshot, the
// test btrfs subvolume list -s applies.
func (s *Subvolume) IsSnapshot() bool { return s.RootOffset != 0 }

func isSubvolumeID(id uint64) bool {
	return id == ondisk.FSTreeObjectID || (id >= ondisk.FirstFreeObjectID && id <= ondisk.LastFreeObjectID)
}

// Subvolumes iterates over every live subvolume, ordered by ID.
// Subvolumes being deleted (no references, or an orphan item) are left
// out. An error (reading the root tree) ends the iteration.
func (fs *FS) Subvolumes() iter.Seq2[*Subvolume, error] {
	return func(yield func(*Subvolume, error) bool) {
		list, err := fs.subvolumeList()
		if err != nil {
			yield(nil, err)
			return
		}
		for _, sv := range list {
			if !yield(sv, nil) {
				return
			}
		}
	}
}

// subvolumeList reads every live subvolume: paths need all of them.
func (fs *FS) subvolumeList() ([]*Subvolume, error) {
	byID := map[uint64]*Subvolume{}
	var ids []uint64
	c, err := fs.root.First()
	for ; err == nil && c.Valid(); err = c.Next() {
		k := c.Key()
		switch {
		case k.Type == ondisk.RootItemKey && isSubvolumeID(k.ObjectID):
			ri, err := item.ParseRoot(c.Data())
			if err != nil {
				return nil, itemError(c, ondisk.RootTreeObjectID, err)
			}
			sv := byID[k.ObjectID]
			if sv == nil {
				sv = &Subvolume{ID: k.ObjectID}
				byID[k.ObjectID] = sv
				ids = append(ids, k.ObjectID)
			}
			sv.Item = ri // the last ROOT_ITEM of an ID is the current one
			sv.RootOffset = k.Offset
		case k.Type == ondisk.RootBackrefKey && isSubvolumeID(k.ObjectID):
			rr, err := item.ParseRootRef(c.Data())
			if err != nil {
				return nil, itemError(c, ondisk.RootTreeObjectID, err)
			}
			if sv := byID[k.ObjectID]; sv != nil && sv.TopLevel == 0 {
				sv.TopLevel, sv.DirID, sv.Name = k.Offset, rr.DirID, append([]byte(nil), rr.Name...)
			}
		case k.ObjectID == ondisk.OrphanObjectID && k.Type == ondisk.OrphanItemKey:
			if sv := byID[k.Offset]; sv != nil {
				sv.Item.Refs = 0
			}
		}
	}
	if err != nil {
		return nil, err
	}
	var out []*Subvolume
	for _, id := range ids {
		if sv := byID[id]; id == ondisk.FSTreeObjectID || sv.Item.Refs > 0 {
			out = append(out, sv)
		}
	}
	for _, sv := range out {
		p, err := fs.subvolPath(sv, byID, 0)
		if err != nil {
			return nil, err
		}
		sv.Path = p
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (fs *FS) subvolPath(sv *Subvolume, byID map[uint64]*Subvolume, depth int) (string, error) {
	if sv.ID == ondisk.FSTreeObjectID || sv.TopLevel == 0 {
		return "", nil
	}
	if depth > 4096 {
		return "", corruptf("subvolume %d: ROOT_BACKREF chain loops", sv.ID)
	}
	parent := byID[sv.TopLevel]
	prefix := ""
	if parent != nil {
		p, err := fs.subvolPath(parent, byID, depth+1)
		if err != nil {
			return "", err
		}
		prefix = p
	}
	dir := ""
	if sv.DirID != ondisk.SubvolumeRootDirInodeID {
		s, err := fs.OpenSubvol(sv.TopLevel)
		if err != nil {
			return "", err
		}
		if dir, err = s.InodePath(sv.DirID); err != nil {
			return "", err
		}
	}
	return joinPath(prefix, dir, string(sv.Name)), nil
}

func joinPath(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, "/")
}

// Subvol is an opened subvolume tree.
type Subvol struct {
	fs   *FS
	ID   uint64
	Item item.Root
	Tree *btree.Tree

	orphanOnce sync.Once
	orphans    *Orphans
	orphanErr  error

	// Recently read inode items, direct-mapped by inode number: send asks
	// for the same few inodes (the current one, its parent directories)
	// many times per inode it processes.
	inodesMu sync.Mutex
	inodes   *[inodeCacheSlots]cachedInode // allocated on first use
}

const inodeCacheSlots = 256

type cachedInode struct {
	ok  bool
	ino uint64
	ii  item.Inode
}

// OpenSubvol opens subvolume id.
func (fs *FS) OpenSubvol(id uint64) (*Subvol, error) {
	if !isSubvolumeID(id) {
		return nil, fmt.Errorf("%d is not a subvolume ID", id)
	}
	r, ri, err := fs.TreeRoot(id)
	if errors.Is(err, btree.ErrNotFound) {
		return nil, fmt.Errorf("subvolume %d does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	return &Subvol{fs: fs, ID: id, Item: *ri, Tree: btree.New(fs.blocks, r)}, nil
}

// FS returns the filesystem s belongs to.
func (s *Subvol) FS() *FS { return s.fs }

// Location is an inode in a subvolume.
type Location struct {
	Subvol *Subvol
	Ino    uint64
}

// Resolve finds what a user path names. The path is taken from the top
// level (a leading '/' is optional) and crosses into nested subvolumes as
// it goes, so "snaps/2/etc/passwd" works; "id:N" or "id:N/sub/path" starts
// at subvolume N's root instead.
func (fs *FS) Resolve(path string) (Location, error) {
	start := uint64(ondisk.FSTreeObjectID)
	rest := strings.TrimLeft(path, "/")
	if strings.HasPrefix(path, "id:") {
		idStr, after, _ := strings.Cut(strings.TrimPrefix(path, "id:"), "/")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil {
			return Location{}, fmt.Errorf("bad subvolume %q: want id:NUMBER", path)
		}
		start, rest = id, after
	}
	s, err := fs.OpenSubvol(start)
	if err != nil {
		return Location{}, err
	}
	loc := Location{s, ondisk.SubvolumeRootDirInodeID}
	walked := ""
	// isDir is known for the subvolume roots Resolve starts from and
	// crosses into; other inodes are read when a path goes through them.
	isDir := true
	notDir := func() error {
		return fmt.Errorf("%s: %w (at %q)", path, ErrNotDir, walked)
	}
	for _, name := range strings.Split(rest, "/") {
		if name == "" || name == "." {
			continue
		}
		if !isDir {
			return Location{}, notDir()
		}
		walked = joinPath(walked, name)
		if name == ".." {
			return Location{}, fmt.Errorf("%s: '..' is not supported in paths", path)
		}
		de, err := loc.Subvol.Lookup(loc.Ino, []byte(name))
		if err != nil {
			if errors.Is(err, btree.ErrNotFound) {
				return Location{}, fmt.Errorf("%s: no such file or directory (at %q)", path, walked)
			}
			return Location{}, err
		}
		if de.IsSubvolume() {
			sub, err := loc.Subvol.NestedSubvol(loc.Ino, de)
			if err != nil {
				return Location{}, fmt.Errorf("%s: %w", walked, err)
			}
			if sub == nil {
				return Location{}, fmt.Errorf("%s: %q is the empty placeholder of a subvolume that was not snapshotted with its parent", path, walked)
			}
			loc = Location{sub, ondisk.SubvolumeRootDirInodeID}
			isDir = true
			continue
		}
		loc = Location{loc.Subvol, de.Location.ObjectID}
		ii, err := loc.Subvol.Inode(loc.Ino)
		if err != nil {
			return Location{}, fmt.Errorf("%s: %w", walked, err)
		}
		isDir = ii.Mode&item.ModeTypeMask == item.ModeDir
	}
	// A trailing slash (or "/.") asks for a directory, as in POSIX paths.
	if !isDir && (strings.HasSuffix(rest, "/") || strings.HasSuffix(rest, "/.")) {
		return Location{}, notDir()
	}
	return loc, nil
}

// ErrNotDir is wrapped by Resolve's error when a path goes through, or
// ends with a slash after, something that is not a directory.
var ErrNotDir = errors.New("not a directory")

// ResolveSubvol is Resolve for arguments that must name a subvolume root.
func (fs *FS) ResolveSubvol(path string) (*Subvol, error) {
	loc, err := fs.Resolve(path)
	if err != nil {
		return nil, err
	}
	if loc.Ino != ondisk.SubvolumeRootDirInodeID {
		return nil, fmt.Errorf("%s is not a subvolume", path)
	}
	return loc.Subvol, nil
}
