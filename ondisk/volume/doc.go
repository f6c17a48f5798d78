// Package volume assembles a btrfs filesystem from its devices and reads
// it by logical address: superblock copies on each device, the chunk map
// bootstrapped from sys_chunk_array and loaded from the chunk tree, every
// RAID profile with mirror fallback and RAID5/6 reconstruction (repairing
// unit by unit around a device that is present but wrong), and tree
// blocks verified against their checksum and the parent's expectations.
//
// It imports ondisk. Devices are only ever read.
package volume
