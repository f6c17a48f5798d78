// Package treecmp records a directory tree as the kernel shows it (type,
// mode, owner, size, contents, times, symlink targets, device numbers,
// xattrs, hard-link groups) and compares two such records: a receive
// against the kernel's mount (a fixture manifest) or against the kernel's
// own btrfs receive. Linux only; it reads without changing access times.
package treecmp
