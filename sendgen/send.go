package sendgen

import (
	"fmt"
	"io"
	"strings"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
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
	// Clones are extra clone sources (btrfs send -c); the send root is
	// always one.
	Clones []*fstree.Subvol
}

// Send writes the stream of a full send of sv to w (the kernel's
// btrfs_ioctl_send followed by send_subvol).
func Send(w io.Writer, sv *fstree.Subvol, opts Options) error {
	if opts.Proto == 0 {
		opts.Proto = 1
	}
	sw, err := stream.NewWriter(w, opts.Proto)
	if err != nil {
		return err
	}
	if opts.CompressedData && opts.Proto < 2 {
		return fmt.Errorf("compressed data needs protocol 2 or later")
	}
	s := newSender(sw, sv, opts)
	if err := s.sendSubvol(); err != nil {
		return s.inodeContext(err)
	}
	return nil
}

// inodeContext names the inode being sent in err: its path in the send
// root (as the image has it, not the stream's temporary name) and number.
func (s *sender) inodeContext(err error) error {
	if s.cur.ino == 0 {
		return err
	}
	p, perr := s.root.InodePath(s.cur.ino)
	if perr != nil {
		return fmt.Errorf("inode %d: %w", s.cur.ino, err)
	}
	return fmt.Errorf("%s (inode %d): %w", strings.TrimPrefix(p, "/"), s.cur.ino, err)
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

	// cmpKey is the key of the item being processed (sctx->cmp_key).
	cmpKey ondisk.Key
	cur    curInode
	// sendProgress is the first inode number not yet fully processed:
	// lower inodes exist in the receiver under their final names.
	sendProgress   uint64
	ignoreCurInode bool

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
	if err := s.fullSendTree(); err != nil {
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

// sendSubvolBegin mirrors send_subvol_begin: SUBVOL with the name of the
// send root's first ROOT_BACKREF, its uuid (the received uuid when set)
// and ctransid.
func (s *sender) sendSubvolBegin() error {
	name, err := s.subvolName()
	if err != nil {
		return err
	}
	item := &s.root.Item
	if err := s.w.Begin(stream.CmdSubvol); err != nil {
		return err
	}
	s.w.PutString(stream.AttrPath, name)
	u := item.UUID
	if item.ReceivedUUID != (ondisk.UUID{}) {
		u = item.ReceivedUUID
	}
	s.w.PutUUID(stream.AttrUUID, stream.UUID(u))
	s.w.PutU64(stream.AttrCtransid, item.Ctransid)
	return s.w.End()
}

// subvolName returns the name in the send root's first ROOT_BACKREF.
func (s *sender) subvolName() (string, error) {
	var name string
	found := false
	err := s.fs.RootTree().WalkObject(s.root.ID, ondisk.RootBackrefKey, func(k ondisk.Key, data []byte) (bool, error) {
		ref, err := ondisk.ParseRootRef(data)
		if err != nil {
			return false, fmt.Errorf("root tree, key %v: %w", k, err)
		}
		name, found = string(ref.Name), true
		return false, nil
	})
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("subvolume %d has no ROOT_BACKREF (the top level cannot be sent)", s.root.ID)
	}
	return name, nil
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
		if err := s.changed(c.Key(), c.Data()); err != nil {
			return err
		}
		if err := c.Next(); err != nil {
			return err
		}
	}
	return s.finishInodeIfNeeded(true)
}

// changed mirrors changed_cb for a full send (every item is new).
func (s *sender) changed(k ondisk.Key, data []byte) error {
	s.cmpKey = k
	if err := s.finishInodeIfNeeded(false); err != nil {
		return err
	}
	if k.ObjectID == ondisk.FreeInoObjectID || k.ObjectID == ondisk.FreeSpaceObjectID {
		return nil
	}
	var err error
	switch {
	case k.Type == ondisk.InodeItemKey:
		err = s.changedInode(k, data)
	case s.ignoreCurInode:
	case k.Type == ondisk.InodeRefKey || k.Type == ondisk.InodeExtrefKey:
		err = s.changedRef(k, data)
	case k.Type == ondisk.XattrItemKey:
		err = s.changedXattr(k, data)
	case k.Type == ondisk.ExtentDataKey:
		err = s.changedExtent(k, data)
	case k.Type == ondisk.VerityDescItemKey && k.Offset == 0:
		err = s.changedVerity(k, data)
	}
	return err
}
