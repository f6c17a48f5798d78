package fstree

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/logreplay"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// Options tune OpenFiles and New.
type Options struct {
	// Warn receives findings that do not stop reading, as values: a
	// missing device the profile can do without, a superblock copy in
	// use other than the primary, blocks read from another copy, a log
	// tree left by an unclean unmount. It may be called concurrently.
	// Nil discards them.
	Warn func(ondisk.Warning)
	// Super selects the superblock copy to trust on every device; the
	// zero value takes the primary (see volume.SuperChoice).
	Super volume.SuperChoice
	// CacheBytes bounds the tree-block cache; zero means the default.
	CacheBytes int
	// Workers is how many goroutines File.WriteTo reads a large file
	// with (checking and decompressing its extents in parallel, writing
	// them in order, two ranges of about 1 MiB in flight per worker): 0
	// means GOMAXPROCS up to 4, 1 reads on the caller's.
	Workers int
	// NoDataChecksums skips data checksum verification.
	NoDataChecksums bool
	// Generation, when not zero, reads the filesystem as of that commit
	// instead of the latest: the superblock's, one of its backup roots',
	// or else one a scan of the metadata chunks finds (see Generations).
	// Every tree is then read through that commit's root tree, and a
	// block reused since fails the read with an *OverwrittenError.
	Generation uint64
	// RootBytenr, when not zero, reads the commit whose root-tree root
	// block is at this logical address, as Generations' scan reports
	// them; the block must verify and belong to the root tree. With
	// Generation also set, the block must be of that generation.
	RootBytenr uint64
	// NoLogReplay reads the last commit of a filesystem that was not
	// cleanly unmounted, leaving out what its log tree holds (what the
	// kernel's mount shows with rescue=nologreplay). By default the log
	// is replayed in memory, as the kernel's mount replays it. An older
	// generation never has its log replayed.
	NoLogReplay bool
	// LogReplayTime, when not zero, is the time a replay gives the inodes
	// whose times the kernel's replay sets to the time of the mount. By
	// default they keep their times, so that the view does not depend on
	// when it is read.
	LogReplayTime time.Time
	// LogReplayTimes overrides LogReplayTime for the inodes it lists. The
	// kernel's clock can tick while its mount replays a log, so the inodes
	// of one replay can get times a few milliseconds apart; reproducing a
	// particular mount byte for byte needs each of them.
	LogReplayTimes map[InodeID]time.Time
}

// FS is an opened filesystem: the volume, a block cache and the root tree.
// It is safe for concurrent use; the Files and cursors it hands out are
// not.
type FS struct {
	vol     *volume.Volume
	cache   *btree.Cache
	root    *btree.Tree
	opts    Options
	closers []io.Closer // the files OpenFiles opened

	// blocks is what every tree is read through: the cache, or after a
	// log replay the replayed blocks over it.
	blocks   btree.Reader
	replayed map[uint64]btree.Root // trees the log replay changed, by ID

	csumTree *btree.Tree // nil when the filesystem has none
	// LogStamped names the inodes whose times the kernel's log replay
	// sets to the time of the mount (see Options.LogReplayTime).
	LogStamped map[InodeID]bool
	LogTreeOf  []uint64 // subvolumes with uncommitted log trees
	// gen is the commit being read (the superblock's unless an older one
	// was asked for).
	gen uint64
}

// OpenFiles opens the filesystem on the image files or block devices at
// paths (one per device of a multi-device filesystem, in any order),
// read-only. The FS owns the files: Close closes them.
func OpenFiles(paths []string, opts Options) (*FS, error) {
	devs, closers, err := openDeviceFiles(paths)
	if err != nil {
		return nil, err
	}
	fs, err := New(devs, opts)
	if err != nil {
		closeAll(closers)
		return nil, err
	}
	fs.closers = closers
	return fs, nil
}

// New opens the filesystem on devs, readers of the devices' bytes (image
// files, block devices, memory), for instance:
//
//	fs, err := fstree.New([]*volume.Device{{Name: "img", R: memfile.New(b), Size: int64(len(b))}}, fstree.Options{})
//
// Close does not close the readers.
func New(devs []*volume.Device, opts Options) (*FS, error) {
	if opts.Warn == nil {
		opts.Warn = func(ondisk.Warning) {}
	}
	vol, err := volume.Open(devs, volume.Options{Warn: opts.Warn, Super: opts.Super, Generation: opts.Generation})
	if err != nil {
		return nil, err
	}
	sb := vol.Super()
	root, err := chooseRoot(vol, opts)
	if err != nil {
		return nil, err
	}
	fs := &FS{vol: vol, opts: opts, gen: root.Generation}
	if root.Generation == sb.Generation {
		fs.cache = btree.NewCache(vol, opts.CacheBytes)
	} else {
		fs.cache = btree.NewCache(olderReader{vol, root.Generation}, opts.CacheBytes)
	}
	fs.root = btree.New(fs.cache, btree.Root{ID: ondisk.RootTreeObjectID, Bytenr: root.Bytenr, Level: root.Level, Generation: root.Generation})
	if _, err := fs.root.RootNode(); err != nil {
		return nil, fmt.Errorf("reading the root tree: %w", err)
	}
	fs.blocks = fs.cache
	// The log tree belongs to the superblock's commit.
	if sb.LogRoot != 0 && fs.gen == sb.Generation {
		if opts.NoLogReplay {
			fs.checkLogTree()
		} else if err := fs.replayLog(); err != nil {
			return nil, err
		}
	}
	if r, _, err := fs.TreeRoot(ondisk.CsumTreeObjectID); err == nil {
		fs.csumTree = btree.New(fs.blocks, r)
	} else if !errors.Is(err, btree.ErrNotFound) {
		return nil, err
	}
	return fs, nil
}

// InodeID names an inode by subvolume ID and inode number.
type InodeID struct{ Subvol, Ino uint64 }

// replayLog replays the log tree in memory, as the kernel's mount does,
// and reads every tree through the result from then on.
func (fs *FS) replayLog() error {
	sb := fs.vol.Super()
	res, err := logreplay.Replay(logreplay.Input{Reader: fs.cache, RootTree: fs.root, Super: sb})
	if err != nil {
		return fmt.Errorf("replaying the log tree at logical %d (the filesystem was not cleanly unmounted): %w; --no-log-replay reads the last commit, generation %d", sb.LogRoot, err, sb.Generation)
	}
	if !fs.opts.LogReplayTime.IsZero() || len(fs.opts.LogReplayTimes) > 0 {
		at := func(subvol, ino uint64) time.Time {
			if t, ok := fs.opts.LogReplayTimes[InodeID{subvol, ino}]; ok {
				return t
			}
			return fs.opts.LogReplayTime
		}
		if err := res.StampTimes(at); err != nil {
			return err
		}
	}
	fs.blocks, fs.replayed, fs.LogTreeOf = res.Mem, res.Roots, res.Subvolumes
	for subvol, inos := range res.MountTimes {
		for ino := range inos {
			if fs.LogStamped == nil {
				fs.LogStamped = map[InodeID]bool{}
			}
			fs.LogStamped[InodeID{subvol, ino}] = true
		}
	}
	fs.opts.Warn(ondisk.Warning{Kind: ondisk.WarnLogTree, Logical: sb.LogRoot, Tree: ondisk.TreeLogObjectID,
		Msg: fmt.Sprintf("the filesystem was not cleanly unmounted: its log tree was replayed in memory for %s, as the kernel's mount would (nothing is written; --no-log-replay reads the last commit, generation %d)", subvolList(slices.Sorted(slices.Values(res.Subvolumes))), sb.Generation)})
	return nil
}

// Generation is the commit being read: the superblock's, or the older
// one Options asked for.
func (fs *FS) Generation() uint64 { return fs.gen }

// Close closes the files OpenFiles opened; for an FS from New it does
// nothing. The FS must not be used after.
func (fs *FS) Close() error {
	var errs []error
	for _, c := range fs.closers {
		errs = append(errs, c.Close())
	}
	fs.closers = nil
	return errors.Join(errs...)
}

// checkLogTree names the subvolumes with fsynced but uncommitted changes.
// The log is never replayed: the committed trees are what send reads.
func (fs *FS) checkLogTree() {
	sb := fs.vol.Super()
	log := btree.New(fs.cache, btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: sb.LogRoot, Level: sb.LogRootLevel, Generation: sb.Generation + 1})
	var err error
	for it, ierr := range log.ObjectItems(ondisk.TreeLogObjectID, ondisk.RootItemKey) {
		if err = ierr; err != nil {
			break
		}
		fs.LogTreeOf = append(fs.LogTreeOf, it.Key.Offset)
	}
	what := fmt.Sprintf("the filesystem was not cleanly unmounted: a log tree at logical %d holds fsynced changes that were never committed", sb.LogRoot)
	switch {
	case err != nil:
		fs.opts.Warn(ondisk.Warning{Kind: ondisk.WarnLogTree, Logical: sb.LogRoot, Tree: ondisk.TreeLogObjectID,
			Msg: fmt.Sprintf("%s (unreadable: %v); reading the last committed state, generation %d", what, err, sb.Generation)})
	default:
		fs.opts.Warn(ondisk.Warning{Kind: ondisk.WarnLogTree, Logical: sb.LogRoot, Tree: ondisk.TreeLogObjectID,
			Msg: fmt.Sprintf("%s for %s; reading the last committed state, generation %d, without them", what, subvolList(fs.LogTreeOf), sb.Generation)})
	}
}

func subvolList(ids []uint64) string {
	if len(ids) == 1 {
		return fmt.Sprintf("subvolume %d", ids[0])
	}
	s := "subvolumes"
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %d", id)
	}
	return s
}

// Volume returns the underlying volume.
func (fs *FS) Volume() *volume.Volume { return fs.vol }

// Cache returns the tree-block cache shared by every tree of fs.
func (fs *FS) Cache() *btree.Cache { return fs.cache }

// Blocks returns the reader every tree of fs reads through: the cache, or
// after a log replay the replayed blocks over it.
func (fs *FS) Blocks() btree.Reader { return fs.blocks }

// RootTree returns the tree of tree roots.
func (fs *FS) RootTree() *btree.Tree { return fs.root }

// TreeRoot finds the root of tree id through its last ROOT_ITEM in the
// root tree (snapshots key theirs by creation transid).
func (fs *FS) TreeRoot(id uint64) (btree.Root, *item.Root, error) {
	c, err := fs.root.SeekLE(ondisk.Key{ObjectID: id, Type: ondisk.RootItemKey, Offset: ^uint64(0)})
	if err != nil {
		return btree.Root{}, nil, err
	}
	if !c.Valid() || c.Key().ObjectID != id || c.Key().Type != ondisk.RootItemKey {
		return btree.Root{}, nil, btree.ErrNotFound
	}
	k := c.Key()
	ri, err := item.ParseRoot(c.Data())
	if err != nil {
		leaf, _ := c.Leaf()
		return btree.Root{}, nil, &ondisk.BlockError{Logical: leaf.Bytenr, Tree: ondisk.RootTreeObjectID, Key: k.Ptr(), Err: err}
	}
	if r, ok := fs.replayed[id]; ok {
		return r, &ri, nil
	}
	return btree.Root{ID: id, Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation}, &ri, nil
}

// Tree opens tree id (any tree with a ROOT_ITEM: extent, csum, uuid,
// a subvolume).
func (fs *FS) Tree(id uint64) (*btree.Tree, error) {
	r, _, err := fs.TreeRoot(id)
	if err != nil {
		if errors.Is(err, btree.ErrNotFound) {
			return nil, fmt.Errorf("tree %s has no root item: %w", ondisk.TreeName(id), err)
		}
		return nil, err
	}
	return btree.New(fs.blocks, r), nil
}

// corruptf reports an inconsistency between items that only corruption
// makes.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ondisk.ErrCorrupt}, args...)...)
}

// itemError wraps a decode failure of the item under cursor c.
func itemError(c *btree.Cursor, tree uint64, err error) error {
	leaf, _ := c.Leaf()
	k := c.Key()
	return &ondisk.BlockError{Logical: leaf.Bytenr, Tree: tree, Key: k.Ptr(), Err: err}
}
