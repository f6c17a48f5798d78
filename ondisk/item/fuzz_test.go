package item

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/coldsend/coldsend/ondisk"
)

// addItemSeeds seeds f with every real payload: any of them exercises
// every decoder's length checks.
func addItemSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		f.Fatal("no seed payloads", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkErr fails unless err is nil or wraps ErrCorrupt.
func checkErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, ondisk.ErrCorrupt) {
		t.Fatalf("error %v does not wrap ErrCorrupt", err)
	}
	return err == nil
}

func FuzzInodeItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseInode(b)
		if checkErr(t, err) && len(b) != InodeSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

func FuzzInodeRefs(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseInodeRefs(b)
		first, ferr := FirstInodeRef(b)
		if (err == nil) != (ferr == nil) || err != nil && err.Error() != ferr.Error() {
			t.Fatalf("ParseInodeRefs err %v, FirstInodeRef err %v", err, ferr)
		}
		if !checkErr(t, err) {
			return
		}
		if !reflect.DeepEqual(first, refs[0]) {
			t.Fatalf("FirstInodeRef %+v, ParseInodeRefs starts with %+v", first, refs[0])
		}
		n := 0
		for _, r := range refs {
			n += inodeRefHdr + len(r.Name)
		}
		if n != len(b) {
			t.Fatalf("records cover %d of %d bytes", n, len(b))
		}
	})
}

func FuzzInodeExtrefs(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseInodeExtrefs(b)
		if !checkErr(t, err) {
			return
		}
		n := 0
		for _, r := range refs {
			n += inodeExtrefHdr + len(r.Name)
		}
		if n != len(b) {
			t.Fatalf("records cover %d of %d bytes", n, len(b))
		}
	})
}

func FuzzDirItems(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := ParseDirItems(b)
		first, ferr := FirstDirItem(b)
		if (err == nil) != (ferr == nil) || err != nil && err.Error() != ferr.Error() {
			t.Fatalf("ParseDirItems err %v, FirstDirItem err %v", err, ferr)
		}
		if !checkErr(t, err) {
			return
		}
		if !reflect.DeepEqual(first, items[0]) {
			t.Fatalf("FirstDirItem %+v, ParseDirItems starts with %+v", first, items[0])
		}
		n := 0
		for _, d := range items {
			if d.Type >= ftMax || len(d.Name) > maxNameLen || len(d.Data) > 0 && d.Type != FTXattr {
				t.Fatalf("accepted entry %+v", d)
			}
			n += dirItemHdr + len(d.Name) + len(d.Data)
		}
		if n != len(b) {
			t.Fatalf("entries cover %d of %d bytes", n, len(b))
		}
	})
}

// FuzzFindDirItem checks that FindDirItem accepts exactly what
// ParseDirItems accepts and finds the first entry of each name it lists
// (and none of a name it does not).
func FuzzFindDirItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := ParseDirItems(b)
		names := [][]byte{[]byte("no such name")}
		for _, d := range items {
			names = append(names, d.Name)
		}
		for _, name := range names {
			d, found, ferr := FindDirItem(b, name)
			if (err == nil) != (ferr == nil) {
				t.Fatalf("ParseDirItems err %v, FindDirItem err %v", err, ferr)
			}
			if err != nil {
				return
			}
			var want *Dir
			for i := range items {
				if bytes.Equal(items[i].Name, name) {
					want = &items[i]
					break
				}
			}
			switch {
			case found != (want != nil):
				t.Fatalf("%q: found %v, listed %v", name, found, want != nil)
			case found && (d.Location != want.Location || d.Type != want.Type || d.Transid != want.Transid || !bytes.Equal(d.Data, want.Data)):
				t.Fatalf("%q: found %+v, listed %+v", name, d, *want)
			}
		}
	})
}

func FuzzFileExtentItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fe, err := ParseFileExtent(b)
		if !checkErr(t, err) {
			return
		}
		switch {
		case fe.Type == FileExtentInline && len(fe.InlineData) != len(b)-FileExtentInlineDataStart,
			fe.Type != FileExtentInline && len(b) != FileExtentSize,
			fe.Compression > CompressZstd:
			t.Fatalf("accepted %+v from %d bytes", fe, len(b))
		}
	})
}

func FuzzRootItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoot(b)
		if checkErr(t, err) && r.Legacy != (len(b) == LegacyRootSize) {
			t.Fatalf("Legacy %v for %d bytes", r.Legacy, len(b))
		}
	})
}

func FuzzRootRef(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRootRef(b)
		if checkErr(t, err) && rootRefHdr+len(r.Name) != len(b) {
			t.Fatalf("name of %d bytes in %d-byte item", len(r.Name), len(b))
		}
	})
}

func FuzzExtentItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kt := range []ondisk.ItemType{ondisk.ExtentItemKey, ondisk.MetadataItemKey} {
			ei, err := ParseExtent(b, kt)
			if !checkErr(t, err) {
				continue
			}
			n := extentItemSize
			if ei.HasTreeBlockInfo {
				n += treeBlockInfoSize
			}
			var refs uint64
			for _, r := range ei.Inline {
				n += inlineRefSize(r.Type)
				refs += uint64(r.Count)
			}
			if n != len(b) || refs > ei.Refs {
				t.Fatalf("key type %d: refs cover %d of %d bytes, count %d of %d", kt, n, len(b), refs, ei.Refs)
			}
		}
	})
}

func FuzzExtentDataRef(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseExtentDataRef(b)
		if checkErr(t, err) && (len(b) != ExtentDataRefSize || d.Count == 0) {
			t.Fatalf("accepted %+v from %d bytes", d, len(b))
		}
	})
}

func FuzzSharedDataRef(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseSharedDataRef(b)
		if checkErr(t, err) && (len(b) != 4 || c == 0) {
			t.Fatalf("accepted count %d from %d bytes", c, len(b))
		}
	})
}

func FuzzBlockGroupItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseBlockGroup(b)
		if checkErr(t, err) && len(b) != BlockGroupSize && len(b) != BlockGroupV2Size {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

func FuzzDevExtent(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseDevExtent(b)
		if checkErr(t, err) && len(b) != DevExtentSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

func FuzzUUIDItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseUUID(b)
		if checkErr(t, err) && (len(ids) == 0 || 8*len(ids) != len(b)) {
			t.Fatalf("%d ids from %d bytes", len(ids), len(b))
		}
	})
}

func FuzzVerityDescItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseVerityDesc(b)
		if checkErr(t, err) && len(b) != VerityDescSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

func FuzzCsumItem(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Derive the start, checksum size and probe address from the input
		// so the fuzzer explores them too.
		if len(b) < 9 {
			return
		}
		csumSize := []int{4, 8, 32}[int(b[0])%3]
		start := binary.LittleEndian.Uint64(b[1:9]) &^ 4095
		c, err := ParseCsum(b[9:], start, csumSize, 4096)
		if !checkErr(t, err) {
			return
		}
		for _, probe := range []uint64{start, start + 4095, c.End() - 1, c.End(), start - 1} {
			sum, ok := c.Lookup(probe)
			if ok != (probe >= start && probe < c.End()) || ok && len(sum) != csumSize {
				t.Fatalf("Lookup(%d) on [%d,%d) = %d bytes, %v", probe, start, c.End(), len(sum), ok)
			}
		}
	})
}

func FuzzQgroupItems(f *testing.F) {
	addItemSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseQgroupInfo(b)
		if checkErr(t, err) && len(b) != qgroupItemSize {
			t.Fatalf("info accepted %d bytes", len(b))
		}
		_, err = ParseQgroupLimit(b)
		if checkErr(t, err) && len(b) != qgroupItemSize {
			t.Fatalf("limit accepted %d bytes", len(b))
		}
	})
}
