package sendgen

import (
	"errors"
	"fmt"

	"github.com/coldsend/coldsend/btree"
	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
)

// FindParent picks the parent of an incremental send of sv when only
// clone sources are given, as btrfs send -c without -p does (btrfs-progs
// cmds/send.c, find_good_parent): the snapshot sv was taken from, when it
// is one of the clone sources, else the clone source taken from that same
// snapshot whose ctransid is closest to the snapshot's (the first of
// equals). The snapshot sv was taken from is found by its uuid in the
// UUID tree, and may itself be gone.
func FindParent(sv *fstree.Subvol, clones []*fstree.Subvol) (*fstree.Subvol, error) {
	fs := sv.FS()
	parent, err := progsParent(fs, sv.ID)
	if err != nil {
		return nil, fmt.Errorf("parent determination failed for %d: %w", sv.ID, err)
	}
	for _, c := range clones {
		if c.ID == parent.id {
			return c, nil
		}
	}
	var best *fstree.Subvol
	bestDiff := ^uint64(0)
	for _, c := range clones {
		p2, err := progsParent(fs, c.ID)
		if err != nil || p2.id != parent.id {
			continue
		}
		ci, err := progsRootInfo(fs, c.ID)
		if err != nil {
			return nil, fmt.Errorf("parent determination failed for %d: %w", sv.ID, err)
		}
		diff := int64(ci.ctransid - parent.ctransid)
		if diff < 0 {
			diff = -diff
		}
		if uint64(diff) < bestDiff {
			best, bestDiff = c, uint64(diff)
		}
	}
	if best == nil {
		return nil, fmt.Errorf("parent determination failed for %d: no clone source is a snapshot of the subvolume's parent %d", sv.ID, parent.id)
	}
	return best, nil
}

// progsRoot is what find_good_parent uses of btrfs-progs' subvol_info:
// the root id and, from its last ROOT_ITEM, the parent uuid and ctransid
// (zero when the item predates them, as btrfs_read_root_item makes them).
type progsRoot struct {
	id         uint64
	parentUUID ondisk.UUID
	ctransid   uint64
}

var errNoRoot = errors.New("no such subvolume")

// progsRootInfo mirrors subvol_uuid_search by root id.
func progsRootInfo(fs *fstree.FS, id uint64) (progsRoot, error) {
	_, ri, err := fs.TreeRoot(id)
	if err != nil {
		if errors.Is(err, btree.ErrNotFound) {
			return progsRoot{}, fmt.Errorf("subvolume %d: %w", id, errNoRoot)
		}
		return progsRoot{}, err
	}
	r := progsRoot{id: id}
	if ri.ExtendedValid() {
		r.parentUUID, r.ctransid = ri.ParentUUID, ri.Ctransid
	}
	return r, nil
}

// progsParent mirrors get_parent: the root whose uuid is the parent uuid
// of root id, by the first id the UUID tree holds for it.
func progsParent(fs *fstree.FS, id uint64) (progsRoot, error) {
	r, err := progsRootInfo(fs, id)
	if err != nil {
		return progsRoot{}, err
	}
	ids, err := fs.SubvolumesByUUID(r.parentUUID, false)
	if err != nil {
		return progsRoot{}, err
	}
	if len(ids) == 0 {
		return progsRoot{}, fmt.Errorf("subvolume %d: parent uuid %v: %w", id, r.parentUUID, errNoRoot)
	}
	return progsRootInfo(fs, ids[0])
}
