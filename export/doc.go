// Package export copies a subvolume, or a directory in one, out of an
// opened filesystem: into a directory (ToDir) or a POSIX PAX tar archive
// (ToTar), with every file's sha256 (sha256sum -c format) and a Sleuth
// Kit bodyfile (mactime's input) made on the way, and with KeepGoing, a
// salvage mode that exports what can be read and lists what cannot.
//
// What is exported is what the kernel's mount shows: names, types, modes,
// owners, times with nanoseconds, xattrs, hard links, symlinks, device
// nodes, fifos, sockets, and holes where the mount's SEEK_HOLE finds them.
//
// It imports fstree (reading) and internal/destfs (making files under an
// os.Root), nothing that sends or receives streams.
package export
