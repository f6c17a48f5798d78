package fstree

import (
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// SubvolumesByUUID returns the IDs of the subvolumes whose uuid (or, with
// received, whose received_uuid) is u. It asks the UUID tree, and scans the
// root items instead when the filesystem has none or the UUID tree was not
// updated in the last commit (uuid_tree_generation behind).
func (fs *FS) SubvolumesByUUID(u ondisk.UUID, received bool) ([]uint64, error) {
	typ := ondisk.UUIDKeySubvol
	if received {
		typ = ondisk.UUIDKeyReceivedSub
	}
	sb := fs.vol.Super()
	// An older commit's uuid_tree_generation is unknown: scan instead.
	if sb.UUIDTreeGeneration == sb.Generation && fs.gen == sb.Generation {
		t, err := fs.Tree(ondisk.UUIDTreeObjectID)
		if err == nil {
			k := item.UUIDTreeKey(u, typ)
			c, err := t.Seek(k)
			if err != nil {
				return nil, err
			}
			if !c.Valid() || c.Key() != k {
				return nil, nil
			}
			ids, err := item.ParseUUID(c.Data())
			if err != nil {
				return nil, itemError(c, ondisk.UUIDTreeObjectID, err)
			}
			return ids, nil
		}
	}
	svs, err := fs.subvolumeList()
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, sv := range svs {
		got := sv.Item.UUID
		if received {
			got = sv.Item.ReceivedUUID
		}
		if got == u && !u.IsZero() {
			ids = append(ids, sv.ID)
		}
	}
	return ids, nil
}
