package export_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/corrupt"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// The salvage tests damage these kernel-made images: reflink's files
// share extents; basic's subvolume tree has many leaves.
const (
	dataFixture = "../fixtures/images/reflink"
	metaFixture = "../fixtures/images/basic"
)

// extentUse is one file's use of a data extent.
type extentUse struct {
	ino          uint64
	fileOff, len int64  // the file's range it covers
	at           uint64 // the logical address that range starts at
}

// dataExtents lists the plain (uncompressed, on-disk) extents of sv's
// regular files by the logical address of the extent.
func dataExtents(t *testing.T, sv *fstree.Subvol, msv *manifest.Subvolume) map[uint64][]extentUse {
	out := map[uint64][]extentUse{}
	seen := map[uint64]bool{}
	for _, e := range msv.Entries {
		if e.Type != manifest.TypeFile || seen[e.Ino] {
			continue
		}
		seen[e.Ino] = true
		for it, err := range sv.Tree.ObjectItems(e.Ino, ondisk.ExtentDataKey) {
			if err != nil {
				t.Fatal(err)
			}
			fe, err := item.ParseFileExtent(it.Data)
			if err != nil {
				t.Fatal(err)
			}
			if fe.Type != item.FileExtentReg || fe.DiskBytenr == 0 || fe.Compression != item.CompressNone {
				continue
			}
			out[fe.DiskBytenr] = append(out[fe.DiskBytenr], extentUse{e.Ino, int64(it.Key.Offset), int64(fe.NumBytes), fe.DiskBytenr + fe.Offset})
		}
	}
	return out
}

// TestSalvageData damages, on every copy, one 4 KiB sector of a data
// extent that several files share (reflinks), exports with KeepGoing and
// checks that the error list names exactly the files using that sector,
// with exactly the sector's bytes of each zero-filled, and that
// everything else equals the kernel's manifest.
func TestSalvageData(t *testing.T) {
	dev, clean, msv, sv := openVol(t, dataFixture)
	// The shared extent with the most users: the damage must reach them all.
	var target uint64
	uses := dataExtents(t, sv, msv)
	inodes := func(u []extentUse) int {
		m := map[uint64]bool{}
		for _, x := range u {
			m[x.ino] = true
		}
		return len(m)
	}
	for addr, u := range uses {
		if n, best := inodes(u), inodes(uses[target]); target == 0 || n > best || n == best && addr < target {
			target = addr
		}
	}
	if inodes(uses[target]) < 2 {
		t.Fatalf("the fixture has no data extent that files share (%d)", inodes(uses[target]))
	}
	bad := volume.Logical(target) + 4096 // its second sector
	vol := clean.Volume()
	pd := &corrupt.PatchedDevice{Base: dev.R, Patches: map[int64][]byte{}}
	for m := 0; m < vol.NumCopies(bad); m++ {
		_, phys, err := vol.MapPhysical(bad, m)
		if err != nil {
			t.Fatal(err)
		}
		pd.Patches[int64(phys)] = bytes.Repeat([]byte{0xa5}, 4096)
	}
	damaged, err := fstree.New([]*volume.Device{{Name: dev.Name, R: pd, Size: dev.Size}}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dsv, err := damaged.OpenSubvol(msv.ID)
	if err != nil {
		t.Fatal(err)
	}

	// What should be lost: the sector's range in every file using it.
	wantZeroed := map[uint64][]fstree.Range{}
	for _, u := range uses[target] {
		if lo, hi := max(uint64(bad), u.at), min(uint64(bad)+4096, u.at+uint64(u.len)); lo < hi {
			wantZeroed[u.ino] = append(wantZeroed[u.ino], fstree.Range{Off: u.fileOff + int64(lo-u.at), Len: int64(hi - lo)})
		}
	}

	dest := filepath.Join(t.TempDir(), "out")
	sum, err := export.ToDir(dest, fstree.Location{Subvol: dsv, Ino: 256}, export.Options{OneSubvolume: true, KeepGoing: true, Owners: os.Geteuid() == 0})
	if err != nil {
		t.Fatal(err)
	}
	gotZeroed := map[uint64][]fstree.Range{}
	for _, e := range sum.Errors {
		if e.Ino == 0 || len(e.Zeroed) == 0 {
			t.Errorf("unexpected error: %v", e)
			continue
		}
		gotZeroed[e.Ino] = e.Zeroed
		if !strings.Contains(e.Error(), "zero-filled") {
			t.Errorf("error %q does not say what was zero-filled", e)
		}
	}
	if len(gotZeroed) != len(wantZeroed) {
		t.Errorf("errors for inodes %v, want %v", keys(gotZeroed), keys(wantZeroed))
	}
	for ino, want := range wantZeroed {
		if got := gotZeroed[ino]; !slices.Equal(got, want) {
			t.Errorf("inode %d: zero-filled %v, want %v", ino, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, export.PartialMarker)); err != nil {
		t.Errorf("a partial export has no %s: %v", export.PartialMarker, err)
	}
	if _, err := os.Stat(filepath.Join(dest, export.IncompleteMarker)); err == nil {
		t.Errorf("a finished export left %s", export.IncompleteMarker)
	}

	// Everything else is as the kernel showed it; the damaged files are
	// the kernel's bytes with the lost sector zeroed.
	got, err := treecmp.Record(dest)
	if err != nil {
		t.Fatal(err)
	}
	delete(got, export.PartialMarker)
	w := treecmp.FromManifest(msv.Entries)
	for _, e := range msv.Entries {
		if e.Type == manifest.TypeSubvol {
			delete(w, string(e.Path))
			delete(got, string(e.Path))
		}
		zeroed := wantZeroed[e.Ino]
		if zeroed == nil || e.Type != manifest.TypeFile {
			continue
		}
		f, err := sv.OpenFile(e.Ino)
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range zeroed {
			clear(content[r.Off : r.Off+r.Len])
		}
		s := sha256.Sum256(content)
		w[string(e.Path)].SHA256 = hex.EncodeToString(s[:])
	}
	// The root's times change with the marker made in it.
	got[""].Mtime, got[""].Atime = w[""].Mtime, w[""].Atime
	opts := treecmp.Options{NoOwners: os.Geteuid() != 0, IgnoreXattr: func(name string) bool {
		return strings.HasPrefix(name, "btrfs.") || name == "user.big"
	}}
	if d := treecmp.Diff(w, got, opts, 20); len(d) > 0 {
		t.Errorf("salvaged export differs from the kernel's view with the lost sector zeroed:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("sector at logical %d damaged on %d copies: %d files lost %v, %d entries exported intact", bad, vol.NumCopies(bad), len(wantZeroed), wantZeroed, len(w)-len(wantZeroed))

	// Without KeepGoing the export stops at the damage and says so.
	dest2 := filepath.Join(t.TempDir(), "out")
	if _, err := export.ToDir(dest2, fstree.Location{Subvol: dsv, Ino: 256}, export.Options{OneSubvolume: true}); err == nil || !strings.Contains(err.Error(), "inode") {
		t.Errorf("export of a damaged file without KeepGoing: err %v, want one naming the inode", err)
	}
	if b, err := os.ReadFile(filepath.Join(dest2, export.IncompleteMarker)); err != nil || !bytes.Contains(b, []byte("stopped")) {
		t.Errorf("a stopped export's marker: %q, %v", b, err)
	}
}

// TestSalvageMetadata damages, on every copy, a leaf of the subvolume
// tree that is neither its first nor its root: what the leaf held cannot
// be read. The export must finish, list errors only for names whose
// items lie in the leaf (their inode's, or their directory's entries),
// and export every other name as the kernel showed it.
func TestSalvageMetadata(t *testing.T) {
	dev, _, msv, sv := openVol(t, metaFixture)
	leaves := leavesOf(t, sv.Tree)
	if len(leaves) < 3 {
		t.Fatalf("the subvolume tree has %d leaves, want 3 or more", len(leaves))
	}
	leaf := leaves[len(leaves)/2]
	first, last := leaf.Key(0), leaf.Key(leaf.NumItems()-1)
	bad, err := corrupt.Block(dev, leaf.Bytenr, 200, bytes.Repeat([]byte{0xff}, 64))
	if err != nil {
		t.Fatal(err)
	}
	// Break the checksum too: every copy fails to verify.
	pd := bad.R.(*corrupt.PatchedDevice)
	for at, b := range pd.Patches {
		b = slices.Clone(b)
		b[0] ^= 0xff
		pd.Patches[at] = b
	}
	damaged, err := fstree.New([]*volume.Device{bad}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dsv, err := damaged.OpenSubvol(msv.ID)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	sum, err := export.ToDir(dest, fstree.Location{Subvol: dsv, Ino: 256}, export.Options{OneSubvolume: true, KeepGoing: true, Owners: os.Geteuid() == 0})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Partial() {
		t.Fatal("the export lost nothing from a destroyed leaf")
	}
	inLeaf := func(ino uint64) bool {
		return first.ObjectID <= ino && ino <= last.ObjectID
	}
	// A name is touched when its inode's items, or its directory's
	// entries, may lie in the leaf.
	byPath := map[string]manifest.Entry{}
	for _, e := range msv.Entries {
		byPath[string(e.Path)] = e
	}
	touched := func(p string) bool {
		for {
			if e, ok := byPath[p]; ok && inLeaf(e.Ino) {
				return true
			}
			if p == "" {
				return false
			}
			p = filepath.Dir(p)
			if p == "." {
				p = ""
			}
		}
	}
	for _, e := range sum.Errors {
		if !touched(e.Path) && !(e.Ino != 0 && inLeaf(e.Ino)) {
			t.Errorf("error for %q (inode %d), which has nothing in the damaged leaf (objects %d-%d): %v", e.Path, e.Ino, first.ObjectID, last.ObjectID, e)
		}
		if !strings.Contains(e.Error(), "logical") && !strings.Contains(e.Error(), "checksum") {
			t.Errorf("error %q does not say where", e)
		}
	}
	got, err := treecmp.Record(dest)
	if err != nil {
		t.Fatal(err)
	}
	w := treecmp.FromManifest(msv.Entries)
	for p := range w {
		if touched(p) {
			delete(w, p)
			delete(got, p)
		}
	}
	for p := range got {
		if touched(p) || p == export.PartialMarker {
			delete(got, p)
		}
	}
	for _, e := range msv.Entries {
		if e.Type == manifest.TypeSubvol {
			delete(w, string(e.Path))
			delete(got, string(e.Path))
		}
	}
	if g := got[""]; g != nil && w[""] != nil {
		g.Mtime, g.Atime = w[""].Mtime, w[""].Atime
	}
	opts := treecmp.Options{NoOwners: os.Geteuid() != 0, NoAtime: true, IgnoreXattr: func(name string) bool {
		return strings.HasPrefix(name, "btrfs.") || name == "user.big"
	}}
	for _, d := range treecmp.Diff(w, got, opts, 20) {
		if !strings.Contains(d, "hard-link groups") { // a group may span touched and untouched names
			t.Errorf("untouched name differs: %s", d)
		}
	}
	t.Logf("leaf %d (objects %d-%d) destroyed: %d errors, %d untouched entries exported intact", leaf.Bytenr, first.ObjectID, last.ObjectID, len(sum.Errors), len(w))
}

// openVol opens the single-device fixture in dir, its subvolume "vol"
// and that subvolume's manifest.
func openVol(t *testing.T, dir string) (*volume.Device, *fstree.FS, *manifest.Subvolume, *fstree.Subvol) {
	t.Helper()
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := imagefile.Load(filepath.Join(dir, sc.Devices[0].File))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fstree.New([]*volume.Device{dev}, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msv := sc.Subvolume("vol")
	sv, err := fsys.OpenSubvol(msv.ID)
	if err != nil {
		t.Fatal(err)
	}
	return dev, fsys, msv, sv
}

// leavesOf lists a tree's leaves in key order.
func leavesOf(t *testing.T, tr *btree.Tree) []*ondisk.Node {
	var out []*ondisk.Node
	c, err := tr.First()
	for err == nil && c.Valid() {
		leaf, _ := c.Leaf()
		if len(out) == 0 || out[len(out)-1] != leaf {
			out = append(out, leaf)
		}
		err = c.Next()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys[V any](m map[uint64]V) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
