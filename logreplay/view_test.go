package logreplay_test

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/internal/fsview"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/logreplay"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/compression"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// image is a crash image opened read-only, with the log replayed.
type image struct {
	vol   *volume.Volume
	sb    *ondisk.Superblock
	input logreplay.Input
	res   *logreplay.Result
}

func openImage(t testing.TB, path string) *image {
	t.Helper()
	dev, err := imagefile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := volume.Open([]*volume.Device{dev}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb := vol.Super()
	cache := btree.NewCache(vol, 0)
	rt := btree.New(cache, btree.Root{ID: ondisk.RootTreeObjectID, Bytenr: sb.Root, Level: sb.RootLevel, Generation: sb.Generation})
	return &image{vol: vol, sb: sb, input: logreplay.Input{Reader: cache, RootTree: rt, Super: sb}}
}

// tree is tree id as replayed (or as committed, if replay left it alone).
func (im *image) tree(t testing.TB, id uint64) *btree.Tree {
	t.Helper()
	if r, ok := im.res.Roots[id]; ok {
		return btree.New(im.res.Mem, r)
	}
	c, err := im.input.RootTree.SeekLE(ondisk.Key{ObjectID: id, Type: ondisk.RootItemKey, Offset: ^uint64(0)})
	if err != nil || !c.Valid() || c.Key().ObjectID != id {
		t.Fatalf("no root item for tree %d: %v", id, err)
	}
	ri, err := item.ParseRoot(c.Data())
	if err != nil {
		t.Fatal(err)
	}
	return btree.New(im.res.Mem, btree.Root{ID: id, Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation})
}

// viewer builds the fsview record of a replayed subvolume from its
// trees, reading file data from the image and checking it against the
// replayed checksum tree.
type viewer struct {
	t    testing.TB
	im   *image
	sub  *btree.Tree
	csum *btree.Tree
	// stamped maps paths to the ctime replay left where the kernel's
	// replay set the time of its mount (Result.MountTimes).
	stamped map[string]int64
	id      uint64
}

func (v *viewer) inode(ino uint64) (item.Inode, error) {
	b, err := v.sub.Lookup(ondisk.Key{ObjectID: ino, Type: ondisk.InodeItemKey})
	if err != nil {
		return item.Inode{}, fmt.Errorf("inode %d: %w", ino, err)
	}
	return item.ParseInode(b)
}

func (v *viewer) entry(path string, ino uint64) (*fsview.Entry, error) {
	ii, err := v.inode(ino)
	if err != nil {
		return nil, err
	}
	if v.im.res != nil && v.stamped != nil && v.im.res.MountTimes[v.id][ino]&logreplay.StampCtime != 0 {
		v.stamped[path] = ii.Ctime.Sec*1e9 + int64(ii.Ctime.Nsec)
	}
	e := &fsview.Entry{Path: path, Ino: ino, Type: fsview.TypeOfMode(ii.Mode), Perm: ii.Mode & 0o7777, UID: ii.UID, GID: ii.GID,
		Nlink: ii.Nlink, Size: ii.Size, Mtime: ii.Mtime.Sec*1e9 + int64(ii.Mtime.Nsec), Ctime: ii.Ctime.Sec*1e9 + int64(ii.Ctime.Nsec),
		Xattrs: map[string][]byte{}}
	if e.Type == "chr" || e.Type == "blk" {
		// The kernel's dev_t as stored, as user space sees it.
		e.Rdev = makedev(ii.Rdev>>20, ii.Rdev&0xfffff)
	}
	switch e.Type {
	case "reg", "lnk":
		data, err := v.read(ino, ii)
		if err != nil {
			return nil, err
		}
		if e.Type == "reg" {
			s := sha256.Sum256(data)
			e.SHA256 = hex.EncodeToString(s[:])
		} else {
			e.Target = string(data)
		}
	}
	for it, err := range v.sub.ObjectItems(ino, ondisk.XattrItemKey) {
		if err != nil {
			return nil, err
		}
		ds, err := item.ParseDirItems(it.Data)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			e.Xattrs[string(d.Name)] = append([]byte(nil), d.Data...)
		}
	}
	return e, nil
}

// read returns a file's contents (a symlink's target).
func (v *viewer) read(ino uint64, ii item.Inode) ([]byte, error) {
	buf := make([]byte, ii.Size)
	ss := uint64(v.im.sb.SectorSize)
	for it, err := range v.sub.ObjectItems(ino, ondisk.ExtentDataKey) {
		if err != nil {
			return nil, err
		}
		fe, err := item.ParseFileExtent(it.Data)
		if err != nil {
			return nil, err
		}
		off := it.Key.Offset
		if off >= ii.Size {
			continue
		}
		var data []byte
		switch {
		case fe.Type == item.FileExtentInline && fe.Compression == item.CompressNone:
			data = fe.InlineData
		case fe.Type == item.FileExtentInline:
			data = make([]byte, fe.RAMBytes)
			if _, err := compression.Decompress(data, fe.Compression, fe.InlineData, int(ss)); err != nil {
				return nil, err
			}
		case fe.Type == item.FileExtentPrealloc || fe.DiskBytenr == 0:
			continue
		case fe.Compression != item.CompressNone:
			raw, err := v.readData(fe.DiskBytenr, fe.DiskNumBytes, ii)
			if err != nil {
				return nil, err
			}
			ram := make([]byte, fe.RAMBytes)
			if _, err := compression.Decompress(ram, fe.Compression, raw, int(ss)); err != nil {
				return nil, err
			}
			data = ram[fe.Offset : fe.Offset+fe.NumBytes]
		default:
			if data, err = v.readData(fe.DiskBytenr+fe.Offset, fe.NumBytes, ii); err != nil {
				return nil, err
			}
		}
		copy(buf[off:], data)
	}
	return buf, nil
}

// readData reads data at logical and checks every sector's checksum in
// the replayed checksum tree.
func (v *viewer) readData(logical, n uint64, ii item.Inode) ([]byte, error) {
	ss := uint64(v.im.sb.SectorSize)
	start := logical / ss * ss
	end := (logical + n + ss - 1) / ss * ss
	b := make([]byte, end-start)
	if err := v.im.vol.ReadLogical(b, volume.Logical(start)); err != nil {
		return nil, err
	}
	if ii.Flags&item.InodeNoDataSum == 0 {
		for s := start; s < end; s += ss {
			c, err := v.csum.SeekLE(ondisk.Key{ObjectID: ondisk.ExtentCsumObjectID, Type: ondisk.ExtentCsumKey, Offset: s})
			if err != nil {
				return nil, err
			}
			if !c.Valid() || c.Key().ObjectID != ondisk.ExtentCsumObjectID {
				return nil, fmt.Errorf("no checksum for data at %d", s)
			}
			cs, err := item.ParseCsum(c.Data(), c.Key().Offset, v.im.sb.CsumType.Size(), int(ss))
			if err != nil {
				return nil, err
			}
			want, ok := cs.Lookup(s)
			if !ok {
				return nil, fmt.Errorf("no checksum for data at %d", s)
			}
			if !v.im.sb.CsumType.Verify(want, b[s-start:s-start+ss]) {
				return nil, fmt.Errorf("checksum mismatch for data at %d", s)
			}
		}
	}
	return b[logical-start : logical-start+n], nil
}

// view records every name reachable from the subvolume's top directory,
// into nested subvolumes.
func (v *viewer) view() ([]*fsview.Entry, error) { return v.viewAt("") }

func (v *viewer) viewAt(prefix string) ([]*fsview.Entry, error) {
	top, err := v.entry(cmp.Or(prefix, "."), ondisk.FirstFreeObjectID)
	if err != nil {
		return nil, err
	}
	out := []*fsview.Entry{top}
	type dir struct {
		path string
		ino  uint64
	}
	stack := []dir{{prefix, ondisk.FirstFreeObjectID}}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for it, err := range v.sub.ObjectItems(d.ino, ondisk.DirIndexKey) {
			if err != nil {
				return nil, err
			}
			ds, err := item.ParseDirItems(it.Data)
			if err != nil {
				return nil, err
			}
			if len(ds) != 1 {
				continue
			}
			p := filepath.Join(d.path, string(ds[0].Name))
			if ds[0].Location.Type == ondisk.RootItemKey {
				child := &viewer{t: v.t, im: v.im, sub: v.im.tree(v.t, ds[0].Location.ObjectID), csum: v.csum, stamped: v.stamped, id: ds[0].Location.ObjectID}
				es, err := child.viewAt(p)
				if err != nil {
					return nil, err
				}
				out = append(out, es...)
				continue
			}
			e, err := v.entry(p, ds[0].Location.ObjectID)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, e)
			if e.Type == "dir" {
				stack = append(stack, dir{p, e.Ino})
			}
		}
	}
	return out, nil
}

// check is a small btrfs check of the replayed subvolume: directory
// sizes and entries against the inodes' references and link counts, no
// fixup items left, checksum items that do not overlap, and every data
// extent's references in the extent tree against the file extents.
func (v *viewer) check() error {
	var errs []error
	fail := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	dirSize := map[uint64]uint64{}
	indexes := map[[2]uint64]string{} // (dir, index) -> name, pointing at ino
	indexIno := map[[2]uint64]uint64{}
	type name struct {
		ino, dir, index uint64
		name            string
	}
	var names []name
	refs := map[uint64]int{}
	nlink := map[uint64]uint32{}
	orphans := map[uint64]bool{}
	for it, err := range v.sub.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			return err
		}
		k := it.Key
		switch k.Type {
		case ondisk.InodeItemKey:
			ii, err := item.ParseInode(it.Data)
			if err != nil {
				return err
			}
			nlink[k.ObjectID] = ii.Nlink
			if ii.Mode&item.ModeTypeMask == item.ModeDir {
				dirSize[k.ObjectID] = ii.Size
			}
		case ondisk.DirIndexKey:
			ds, err := item.ParseDirItems(it.Data)
			if err != nil {
				return err
			}
			dirSize[k.ObjectID] -= 2 * uint64(len(ds[0].Name))
			if ds[0].Location.Type == ondisk.RootItemKey {
				continue
			}
			indexes[[2]uint64{k.ObjectID, k.Offset}] = string(ds[0].Name)
			indexIno[[2]uint64{k.ObjectID, k.Offset}] = ds[0].Location.ObjectID
		case ondisk.InodeRefKey:
			rs, err := item.ParseInodeRefs(it.Data)
			if err != nil {
				return err
			}
			for _, r := range rs {
				refs[k.ObjectID]++
				if k.ObjectID == k.Offset {
					continue
				}
				names = append(names, name{k.ObjectID, k.Offset, r.Index, string(r.Name)})
			}
		case ondisk.InodeExtrefKey:
			rs, err := item.ParseInodeExtrefs(it.Data)
			if err != nil {
				return err
			}
			for _, r := range rs {
				refs[k.ObjectID]++
				names = append(names, name{k.ObjectID, r.Parent, r.Index, string(r.Name)})
			}
		case ondisk.OrphanItemKey:
			if k.ObjectID == ondisk.TreeLogFixupObjectID {
				fail("fixup item %v left", k)
			}
			orphans[k.Offset] = true
		}
	}
	for _, n := range names {
		key := [2]uint64{n.dir, n.index}
		if indexes[key] != n.name || indexIno[key] != n.ino {
			fail("inode %d name %q in %d index %d: the directory has %q -> %d", n.ino, n.name, n.dir, n.index, indexes[key], indexIno[key])
		}
		delete(indexes, key)
	}
	for d, s := range dirSize {
		if s != 0 {
			fail("directory %d: size off by %d from its entries", d, int64(s))
		}
	}
	for key, name := range indexes {
		fail("index %d in directory %d (%q) has no inode reference", key[1], key[0], name)
	}
	for ino, n := range nlink {
		if uint32(refs[ino]) != n && !(n == 0 && orphans[ino]) {
			fail("inode %d: nlink %d, %d names", ino, n, refs[ino])
		}
	}
	// Checksum items must not overlap.
	var last uint64
	for it, err := range v.csum.ObjectItems(ondisk.ExtentCsumObjectID, ondisk.ExtentCsumKey) {
		if err != nil {
			return err
		}
		cs, err := item.ParseCsum(it.Data, it.Key.Offset, v.im.sb.CsumType.Size(), int(v.im.sb.SectorSize))
		if err != nil {
			return err
		}
		if cs.Start < last {
			fail("checksum item at %d overlaps the one before (ending at %d)", cs.Start, last)
		}
		last = cs.End()
	}
	return errors.Join(errs...)
}

type extentID struct{ bytenr, n uint64 }

// leafRefs is what one leaf's file extent items hold on one extent: the
// leaf's owner and the count of each (inode, file offset - extent offset).
type leafRefs struct {
	owner uint64
	items map[[2]uint64]uint32
}

// fileExtentLeaves lists, by extent, the leaves of the subvolumes whose
// file extent items point at it, each leaf once however many subvolumes
// share it.
func fileExtentLeaves(t testing.TB, im *image, subvols []uint64) (map[extentID]map[uint64]*leafRefs, error) {
	out := map[extentID]map[uint64]*leafRefs{}
	done := map[uint64]bool{} // leaves of subvolumes already walked
	for _, id := range subvols {
		mine := map[uint64]bool{}
		c, err := im.tree(t, id).First()
		if err != nil {
			return nil, err
		}
		for ; c.Valid(); err = c.Next() {
			if err != nil {
				return nil, err
			}
			leaf, _ := c.Leaf()
			k := c.Key()
			if done[leaf.Bytenr] || k.Type != ondisk.ExtentDataKey {
				continue
			}
			mine[leaf.Bytenr] = true
			fe, err := item.ParseFileExtent(c.Data())
			if err != nil {
				return nil, err
			}
			if fe.Type == item.FileExtentInline || fe.DiskBytenr == 0 {
				continue
			}
			e := extentID{fe.DiskBytenr, fe.DiskNumBytes}
			if out[e] == nil {
				out[e] = map[uint64]*leafRefs{}
			}
			lr := out[e][leaf.Bytenr]
			if lr == nil {
				lr = &leafRefs{owner: leaf.Owner, items: map[[2]uint64]uint32{}}
				out[e][leaf.Bytenr] = lr
			}
			lr.items[[2]uint64{k.ObjectID, k.Offset - fe.Offset}]++
		}
		if err != nil {
			return nil, err
		}
		maps.Copy(done, mine)
	}
	return out, nil
}

// checkDataRefs checks every data extent's references against the leaves
// pointing at it: a leaf's items are either one shared reference by the
// leaf's address (a leaf whose owner copied it after a snapshot) or
// keyed references of the leaf's owner, one per item.
func checkDataRefs(t testing.TB, im *image, extTree *btree.Tree, subvols []uint64) error {
	want, err := fileExtentLeaves(t, im, subvols)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	for it, err := range extTree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			return err
		}
		if it.Key.Type != ondisk.ExtentItemKey {
			continue
		}
		ei, err := item.ParseExtent(it.Data, it.Key.Type)
		if err != nil {
			return err
		}
		if ei.Flags&item.ExtentFlagData == 0 {
			continue
		}
		e := extentID{it.Key.ObjectID, it.Key.Offset}
		leaves := want[e]
		delete(want, e)
		keyed := map[[3]uint64]int64{}
		shared := map[uint64]uint32{}
		var total uint64
		for _, r := range ei.Inline {
			switch r.Type {
			case ondisk.ExtentDataRefKey:
				keyed[[3]uint64{r.Root, r.ObjectID, r.Offset}] += int64(r.Count)
			case ondisk.SharedDataRefKey:
				shared[r.Parent] += r.Count
			}
			total += uint64(r.Count)
		}
		for kr, err := range extTree.Items(ondisk.Key{ObjectID: e.bytenr, Type: ondisk.ExtentDataRefKey}, ondisk.Key{ObjectID: e.bytenr, Type: ondisk.SharedDataRefKey, Offset: ^uint64(0)}) {
			if err != nil {
				return err
			}
			switch kr.Key.Type {
			case ondisk.ExtentDataRefKey:
				d, err := item.ParseExtentDataRef(kr.Data)
				if err != nil {
					return err
				}
				keyed[[3]uint64{d.Root, d.ObjectID, d.Offset}] += int64(d.Count)
				total += uint64(d.Count)
			case ondisk.SharedDataRefKey:
				n, err := item.ParseSharedDataRef(kr.Data)
				if err != nil {
					return err
				}
				shared[kr.Key.Offset] += n
				total += uint64(n)
			}
		}
		if total != ei.Refs {
			fail("extent %d: refs %d, references counted %d", e.bytenr, ei.Refs, total)
		}
		for _, leaf := range slices.Sorted(maps.Keys(leaves)) {
			lr := leaves[leaf]
			if n, ok := shared[leaf]; ok {
				var items uint32
				for _, c := range lr.items {
					items += c
				}
				if n != items {
					fail("extent %d: shared reference of leaf %d counts %d, the leaf has %d items", e.bytenr, leaf, n, items)
				}
				delete(shared, leaf)
				continue
			}
			for k, c := range lr.items {
				keyed[[3]uint64{lr.owner, k[0], k[1]}] -= int64(c)
			}
		}
		for k, n := range keyed {
			if n != 0 {
				fail("extent %d: reference (root, inode, offset) %v counts %d more than the leaves' items", e.bytenr, k, n)
			}
		}
		for leaf, n := range shared {
			fail("extent %d: shared reference of leaf %d (count %d) that no subvolume holds", e.bytenr, leaf, n)
		}
	}
	for e, leaves := range want {
		fail("leaves %v point at extent %d (%d bytes) the extent tree lacks", slices.Sorted(maps.Keys(leaves)), e.bytenr, e.n)
	}
	return errors.Join(errs...)
}

// TestKernelCases replays each crash image of testdata in memory and
// compares the top-level subvolume with what the kernel showed after its
// own replay of another copy (testdata/make.sh).
//
// LOGREPLAY_CASES=DIR runs it on the cases of DIR instead
// (testdata/random.sh makes random ones).
func TestKernelCases(t *testing.T) {
	dir := cmp.Or(os.Getenv("LOGREPLAY_CASES"), "testdata")
	views, err := filepath.Glob(filepath.Join(dir, "*.view"))
	if err != nil {
		t.Fatal(err)
	}
	if len(views) == 0 {
		t.Fatalf("no %s/*.view", dir)
	}
	for _, vp := range views {
		name := strings.TrimSuffix(filepath.Base(vp), ".view")
		t.Run(name, func(t *testing.T) {
			want := readFile(t, vp)
			im := openImage(t, filepath.Join(dir, name+".img.zst"))
			if im.sb.LogRoot == 0 {
				t.Fatal("the image has no log")
			}
			res, err := logreplay.Replay(im.input)
			if err != nil {
				t.Fatal(err)
			}
			im.res = res
			if len(res.MountTimes) > 0 {
				t.Logf("mount times: %v", res.MountTimes)
			}
			if want := logSubvols(t, im); fmt.Sprint(res.Subvolumes) != fmt.Sprint(want) {
				t.Errorf("subvolumes replayed: %v, want %v", res.Subvolumes, want)
			}
			v := &viewer{t: t, im: im, sub: im.tree(t, ondisk.FSTreeObjectID), csum: im.tree(t, ondisk.CsumTreeObjectID), stamped: map[string]int64{}, id: ondisk.FSTreeObjectID}
			es, err := v.view()
			if err != nil {
				t.Fatal(err)
			}
			want = maskStamped(want, v.stamped)
			if got := fsview.Format(es); got != want {
				t.Errorf("replayed view differs from the kernel's:\n%s", lineDiff(want, got))
			}
			subvols := allSubvols(t, im)
			for _, id := range subvols {
				sv := &viewer{t: t, im: im, sub: im.tree(t, id), csum: v.csum}
				if err := sv.check(); err != nil {
					t.Errorf("replayed subvolume %d is inconsistent:\n%v", id, err)
				}
			}
			if err := checkDataRefs(t, im, im.tree(t, ondisk.ExtentTreeObjectID), subvols); err != nil {
				t.Errorf("replayed data references are inconsistent:\n%v", err)
			}
			kim := openImage(t, filepath.Join(dir, name+".kernel.img.zst"))
			kim.res = &logreplay.Result{Mem: btree.NewMemBlocks(kim.input.Reader, int(kim.sb.NodeSize))}
			compareTrees(t, im, kim)
			// A fixed case must need its log: the last commit shows less.
			// (A random one may fsync nothing new.)
			if dir != "testdata" {
				return
			}
			im.res = &logreplay.Result{Mem: btree.NewMemBlocks(im.input.Reader, int(im.sb.NodeSize))}
			committed := &viewer{t: t, im: im, sub: im.tree(t, ondisk.FSTreeObjectID), csum: im.tree(t, ondisk.CsumTreeObjectID)}
			if es, err := committed.view(); err == nil && fsview.Format(es) == want {
				t.Error("the last commit already shows what the kernel showed: the log changed nothing")
			}
		})
	}
}

// maskStamped puts into the kernel's view the ctimes replay kept where
// the kernel's replay set the time of its mount, unknowable here.
func maskStamped(view string, stamped map[string]int64) string {
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		for p, ct := range stamped {
			if strings.HasPrefix(l, strconv.Quote(p)+" ") {
				j := strings.Index(l, " ctime=")
				k := strings.IndexByte(l[j+1:], ' ')
				if k < 0 {
					k = len(l) - j - 1
				}
				lines[i] = l[:j] + " ctime=" + strconv.FormatInt(ct, 10) + l[j+1+k:]
			}
		}
	}
	return strings.Join(lines, "\n")
}

func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	ws, gs := map[string]bool{}, map[string]bool{}
	for _, l := range wl {
		ws[l] = true
	}
	for _, l := range gl {
		gs[l] = true
	}
	var b strings.Builder
	for _, l := range wl {
		if !gs[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range gl {
		if !ws[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// evicted lists the inodes orphan cleanup deletes: those with an
// ORPHAN_ITEM and no links.
func evicted(t testing.TB, sub *btree.Tree) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	for it, err := range sub.ObjectItems(ondisk.OrphanObjectID, ondisk.OrphanItemKey) {
		if err != nil {
			t.Fatal(err)
		}
		b, err := sub.Lookup(ondisk.Key{ObjectID: it.Key.Offset, Type: ondisk.InodeItemKey})
		if err != nil {
			continue
		}
		if ii, err := item.ParseInode(b); err == nil && ii.Nlink == 0 {
			out[it.Key.Offset] = true
		}
	}
	return out
}

// itemsOf returns a tree's items, without what orphan cleanup removes.
func itemsOf(t testing.TB, tr *btree.Tree, gone map[uint64]bool) map[ondisk.Key][]byte {
	t.Helper()
	out := map[ondisk.Key][]byte{}
	for it, err := range tr.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if gone[it.Key.ObjectID] || it.Key.ObjectID == ondisk.OrphanObjectID {
			continue
		}
		out[it.Key] = append([]byte(nil), it.Data...)
	}
	return out
}

type extRef struct{ bytenr, root, ino, off uint64 }

// dataRefs sums the data references of the extent tree, without those of
// the inodes orphan cleanup removes (gone, by root), and lists the
// extents with no references left, with their sizes.
func dataRefs(t testing.TB, ext *btree.Tree, gone map[uint64]map[uint64]bool) (map[extRef]uint64, map[uint64]uint64) {
	t.Helper()
	refs := map[extRef]uint64{}
	freed := map[uint64]uint64{}
	for it, err := range ext.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		k := it.Key
		switch k.Type {
		case ondisk.ExtentItemKey:
			ei, err := item.ParseExtent(it.Data, k.Type)
			if err != nil {
				t.Fatal(err)
			}
			if ei.Flags&item.ExtentFlagData == 0 {
				continue
			}
			freed[k.ObjectID] = k.Offset
			for _, r := range ei.Inline {
				if r.Type == ondisk.ExtentDataRefKey && !gone[r.Root][r.ObjectID] {
					refs[extRef{k.ObjectID, r.Root, r.ObjectID, r.Offset}] += uint64(r.Count)
					delete(freed, k.ObjectID)
				}
			}
		case ondisk.ExtentDataRefKey:
			d, err := item.ParseExtentDataRef(it.Data)
			if err != nil {
				t.Fatal(err)
			}
			if !gone[d.Root][d.ObjectID] {
				refs[extRef{k.ObjectID, d.Root, d.ObjectID, d.Offset}] += uint64(d.Count)
				delete(freed, k.ObjectID)
			}
		}
	}
	return refs, freed
}

// allRefs lists every data reference of the extent tree.
func allRefs(t testing.TB, ext *btree.Tree) map[extRef]uint64 {
	refs, _ := dataRefs(t, ext, nil)
	return refs
}

// dataExtentItems returns the data extent items and their keyed
// references, but those of the extents in skip.
func dataExtentItems(t testing.TB, ext *btree.Tree, skip map[uint64]bool) map[ondisk.Key][]byte {
	t.Helper()
	out := map[ondisk.Key][]byte{}
	data := map[uint64]bool{}
	for it, err := range ext.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		k := it.Key
		if skip[k.ObjectID] {
			continue
		}
		switch k.Type {
		case ondisk.ExtentItemKey:
			ei, err := item.ParseExtent(it.Data, k.Type)
			if err != nil {
				t.Fatal(err)
			}
			if ei.Flags&item.ExtentFlagData != 0 {
				data[k.ObjectID] = true
				out[k] = append([]byte(nil), it.Data...)
			}
		case ondisk.ExtentDataRefKey, ondisk.SharedDataRefKey:
			if data[k.ObjectID] {
				out[k] = append([]byte(nil), it.Data...)
			}
		}
	}
	return out
}

// logSubvols lists the subvolumes the log root tree has logs for,
// highest first.
func logSubvols(t testing.TB, im *image) []uint64 {
	t.Helper()
	sb := im.sb
	lrt := btree.New(im.vol, btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: sb.LogRoot, Level: sb.LogRootLevel, Generation: sb.Generation + 1})
	var ids []uint64
	for it, err := range lrt.ObjectItems(ondisk.TreeLogObjectID, ondisk.RootItemKey) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]uint64{it.Key.Offset}, ids...)
	}
	return ids
}

// allSubvols lists the subvolumes of the root tree.
func allSubvols(t testing.TB, im *image) []uint64 {
	t.Helper()
	var ids []uint64
	for it, err := range im.input.RootTree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		id := it.Key.ObjectID
		if it.Key.Type == ondisk.RootItemKey && (id == ondisk.FSTreeObjectID || id >= ondisk.FirstFreeObjectID && id < ondisk.LastFreeObjectID) {
			if len(ids) == 0 || ids[len(ids)-1] != id {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// sectorSums maps every sector the checksum tree covers to its checksum.
func sectorSums(t testing.TB, csum *btree.Tree, sb *ondisk.Superblock) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for it, err := range csum.ObjectItems(ondisk.ExtentCsumObjectID, ondisk.ExtentCsumKey) {
		if err != nil {
			t.Fatal(err)
		}
		cs, err := item.ParseCsum(it.Data, it.Key.Offset, sb.CsumType.Size(), int(sb.SectorSize))
		if err != nil {
			t.Fatal(err)
		}
		for s := cs.Start; s < cs.End(); s += uint64(sb.SectorSize) {
			v, _ := cs.Lookup(s)
			out[s] = hex.EncodeToString(v)
		}
	}
	return out
}

// compareTrees compares the replayed trees with the kernel's, after its
// replay, unmount and the orphan cleanup its mount ran: every subvolume
// item by item, the data references, the checksums.
func compareTrees(t *testing.T, im, kim *image) {
	var diffs []string
	gone := map[uint64]map[uint64]bool{}
	for _, id := range allSubvols(t, im) {
		ours := im.tree(t, id)
		theirs := kim.tree(t, id)
		gone[id] = evicted(t, ours)
		oi, ti := itemsOf(t, ours, gone[id]), itemsOf(t, theirs, nil)
		stamps := im.res.MountTimes[id]
		for k, o := range oi {
			th, ok := ti[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("subvolume %d: only replayed here: %v", id, k))
			case k.Type == ondisk.InodeItemKey && len(o) == item.InodeSize && len(th) == item.InodeSize:
				o = append([]byte(nil), o...)
				if stamps[k.ObjectID]&logreplay.StampCtime != 0 {
					copy(o[124:136], th[124:136])
				}
				if string(o) != string(th) {
					diffs = append(diffs, fmt.Sprintf("subvolume %d: inode %v differs:\n  ours   %x\n  kernel %x", id, k, o, th))
				}
			case string(o) != string(th):
				diffs = append(diffs, fmt.Sprintf("subvolume %d: item %v differs:\n  ours   %x\n  kernel %x", id, k, o, th))
			}
		}
		for k := range ti {
			if _, ok := oi[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("subvolume %d: only in the kernel's: %v", id, k))
			}
		}
	}
	or, freed := dataRefs(t, im.tree(t, ondisk.ExtentTreeObjectID), gone)
	tr, _ := dataRefs(t, kim.tree(t, ondisk.ExtentTreeObjectID), nil)
	if fmt.Sprint(or) != fmt.Sprint(tr) {
		diffs = append(diffs, fmt.Sprintf("data references differ:\n  ours   %v\n  kernel %v", or, tr))
	}
	// The data extent items themselves, byte for byte (inline and keyed
	// references, counts, generations), where orphan cleanup changes
	// nothing.
	touched := map[uint64]bool{}
	for b := range freed {
		touched[b] = true
	}
	for r := range allRefs(t, im.tree(t, ondisk.ExtentTreeObjectID)) {
		if gone[r.root][r.ino] {
			touched[r.bytenr] = true
		}
	}
	oe, te := dataExtentItems(t, im.tree(t, ondisk.ExtentTreeObjectID), touched), dataExtentItems(t, kim.tree(t, ondisk.ExtentTreeObjectID), touched)
	for k, o := range oe {
		if th, ok := te[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extent tree: only replayed here: %v", k))
		} else if string(o) != string(th) {
			diffs = append(diffs, fmt.Sprintf("extent tree: item %v differs:\n  ours   %x\n  kernel %x", k, o, th))
		}
	}
	for k := range te {
		if _, ok := oe[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extent tree: only in the kernel's: %v", k))
		}
	}
	// Orphan cleanup frees the extents only evicted inodes referenced,
	// and their checksums.
	os := sectorSums(t, im.tree(t, ondisk.CsumTreeObjectID), im.sb)
	for b, n := range freed {
		for s := b; s < b+n; s += uint64(im.sb.SectorSize) {
			delete(os, s)
		}
	}
	ts := sectorSums(t, kim.tree(t, ondisk.CsumTreeObjectID), kim.sb)
	for s, v := range ts {
		if os[s] != v {
			diffs = append(diffs, fmt.Sprintf("checksum of sector %d: ours %q, kernel %q", s, os[s], v))
		}
	}
	for s := range os {
		if _, ok := ts[s]; !ok {
			diffs = append(diffs, fmt.Sprintf("checksum of sector %d only here", s))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("replayed trees differ from the kernel's:\n%s", strings.Join(diffs, "\n"))
	}
}

// makedev is glibc's makedev: the st_rdev user space sees.
func makedev(major, minor uint64) uint64 {
	return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}
