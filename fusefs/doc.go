// Package fusefs serves an opened filesystem (fstree.FS) read-only through
// FUSE: the top level with every subvolume at its path, as the kernel's
// mount shows them, and optionally a .generations directory holding older
// commits, each a full tree.
//
// Inode numbers: FUSE gives the whole mount one device, where the kernel
// gives each subvolume its own, so st_ino carries the subvolume (and the
// generation) to stay unique: see Ino. Everything else a stat reports is
// the kernel's value (mode, nlink, owner, size, blocks, times in ns,
// rdev), and directory offsets are the kernel's (DIR_INDEX + 1), so a
// directory read while it is listed gives each entry once.
//
// It imports fstree, ondisk and go-fuse; nothing below it imports it.
package fusefs
