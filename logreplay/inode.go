package logreplay

import (
	"encoding/binary"
	"fmt"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// inode is the in-memory inode the kernel's replay works on: loaded from
// the subvolume tree by iget, changed in memory, written back whole by
// updateInode. While anyone holds it, every iget gets the same copy; the
// last iput drops it (the replay runs while the filesystem is being
// mounted, before the VFS keeps unused inodes cached), so the next iget
// reads the tree's item again.
type inode struct {
	ino        uint64
	refs       int
	mode       uint32
	nlink      uint32
	uid, gid   uint32
	size       uint64 // i_size
	diskSize   uint64 // disk_i_size, what an update writes
	nbytes     uint64
	generation uint64
	sequence   uint64
	rdev       uint64
	flags      uint64
	atime      [12]byte
	mtime      [12]byte
	ctime      [12]byte
	otime      [12]byte
	// stamped is what the kernel would have set to the current time.
	stamped Stamp
}

// Stamp says which times of an inode the kernel's replay sets to the
// time of the mount.
type Stamp uint8

// The times a Stamp names.
const (
	StampCtime Stamp = 1 << iota
	StampMtime
)

func (in *inode) isDir() bool { return in.mode&item.ModeTypeMask == item.ModeDir }

// fileType is the directory entry type of the inode (btrfs_inode_type).
func (in *inode) fileType() item.FileType { return fileTypeOfMode(in.mode) }

func fileTypeOfMode(mode uint32) item.FileType {
	switch mode & item.ModeTypeMask {
	case item.ModeRegular:
		return item.FTRegFile
	case item.ModeDir:
		return item.FTDir
	case item.ModeChar:
		return item.FTChrdev
	case item.ModeBlock:
		return item.FTBlkdev
	case item.ModeFIFO:
		return item.FTFifo
	case item.ModeSocket:
		return item.FTSock
	case item.ModeSymlink:
		return item.FTSymlink
	}
	return item.FTUnknown
}

func inodeKey(ino uint64) ondisk.Key { return ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey} }

// iget is btrfs_iget: the cached inode, or one loaded from its item;
// errNotFound when the subvolume has no such inode.
func (w *walk) iget(ino uint64) (*inode, error) {
	if in, ok := w.inodes[ino]; ok {
		in.refs++
		return in, nil
	}
	b, ok, err := w.root.get(inodeKey(ino))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("inode %d of subvolume %d: %w", ino, w.root.id, errNotFound)
	}
	ii, err := item.ParseInode(b)
	if err != nil {
		return nil, fmt.Errorf("inode %d of subvolume %d: %w", ino, w.root.id, err)
	}
	in := &inode{
		ino: ino, refs: 1, mode: ii.Mode, nlink: ii.Nlink, uid: ii.UID, gid: ii.GID,
		size: ii.Size, diskSize: ii.Size, nbytes: ii.Nbytes, generation: ii.Generation,
		sequence: ii.Sequence, flags: binary.LittleEndian.Uint64(b[64:]),
	}
	// Only device nodes keep their device number, truncated to 32 bits
	// as the kernel reads it; every other inode writes back 0.
	if t := ii.Mode & item.ModeTypeMask; t == item.ModeChar || t == item.ModeBlock {
		in.rdev = uint64(uint32(ii.Rdev))
	}
	copy(in.atime[:], b[112:])
	copy(in.ctime[:], b[124:])
	copy(in.mtime[:], b[136:])
	copy(in.otime[:], b[148:])
	w.inodes[ino] = in
	return in, nil
}

// iput drops a reference; the last one evicts the inode (deleting
// nothing, even without links, while a log is being replayed).
func (w *walk) iput(in *inode) {
	if in == nil {
		return
	}
	in.refs--
	if in.refs <= 0 {
		delete(w.inodes, in.ino)
	}
}

// updateInode is btrfs_update_inode during replay (btrfs_update_inode_item
// with fill_inode_item): every field of the in-memory inode is written
// over the item in the tree, which must exist.
func (w *walk) updateInode(in *inode) error {
	b, ok, err := w.root.get(inodeKey(in.ino))
	if err != nil {
		return err
	}
	if !ok || len(b) != item.InodeSize {
		return fmt.Errorf("updating inode %d of subvolume %d: %w", in.ino, w.root.id, errNotFound)
	}
	le := binary.LittleEndian
	le.PutUint32(b[44:], in.uid)
	le.PutUint32(b[48:], in.gid)
	le.PutUint64(b[16:], in.diskSize)
	le.PutUint32(b[52:], in.mode)
	le.PutUint32(b[40:], in.nlink)
	copy(b[112:], in.atime[:])
	copy(b[136:], in.mtime[:])
	copy(b[124:], in.ctime[:])
	copy(b[148:], in.otime[:])
	le.PutUint64(b[24:], in.nbytes)
	le.PutUint64(b[0:], in.generation)
	le.PutUint64(b[72:], in.sequence)
	le.PutUint64(b[8:], w.r.transid)
	le.PutUint64(b[56:], in.rdev)
	le.PutUint64(b[64:], in.flags)
	le.PutUint64(b[32:], 0)
	if in.stamped != 0 {
		w.stamps[in.ino] |= in.stamped
	}
	return w.root.put(inodeKey(in.ino), b)
}

// setSize is btrfs_i_size_write.
func (in *inode) setSize(n uint64) { in.size, in.diskSize = n, n }

// incNlink and dropNlink are the VFS's inc_nlink and drop_nlink.
func (in *inode) incNlink() { in.nlink++ }
func (in *inode) dropNlink() {
	if in.nlink > 0 {
		in.nlink--
	}
}

// updateBytes is btrfs_update_inode_bytes.
func (in *inode) updateBytes(add, del uint64) {
	in.nbytes += add
	in.nbytes -= min(del, in.nbytes)
}
