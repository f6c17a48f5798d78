// Package ondisk holds the btrfs format itself: keys and their item types
// and object IDs, tree block headers and nodes (bounds-checked), the
// superblock and its features, checksums and name hashes, block-group
// profiles, and the error kinds every layer above reports damage with.
//
// It imports only the standard library and its hash dependencies. Item
// payloads are decoded by ondisk/item; assembling devices, mapping logical
// addresses and reading verified blocks is ondisk/volume's job.
package ondisk
