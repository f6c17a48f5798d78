// Package btree searches and iterates the committed B-trees of a btrfs
// filesystem: exact and nearest-key search, forward and backward iteration
// from any key, and a bounded cache of verified tree blocks.
//
// It imports only package ondisk, from which it receives verified tree
// blocks through the Reader interface; it knows nothing of what items mean.
package btree
