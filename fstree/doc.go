// Package fstree reads the filesystem that the committed trees describe:
// the root tree and its subvolumes (ROOT_ITEM, ROOT_REF/ROOT_BACKREF, the
// UUID tree), and inside a subvolume its inodes, names (INODE_REF and
// INODE_EXTREF), directory entries, xattrs and file contents (inline,
// regular, prealloc and hole extents, compressed or not, with data
// checksums verified against the checksum tree and mirror fallback).
//
// It imports ondisk (structures, devices, decompression) and btree
// (search and iteration). It never writes, and never replays a log tree:
// it reads the last committed state and says when a log was left behind,
// or an older commit still on disk (Generations, Options.Generation).
package fstree
