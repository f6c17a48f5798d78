// Package logreplay replays a btrfs tree log in memory, as the kernel's
// mount does (Linux 6.18 fs/btrfs/tree-log.c, btrfs_recover_log_trees):
// what fsync wrote to the log since the last commit is merged into the
// subvolume trees, the checksum tree and the extent tree's references,
// with the kernel's decisions in the kernel's order, into copies of the
// trees' blocks kept in a btree.MemBlocks. The devices are only read.
//
// Inodes the replay leaves without links get an ORPHAN_ITEM, as the
// kernel's replay leaves them for the orphan cleanup that runs at mount;
// readers apply that cleanup (fstree.Orphans).
//
// It imports btree, ondisk and ondisk/item. docs/LOGREPLAY.md maps the
// kernel's functions to this package's.
package logreplay
