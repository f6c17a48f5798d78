package scenario

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// crashStream is the second PCG word of the choice stream of RandomCrash.
const crashStream = 0x6372617368 // "crash"

// cfile is a regular file of the crash generator's model; hard links
// share one.
type cfile struct {
	size   int64
	xattrs []string
}

// cgen derives a random crash scenario, keeping a model of the tree so
// that every step is valid: paths of files (with their inode), symlinks
// and directories, per writable subvolume.
type cgen struct {
	r       *rand.Rand
	p       *prog
	roots   []string          // writable subvolumes
	dirs    []string          // every directory, subvolume roots included
	files   map[string]*cfile // path -> inode
	links   []string          // symlinks
	counter int
	written int64
}

// crashBudget bounds the bytes a random crash scenario writes, so that
// its images stay small.
const crashBudget = 3 << 20

// RandomCrash derives a crash scenario from seed, for the oracle: a
// layout, a committed starting tree in one to three subvolumes (a nested
// one and a writable snapshot sometimes, inode numbers freed before a
// remount sometimes), then a random sequence of file and namespace
// operations with random fsyncs and fdatasyncs, an fsync that logs (an
// append to a file no operation touches), and a
// few operations nobody fsyncs. It is a pure function of seed.
func RandomCrash(seed uint64) *Spec {
	r := rand.New(rand.NewPCG(seed, crashStream))
	g := &cgen{r: r, p: &prog{r: r}, files: map[string]*cfile{}}
	s := &Spec{Name: fmt.Sprintf("crash-random-%d", seed), Seed: seed, Devices: 1, Crash: true}
	switch r.IntN(4) {
	case 0:
		s.MkfsArgs, s.DeviceSize = []string{"-n", "4096", "-m", "single", "-d", "single"}, sizeSingle
	case 1:
		s.MkfsArgs, s.DeviceSize = nil, sizeDup
	case 2:
		s.MkfsArgs, s.DeviceSize = []string{"-m", "single", "-d", "single", "-O", "^no-holes"}, sizeSingle
	default:
		s.MkfsArgs, s.DeviceSize = []string{"-m", "single", "-d", "single", "--csum", "xxhash"}, sizeSingle
	}
	opts := []string{crashMount}
	if r.IntN(3) == 0 {
		opts = append([]string{[]string{"compress=zstd", "compress=lzo", "compress-force=zlib"}[r.IntN(3)]}, opts...)
	}
	s.MountOptions = strings.Join(opts, ",")

	g.subvolume("vol")
	// Outside the model, so no operation renames or links it: an fsync
	// of an inode the last commit has, never renamed or unlinked since,
	// logs the inode alone, unless the transaction was marked for a full
	// commit, and then the next one logs it (UntilLogged).
	const anchor = "vol/anchor"
	g.p.add(Write{Path: anchor, Data: g.p.data(Text, 1000)})
	if r.IntN(2) == 0 {
		g.subvolume("vol/sub")
	}
	for range 10 + r.IntN(20) {
		g.op(false)
	}
	if r.IntN(3) == 0 {
		g.reuse()
	}
	if r.IntN(2) == 0 {
		g.p.add(Snapshot{Src: "vol", Dst: "snap"})
		g.snapshotModel("vol", "snap")
	}
	g.p.add(Sync{}, Note{Text: "crash phase: nothing below is committed"})
	for range 15 + r.IntN(45) {
		g.op(true)
	}
	// One fsync that surely logs.
	g.p.add(Write{Path: anchor, Off: 1000, Data: g.data(8000)}, Fsync{Path: anchor, UntilLogged: true})
	g.p.add(Note{Text: "not fsynced: must not survive replay"})
	for range r.IntN(6) {
		g.op(false)
	}
	s.Steps = g.p.steps
	s.Description = fmt.Sprintf("random crash scenario from seed %d: %d steps", seed, len(s.Steps))
	return s
}

func (g *cgen) name(prefix string) string {
	g.counter++
	return fmt.Sprintf("%s%d", prefix, g.counter)
}

func (g *cgen) subvolume(path string) {
	g.p.add(Subvolume{Path: path})
	g.roots = append(g.roots, path)
	g.dirs = append(g.dirs, path)
}

// snapshotModel copies src's part of the model to dst, leaving out
// nested subvolumes (a snapshot shows them as empty directories).
func (g *cgen) snapshotModel(src, dst string) {
	g.roots = append(g.roots, dst)
	inSrc := func(p string) (string, bool) {
		rest, ok := strings.CutPrefix(p, src+"/")
		if !ok || g.rootOf(p) != src {
			return "", false
		}
		return dst + "/" + rest, true
	}
	g.dirs = append(g.dirs, dst)
	for _, d := range slices.Clone(g.dirs) {
		if n, ok := inSrc(d); ok {
			g.dirs = append(g.dirs, n)
		}
	}
	copies := map[*cfile]*cfile{}
	for p, f := range g.files {
		if n, ok := inSrc(p); ok {
			if copies[f] == nil {
				copies[f] = &cfile{size: f.size, xattrs: slices.Clone(f.xattrs)}
			}
			g.files[n] = copies[f]
		}
	}
	for _, l := range slices.Clone(g.links) {
		if n, ok := inSrc(l); ok {
			g.links = append(g.links, n)
		}
	}
}

// rootOf is the writable subvolume holding p: the longest root that is
// a prefix of it.
func (g *cgen) rootOf(p string) string {
	best := ""
	for _, r := range g.roots {
		if (p == r || strings.HasPrefix(p, r+"/")) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

func (g *cgen) pickDir(root string) string {
	var c []string
	for _, d := range g.dirs {
		if root == "" || g.rootOf(d) == root {
			c = append(c, d)
		}
	}
	return c[g.r.IntN(len(c))]
}

// filePaths lists the file paths in a stable order.
func (g *cgen) filePaths() []string {
	ps := make([]string, 0, len(g.files))
	for p := range g.files {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (g *cgen) pickFile() (string, bool) {
	ps := g.filePaths()
	if len(ps) == 0 {
		return "", false
	}
	return ps[g.r.IntN(len(ps))], true
}

func (g *cgen) data(limit int64) Data {
	n := 1 + g.r.Int64N(limit)
	if g.r.IntN(3) == 0 {
		n = 1 + g.r.Int64N(3000) // inline-sized
	}
	n = min(n, max(1, crashBudget-g.written))
	g.written += n
	return g.p.data([]DataKind{Text, Text, Noise, Zeros}[g.r.IntN(4)], n)
}

func (g *cgen) newFile(root string) string {
	p := g.pickDir(root) + "/" + g.name("f")
	d := g.data(200 << 10)
	g.p.add(Write{Path: p, Data: d, Trunc: true})
	g.files[p] = &cfile{size: d.Size}
	return p
}

// reuse frees the newest inode number and remounts, so the next new
// inode gets that number again with a new generation.
func (g *cgen) reuse() {
	p := g.newFile("vol")
	g.p.add(Sync{}, Note{Text: "inode number reuse"}, Unlink{Path: p}, Cycle{})
	delete(g.files, p)
}

// op adds one random operation; in the crash phase (fsyncs set) it is
// followed by a random fsync now and then.
func (g *cgen) op(fsyncs bool) {
	touched := g.mutate()
	if !fsyncs || touched == "" || g.r.IntN(3) > 0 {
		return
	}
	target := touched
	switch x := g.r.IntN(10); {
	case x < 2:
		if i := strings.LastIndexByte(touched, '/'); i > 0 {
			target = touched[:i] // the parent directory
		}
	case x < 3:
		target = g.pickDir("")
	}
	if _, isFile := g.files[target]; !isFile && !slices.Contains(g.dirs, target) {
		return // a symlink or gone: neither can be fsynced
	}
	g.p.add(Fsync{Path: target, Data: g.r.IntN(5) == 0})
}

// mutate adds one operation and returns the path it changed ("" if none).
func (g *cgen) mutate() string {
	r := g.r
	f, haveFile := g.pickFile()
	switch x := r.IntN(100); {
	case x < 16 || !haveFile:
		return g.newFile(g.roots[r.IntN(len(g.roots))])
	case x < 26:
		d := g.data(64 << 10)
		g.p.add(Write{Path: f, Off: g.files[f].size, Data: d})
		g.files[f].size += d.Size
	case x < 34:
		d := g.data(32 << 10)
		off := r.Int64N(g.files[f].size + 1)
		g.p.add(Write{Path: f, Off: off, Data: d})
		g.files[f].size = max(g.files[f].size, off+d.Size)
	case x < 40:
		n := r.Int64N(g.files[f].size + 8192)
		g.p.add(Truncate{Path: f, Size: n})
		g.files[f].size = n
	case x < 45:
		off, n := r.Int64N(g.files[f].size+1), 1+r.Int64N(64<<10)
		g.p.add(Fallocate{Path: f, Mode: punchHole, Off: off, Len: n})
	case x < 50:
		off, n := r.Int64N(g.files[f].size+1), 1+r.Int64N(128<<10)
		mode := uint32(0)
		if r.IntN(2) == 0 {
			mode = unix.FALLOC_FL_KEEP_SIZE
		} else {
			g.files[f].size = max(g.files[f].size, off+n)
		}
		g.written += n
		g.p.add(Fallocate{Path: f, Mode: mode, Off: off, Len: n})
	case x < 60:
		// Within its directory or across directories of its subvolume.
		dst := g.pickDir(g.rootOf(f)) + "/" + g.name("r")
		if r.IntN(3) == 0 {
			dst = f[:strings.LastIndexByte(f, '/')] + "/" + g.name("r")
		}
		g.p.add(Rename{Old: f, New: dst})
		g.files[dst] = g.files[f]
		delete(g.files, f)
		return dst
	case x < 64:
		return g.renameDir()
	case x < 70:
		dst := g.pickDir(g.rootOf(f)) + "/" + g.name("l")
		g.p.add(Link{Old: f, New: dst})
		g.files[dst] = g.files[f]
		return f
	case x < 76:
		g.p.add(Unlink{Path: f})
		inode := g.files[f]
		delete(g.files, f)
		for _, p := range g.filePaths() {
			if g.files[p] == inode {
				return p // fsync a remaining link
			}
		}
		return f[:strings.LastIndexByte(f, '/')]
	case x < 80:
		d := g.pickDir(g.roots[r.IntN(len(g.roots))]) + "/" + g.name("d")
		g.p.add(Mkdir{Path: d, Mode: 0o755})
		g.dirs = append(g.dirs, d)
		return d
	case x < 83:
		return g.rmdir()
	case x < 90:
		name := fmt.Sprintf("user.x%d", r.IntN(4))
		inode := g.files[f]
		if i := slices.Index(inode.xattrs, name); i >= 0 && r.IntN(2) == 0 {
			g.p.add(RemoveXattr{Path: f, Name: name})
			inode.xattrs = slices.Delete(inode.xattrs, i, i+1)
		} else {
			g.p.add(SetXattr{Path: f, Name: name, Value: []byte(g.name("value-"))})
			if i < 0 {
				inode.xattrs = append(inode.xattrs, name)
			}
		}
	case x < 94:
		l := g.pickDir(g.roots[r.IntN(len(g.roots))]) + "/" + g.name("s")
		g.p.add(Symlink{Target: g.name("target-"), Path: l})
		g.links = append(g.links, l)
		return l
	default:
		dir := g.pickDir(g.roots[r.IntN(len(g.roots))])
		p := dir + "/" + g.name("t")
		d := g.data(20 << 10)
		g.p.add(Tmpfile{Dir: dir, Path: p, Data: d})
		g.files[p] = &cfile{size: d.Size}
		return p
	}
	return f
}

// renameDir moves a directory (not a subvolume root) into another of its
// subvolume, never into itself, and renames everything below it.
func (g *cgen) renameDir() string {
	var movable []string
	for _, d := range g.dirs {
		if !slices.Contains(g.roots, d) {
			movable = append(movable, d)
		}
	}
	if len(movable) == 0 {
		return ""
	}
	d := movable[g.r.IntN(len(movable))]
	var targets []string
	for _, t := range g.dirs {
		if g.rootOf(t) == g.rootOf(d) && t != d && !strings.HasPrefix(t, d+"/") {
			targets = append(targets, t)
		}
	}
	dst := targets[g.r.IntN(len(targets))] + "/" + g.name("m")
	g.p.add(Rename{Old: d, New: dst})
	move := func(p string) string {
		if rest, ok := strings.CutPrefix(p, d+"/"); ok {
			return dst + "/" + rest
		}
		if p == d {
			return dst
		}
		return p
	}
	for i := range g.dirs {
		g.dirs[i] = move(g.dirs[i])
	}
	for i := range g.links {
		g.links[i] = move(g.links[i])
	}
	moved := map[string]*cfile{}
	for p, f := range g.files {
		moved[move(p)] = f
	}
	g.files = moved
	// Nested subvolumes move along, but none lives below a plain
	// directory here: they are made at subvolume roots only.
	return dst
}

// rmdir removes an empty directory that is no subvolume root.
func (g *cgen) rmdir() string {
	for _, d := range g.dirs {
		if slices.Contains(g.roots, d) {
			continue
		}
		empty := !slices.ContainsFunc(g.dirs, func(o string) bool { return strings.HasPrefix(o, d+"/") }) &&
			!slices.ContainsFunc(g.links, func(o string) bool { return strings.HasPrefix(o, d+"/") })
		for p := range g.files {
			if strings.HasPrefix(p, d+"/") {
				empty = false
			}
		}
		if empty {
			g.p.add(Rmdir{Path: d})
			g.dirs = slices.DeleteFunc(g.dirs, func(o string) bool { return o == d })
			return d[:strings.LastIndexByte(d, '/')]
		}
	}
	return ""
}
