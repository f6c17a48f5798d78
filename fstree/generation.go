package fstree

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// Older generations. Every commit writes a new root tree (copy on write)
// and the superblock names it; the superblock also keeps the roots of the
// last four commits (backup roots, the newest of which is the current
// commit), and root-tree blocks of older commits stay on disk until their
// space is reused. A commit is readable as long as every block its trees
// reach still holds what that commit wrote: blocks a later commit freed
// are reused by still later ones, so old commits break block by block.

// Generation is one commit found on the devices.
type Generation struct {
	Generation uint64
	// Root is the commit's root-tree root block.
	Root volume.TreeRoot
	// Superblock is set for the superblock's current commit.
	Superblock bool
	// Backups lists the superblock's backup root slots (0-3) naming it.
	Backups []int
	// Scanned is set when a scan of the metadata chunks found Root.
	Scanned bool
	// Time is when something changed in the commit's transaction, the
	// latest ctime (or otime) of a root item whose ctransid (otransid) is
	// the generation; zero when no root item says. TimeOf names that root.
	Time   time.Time
	TimeOf uint64
	// Bad is the first tree block of the commit that no longer verifies,
	// nil when every block its trees reach does.
	Bad *BadBlock
}

// Intact reports whether every tree block of the commit verifies.
func (g *Generation) Intact() bool { return g.Bad == nil }

// Where says where the commit was found: "superblock", "backup N" for
// each slot, "scan".
func (g *Generation) Where() []string {
	var out []string
	if g.Superblock {
		out = append(out, "superblock")
	}
	for _, b := range g.Backups {
		out = append(out, fmt.Sprintf("backup %d", b))
	}
	if g.Scanned {
		out = append(out, "scan")
	}
	return out
}

// BadBlock is a tree block of an older commit that does not hold what
// the commit wrote there.
type BadBlock struct {
	Logical uint64
	Tree    uint64 // the tree it belongs to in that commit
	// Generation is the block generation its referrer expects.
	Generation uint64
	Err        error
}

// OverwrittenError reports that a tree block an older commit needs was
// reused since: its checksum, address, generation, level or first key
// are not what the commit's referrer expects.
type OverwrittenError struct {
	Generation uint64 // the commit being read
	Logical    uint64
	Tree       uint64
	Err        error
}

func (e *OverwrittenError) Error() string {
	why := e.Err
	// The block error would repeat the address and tree.
	if be, ok := why.(*ondisk.BlockError); ok && be.Logical == e.Logical && be.Key == nil {
		why = be.Err
	}
	return fmt.Sprintf("generation %d: tree block at logical %d (%s) was overwritten since (%v)", e.Generation, e.Logical, ondisk.TreeName(e.Tree), why)
}

func (e *OverwrittenError) Unwrap() error { return e.Err }

// GenerationsFiles is Generations on the image files or block devices at
// paths, opened read-only and closed before it returns.
func GenerationsFiles(paths []string, opts Options, scan bool) ([]Generation, error) {
	devs, closers, err := openDeviceFiles(paths)
	if err != nil {
		return nil, err
	}
	defer closeAll(closers)
	return Generations(devs, opts, scan)
}

// Generations lists the commits still on devs, newest first: the
// superblock's and its backup roots', and with scan the root-tree blocks
// a scan of every metadata chunk finds (as btrfs-find-root does). Each is
// checked by reading every tree block its trees reach (see Generation.Bad);
// no file data is read. opts.Generation and opts.RootBytenr are ignored.
func Generations(devs []*volume.Device, opts Options, scan bool) ([]Generation, error) {
	if opts.Warn == nil {
		opts.Warn = func(ondisk.Warning) {}
	}
	vol, err := volume.Open(devs, volume.Options{Warn: opts.Warn, Super: opts.Super})
	if err != nil {
		return nil, err
	}
	gens, err := findGenerations(vol, scan)
	if err != nil {
		return nil, err
	}
	v := newVerifier(vol)
	for i := range gens {
		v.check(&gens[i])
	}
	// Intact candidates first, so that a generation with several scanned
	// candidates opens the one that reads.
	slices.SortStableFunc(gens, func(a, b Generation) int {
		return cmp.Or(cmp.Compare(b.Generation, a.Generation), cmp.Compare(btoi(a.Bad != nil), btoi(b.Bad != nil)))
	})
	return gens, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// findGenerations collects the commits the superblock names and, with
// scan, the root-tree blocks found in the metadata chunks, newest first.
// Nothing is verified yet.
func findGenerations(vol *volume.Volume, scan bool) ([]Generation, error) {
	sb := vol.Super()
	var gens []Generation
	add := func(root volume.TreeRoot) *Generation {
		for i := range gens {
			if gens[i].Root == root {
				return &gens[i]
			}
		}
		gens = append(gens, Generation{Generation: root.Generation, Root: root})
		return &gens[len(gens)-1]
	}
	add(volume.TreeRoot{Bytenr: sb.Root, Level: sb.RootLevel, Generation: sb.Generation}).Superblock = true
	for i, b := range sb.Backups {
		// Slots never used by a commit are zero; a slot of a commit newer
		// than the superblock's is left over from a commit that was never
		// completed.
		if b.TreeRoot == 0 || b.TreeRootGen == 0 || b.TreeRootGen > sb.Generation {
			continue
		}
		g := add(volume.TreeRoot{Bytenr: b.TreeRoot, Level: b.TreeRootLevel, Generation: b.TreeRootGen})
		g.Backups = append(g.Backups, i)
	}
	if scan {
		found, err := scanRootBlocks(vol)
		if err != nil {
			return nil, err
		}
		named := map[uint64]bool{}
		for _, g := range gens {
			named[g.Generation] = true
		}
		for _, r := range found {
			if named[r.Generation] {
				// The superblock names this commit's root; other blocks of
				// the generation are ones the commit replaced.
				for i := range gens {
					if gens[i].Root == r {
						gens[i].Scanned = true
					}
				}
				continue
			}
			add(r).Scanned = true
		}
	}
	slices.SortStableFunc(gens, func(a, b Generation) int {
		return cmp.Or(cmp.Compare(b.Generation, a.Generation), cmp.Compare(a.Root.Bytenr, b.Root.Bytenr))
	})
	return gens, nil
}

// scanRootBlocks returns, for every generation up to the superblock's,
// the root-tree blocks of the highest level found in the metadata chunks:
// a commit's root-tree root is the highest block of the root tree it
// wrote. This is btrfs-find-root's choice (add_eb_to_result in
// btrfs-progs' common/find-root.c), which keeps per generation the blocks
// of the highest level seen.
func scanRootBlocks(vol *volume.Volume) ([]volume.TreeRoot, error) {
	sb := vol.Super()
	best := map[uint64][]volume.TreeRoot{}
	err := vol.ScanTreeBlocks(func(h ondisk.Header) error {
		if h.Owner != ondisk.RootTreeObjectID || h.Generation == 0 || h.Generation > sb.Generation {
			return nil
		}
		r := volume.TreeRoot{Bytenr: h.Bytenr, Level: h.Level, Generation: h.Generation}
		cur := best[h.Generation]
		switch {
		case len(cur) == 0 || h.Level > cur[0].Level:
			best[h.Generation] = []volume.TreeRoot{r}
		case h.Level == cur[0].Level:
			best[h.Generation] = append(cur, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []volume.TreeRoot
	for _, rs := range best {
		out = append(out, rs...)
	}
	return out, nil
}

// verifier checks commits block by block. A block verified once (same
// address, level and generation) is not read again: commits share most of
// their blocks, and the bytes at an address do not change between checks.
type verifier struct {
	vol  *volume.Volume
	good map[uint64]blockID
}

type blockID struct {
	gen   uint64
	level uint8
}

func newVerifier(vol *volume.Volume) *verifier {
	return &verifier{vol: vol, good: map[uint64]blockID{}}
}

// check fills g.Bad, g.Time and g.TimeOf.
func (v *verifier) check(g *Generation) {
	var roots []item.Root
	var ids []uint64
	bad := v.walk(g.Generation, ondisk.RootTreeObjectID, g.Root, nil, func(n *ondisk.Node) error {
		for i := range n.NumItems() {
			k := n.Key(i)
			if k.Type != ondisk.RootItemKey {
				continue
			}
			ri, err := item.ParseRoot(n.ItemData(i))
			if err != nil {
				return &ondisk.BlockError{Logical: n.Bytenr, Tree: ondisk.RootTreeObjectID, Key: &k, Err: err}
			}
			roots, ids = append(roots, ri), append(ids, k.ObjectID)
		}
		return nil
	})
	if bad == nil {
		g.Time, g.TimeOf = commitTime(g.Generation, roots, ids)
		for i, ri := range roots {
			// A tree being deleted (no references left) is freed block by
			// block as the cleaner drops it; its blocks are no part of
			// what the commit holds.
			if ri.Refs == 0 {
				continue
			}
			if bad = v.walk(g.Generation, ids[i], volume.TreeRoot{Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation}, nil, nil); bad != nil {
				break
			}
		}
	}
	if bad == nil {
		for _, b := range v.vol.Super().Backups {
			if b.TreeRootGen == g.Generation && b.TreeRoot == g.Root.Bytenr && b.ChunkRoot != 0 {
				bad = v.walk(g.Generation, ondisk.ChunkTreeObjectID, volume.TreeRoot{Bytenr: b.ChunkRoot, Level: b.ChunkRootLevel, Generation: b.ChunkRootGen}, nil, nil)
				break
			}
		}
	}
	g.Bad = bad
}

// walk reads every block of the tree rooted at root, as commit gen
// references it, calling leaf (when not nil) on each leaf; it returns the
// first block that does not verify.
func (v *verifier) walk(gen, tree uint64, root volume.TreeRoot, firstKey *ondisk.Key, leaf func(*ondisk.Node) error) *BadBlock {
	if root.Generation > gen {
		return &BadBlock{Logical: root.Bytenr, Tree: tree, Generation: root.Generation,
			Err: ondisk.Corruptf("its referrer expects generation %d, newer than the commit", root.Generation)}
	}
	if id, ok := v.good[root.Bytenr]; ok && id == (blockID{root.Generation, root.Level}) && leaf == nil {
		return nil
	}
	n, err := v.vol.ReadTreeBlock(volume.Logical(root.Bytenr), ondisk.BlockExpect{Level: root.Level, Generation: root.Generation, Owner: tree, FirstKey: firstKey})
	if err != nil {
		return &BadBlock{Logical: root.Bytenr, Tree: tree, Generation: root.Generation, Err: err}
	}
	if n.Level == 0 {
		if leaf != nil {
			if err := leaf(n); err != nil {
				return &BadBlock{Logical: root.Bytenr, Tree: tree, Generation: root.Generation, Err: err}
			}
		}
	} else {
		for i := range n.NumItems() {
			child, cgen := n.BlockPtr(i)
			k := n.Key(i)
			if bad := v.walk(gen, tree, volume.TreeRoot{Bytenr: child, Level: n.Level - 1, Generation: cgen}, &k, leaf); bad != nil {
				return bad
			}
		}
	}
	v.good[root.Bytenr] = blockID{root.Generation, root.Level}
	return nil
}

// commitTime is the latest ctime of a root item changed in transaction
// gen (ctransid = gen), or otime of one created in it (otransid = gen):
// the kernel sets them together (btrfs_update_root_times, and snapshot
// and subvolume creation), during the transaction the commit closed.
func commitTime(gen uint64, roots []item.Root, ids []uint64) (time.Time, uint64) {
	var t time.Time
	var of uint64
	for i, ri := range roots {
		if !ri.ExtendedValid() {
			continue
		}
		for _, c := range []struct {
			transid uint64
			ts      item.Timespec
		}{{ri.Ctransid, ri.Ctime}, {ri.Otransid, ri.Otime}} {
			if c.transid != gen || c.ts.Sec == 0 {
				continue
			}
			if ct := time.Unix(c.ts.Sec, int64(c.ts.Nsec)); ct.After(t) {
				t, of = ct, ids[i]
			}
		}
	}
	return t, of
}

// openDeviceFiles opens every path read-only.
func openDeviceFiles(paths []string) ([]*volume.Device, []io.Closer, error) {
	var devs []*volume.Device
	var closers []io.Closer
	for _, p := range paths {
		d, c, err := volume.OpenDeviceFile(p)
		if err != nil {
			closeAll(closers)
			return nil, nil, err
		}
		devs, closers = append(devs, d), append(closers, c)
	}
	return devs, closers, nil
}

// closeAll closes files opened only for reading, whose Close cannot lose
// data.
func closeAll(closers []io.Closer) {
	for _, c := range closers {
		c.Close()
	}
}

// ErrNoGeneration is wrapped when the commit Options.Generation asks for
// is not on the devices any more.
var ErrNoGeneration = errors.New("no such generation")

// chooseRoot finds the root-tree root of the commit opts asks for and,
// when it is older than the superblock's, warns once that it is read.
func chooseRoot(vol *volume.Volume, opts Options) (volume.TreeRoot, error) {
	sb := vol.Super()
	cur := volume.TreeRoot{Bytenr: sb.Root, Level: sb.RootLevel, Generation: sb.Generation}
	var root volume.TreeRoot
	var how string
	switch {
	case opts.RootBytenr != 0:
		r, err := readRootBlock(vol, opts.RootBytenr)
		if err != nil {
			return root, fmt.Errorf("root-tree block at logical %d: %w", opts.RootBytenr, err)
		}
		if opts.Generation != 0 && r.Generation != opts.Generation {
			return root, fmt.Errorf("root-tree block at logical %d is of generation %d, not %d", opts.RootBytenr, r.Generation, opts.Generation)
		}
		if err := checkIsRoot(vol, r); err != nil {
			return root, err
		}
		root, how = r, "the given root-tree block"
	case opts.Generation == 0 || opts.Generation == sb.Generation:
		return cur, nil
	case opts.Generation > sb.Generation:
		return root, fmt.Errorf("generation %d is newer than the superblock's, %d: %w", opts.Generation, sb.Generation, ErrNoGeneration)
	default:
		for i, b := range sb.Backups {
			if b.TreeRootGen == opts.Generation && b.TreeRoot != 0 {
				root, how = volume.TreeRoot{Bytenr: b.TreeRoot, Level: b.TreeRootLevel, Generation: b.TreeRootGen}, fmt.Sprintf("backup root %d", i)
				break
			}
		}
		if how == "" {
			r, err := scannedRoot(vol, opts.Generation)
			if err != nil {
				return root, err
			}
			root, how = r, "found by a scan of the metadata chunks"
		}
	}
	if root == cur {
		return cur, nil
	}
	chunk := "the current chunk tree"
	if vol.ChunkRoot().Bytenr != sb.ChunkRoot {
		chunk = fmt.Sprintf("its own chunk tree (generation %d)", vol.ChunkRoot().Generation)
	}
	opts.Warn(ondisk.Warning{Kind: ondisk.WarnGeneration, Logical: root.Bytenr, Tree: ondisk.RootTreeObjectID,
		Msg: fmt.Sprintf("reading generation %d (root tree at logical %d, %s; %s), older than the superblock's %d: blocks freed since may have been reused, and a read that meets one fails naming it",
			root.Generation, root.Bytenr, how, chunk, sb.Generation)})
	return root, nil
}

// checkIsRoot refuses a root-tree block that is not the root of its
// commit's root tree (a leaf or inner node, read alone, would show part
// of the commit as if it were all of it): the superblock's or a backup
// root's for its generation, or else one of the blocks a scan would
// list for it.
func checkIsRoot(vol *volume.Volume, r volume.TreeRoot) error {
	sb := vol.Super()
	named := func(root volume.TreeRoot) error {
		if root == r {
			return nil
		}
		return fmt.Errorf("logical %d is a level %d root-tree block of generation %d, whose root tree is at logical %d (level %d): read it with --generation %d",
			r.Bytenr, r.Level, r.Generation, root.Bytenr, root.Level, r.Generation)
	}
	if r.Generation == sb.Generation {
		return named(volume.TreeRoot{Bytenr: sb.Root, Level: sb.RootLevel, Generation: sb.Generation})
	}
	for _, b := range sb.Backups {
		if b.TreeRootGen == r.Generation && b.TreeRoot != 0 {
			return named(volume.TreeRoot{Bytenr: b.TreeRoot, Level: b.TreeRootLevel, Generation: b.TreeRootGen})
		}
	}
	found, err := scanRootBlocks(vol)
	if err != nil {
		return err
	}
	if !slices.Contains(found, r) {
		return fmt.Errorf("logical %d is a level %d root-tree block of generation %d, below the highest root-tree blocks of that generation: not the root of its commit (generations --scan lists those)", r.Bytenr, r.Level, r.Generation)
	}
	return nil
}

// scannedRoot finds the root-tree root of commit gen by scanning the
// metadata chunks: of the candidates btrfs-find-root would list, the
// first whose trees all verify, else the first.
func scannedRoot(vol *volume.Volume, gen uint64) (volume.TreeRoot, error) {
	found, err := scanRootBlocks(vol)
	if err != nil {
		return volume.TreeRoot{}, err
	}
	var cands []Generation
	for _, r := range found {
		if r.Generation == gen {
			cands = append(cands, Generation{Generation: gen, Root: r})
		}
	}
	if len(cands) == 0 {
		return volume.TreeRoot{}, fmt.Errorf("generation %d: no backup root names it and no root-tree block of it was found in the metadata chunks: %w", gen, ErrNoGeneration)
	}
	slices.SortFunc(cands, func(a, b Generation) int { return cmp.Compare(a.Root.Bytenr, b.Root.Bytenr) })
	v := newVerifier(vol)
	for i := range cands {
		if v.check(&cands[i]); cands[i].Intact() {
			return cands[i].Root, nil
		}
	}
	return cands[0].Root, nil
}

// readRootBlock reads the tree block at logical, of whatever level its
// header says, and checks that it is a committed root-tree block.
func readRootBlock(vol *volume.Volume, logical uint64) (volume.TreeRoot, error) {
	buf := make([]byte, vol.NodeSize())
	var err error
	for m := range max(1, vol.NumCopies(volume.Logical(logical))) {
		if err = vol.ReadMirror(buf, volume.Logical(logical), m); err != nil {
			continue
		}
		var h ondisk.Header
		if h, err = ondisk.ParseHeader(buf); err == nil && h.Level >= ondisk.MaxLevel {
			err = ondisk.Corruptf("no tree block here: header level %d is not below %d", h.Level, ondisk.MaxLevel)
		}
		if err != nil {
			continue
		}
		var n *ondisk.Node
		if n, err = vol.ReadTreeBlock(volume.Logical(logical), ondisk.BlockExpect{Level: h.Level, Owner: ondisk.RootTreeObjectID}); err != nil {
			continue
		}
		switch sb := vol.Super(); {
		case n.Owner != ondisk.RootTreeObjectID:
			return volume.TreeRoot{}, fmt.Errorf("the block belongs to %s, not the root tree", ondisk.TreeName(n.Owner))
		case n.Generation > sb.Generation:
			return volume.TreeRoot{}, fmt.Errorf("the block is of generation %d, newer than the superblock's %d: it was never committed", n.Generation, sb.Generation)
		}
		return volume.TreeRoot{Bytenr: logical, Level: n.Level, Generation: n.Generation}, nil
	}
	return volume.TreeRoot{}, err
}

// olderReader reads the tree blocks of an older commit, reporting a
// block that fails its checks as overwritten since.
type olderReader struct {
	vol *volume.Volume
	gen uint64
}

func (r olderReader) ReadTreeBlock(logical volume.Logical, want ondisk.BlockExpect) (*ondisk.Node, error) {
	n, err := r.vol.ReadTreeBlock(logical, want)
	if err != nil && errors.Is(err, ondisk.ErrCorrupt) {
		return nil, &OverwrittenError{Generation: r.gen, Logical: uint64(logical), Tree: want.Owner, Err: err}
	}
	return n, err
}
