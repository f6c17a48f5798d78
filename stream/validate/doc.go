// Package validate checks a btrfs send stream for what a receiver would
// trip on, beyond the CRC, TLV and mandatory-attribute checks that
// stream.Reader already makes: commands outside a subvolume, commands or
// attributes newer than the stream's version, duplicated attributes, and
// operations that do not fit the tree the stream has built so far (a file
// created twice, a rename of a missing path, an rmdir of a directory that
// still holds entries, a clone from a range not yet written, a temporary
// orphan name o<ino>-<gen>-<n> left in place when the subvolume ends).
//
// The tree is modelled per subvolume, one node per path the stream
// touches, so memory follows the number of paths and not the amount of
// data. A full stream (SUBVOL) starts from an empty root and is known
// completely. An incremental stream (SNAPSHOT) starts from a parent whose
// contents are unknown: a name never created, removed or moved in the
// stream is assumed to be there when a command needs it, and is not held
// against a command that creates it. Directories and files created by the
// stream are known fully, including a file's size, which is what clone
// sources inside the stream are checked against. Clone sources in other
// subvolumes cannot be checked at all.
//
// The first problem is reported as a *stream.Error carrying the offset,
// index and type of the command concerned. The package imports only the
// standard library and stream; compressed input is for the caller to
// unwrap with stream.Decompress.
package validate
