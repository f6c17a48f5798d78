package logreplay_test

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/logreplay"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// The fuzzed images: logs of several leaves, of two subvolumes, with
// clones, deletes and extents.
var fuzzCases = []string{"manyfiles", "subvol", "reflink", "unlinkdir", "hardlink", "preallocwrite"}

type fuzzImage struct {
	im     *corrupt.Image
	blocks []uint64 // every block of the log root tree and the logs
}

var fuzzImages struct {
	once sync.Once
	list []fuzzImage
	err  error
}

func loadFuzzImages() ([]fuzzImage, error) {
	fuzzImages.once.Do(func() {
		for _, name := range fuzzCases {
			dev, err := imagefile.Load("testdata/" + name + ".img.zst")
			if err != nil {
				fuzzImages.err = err
				return
			}
			im, err := corrupt.NewImage(dev)
			if err != nil {
				fuzzImages.err = err
				return
			}
			fuzzImages.list = append(fuzzImages.list, fuzzImage{im, logBlocks(im.Vol)})
		}
	})
	return fuzzImages.list, fuzzImages.err
}

// logTrees opens the log root tree and every log tree of vol.
func logTrees(vol *volume.Volume) []*btree.Tree {
	sb := vol.Super()
	lrt := btree.New(vol, btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: sb.LogRoot, Level: sb.LogRootLevel, Generation: sb.Generation + 1})
	trees := []*btree.Tree{lrt}
	for it, err := range lrt.ObjectItems(ondisk.TreeLogObjectID, ondisk.RootItemKey) {
		if err != nil {
			break
		}
		if ri, err := item.ParseRoot(it.Data); err == nil {
			trees = append(trees, btree.New(vol, btree.Root{ID: ondisk.TreeLogObjectID, Bytenr: ri.Bytenr, Level: ri.Level, Generation: ri.Generation}))
		}
	}
	return trees
}

func logBlocks(vol *volume.Volume) []uint64 { return corrupt.Blocks(logTrees(vol)...) }

// replayDev opens dev and replays its log.
func replayDev(dev *volume.Device) (*image, *logreplay.Result, error) {
	vol, err := volume.Open([]*volume.Device{dev}, volume.Options{})
	if err != nil {
		return nil, nil, err
	}
	sb := vol.Super()
	cache := btree.NewCache(vol, 0)
	rt := btree.New(cache, btree.Root{ID: ondisk.RootTreeObjectID, Bytenr: sb.Root, Level: sb.RootLevel, Generation: sb.Generation})
	im := &image{vol: vol, sb: sb, input: logreplay.Input{Reader: cache, RootTree: rt, Super: sb}}
	res, err := logreplay.Replay(im.input)
	im.res = res
	return im, res, err
}

// FuzzDamagedLog overwrites bytes of one log block (in every copy, its
// checksum recomputed so that the damage reaches replay) and replays:
// replay must end with an error or a Result whose trees read back whole,
// never a panic or a hang.
func FuzzDamagedLog(f *testing.F) {
	imgs, err := loadFuzzImages()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), uint16(0), uint16(101), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(1), uint16(1), uint16(96), []byte{0x40})
	f.Add(uint8(2), uint16(2), uint16(118), []byte{0, 0, 0, 0x80})
	f.Add(uint8(3), uint16(1), uint16(200), []byte("corrupt"))
	f.Add(uint8(4), uint16(1), uint16(16000), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(5), uint16(1), uint16(126), []byte{12})
	f.Fuzz(func(t *testing.T, which uint8, block, at uint16, data []byte) {
		fi := imgs[int(which)%len(imgs)]
		logical := fi.blocks[int(block)%len(fi.blocks)]
		bad, err := fi.im.Block(logical, int(at), data)
		if err != nil {
			t.Fatal(err)
		}
		_, res, err := replayDev(bad)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
			if res != nil {
				t.Fatalf("Replay returned a Result with its error %v", err)
			}
			return
		}
		for id, root := range res.Roots {
			for _, err := range btree.New(res.Mem, root).Items(ondisk.Key{}, ondisk.MaxKey) {
				if err != nil {
					t.Fatalf("replayed tree %d does not read back: %v", id, err)
				}
			}
		}
	})
}

// TestDamagedLogBlock: a log leaf bad in every copy fails the replay
// before anything is replayed, naming the block.
func TestDamagedLogBlock(t *testing.T) {
	imgs, err := loadFuzzImages()
	if err != nil {
		t.Fatal(err)
	}
	fi := imgs[0] // manyfiles: a log of several leaves
	trees := logTrees(fi.im.Vol)
	var leaf uint64
	for _, b := range corrupt.Blocks(trees[1]) {
		n, err := fi.im.Vol.ReadTreeBlock(volume.Logical(b), ondisk.BlockExpect{})
		if err == nil && n.Level == 0 {
			leaf = b // the last leaf
		}
	}
	// Zero bytes without fixing the checksum, in every copy.
	vol := fi.im.Vol
	pd := &corrupt.PatchedDevice{Base: fi.im.Dev.R, Patches: map[int64][]byte{}}
	for m := 0; m < vol.NumCopies(volume.Logical(leaf)); m++ {
		_, phys, err := vol.MapPhysical(volume.Logical(leaf), m)
		if err != nil {
			t.Fatal(err)
		}
		pd.Patches[int64(phys)+200] = make([]byte, 64)
	}
	_, res, err := replayDev(&volume.Device{Name: "bad", R: pd, Size: fi.im.Dev.Size})
	if err == nil || res != nil {
		t.Fatalf("Replay of a log with a bad leaf: %v, %v", res, err)
	}
	var be *ondisk.BlockError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), strconv.FormatUint(leaf, 10)) {
		t.Fatalf("error does not name the leaf at %d: %v", leaf, err)
	}
	t.Log(err)
}

// TestDamagedLogItem: a log item that cannot be decoded fails the replay
// with its leaf, the log tree and the key.
func TestDamagedLogItem(t *testing.T) {
	imgs, err := loadFuzzImages()
	if err != nil {
		t.Fatal(err)
	}
	fi := imgs[0]
	logTree := logTrees(fi.im.Vol)[1]
	// The first inode item of the log gets an unknown inode flag.
	var k ondisk.Key
	for it, err := range logTree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Key.Type == ondisk.InodeItemKey {
			k = it.Key
			break
		}
	}
	bad, err := fi.im.Item(logTree, k, func(p []byte) { p[64] |= 0x40; p[66] = 0x10 })
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := replayDev(bad)
	if err == nil || res != nil {
		t.Fatalf("Replay of a log with a bad inode item: %v, %v", res, err)
	}
	var be *ondisk.BlockError
	if !errors.As(err, &be) || be.Key == nil || *be.Key != k || be.Tree != ondisk.TreeLogObjectID {
		t.Fatalf("error does not name the log item %v: %v", k, err)
	}
	t.Log(err)
}

// TestNoLog: a clean filesystem replays to nothing.
func TestNoLog(t *testing.T) {
	dev, err := imagefile.Load("testdata/newfiles.kernel.img.zst")
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := replayDev(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 0 || len(res.Subvolumes) != 0 || res.Mem.Bytes() != 0 {
		t.Fatalf("replay of a clean filesystem: %+v", res)
	}
}

// TestReversedDirLogRange: a logged index range that ends before it
// starts (the kernel would walk the ranges forever) is refused, naming
// the item.
func TestReversedDirLogRange(t *testing.T) {
	imgs, err := loadFuzzImages()
	if err != nil {
		t.Fatal(err)
	}
	fi := imgs[3] // unlinkdir
	logTree := logTrees(fi.im.Vol)[1]
	var k ondisk.Key
	for it, err := range logTree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Key.Type == ondisk.DirLogIndexKey && it.Key.Offset > 0 {
			k = it.Key
			break
		}
	}
	if k.Type == 0 {
		t.Fatal("no DIR_LOG_INDEX item in the log")
	}
	bad, err := fi.im.Item(logTree, k, func(p []byte) { binary.LittleEndian.PutUint64(p, k.Offset-1) })
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := replayDev(bad)
	if err == nil || res != nil || !strings.Contains(err.Error(), k.String()) {
		t.Fatalf("Replay with a reversed dir log range %v: %v, %v", k, res, err)
	}
	t.Log(err)
}

// TestLoggedExtentOutsideBlockGroups: a logged data extent that no block
// group holds fails the replay before anything is replayed, as the
// kernel's pin stage fails the mount.
func TestLoggedExtentOutsideBlockGroups(t *testing.T) {
	imgs, err := loadFuzzImages()
	if err != nil {
		t.Fatal(err)
	}
	fi := imgs[5] // preallocwrite
	logTree := logTrees(fi.im.Vol)[1]
	var k ondisk.Key
	for it, err := range logTree.Items(ondisk.Key{}, ondisk.MaxKey) {
		if err != nil {
			t.Fatal(err)
		}
		if fe, err := item.ParseFileExtent(it.Data); it.Key.Type == ondisk.ExtentDataKey && err == nil && fe.DiskBytenr != 0 {
			k = it.Key
			break
		}
	}
	if k.Type == 0 {
		t.Fatal("no data extent in the log")
	}
	bad, err := fi.im.Item(logTree, k, func(p []byte) { binary.LittleEndian.PutUint64(p[21:], 1<<50) })
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := replayDev(bad)
	if err == nil || res != nil || !strings.Contains(err.Error(), "in no block group") || !strings.Contains(err.Error(), k.String()) {
		t.Fatalf("Replay of a log extent in no block group: %v, %v", res, err)
	}
	t.Log(err)
}
