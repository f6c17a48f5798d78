package compare_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/ondisk"
)

// The shared images: subvolume vol of n small files (inline contents, in
// directories of 100) on a filesystem with 4 KiB nodes, so that its tree
// has three levels or more; read-only snapshot a; three files changed
// (rewritten, chmod, truncated to zero); read-only snapshot b.
func sharedSpec(name string, n int, size int64) *benchimage.Spec {
	return &benchimage.Spec{
		Name:    name,
		Size:    size,
		Mkfs:    []string{"--nodesize", "4096", "-m", "single", "-d", "single"},
		Version: 1,
		Fill:    func(mnt string, st *benchimage.Stamp) error { return fillShared(mnt, st, n) },
	}
}

// sharedChanged are the files of a shared image changed between a and b.
func sharedChanged(n int) []string {
	return []string{sharedFile(n / 7), sharedFile(n / 2), sharedFile(n * 6 / 7)}
}

func sharedFile(i int) string { return fmt.Sprintf("d%03d/f%06d", i/100, i) }

func fillShared(mnt string, st *benchimage.Stamp, n int) error {
	vol := filepath.Join(mnt, "vol")
	if err := benchimage.Run("btrfs", "subvolume", "create", vol); err != nil {
		return err
	}
	for i := range n {
		if i%100 == 0 {
			if err := os.Mkdir(filepath.Join(vol, fmt.Sprintf("d%03d", i/100)), 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(vol, sharedFile(i)), fmt.Appendf(nil, "file %d\n", i), 0o644); err != nil {
			return err
		}
	}
	if err := benchimage.Run("btrfs", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, "a")); err != nil {
		return err
	}
	ch := sharedChanged(n)
	if err := os.WriteFile(filepath.Join(vol, ch[0]), []byte("rewritten, and longer than before\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(vol, ch[1]), 0o600); err != nil {
		return err
	}
	if err := os.Truncate(filepath.Join(vol, ch[2]), 0); err != nil {
		return err
	}
	if err := benchimage.Run("btrfs", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, "b")); err != nil {
		return err
	}
	st.Inodes = 1 + (n+99)/100 + n
	return benchimage.Run("btrfs", "filesystem", "sync", mnt)
}

// The committed image: 5,000 files, small enough to ship.
const sharedN = 5000

var sharedImage = sharedSpec("compare-shared-5k", sharedN, 64<<20)

// TestRegenSharedImage rebuilds testdata/shared.img.zst with the running
// kernel, when COLDSEND_REGEN_COMPARE is set (needs root):
//
//	COLDSEND_REGEN_COMPARE=1 go test -run RegenSharedImage ./compare/
func TestRegenSharedImage(t *testing.T) {
	if os.Getenv("COLDSEND_REGEN_COMPARE") == "" {
		t.Skip("set COLDSEND_REGEN_COMPARE=1 to rebuild testdata/shared.img.zst (needs root)")
	}
	t.Setenv("COLDSEND_BENCH_DIR", t.TempDir())
	img, _ := benchimage.Cached(t, sharedImage)
	out, err := exec.Command("zstd", "-q", "-f", "-19", img, "-o", filepath.Join("testdata", "shared.img.zst")).CombinedOutput()
	if err != nil {
		t.Fatalf("zstd: %v: %s", err, out)
	}
}

// openShared opens a shared image and its snapshots a and b.
func openShared(t testing.TB, fs *fstree.FS) (a, b *fstree.Subvol) {
	a, err := fs.ResolveSubvol("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err = fs.ResolveSubvol("b")
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestSharedSubtreesSkipped compares two snapshots of a three-level tree
// that differ in three files: the differences are exactly those files'
// items, and only the blocks on the paths to them are read, a handful out
// of hundreds.
func TestSharedSubtreesSkipped(t *testing.T) {
	dev, err := imagefile.Load(filepath.Join("testdata", "shared.img.zst"))
	if err != nil {
		t.Fatal(err)
	}
	fs := openImage(t, dev)
	a, b := openShared(t, fs)
	root, err := b.Tree.RootNode()
	if err != nil {
		t.Fatal(err)
	}
	if root.Level < 2 {
		t.Fatalf("b's tree has root level %d; the test needs three levels", root.Level)
	}
	total := len(corrupt.Blocks(b.Tree))

	for _, p := range []struct {
		name        string
		left, right *fstree.Subvol
	}{{"b vs a", b, a}, {"a vs b", a, b}} {
		evs := checkPair(t, p.name, p.left.Tree, p.right.Tree)
		l, r, c := counted(p.left.Tree, p.right.Tree)
		if _, err := run(l, r); err != nil {
			t.Fatal(err)
		}
		var inos []uint64
		var diffs []event
		for _, e := range evs {
			if e.res != compare.Same {
				diffs = append(diffs, e)
				if !slices.Contains(inos, e.key.ObjectID) {
					inos = append(inos, e.key.ObjectID)
				}
			}
		}
		var paths []string
		for _, ino := range inos {
			p, err := b.InodePath(ino)
			if err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		if want := sharedChanged(sharedN); !slices.Equal(paths, want) {
			t.Errorf("%s: differences %v in %v, want the changed files %v", p.name, diffs, paths, want)
		}
		// Each side reads its root and, per changed file, at most one
		// block per level below it.
		limit := 2 + 2*int(root.Level)*len(sharedChanged(sharedN))
		t.Logf("%s: %d blocks read of %d in each tree (root level %d), %d differences, %d SAME", p.name, c.n.Load(), total, root.Level, len(diffs), len(evs)-len(diffs))
		if int(c.n.Load()) > limit {
			t.Errorf("%s: %d blocks read, want at most %d", p.name, c.n.Load(), limit)
		}
	}

	// The live subvolume and its last snapshot share everything but the
	// root.
	vol, err := fs.ResolveSubvol("vol")
	if err != nil {
		t.Fatal(err)
	}
	l, r, c := counted(vol.Tree, b.Tree)
	if evs, err := run(l, r); err != nil || len(evs) != 0 || c.n.Load() != 2 {
		t.Errorf("vol vs b: %d callbacks, %d blocks read, %v; want none, the 2 roots", len(evs), c.n.Load(), err)
	}
}

// TestErrors: a block that cannot be read ends the walk with an error
// naming the side, the tree and the block; an error from the callback is
// returned as is, after no further callbacks.
func TestErrors(t *testing.T) {
	dev, err := imagefile.Load(filepath.Join("testdata", "shared.img.zst"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := openShared(t, openImage(t, dev))
	inA := map[uint64]bool{}
	for _, x := range corrupt.Blocks(a.Tree) {
		inA[x] = true
	}
	var only []uint64 // b's blocks below its root that a does not share
	for _, x := range corrupt.Blocks(b.Tree)[1:] {
		if !inA[x] {
			only = append(only, x)
		}
	}
	if len(only) == 0 {
		t.Fatal("b has no blocks of its own below the root")
	}
	// Byte 100 of a block, 68 after the checksum, is its level.
	bad, err := corrupt.Block(dev, only[0], 100-ondisk.CsumSize, []byte{5})
	if err != nil {
		t.Fatal(err)
	}
	a2, b2 := openShared(t, openImage(t, bad))
	err = compare.Trees(b2.Tree, a2.Tree, func(ondisk.Key, compare.Result, compare.Side, compare.Side) error { return nil })
	var be *ondisk.BlockError
	if err == nil || !errors.As(err, &be) || be.Logical != only[0] {
		t.Fatalf("got %v, want a BlockError at %d", err, only[0])
	}
	for _, want := range []string{"send root", ondisk.TreeName(b.ID), fmt.Sprint(only[0]), "level mismatch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	t.Log(err)
	err = compare.Trees(a2.Tree, b2.Tree, func(ondisk.Key, compare.Result, compare.Side, compare.Side) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "parent root") {
		t.Errorf("the damaged tree as the parent: got %v", err)
	}

	stop := errors.New("stop")
	calls := 0
	err = compare.Trees(b.Tree, a.Tree, func(ondisk.Key, compare.Result, compare.Side, compare.Side) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want it as is after 1", err, calls)
	}
}
