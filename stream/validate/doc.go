// Package validate checks a btrfs send stream for what a receiver would
// trip on, beyond the CRC, TLV and mandatory-attribute checks stream.Reader
// already makes: commands outside a subvolume, a subvolume name that is
// not one path component or is created twice, commands or attributes newer
// than the stream's version, repeated attributes, paths the kernel never
// sends ("..", empty components, NUL bytes, over NAME_MAX or PATH_MAX),
// encoded writes a receiver refuses, and operations that do not fit the
// tree the stream has built so far: a name created twice, a rename or
// unlink of a missing path, a rename that rename(2) would refuse, an rmdir of a
// directory still holding entries, data commands on something that is not
// a regular file, a clone from a range not yet written, and an entry left
// under a kernel orphan name o<ino>-<gen>-<n> when its subvolume ends.
//
// The tree is modelled per subvolume, one node per path the stream
// touches, so memory follows the number of paths and not the amount of
// data. A full stream (SUBVOL) starts from an empty root and is known
// completely. An incremental stream (SNAPSHOT) starts from a parent whose
// contents are unknown: a name never created, removed or moved in the
// stream is assumed to be there when a command needs it, and is not held
// against a command that creates it, so a command that depends on a
// missing parent entry goes unnoticed. Directories and files the stream
// creates are known fully, including a file's size as a receiver has it
// (write, encoded_write, clone, truncate, fallocate without KEEP_SIZE, and
// update_extent, which stands for data a --no-data stream leaves out);
// clone sources in the current subvolume are checked against it. Clone
// sources in other subvolumes cannot be checked, nor can block alignment,
// which depends on the receiving filesystem.
//
// Orphan names count only in the subvolume's root directory, where the
// kernel makes them (gen_unique_name), only in its decimal form, and for a
// file the stream created only with that file's own inode number: a user's
// file that merely looks like one is not flagged, except when an existing
// file is renamed to such a name in the root of an incremental stream.
//
// The first problem is reported as a *stream.Error carrying the offset,
// index and type of the command concerned. The package imports only the
// standard library and stream; compressed input is for the caller to
// unwrap with stream.Decompress.
package validate
