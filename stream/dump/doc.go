// Package dump renders decoded send-stream commands (stream.Command) as
// text and as JSON Lines. It imports only the standard library and stream.
//
// Text reproduces `btrfs receive --dump` of btrfs-progs v6.2 byte for byte,
// quirks included: the 32-column alignment, the escaping of paths (but not
// of xattr names, xattr data or clone sources), the signed 32-bit
// truncation of clone lengths and fallocate modes, "fileattr=0x" followed
// by a decimal number, the PATH_MAX limit on joined paths, commands of
// later protocol versions printed in any stream, and glibc's rendering of
// local times (unpadded and wrapped years, failure outside the range of
// struct tm, its summer-time rules in the far future). The expected output
// in the tests comes from the real tool (testdata/make.sh).
//
// Differences from progs, all deliberate or outside this package's reach:
//   - progs stops after the first stream of a concatenated input; Text
//     prints every stream, starting each one from "." again.
//   - progs refuses protocol version 3; Text prints v3 streams like any
//     other (enable_verity as v6.2 prints it inside a v2 stream).
//   - Times are converted with a *time.Location. glibc also understands
//     POSIX TZ strings such as TZ=JST-9, which Go's time.Local silently
//     treats as UTC; zones of the tz database give the same results.
//   - Inputs that stream.Reader rejects (wrong attribute sizes, unknown
//     commands or attributes, missing mandatory attributes) never reach
//     the printers; progs silently skips unknown commands.
//
// JSON writes one object per command, END included, with every attribute
// the command carries, losslessly.
package dump
