// Package stream is the btrfs send-stream codec: the stream header,
// commands with their CRC32C, and TLV attributes, for protocol versions 1,
// 2 and 3 (the kernel's fs/btrfs/send.h).
//
// Writer encodes commands the way the kernel's begin_cmd/tlv_put/send_cmd
// do and refuses what a version cannot carry. Reader decodes a byte stream
// (several concatenated streams too) with bounded memory: each command is
// checked (CRC, TLV bounds, attribute sizes, mandatory attributes) and
// handed out as a view into the reader's buffer, so file data is never
// copied twice. Errors carry the byte offset and command index.
//
// It imports only the standard library and the decompressors used to
// recognise compressed input (Decompress). Presentation (dump, JSON) and
// checking what a receiver would trip on live in stream/dump and
// stream/validate.
package stream
