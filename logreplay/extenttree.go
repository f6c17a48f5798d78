package logreplay

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// This file ports the extent tree side of replay (extent-tree.c): the
// lookup of a data extent, the insertion of an extent only the log knew
// (btrfs_alloc_logged_file_extent), and the data references replay adds
// and drops. The kernel queues references as delayed refs, merged per
// extent and run at the transaction's commit, additions first; so does
// this file, so that send's backref walk sees the references the
// kernel's commit would have written.

const (
	extentItemSize   = 24
	dataRefInline    = 1 + item.ExtentDataRefSize // type byte and the ref
	sharedRefInline  = 1 + 8 + 4                  // type byte, parent, count
	ownerRefInline   = 9
	extentFlagData   = 1
	blockGroupItemTy = ondisk.BlockGroupItemKey
)

// dataRef is a data extent's back reference: an EXTENT_DATA_REF names a
// file (root, inode) and its file offset minus the extent offset; a
// SHARED_DATA_REF (parent set, nothing else) names the leaf that holds
// the file extent item, for leaves shared between snapshots.
type dataRef struct {
	root, owner, offset uint64
	parent              uint64
}

func (d dataRef) shared() bool { return d.parent != 0 }

func (d dataRef) keyType() ondisk.ItemType {
	if d.shared() {
		return ondisk.SharedDataRefKey
	}
	return ondisk.ExtentDataRefKey
}

func (d dataRef) String() string {
	if d.shared() {
		return fmt.Sprintf("(shared by leaf %d)", d.parent)
	}
	return fmt.Sprintf("(%d, %d, %d)", d.root, d.owner, d.offset)
}

func (d dataRef) hash() uint64 { return ondisk.ExtentDataRefHash(d.root, d.owner, d.offset) }

// compareRefs is the delayed refs' comp_refs for data: keyed references
// before shared ones, then by (root, inode, offset) or by parent.
func compareRefs(a, b dataRef) int {
	return cmp.Or(cmp.Compare(a.keyType(), b.keyType()),
		cmp.Compare(a.root, b.root), cmp.Compare(a.owner, b.owner), cmp.Compare(a.offset, b.offset),
		cmp.Compare(a.parent, b.parent))
}

// refHead is the delayed references of one extent.
type refHead struct {
	bytenr, numBytes uint64
	mods             map[dataRef]int64
	added            []dataRef // in the order additions were queued
}

type delayedRefs struct {
	r     *replayer
	heads map[uint64]*refHead
}

func newDelayedRefs(r *replayer) *delayedRefs {
	return &delayedRefs{r: r, heads: map[uint64]*refHead{}}
}

// add queues n references more (or fewer, n < 0) of ref on the extent,
// merged with the ones already queued (btrfs_inc_extent_ref and
// btrfs_free_extent through the delayed refs).
func (d *delayedRefs) add(bytenr, numBytes uint64, ref dataRef, n int64) {
	h := d.heads[bytenr]
	if h == nil {
		h = &refHead{bytenr: bytenr, numBytes: numBytes, mods: map[dataRef]int64{}}
		d.heads[bytenr] = h
	}
	was := h.mods[ref]
	now := was + n
	h.mods[ref] = now
	// A reference that turns into an addition joins the end of the list
	// of additions, and leaves it when it stops being one, as the
	// kernel's merge of delayed ref nodes moves it.
	switch {
	case was <= 0 && now > 0:
		h.added = append(h.added, ref)
	case was > 0 && now <= 0:
		h.added = slices.DeleteFunc(h.added, func(a dataRef) bool { return a == ref })
	}
	if now == 0 {
		delete(h.mods, ref)
	}
}

// run is the commit's btrfs_run_delayed_refs: extents in address order,
// each one's additions before its drops.
func (d *delayedRefs) run() error {
	for _, bytenr := range slices.Sorted(maps.Keys(d.heads)) {
		h := d.heads[bytenr]
		for _, ref := range h.added {
			if n := h.mods[ref]; n > 0 {
				if err := d.r.incExtentRef(h.bytenr, h.numBytes, ref, uint32(n)); err != nil {
					return err
				}
			}
		}
		var drops []dataRef
		for ref, n := range h.mods {
			if n < 0 {
				drops = append(drops, ref)
			}
		}
		slices.SortFunc(drops, compareRefs)
		for _, ref := range drops {
			if err := d.r.freeExtentRef(h.bytenr, h.numBytes, ref, uint32(-h.mods[ref])); err != nil {
				return err
			}
		}
	}
	return nil
}

func extentKey(bytenr, numBytes uint64) ondisk.Key {
	return ondisk.Key{ObjectID: bytenr, Type: ondisk.ExtentItemKey, Offset: numBytes}
}

// lookupDataExtent is btrfs_lookup_data_extent: the extent tree has an
// item for exactly this extent.
func (r *replayer) lookupDataExtent(bytenr, numBytes uint64) (bool, error) {
	et, err := r.extentTree()
	if err != nil {
		return false, err
	}
	_, ok, err := et.get(extentKey(bytenr, numBytes))
	return ok, err
}

// allocLoggedFileExtent is btrfs_alloc_logged_file_extent: the extent
// item, written at once, with one inline reference (after the owner
// reference of simple quotas).
func (r *replayer) allocLoggedFileExtent(bytenr, numBytes uint64, ref dataRef) error {
	et, err := r.extentTree()
	if err != nil {
		return err
	}
	size := extentItemSize + dataRefInline
	if r.squota {
		size += ownerRefInline
	}
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 1)
	le.PutUint64(b[8:], r.transid)
	le.PutUint64(b[16:], extentFlagData)
	off := extentItemSize
	if r.squota {
		b[off] = byte(ondisk.ExtentOwnerRefKey)
		le.PutUint64(b[off+1:], ref.root)
		off += ownerRefInline
	}
	putInlineRef(b[off:], ref, 1)
	ok, err := et.insert(extentKey(bytenr, numBytes), b)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("extent item %v: %w", extentKey(bytenr, numBytes), errExist)
	}
	return nil
}

// inlineRefSize is btrfs_extent_inline_ref_size for ref's type.
func inlineRefSize(ref dataRef) int {
	if ref.shared() {
		return sharedRefInline
	}
	return dataRefInline
}

// putInlineRef writes ref as an inline reference (type byte first).
func putInlineRef(b []byte, ref dataRef, count uint32) {
	le := binary.LittleEndian
	b[0] = byte(ref.keyType())
	if ref.shared() {
		le.PutUint64(b[1:], ref.parent)
		le.PutUint32(b[9:], count)
		return
	}
	le.PutUint64(b[1:], ref.root)
	le.PutUint64(b[9:], ref.owner)
	le.PutUint64(b[17:], ref.offset)
	le.PutUint32(b[25:], count)
}

// inlineRef is one inline reference of an extent item payload.
type inlineRef struct {
	typ  ondisk.ItemType
	off  int
	size int
	ref  dataRef // EXTENT_DATA_REF and SHARED_DATA_REF only
}

// countAt is where the reference count of a data reference is.
func (ir *inlineRef) countAt() int {
	if ir.typ == ondisk.SharedDataRefKey {
		return ir.off + 9
	}
	return ir.off + 25
}

func inlineSize(t ondisk.ItemType) int {
	switch t {
	case ondisk.ExtentOwnerRefKey, ondisk.TreeBlockRefKey, ondisk.SharedBlockRefKey:
		return 9
	case ondisk.SharedDataRefKey:
		return sharedRefInline
	case ondisk.ExtentDataRefKey:
		return dataRefInline
	}
	return 0
}

// dataExtentItem reads and checks a data extent item and lists its
// inline references with where they are.
func (r *replayer) dataExtentItem(k ondisk.Key) ([]byte, []inlineRef, error) {
	et, err := r.extentTree()
	if err != nil {
		return nil, nil, err
	}
	b, ok, err := et.get(k)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("extent item %v: %w", k, errNotFound)
	}
	ei, err := item.ParseExtent(b, ondisk.ExtentItemKey)
	if err != nil {
		return nil, nil, fmt.Errorf("extent item %v: %w", k, err)
	}
	if ei.Flags&item.ExtentFlagData == 0 {
		return nil, nil, fmt.Errorf("extent item %v is not a data extent: %w", k, errBadItem)
	}
	var refs []inlineRef
	le := binary.LittleEndian
	for off := extentItemSize; off < len(b); {
		t := ondisk.ItemType(b[off])
		ir := inlineRef{typ: t, off: off, size: inlineSize(t)}
		switch t {
		case ondisk.ExtentDataRefKey:
			ir.ref = dataRef{root: le.Uint64(b[off+1:]), owner: le.Uint64(b[off+9:]), offset: le.Uint64(b[off+17:])}
		case ondisk.SharedDataRefKey:
			ir.ref = dataRef{parent: le.Uint64(b[off+1:])}
		}
		refs = append(refs, ir)
		off += ir.size
	}
	return b, refs, nil
}

// findInline is lookup_inline_extent_backref for a data reference: the
// matching inline reference, or where a new one would go.
func findInline(b []byte, refs []inlineRef, want dataRef) (match *inlineRef, insertAt int) {
	wantType := want.keyType()
	for i := range refs {
		ir := &refs[i]
		if ir.typ == ondisk.ExtentOwnerRefKey {
			continue
		}
		if wantType < ir.typ {
			return nil, ir.off
		}
		if wantType > ir.typ {
			continue
		}
		if ir.ref == want {
			return ir, ir.off
		}
		if want.shared() {
			if ir.ref.parent < want.parent {
				return nil, ir.off
			}
		} else if ir.ref.hash() < want.hash() {
			return nil, ir.off
		}
	}
	return nil, len(b)
}

func setRefs(b []byte, refs uint64) { binary.LittleEndian.PutUint64(b, refs) }

// incExtentRef is __btrfs_inc_extent_ref for a data reference: an inline
// reference counts up or is added in its place, unless the item is full
// or keyed references follow it, then the keyed reference does.
func (r *replayer) incExtentRef(bytenr, numBytes uint64, ref dataRef, n uint32) error {
	et, err := r.extentTree()
	if err != nil {
		return err
	}
	k := extentKey(bytenr, numBytes)
	b, refs, err := r.dataExtentItem(k)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	total := le.Uint64(b) + uint64(n)
	match, at := findInline(b, refs, ref)
	if match != nil {
		setRefs(b, total)
		le.PutUint32(b[match.countAt():], le.Uint32(b[match.countAt():])+n)
		return et.put(k, b)
	}
	size := inlineRefSize(ref)
	useKeyed := len(b)+size >= r.maxExtentItemSize()
	if !useKeyed {
		next, ok, err := et.after(k)
		if err != nil {
			return err
		}
		useKeyed = ok && next.key.ObjectID == bytenr && next.key.Type < blockGroupItemTy
	}
	if !useKeyed {
		nb := make([]byte, 0, len(b)+size)
		nb = append(nb, b[:at]...)
		rb := make([]byte, size)
		putInlineRef(rb, ref, n)
		nb = append(nb, rb...)
		nb = append(nb, b[at:]...)
		setRefs(nb, total)
		return et.put(k, nb)
	}
	setRefs(b, total)
	if err := et.put(k, b); err != nil {
		return err
	}
	return r.insertKeyedRef(bytenr, ref, n)
}

// maxExtentItemSize is BTRFS_MAX_EXTENT_ITEM_SIZE.
func (r *replayer) maxExtentItemSize() int { return min(r.leafDataSize()>>4, r.maxItemSize()) }

// keyedCountAt is where a keyed reference's payload holds its count.
func keyedCountAt(ref dataRef) int {
	if ref.shared() {
		return 0
	}
	return 24
}

func encodeKeyedRef(ref dataRef, count uint32) []byte {
	le := binary.LittleEndian
	if ref.shared() {
		return le.AppendUint32(nil, count)
	}
	b := make([]byte, item.ExtentDataRefSize)
	le.PutUint64(b[0:], ref.root)
	le.PutUint64(b[8:], ref.owner)
	le.PutUint64(b[16:], ref.offset)
	le.PutUint32(b[24:], count)
	return b
}

// keyedMatches reports whether the keyed reference k, payload b, is ref.
func keyedMatches(k ondisk.Key, b []byte, ref dataRef) (bool, error) {
	if ref.shared() {
		if _, err := item.ParseSharedDataRef(b); err != nil {
			return false, fmt.Errorf("%v: %w", k, err)
		}
		return true, nil
	}
	d, err := item.ParseExtentDataRef(b)
	if err != nil {
		return false, fmt.Errorf("%v: %w", k, err)
	}
	return (dataRef{root: d.Root, owner: d.ObjectID, offset: d.Offset}) == ref, nil
}

// keyedKey is where ref's keyed item is, or for an EXTENT_DATA_REF
// where the search for it starts: its hash, or later on collisions.
func keyedKey(bytenr uint64, ref dataRef) ondisk.Key {
	if ref.shared() {
		return ondisk.Key{ObjectID: bytenr, Type: ondisk.SharedDataRefKey, Offset: ref.parent}
	}
	return ondisk.Key{ObjectID: bytenr, Type: ondisk.ExtentDataRefKey, Offset: ref.hash()}
}

// findKeyedRef is lookup_extent_data_ref: the keyed reference for ref.
func (r *replayer) findKeyedRef(bytenr uint64, ref dataRef) (ondisk.Key, []byte, bool, error) {
	et, err := r.extentTree()
	if err != nil {
		return ondisk.Key{}, nil, false, err
	}
	k := keyedKey(bytenr, ref)
	for {
		it, ok, err := et.next(k)
		if err != nil || !ok || it.key.ObjectID != bytenr || it.key.Type != k.Type {
			return ondisk.Key{}, nil, false, err
		}
		if ref.shared() && it.key != k {
			return ondisk.Key{}, nil, false, nil
		}
		match, err := keyedMatches(it.key, it.data, ref)
		if err != nil {
			return ondisk.Key{}, nil, false, err
		}
		if match {
			return it.key, it.data, true, nil
		}
		var more bool
		if k, more = nextKey(it.key); !more {
			return ondisk.Key{}, nil, false, nil
		}
	}
}

// insertKeyedRef is insert_extent_data_ref: the keyed reference counts
// up, or is inserted (an EXTENT_DATA_REF at the first free offset from
// its hash).
func (r *replayer) insertKeyedRef(bytenr uint64, ref dataRef, n uint32) error {
	et, err := r.extentTree()
	if err != nil {
		return err
	}
	k := keyedKey(bytenr, ref)
	for {
		b, ok, err := et.get(k)
		if err != nil {
			return err
		}
		if !ok {
			return et.put(k, encodeKeyedRef(ref, n))
		}
		match, err := keyedMatches(k, b, ref)
		if err != nil {
			return err
		}
		if match {
			at := keyedCountAt(ref)
			binary.LittleEndian.PutUint32(b[at:], binary.LittleEndian.Uint32(b[at:])+n)
			return et.put(k, b)
		}
		k.Offset++
	}
}

// freeExtentRef is __btrfs_free_extent for a data reference: the
// reference counts down or goes; an extent left without references
// leaves the extent tree and its checksums the checksum tree.
func (r *replayer) freeExtentRef(bytenr, numBytes uint64, ref dataRef, n uint32) error {
	et, err := r.extentTree()
	if err != nil {
		return err
	}
	k := extentKey(bytenr, numBytes)
	b, refs, err := r.dataExtentItem(k)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	match, _ := findInline(b, refs, ref)
	var keyedKey ondisk.Key
	var keyed []byte
	if match == nil {
		var ok bool
		if keyedKey, keyed, ok, err = r.findKeyedRef(bytenr, ref); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("extent %d has no reference %v to drop: %w", bytenr, ref, errNotFound)
		}
	}
	total := le.Uint64(b)
	if total < uint64(n) {
		return fmt.Errorf("extent %d has %d references, %d to drop: %w", bytenr, total, n, errBadItem)
	}
	total -= uint64(n)
	if total > 0 {
		setRefs(b, total)
		if match != nil {
			count := le.Uint32(b[match.countAt():])
			if count > n {
				le.PutUint32(b[match.countAt():], count-n)
			} else {
				b = append(b[:match.off:match.off], b[match.off+match.size:]...)
			}
			return et.put(k, b)
		}
		if err := et.put(k, b); err != nil {
			return err
		}
		at := keyedCountAt(ref)
		count := le.Uint32(keyed[at:])
		if count > n {
			le.PutUint32(keyed[at:], count-n)
			return et.put(keyedKey, keyed)
		}
		return et.del(keyedKey)
	}
	if err := et.del(k); err != nil {
		return err
	}
	if match == nil {
		if err := et.del(keyedKey); err != nil {
			return err
		}
	}
	ct, err := r.csumTree()
	if err != nil {
		return err
	}
	return r.delCsums(ct, bytenr, numBytes)
}
