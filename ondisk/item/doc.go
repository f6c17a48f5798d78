// Package item decodes the payloads of the items btrfs keeps in its trees:
// inodes and their names (INODE_REF, INODE_EXTREF), directory entries and
// xattrs, file extents, subvolume roots and their references, extent,
// block group and device extent items, checksums, UUID tree and fs-verity
// items. Each parser bounds-checks its input and applies the kernel
// tree-checker's rules, reporting violations as ondisk.ErrCorrupt.
//
// It imports ondisk (keys, UUIDs, error kinds) and internal/seq.
package item
