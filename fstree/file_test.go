package fstree_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// readAtAll reads f through ReadAt in chunks of an awkward size.
func readAtAll(f *fstree.File) ([]byte, error) {
	return readAtChunks(f, 7919)
}

// readAtChunks reads f through ReadAt in chunks of n bytes, into a buffer
// whose capacity goes past n: what is past it must stay untouched.
func readAtChunks(f *fstree.File, n int) ([]byte, error) {
	var b bytes.Buffer
	buf := make([]byte, n, n+64)
	tail := buf[n : n+64]
	for i := range tail {
		tail[i] = 0xa5
	}
	_, err := io.CopyBuffer(struct{ io.Writer }{&b}, io.NewSectionReader(f, 0, f.Size()), buf)
	if err == nil && bytes.Count(tail, []byte{0xa5}) != len(tail) {
		err = fmt.Errorf("ReadAt wrote past the length of its %d-byte buffer", n)
	}
	return b.Bytes(), err
}

// regularFiles calls fn for every regular file of subvolume s.
func regularFiles(s *fstree.Subvol, dir uint64, path string, fn func(path string, ino uint64)) error {
	for e, err := range s.Entries(dir) {
		if err != nil {
			return err
		}
		p := path + "/" + string(e.Name)
		switch {
		case e.IsSubvolume():
		case e.Type == item.FTDir:
			if err := regularFiles(s, e.Location.ObjectID, p, fn); err != nil {
				return err
			}
		case e.Type == item.FTRegFile:
			fn(p, e.Location.ObjectID)
		}
	}
	return nil
}

// TestWriteToMatchesReadAt streams every regular file of some committed
// fixtures through WriteTo and through ReadAt and wants the same bytes or
// the same error. (internal/fixturecheck compares what ReadAt reads with
// the kernel's; these fixtures cover the cases where streaming differs:
// every compression, partial and shared extents, holes, a damaged copy.)
// "corrupt" is compress-force with the first data sector of every regular
// extent damaged, so that both ways of reading fail alike.
func TestWriteToMatchesReadAt(t *testing.T) {
	for _, name := range []string{"compress-force", "blake2-holes", "reflink", "dup-corrupt", "node4k-xxhash", "corrupt"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fixture := name
			if name == "corrupt" {
				fixture = "compress-force"
			}
			fs, patch := openFixture(t, fixture)
			var errs int
			forEachFile(t, fs, func(s *fstree.Subvol, path string, ino uint64) {
				if name == "corrupt" {
					damageExtents(t, s, ino, patch)
				}
				f, err := s.OpenFile(ino)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				want, werr := readAtAll(f)
				var got bytes.Buffer
				n, gerr := f.WriteTo(&got)
				switch {
				case fmt.Sprint(gerr) != fmt.Sprint(werr):
					t.Errorf("%s: WriteTo error %v, ReadAt error %v", path, gerr, werr)
				case werr == nil && !bytes.Equal(got.Bytes(), want):
					t.Errorf("%s: WriteTo and ReadAt read different bytes (%d and %d)", path, got.Len(), len(want))
				case n != int64(got.Len()):
					t.Errorf("%s: WriteTo wrote %d bytes and returned %d", path, got.Len(), n)
				}
				if werr != nil {
					errs++
				}
				// Sector-sized and larger aligned reads go straight into
				// the caller's buffer, and so do whole compressed extents
				// (128 KiB).
				for _, chunk := range []int{4096, 3 * 4096, 128 << 10, 1<<20 + 8192} {
					b, err := readAtChunks(f, chunk)
					switch {
					case fmt.Sprint(err) != fmt.Sprint(werr):
						t.Errorf("%s: ReadAt in %d-byte reads: error %v, in 7919-byte reads %v", path, chunk, err, werr)
					case err == nil && !bytes.Equal(b, want):
						t.Errorf("%s: ReadAt in %d-byte reads and in 7919-byte reads differ", path, chunk)
					}
				}
			})
			if (errs > 0) != (name == "corrupt") {
				t.Errorf("%d files failed to read", errs)
			}
		})
	}
}

// patchedDev serves a device with some bytes flipped.
type patchedDev struct {
	io.ReaderAt
	flipped map[int64]bool
}

func (p *patchedDev) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.ReaderAt.ReadAt(b, off)
	for at := range p.flipped {
		if at >= off && at < off+int64(n) {
			b[at-off] ^= 0xff
		}
	}
	return n, err
}

// openFixture opens a committed fixture, returning a function that
// damages byte physical of device devid.
func openFixture(t *testing.T, name string) (*fstree.FS, func(devid, physical uint64)) {
	return openFixtureWith(t, name, fstree.Options{})
}

// openFixtureWith is openFixture with options.
func openFixtureWith(t *testing.T, name string, opts fstree.Options) (*fstree.FS, func(devid, physical uint64)) {
	imgs, _ := filepath.Glob(filepath.Join("../fixtures/images", name, "dev*.img.zst"))
	if len(imgs) == 0 {
		t.Fatalf("fixture %s has no device images", name)
	}
	var devs []*volume.Device
	patched := map[uint64]*patchedDev{}
	for _, p := range imgs {
		d, err := imagefile.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		pd := &patchedDev{ReaderAt: d.R, flipped: map[int64]bool{}}
		d.R = pd
		devs = append(devs, d)
		sb, err := volume.ReadSuperblock(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		patched[sb.DevItem.DevID] = pd
	}
	fs, err := fstree.New(devs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fs, func(devid, physical uint64) { patched[devid].flipped[int64(physical)] = true }
}

// damageExtents damages the first byte of every copy of every regular
// extent of ino.
func damageExtents(t *testing.T, s *fstree.Subvol, ino uint64, patch func(devid, physical uint64)) {
	vol := s.FS().Volume()
	for it, err := range s.Tree.ObjectItems(ino, ondisk.ExtentDataKey) {
		if err != nil {
			t.Fatal(err)
		}
		fe, err := item.ParseFileExtent(it.Data)
		if err != nil {
			t.Fatal(err)
		}
		if fe.Type != item.FileExtentReg || fe.DiskBytenr == 0 {
			continue
		}
		for m := range vol.NumCopies(volume.Logical(fe.DiskBytenr)) {
			devid, phys, err := vol.MapPhysical(volume.Logical(fe.DiskBytenr), m)
			if err != nil {
				t.Fatal(err)
			}
			patch(uint64(devid), uint64(phys))
		}
	}
}

// forEachFile calls fn for every regular file of every subvolume of fs.
func forEachFile(t *testing.T, fs *fstree.FS, fn func(s *fstree.Subvol, path string, ino uint64)) {
	svs, err := seq.Collect(fs.Subvolumes())
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, sv := range svs {
		s, err := fs.OpenSubvol(sv.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = regularFiles(s, ondisk.SubvolumeRootDirInodeID, sv.Path, func(path string, ino uint64) {
			files++
			fn(s, path, ino)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatal("no regular files")
	}
}

// TestFileStreaming reads files of several sizes from an image made by
// mkfs.btrfs --rootdir (no root needed): every way of reading returns the
// bytes written, and the bytes allocated to stream a file do not grow
// with its size.
func TestFileStreaming(t *testing.T) {
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("mkfs.btrfs is not in PATH; it makes the image this test reads")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"empty": 0, "inline": 100, "sector": 4095, "odd": 1<<20 + 123, "small": 4 << 20, "big": 64 << 20}
	content := map[string][]byte{}
	src := rand.NewChaCha8([32]byte{1})
	rng := rand.New(src)
	for name, size := range sizes {
		b := make([]byte, size)
		src.Read(b)
		content[name] = b
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "fs.img")
	if out, err := exec.Command("mkfs.btrfs", "-q", "--rootdir", root, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	fs, closeFS := benchimage.Open(t, img)
	defer closeFS()
	s := topLevel(t, fs)
	open := func(name string) *fstree.File {
		e, err := s.Lookup(ondisk.SubvolumeRootDirInodeID, []byte(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := s.OpenFile(e.Location.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	for name, want := range content {
		f := open(name)
		var got bytes.Buffer
		if n, err := f.WriteTo(&got); err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: WriteTo wrote %d bytes (returned %d), err %v; want the %d bytes written", name, got.Len(), n, err, len(want))
		}
		if b, err := readAtAll(f); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: ReadAt in chunks read %d bytes, err %v; want the %d bytes written", name, len(b), err, len(want))
		}
		for range 20 {
			off := rng.IntN(len(want) + 1)
			p := make([]byte, rng.IntN(3<<20))
			n, err := f.ReadAt(p, int64(off))
			wantN := min(len(p), len(want)-off)
			switch {
			case !bytes.Equal(p[:n], want[off:off+wantN]):
				t.Fatalf("%s: ReadAt(%d bytes, %d) read %d bytes, not the file's", name, len(p), off, n)
			case off+len(p) >= len(want) && err != io.EOF:
				t.Fatalf("%s: ReadAt(%d bytes, %d) reaching the end: err %v, want EOF", name, len(p), off, err)
			case off+len(p) < len(want) && err != nil:
				t.Fatalf("%s: ReadAt(%d bytes, %d): %v", name, len(p), off, err)
			}
		}
	}

	allocated := func(name string, read func(*fstree.File) error) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := read(open(name)); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, how := range []struct {
		name string
		read func(*fstree.File) error
	}{
		{"WriteTo", func(f *fstree.File) error { _, err := f.WriteTo(io.Discard); return err }},
		{"ReadAt", func(f *fstree.File) error {
			_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, io.NewSectionReader(f, 0, f.Size()), make([]byte, 32<<10))
			return err
		}},
	} {
		small, big := allocated("small", how.read), allocated("big", how.read)
		t.Logf("%s: %d bytes allocated for 4 MiB, %d for 64 MiB", how.name, small, big)
		// A few KiB of slack for whatever else the runtime allocates;
		// WriteTo's workers hold two ranges of a little over 1 MiB each.
		limit := uint64(2 << 20)
		if how.name == "WriteTo" {
			limit += uint64(2*min(runtime.GOMAXPROCS(0), 4)) * (1<<20 + 128<<10)
		}
		if big > small+16<<10 || big > limit {
			t.Errorf("%s allocates %d bytes to stream 4 MiB and %d bytes for 64 MiB: memory grows with the file", how.name, small, big)
		}
	}
}

// TestWriteToParallel reads every regular file of some fixtures through
// WriteTo on one goroutine and on three, in ranges of 16 KiB (smaller than
// a compressed extent, which a range must not cut), and wants the same
// bytes, count and error: also where the first data sector of every
// extent is damaged.
func TestWriteToParallel(t *testing.T) {
	defer fstree.SetChunkBytes(16 << 10)()
	for _, name := range []string{"compress-force", "blake2-holes", "reflink", "dup-corrupt", "node4k-xxhash", "corrupt"} {
		fixture := name
		if name == "corrupt" {
			fixture = "compress-force"
		}
		seq, seqPatch := openFixtureWith(t, fixture, fstree.Options{Workers: 1})
		par, parPatch := openFixtureWith(t, fixture, fstree.Options{Workers: 3})
		parSubvols := map[uint64]*fstree.Subvol{}
		files, errs := 0, 0
		forEachFile(t, seq, func(s *fstree.Subvol, path string, ino uint64) {
			ps, ok := parSubvols[s.ID]
			if !ok {
				var err error
				if ps, err = par.OpenSubvol(s.ID); err != nil {
					t.Fatal(err)
				}
				parSubvols[s.ID] = ps
			}
			if name == "corrupt" {
				damageExtents(t, s, ino, seqPatch)
				damageExtents(t, ps, ino, parPatch)
			}
			var want, got bytes.Buffer
			wn, werr := mustOpen(t, s, ino).WriteTo(&want)
			gn, gerr := mustOpen(t, ps, ino).WriteTo(&got)
			switch {
			case fmt.Sprint(gerr) != fmt.Sprint(werr):
				t.Errorf("%s %s: error %v in parallel, %v alone", name, path, gerr, werr)
			case gn != wn || !bytes.Equal(got.Bytes(), want.Bytes()):
				t.Errorf("%s %s: %d bytes in parallel, %d alone, or different", name, path, gn, wn)
			}
			files++
			if werr != nil {
				errs++
			}
		})
		if files == 0 || (errs > 0) != (name == "corrupt") {
			t.Errorf("%s: %d files, %d failed", name, files, errs)
		}
	}
}

func mustOpen(t *testing.T, s *fstree.Subvol, ino uint64) *fstree.File {
	f, err := s.OpenFile(ino)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
