// Package ondisk turns the bytes of btrfs devices into structures: the
// superblock, checksums, feature flags, device assembly, the chunk map
// (logical -> physical for every RAID profile, with mirror fallback and
// RAID5/6 reconstruction), verified tree blocks and the item payloads found
// in them.
//
// It is the lowest layer of coldsend and imports only the standard library
// and its chosen hash and decompression dependencies. Nothing here walks a
// B-tree beyond what bootstrapping the chunk tree requires; searching and
// iterating trees is package btree's job. Devices are only ever read.
package ondisk
