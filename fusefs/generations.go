//go:build linux || darwin

package fusefs

import (
	"context"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
)

// generationsNode is .generations: one directory per older commit, named
// by its generation, each the top level of that commit.
type generationsNode struct {
	fs.Inode
	m    *mount
	live *view
}

func (g *generationsNode) fillAttr(out *fuse.Attr) {
	out.Ino = genDirIno
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 1
	t := g.m.started
	out.SetTimes(&t, &t, &t)
}

func (g *generationsNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	g.fillAttr(&out.Attr)
	return 0
}

func (g *generationsNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	statfs(g.live, out)
	return 0
}

func (g *generationsNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	list := []fuse.DirEntry{
		{Name: ".", Mode: syscall.S_IFDIR, Ino: genDirIno},
		{Name: "..", Mode: syscall.S_IFDIR, Ino: g.rootIno()},
	}
	for i, gen := range g.m.opts.Generations {
		list = append(list, fuse.DirEntry{Name: strconv.FormatUint(gen, 10), Mode: syscall.S_IFDIR, Ino: Ino(i+1, ondisk.FSTreeObjectID, ondisk.SubvolumeRootDirInodeID)})
	}
	return fs.NewListDirStream(list), 0
}

func (g *generationsNode) rootIno() uint64 {
	if _, p := g.Parent(); p != nil {
		return p.StableAttr().Ino
	}
	return genDirIno
}

// Lookup finds the named generation; it is opened when first used.
func (g *generationsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	gen, err := strconv.ParseUint(name, 10, 64)
	if err != nil || strconv.FormatUint(gen, 10) != name {
		return nil, syscall.ENOENT
	}
	i := slices.Index(g.m.opts.Generations, gen)
	if i < 0 {
		return nil, syscall.ENOENT
	}
	// The root's stat comes from the commit: ask for it right away, but
	// only when someone stats it.
	out.Mode = syscall.S_IFDIR | 0o555
	out.Ino = Ino(i+1, ondisk.FSTreeObjectID, ondisk.SubvolumeRootDirInodeID)
	out.SetAttrTimeout(time.Nanosecond)
	n := &node{m: g.m, v: &view{index: i + 1}, ino: ondisk.SubvolumeRootDirInodeID, gen: &lazyGen{gen: gen}}
	return g.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: out.Ino}), 0
}

// generation opens generation gen into v (once per mount and generation).
func (m *mount) generation(v *view, gen uint64) (*view, syscall.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fsys := m.gens[gen]
	if fsys == nil {
		if m.opts.OpenGeneration == nil {
			return nil, syscall.ENOENT
		}
		var err error
		if fsys, err = m.opts.OpenGeneration(gen); err != nil {
			return nil, m.errno(err, "opening generation %d", gen)
		}
		m.gens[gen] = fsys
	}
	v.fs, v.sector = fsys, uint64(fsys.Volume().SectorSize())
	return v, 0
}

// Statx is Getattr: a directory of the mount's own has no birth time. (A
// node without Statx would answer ENOSYS, and the kernel then stops
// asking any node of the mount for one.)
func (g *generationsNode) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	var a fuse.Attr
	g.fillAttr(&a)
	statxFromAttr(&a, &out.Statx)
	return 0
}

// OlderGenerations picks from gens (as fstree.Generations lists them) the
// commits older than current whose every tree block verifies, the first
// found of each, for Options.Generations; and an OpenGeneration that
// opens one with open, given its generation and root-tree block.
func OlderGenerations(gens []fstree.Generation, current uint64, open func(gen, rootBytenr uint64) (*fstree.FS, error)) ([]uint64, func(uint64) (*fstree.FS, error)) {
	var list []uint64
	roots := map[uint64]uint64{}
	for i := range gens {
		g := &gens[i]
		if _, dup := roots[g.Generation]; dup || g.Generation >= current || !g.Intact() {
			continue
		}
		roots[g.Generation] = g.Root.Bytenr
		list = append(list, g.Generation)
	}
	return list, func(gen uint64) (*fstree.FS, error) { return open(gen, roots[gen]) }
}
