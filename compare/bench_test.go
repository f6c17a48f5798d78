package compare_test

import (
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/compare"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/ondisk"
)

// The benchmark image: 50,000 files, built by the kernel as root and cached
// in out/bench (see internal/benchimage).
const benchN = 50000

var benchImage = sharedSpec("compare-shared-50k", benchN, 1<<30)

// BenchmarkTrees compares snapshots of a 50,000-file tree (4 KiB nodes)
// that differ in three files, and, for contrast, one of them with the
// nearly empty top-level tree, which reads all of it. blocks/op counts the
// tree blocks the walk asks for; "warm" reads them from the filesystem's
// block cache, "cold" through a fresh cache per op (each block read from
// the image, which is in the page cache, and its checksum verified).
//
//	go test -run '^$' -bench Trees ./compare/
func BenchmarkTrees(b *testing.B) {
	img, st := benchimage.Cached(b, benchImage)
	fs, closeFS := benchimage.Open(b, img)
	defer closeFS()
	sa, sb := openShared(b, fs)
	top, err := fs.Tree(ondisk.FSTreeObjectID)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name        string
		left, right *btree.Tree
	}{
		{"3-files", sb.Tree, sa.Tree},
		{"whole-tree", sb.Tree, top},
	} {
		for _, cold := range []bool{false, true} {
			name := bc.name + "/warm"
			if cold {
				name = bc.name + "/cold"
			}
			b.Run(name, func(b *testing.B) {
				var blocks, calls int64
				for b.Loop() {
					var r btree.Reader = fs.Cache()
					if cold {
						r = btree.NewCache(fs.Volume(), 0)
					}
					c := &counter{r: r}
					l, rt := btree.New(c, bc.left.Root()), btree.New(c, bc.right.Root())
					err := compare.Trees(l, rt, func(ondisk.Key, compare.Result, compare.Side, compare.Side) error {
						calls++
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					blocks += c.n.Load()
				}
				b.ReportMetric(float64(blocks)/float64(b.N), "blocks/op")
				b.ReportMetric(float64(calls)/float64(b.N), "callbacks/op")
			})
		}
	}
	b.Logf("%d inodes", st.Inodes)
}
