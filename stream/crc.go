package stream

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc is the kernel's btrfs_crc32c(0, p): CRC32C seeded with 0 and without
// the final inversion, which in terms of the standard CRC is ^CRC(^0, p).
func crc(p []byte) uint32 {
	return ^crc32.Update(0xffffffff, castagnoli, p)
}

// crcUpdate continues crc over more bytes (same convention).
func crcUpdate(c uint32, p []byte) uint32 {
	return ^crc32.Update(^c, castagnoli, p)
}
