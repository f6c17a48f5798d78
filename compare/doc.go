// Package compare walks two committed trees of one filesystem in lockstep,
// as the kernel's send does for an incremental stream, and reports every
// item that differs between them, in key order: NEW (only in the left tree,
// the send root), DELETED (only in the right tree, the parent), CHANGED
// (same key, different bytes) and SAME (same key and bytes, in leaves the
// walk descended into).
//
// The walk is a port of btrfs_compare_trees from Linux 6.18 fs/btrfs/send.c
// and reproduces its decisions exactly: where both trees point, at the same
// level and key, to the same block with the same generation, the subtree is
// skipped without being read, so comparing two snapshots costs in proportion
// to what changed between them; and SAME is reported for exactly the items
// the kernel reports it for, since send acts on some of them. The kernel's
// machinery for trees that change during the walk (relocation restarts,
// commit-root locking, cloned buffers, readahead) has no counterpart: the
// trees read here never change.
//
// It imports only ondisk and btree; what items mean is the caller's
// business.
package compare
