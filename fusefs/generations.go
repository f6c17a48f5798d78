//go:build linux || darwin

package fusefs

import (
	"context"
	"slices"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coldsend/coldsend/ondisk"
)

// generationsNode is .generations: one directory per older commit, named
// by its generation, each the top level of that commit.
type generationsNode struct {
	fs.Inode
	m *mount
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

// Lookup opens the named generation (once; it stays open until the
// server is closed) and returns its top level.
func (g *generationsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	gen, err := strconv.ParseUint(name, 10, 64)
	if err != nil || strconv.FormatUint(gen, 10) != name {
		return nil, syscall.ENOENT
	}
	i := slices.Index(g.m.opts.Generations, gen)
	if i < 0 {
		return nil, syscall.ENOENT
	}
	v, errno := g.m.generation(i+1, gen)
	if errno != 0 {
		return nil, errno
	}
	root, err := v.fs.OpenSubvol(ondisk.FSTreeObjectID)
	if err != nil {
		return nil, g.m.errno(err, "the top level of generation %d", gen)
	}
	n := &node{m: g.m, v: v, sv: root, ino: ondisk.SubvolumeRootDirInodeID}
	if errno := n.fillAttr(&out.Attr); errno != 0 {
		return nil, errno
	}
	return g.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: out.Attr.Ino}), 0
}

// generation opens generation gen as view index, or returns it opened.
func (m *mount) generation(index int, gen uint64) (*view, syscall.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v := m.gens[gen]; v != nil {
		return v, 0
	}
	if m.opts.OpenGeneration == nil {
		return nil, syscall.ENOENT
	}
	fsys, err := m.opts.OpenGeneration(gen)
	if err != nil {
		return nil, m.errno(err, "opening generation %d", gen)
	}
	v := &view{index: index, fs: fsys, sector: uint64(fsys.Volume().SectorSize())}
	m.gens[gen] = v
	return v, 0
}
