// Package sendgen generates btrfs send streams from an unmounted image,
// full or incremental (from a parent snapshot, with clone sources): a
// port of the Linux kernel's send algorithm (fs/btrfs/send.c, 6.18),
// making the same decisions in the same order so that the bytes are those
// the kernel's `btrfs send` emits. docs/SEND.md maps each kernel function
// to the Go function that does its job.
//
// It reads through fstree and btree (and ondisk for item layouts),
// compares the send root with the parent through compare, and writes
// through stream.Writer; it never writes to the image.
package sendgen
