// Package receive applies btrfs send streams to a plain directory on any
// filesystem, as btrfs receive applies them to a btrfs mount: each
// subvolume becomes a directory under the destination, snapshots start as
// copies of their parent (reflinked where the filesystem can), and every
// command of protocols 1 and 2 is carried out.
//
// Streams are untrusted: every path a stream names is resolved through an
// os.Root, so nothing outside the destination is read, created or changed.
// What the destination cannot take (a chown or destfs.Mknod without privileges,
// an xattr namespace, a creation time) is counted in the Summary, or with
// Options.Strict is an error.
//
// The destination keeps a record of what it received (record.go); a
// subvolume is marked complete only at its END.
//
// It imports stream and ondisk/compression (encoded writes), nothing of
// the filesystem reader.
package receive
