//go:build linux || darwin

package fusefs

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
)

// Options tune Mount.
type Options struct {
	// Generations lists the older commits shown under .generations, each
	// opened on first use with OpenGeneration. Empty: no .generations.
	Generations    []uint64
	OpenGeneration func(gen uint64) (*fstree.FS, error)
	// AllowOther lets other users than the one mounting read the mount
	// (FUSE's allow_other).
	AllowOther bool
	// Debug logs every FUSE request and reply.
	Debug bool
	// Errorf receives one line for each error a request fails with EIO:
	// what the image could not give, and where.
	Errorf func(format string, args ...any)
}

// CacheBytes is the block cache (fstree.Options.CacheBytes) to open a
// filesystem Mount serves with. The kernel caches names, attributes and
// data above the mount, so each tree item reaches the block cache about
// once, and a larger cache mostly holds memory: walking 200k files
// through the mount reads 10.1k blocks with this one, 8.4k with fstree's
// default of 64 MiB.
const CacheBytes = 16 << 20

// GenerationsDir is the name of the directory of older commits.
const GenerationsDir = ".generations"

// Bits of st_ino (see Ino).
const (
	inoBits    = 40
	subvolBits = 16
	viewBits   = 64 - inoBits - subvolBits
)

// Ino is the st_ino the mount gives inode ino of subvolume subvol in view
// (0 for the filesystem as mounted, k for the k-th entry of
// Options.Generations): the btrfs inode number in the low 40 bits, the
// subvolume above them (0 for the top level), the view in the top 8 bits.
// So the top level's inodes keep their btrfs numbers. An inode outside
// that range (a subvolume ID of 2^16 or more, an inode number of 2^40 or
// more) gets 0: go-fuse then numbers it itself, uniquely but not stably.
func Ino(view int, subvol, ino uint64) uint64 {
	if subvol == ondisk.FSTreeObjectID {
		subvol = 0
	}
	if view >= 1<<viewBits || subvol >= 1<<subvolBits || ino >= 1<<inoBits {
		return 0
	}
	return uint64(view)<<(inoBits+subvolBits) | subvol<<inoBits | ino
}

// genDirIno is .generations' own st_ino: view 255, outside every inode
// range a view of 255 commits would use for subvolume inodes.
var genDirIno = Ino(1<<viewBits-1, 0, 1)

// Server is a mounted filesystem.
type Server struct {
	*fuse.Server
	m *mount
}

// Close closes the generations opened while mounted. Call it after the
// server has stopped (Wait returned).
func (s *Server) Close() error {
	return s.m.closeGenerations()
}

// mount is what every node of one mount shares.
type mount struct {
	opts    Options
	started time.Time // the placeholder directories' times

	mu   sync.Mutex
	gens map[uint64]*fstree.FS // opened generations
}

// view is one tree the mount shows: the filesystem as mounted (index 0)
// or an older commit under .generations.
type view struct {
	index  int
	fs     *fstree.FS
	sector uint64
}

// Mount serves fsys at mountpoint, root (nil: the top level) at the root
// of the mount. It returns once the mount is ready; the server runs until
// unmounted (Server.Unmount, fusermount -u, umount).
func Mount(fsys *fstree.FS, root *fstree.Subvol, mountpoint string, opts Options) (*Server, error) {
	if root == nil {
		var err error
		if root, err = fsys.OpenSubvol(ondisk.FSTreeObjectID); err != nil {
			return nil, err
		}
	}
	m := &mount{opts: opts, started: time.Now(), gens: map[uint64]*fstree.FS{}}
	v := &view{fs: fsys, sector: uint64(fsys.Volume().SectorSize())}
	top := &node{m: m, v: v, sv: root, ino: ondisk.SubvolumeRootDirInodeID, top: true}
	// Read-only and immutable: the kernel may cache names and attributes
	// for as long as it likes.
	forever := 24 * time.Hour
	fo := &fs.Options{
		EntryTimeout:    &forever,
		AttrTimeout:     &forever,
		NegativeTimeout: &forever,
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Ino: Ino(0, root.ID, ondisk.SubvolumeRootDirInodeID)},
		MountOptions: fuse.MountOptions{
			AllowOther:   opts.AllowOther,
			Debug:        opts.Debug,
			FsName:       "coldsend",
			Name:         "coldsend",
			Options:      []string{"ro", "default_permissions"},
			MaxReadAhead: 1 << 20,
			MaxWrite:     1 << 20,
			DirectMount:  true,
			// Reads reply with bytes, never a file descriptor, so
			// go-fuse's splice path would only cost a pipe per reply,
			// and for a 1 MiB reply fail (above the pipe's maximum
			// size) and log a line before writing it the usual way.
			DisableSplice: true,
		},
	}
	srv, err := fs.Mount(mountpoint, top, fo)
	if err != nil {
		return nil, fmt.Errorf("mounting on %s: %w", mountpoint, err)
	}
	raiseReadAhead(mountpoint)
	return &Server{Server: srv, m: m}, nil
}

func (m *mount) closeGenerations() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for g, fsys := range m.gens {
		errs = append(errs, fsys.Close())
		delete(m.gens, g)
	}
	return errors.Join(errs...)
}

// errno turns an error from the image into what a request returns,
// reporting the ones that are not ENOENT.
func (m *mount) errno(err error, format string, args ...any) syscall.Errno {
	if err == nil {
		return 0
	}
	if fstree.IsNotFound(err) {
		return syscall.ENOENT
	}
	if m.opts.Errorf != nil {
		m.opts.Errorf("%s: %v", fmt.Sprintf(format, args...), err)
	}
	return syscall.EIO
}

// node is an inode of a subvolume, or the empty directory the kernel shows
// where a snapshot holds a nested subvolume it did not include.
type node struct {
	fs.Inode
	m           *mount
	v           *view
	sv          *fstree.Subvol
	ino         uint64
	placeholder bool
	top         bool     // the root of the mount
	gen         *lazyGen // the root of an older commit, opened on first use
}

// lazyGen opens an older commit when its directory under .generations is
// first used, not when .generations is listed (a listing with
// READDIRPLUS looks up every entry).
type lazyGen struct {
	once  sync.Once
	gen   uint64
	errno syscall.Errno
}

// ensure opens the commit a .generations entry stands for, once.
func (n *node) ensure() syscall.Errno {
	if n.gen == nil {
		return 0
	}
	n.gen.once.Do(func() {
		v, errno := n.m.generation(n.v, n.gen.gen)
		if errno != 0 {
			n.gen.errno = errno
			return
		}
		root, err := v.fs.OpenSubvol(ondisk.FSTreeObjectID)
		if err != nil {
			n.gen.errno = n.m.errno(err, "the top level of generation %d", n.gen.gen)
			return
		}
		n.sv = root
	})
	return n.gen.errno
}

var (
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeReader         = (*node)(nil)
	_ fs.NodeReadlinker     = (*node)(nil)
	_ fs.NodeGetxattrer     = (*node)(nil)
	_ fs.NodeListxattrer    = (*node)(nil)
	_ fs.NodeLseeker        = (*node)(nil)
	_ fs.NodeStatfser       = (*node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
	_ fs.FileReleaser       = (*fileHandle)(nil)
	_ fs.NodeLookuper       = (*generationsNode)(nil)
	_ fs.NodeGetattrer      = (*generationsNode)(nil)
	_ fs.NodeReaddirer      = (*generationsNode)(nil)
	_ fs.NodeStatfser       = (*generationsNode)(nil)
	_ fs.NodeStatxer        = (*generationsNode)(nil)
)
