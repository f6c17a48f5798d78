package sendgen

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/stream"
)

// Options select what Send emits; the zero value is a full protocol-1 send.
type Options struct {
	// Proto is the protocol version (0 means 1).
	Proto uint32
	// NoData sends update_extent instead of file data (btrfs send --no-data).
	NoData bool
	// CompressedData passes compressed extents through as encoded_write
	// (protocol 2 and later).
	CompressedData bool
	// OmitHeader and OmitEnd are BTRFS_SEND_FLAG_OMIT_STREAM_HEADER and
	// BTRFS_SEND_FLAG_OMIT_END_CMD: btrfs send -e sets them to chain
	// several subvolumes into one stream.
	OmitHeader, OmitEnd bool
	// Parent makes the send incremental (btrfs send -p): the stream
	// carries what changed from Parent to the sent subvolume. Parent is
	// also a clone source, as btrfs send makes it.
	Parent *fstree.Subvol
	// Clones are extra clone sources (btrfs send -c); the send root is
	// always one.
	Clones []*fstree.Subvol
	// Skip leaves out the first Skip bytes of the stream, to resume an
	// interrupted send: everything before is generated as usual but not
	// written, and file data it would carry is not read (the commands'
	// sizes follow from the extent items). The header or command holding
	// byte Skip is written from that byte on.
	Skip int64
	// Observe, when set, sees each command (with its path, if it has
	// one) as it is written or skipped: progress reports.
	Observe func(c stream.Cmd, path []byte)
	// SkipCheck, when set, is shown what Skip leaves out, to compare it
	// with the interrupted stream being resumed (stream.Writer.SkipCheck;
	// offsets count over SendMany's whole output).
	SkipCheck func(off int64, b []byte, data int) error
	// Workers is how many goroutines read and check file data and
	// compute CRCs ahead of the send (stream.Writer.SetPipeline): 0 means
	// GOMAXPROCS up to 4, 1 reads on the caller's goroutine. The stream
	// is the same whatever it is.
	Workers int
}

// maxDefaultWorkers bounds the default Workers, and so the batches in
// flight (about 1 MiB each, two per worker and two more).
const maxDefaultWorkers = 4

// Stats counts what a send made: the stream's bytes and commands, with
// what Skip left out.
type Stats struct {
	Bytes    int64
	Commands int
}

// Send writes the stream of a send of sv to w, full or, with
// opts.Parent, incremental (the kernel's btrfs_ioctl_send followed by
// send_subvol). Unlike the kernel, Send does not require sv, the parent
// or the clone sources to be read-only: an unmounted image cannot change
// while it is read.
//
// An error writing to w comes back as an *OutputError, which says nothing
// of the image; any other error names the inode being sent.
func Send(w io.Writer, sv *fstree.Subvol, opts Options) error {
	_, err := send(w, sv, opts)
	return err
}

// send is Send, counting what it made.
func send(w io.Writer, sv *fstree.Subvol, opts Options) (Stats, error) {
	if opts.Proto == 0 {
		opts.Proto = 1
	}
	sw, err := stream.NewWriter(outputWriter{w}, opts.Proto)
	if err != nil {
		return Stats{}, err
	}
	if opts.CompressedData && opts.Proto < 2 {
		return Stats{}, fmt.Errorf("compressed data needs protocol 2 or later")
	}
	sw.SetSkip(opts.Skip)
	sw.Observe = opts.Observe
	sw.SkipCheck = opts.SkipCheck
	workers := opts.Workers
	if workers == 0 {
		workers = min(runtime.GOMAXPROCS(0), maxDefaultWorkers)
	}
	sw.SetPipeline(workers)
	s := newSender(sw, sv, opts)
	err = s.sendSubvol()
	// What the workers failed on lies earlier in the stream than where
	// the send stopped, if it stopped.
	if cerr := sw.Close(); cerr != nil {
		err = cerr
	}
	st := Stats{Bytes: sw.Offset(), Commands: sw.Commands()}
	if err != nil {
		var oe *OutputError
		if errors.As(err, &oe) {
			return st, oe
		}
		if fstree.IsNotFound(err) && !errors.Is(err, ondisk.ErrCorrupt) {
			// An item send needs and the trees do not hold.
			err = fmt.Errorf("%w: %w", ondisk.ErrCorrupt, err)
		}
		return st, s.inodeContext(err)
	}
	return st, nil
}

// OutputError is a failure to write the stream (a full disk, a closed
// pipe): nothing to do with the image being read.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "writing the stream: " + e.Err.Error() }

func (e *OutputError) Unwrap() error { return e.Err }

// outputWriter marks the errors of the stream's destination.
type outputWriter struct{ w io.Writer }

func (o outputWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		err = &OutputError{err}
	}
	return n, err
}

// inodeContext names the inode being sent in err: its path in the send
// root (as the image has it, not the stream's temporary name) and number.
func (s *sender) inodeContext(err error) error {
	ino := s.cur.ino
	var de *dataError
	if errors.As(err, &de) {
		ino = de.ino
	}
	if ino == 0 {
		return err
	}
	p, perr := s.root.InodePath(ino)
	if perr != nil {
		return fmt.Errorf("inode %d: %w", ino, err)
	}
	return fmt.Errorf("%s (inode %d): %w", strings.TrimPrefix(p, "/"), ino, err)
}

// sender is the state of one send (the kernel's struct send_ctx). The
// cur* fields describe the inode being processed; inodes holds the state
// of names, references and directories (refs.go, paths.go), data that of
// file contents and clones (extent.go, clone.go).
type sender struct {
	w    *stream.Writer
	fs   *fstree.FS
	root *fstree.Subvol // the send root
	opts Options

	// cmpKey is the key of the item being processed (sctx->cmp_key);
	// leftPath and rightPath are where it is in the send and the parent
	// root (sctx->left_path, sctx->right_path).
	cmpKey              ondisk.Key
	leftPath, rightPath compare.Side
	cur                 curInode
	// sendProgress is the first inode number not yet fully processed:
	// lower inodes exist in the receiver under their final names.
	sendProgress   uint64
	ignoreCurInode bool

	// leftOrphans and rightOrphans are what orphan cleanup removes from
	// the send root and the parent; nil when they hold no orphans.
	leftOrphans, rightOrphans *fstree.Orphans

	inodes inodeState
	data   dataState
}

// curInode mirrors send_ctx's cur_ino ... cur_inode_next_write_offset.
type curInode struct {
	ino, gen        uint64
	size, mode      uint64
	rdev            uint64
	lastExtent      uint64
	nextWriteOffset uint64
	isNew, newGen   bool
	deleted         bool
	needsVerity     bool
}

func newSender(w *stream.Writer, sv *fstree.Subvol, opts Options) *sender {
	s := &sender{w: w, fs: sv.FS(), root: sv, opts: opts}
	s.inodes.init()
	s.inodes.parentRoot = opts.Parent
	s.data.init(s)
	return s
}

// sendSubvol mirrors send_subvol: the header, the subvol command, the walk
// of the send root, the END command.
func (s *sender) sendSubvol() error {
	if !s.opts.OmitHeader {
		if err := s.w.WriteHeader(); err != nil {
			return err
		}
	}
	if err := s.sendSubvolBegin(); err != nil {
		return err
	}
	if err := s.readOrphans(); err != nil {
		return err
	}
	if parent := s.inodes.parentRoot; parent != nil {
		if err := compare.Trees(s.root.Tree, parent.Tree, s.changedAfterOrphanCleanup); err != nil {
			return err
		}
		if err := s.finishInodeIfNeeded(true); err != nil {
			return err
		}
	} else if err := s.fullSendTree(); err != nil {
		return err
	}
	// btrfs_ioctl_send flushes the cached directory utimes before END.
	if err := s.flushDirUtimesCache(); err != nil {
		return err
	}
	if !s.opts.OmitEnd {
		if err := s.w.Begin(stream.CmdEnd); err != nil {
			return err
		}
		return s.w.End()
	}
	return nil
}

// sendSubvolBegin mirrors send_subvol_begin: SUBVOL (full send) or
// SNAPSHOT (incremental) with the name of the send root's first
// ROOT_BACKREF, its uuid (the received uuid when set) and ctransid, and
// for SNAPSHOT the parent's uuid (received uuid when set) and ctransid.
func (s *sender) sendSubvolBegin() error {
	name, err := s.subvolName()
	if err != nil {
		return err
	}
	parent := s.inodes.parentRoot
	cmd := stream.CmdSubvol
	if parent != nil {
		cmd = stream.CmdSnapshot
	}
	if err := s.w.Begin(cmd); err != nil {
		return err
	}
	s.w.PutString(stream.AttrPath, name)
	s.w.PutUUID(stream.AttrUUID, stream.UUID(rootUUID(&s.root.Item)))
	s.w.PutU64(stream.AttrCtransid, s.root.Item.Ctransid)
	if parent != nil {
		s.w.PutUUID(stream.AttrCloneUUID, stream.UUID(rootUUID(&parent.Item)))
		s.w.PutU64(stream.AttrCloneCtransid, parent.Item.Ctransid)
	}
	return s.w.End()
}

// rootUUID is the uuid send puts in its commands for a root: the received
// uuid when it is set, which is what a receiver looks subvolumes up by.
func rootUUID(ri *item.Root) ondisk.UUID {
	if ri.ReceivedUUID != (ondisk.UUID{}) {
		return ri.ReceivedUUID
	}
	return ri.UUID
}

// subvolName returns the name in the send root's first ROOT_BACKREF.
func (s *sender) subvolName() (string, error) { return SubvolName(s.root) }

// SubvolName is the name a send of sv puts in its SUBVOL or SNAPSHOT
// command: the one in sv's first ROOT_BACKREF. The top level has none and
// cannot be sent.
func SubvolName(sv *fstree.Subvol) (string, error) {
	for it, err := range sv.FS().RootTree().ObjectItems(sv.ID, ondisk.RootBackrefKey) {
		if err != nil {
			return "", err
		}
		ref, err := item.ParseRootRef(it.Data)
		if err != nil {
			return "", fmt.Errorf("root tree, key %v: %w", it.Key, err)
		}
		return string(ref.Name), nil
	}
	if sv.ID == ondisk.FSTreeObjectID {
		return "", fmt.Errorf("the top level (subvolume %d) has no name and cannot be sent", sv.ID)
	}
	return "", corruptf("subvolume %d has no ROOT_BACKREF, so no name to send it under", sv.ID)
}

// fullSendTree mirrors full_send_tree: every item of the send root from
// the first inode on, in key order, as a new item; then the last inode is
// finished.
func (s *sender) fullSendTree() error {
	c, err := s.root.Tree.Seek(ondisk.Key{ObjectID: ondisk.FirstFreeObjectID, Type: ondisk.InodeItemKey})
	if err != nil {
		return err
	}
	for c.Valid() {
		leaf, slot := c.Leaf()
		if k := c.Key(); !s.leftOrphans.Hides(k) {
			if err := s.changed(k, compare.New, compare.Side{Leaf: leaf, Slot: slot}, compare.Side{}); err != nil {
				return err
			}
		}
		if err := c.Next(); err != nil {
			return err
		}
	}
	return s.finishInodeIfNeeded(true)
}

// readOrphans reads what orphan cleanup would remove from the send root
// and the parent (see fstree.Orphans): the kernel only ever sends trees
// that cleanup has run on.
func (s *sender) readOrphans() error {
	var err error
	if s.leftOrphans, err = s.root.Orphans(); err != nil {
		return err
	}
	if p := s.inodes.parentRoot; p != nil {
		s.rightOrphans, err = p.Orphans()
	}
	return err
}

// changedAfterOrphanCleanup passes the comparison of the two trees on to
// changed as if orphan cleanup had run on both: an item it removes from
// one side is absent there, which turns a change into a new or deleted
// item, or into nothing.
func (s *sender) changedAfterOrphanCleanup(k ondisk.Key, res compare.Result, left, right compare.Side) error {
	inLeft := res != compare.Deleted && !s.leftOrphans.Hides(k)
	inRight := res != compare.New && !s.rightOrphans.Hides(k)
	switch {
	case inLeft && inRight:
	case inLeft:
		res, right = compare.New, compare.Side{}
	case inRight:
		res, left = compare.Deleted, compare.Side{}
	default:
		return nil
	}
	return s.changed(k, res, left, right)
}

// changed mirrors changed_cb: an item of the send root (left) and/or the
// parent root (right) as the tree comparison reports it. Unchanged items
// of leaves that are not shared matter only for refs whose directory was
// re-created (compare_refs) and for holes (maybe_send_hole).
func (s *sender) changed(k ondisk.Key, res compare.Result, left, right compare.Side) error {
	if res == compare.Same {
		switch k.Type {
		case ondisk.InodeRefKey, ondisk.InodeExtrefKey:
			changed, err := s.compareRefs(k, left.Data())
			if err != nil || !changed {
				return err
			}
		case ondisk.ExtentDataKey:
			return s.maybeSendHole(k, left)
		default:
			return nil
		}
		res = compare.Changed
	}

	s.leftPath, s.rightPath, s.cmpKey = left, right, k
	if err := s.finishInodeIfNeeded(false); err != nil {
		return err
	}
	if k.ObjectID == ondisk.FreeInoObjectID || k.ObjectID == ondisk.FreeSpaceObjectID {
		return nil
	}
	switch {
	case k.Type == ondisk.InodeItemKey:
		return s.changedInode(res)
	case s.ignoreCurInode:
	case k.Type == ondisk.InodeRefKey || k.Type == ondisk.InodeExtrefKey:
		return s.changedRef(res)
	case k.Type == ondisk.XattrItemKey:
		return s.changedXattr(res)
	case k.Type == ondisk.ExtentDataKey:
		return s.changedExtent(res)
	case k.Type == ondisk.VerityDescItemKey && k.Offset == 0:
		return s.changedVerity(res)
	}
	return nil
}

// inconsistentSnapshotError mirrors inconsistent_snapshot_error: an item
// of an inode whose inode item did not change.
func (s *sender) inconsistentSnapshotError(res compare.Result, what string) error {
	result := [...]string{"new", "deleted", "updated", "unchanged"}[res]
	var parent uint64
	if s.inodes.parentRoot != nil {
		parent = s.inodes.parentRoot.ID
	}
	return corruptf("inconsistent snapshot: found %s %s for inode %d without an updated inode item, send root %d, parent root %d",
		result, what, s.cmpKey.ObjectID, s.root.ID, parent)
}
