// Package corrupt damages tree blocks of an in-memory image for fuzz
// tests: bytes of one block are overwritten in every copy and the block's
// checksum is recomputed, so the damage gets past verification and reaches
// the decoders. It imports only ondisk and btree.
package corrupt
