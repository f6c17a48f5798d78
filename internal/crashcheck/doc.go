// Package crashcheck measures coldsend against the kernel on crash
// images (scenarios whose manifest has a Crash record, see
// internal/scenario): the image was copied from a running system, so
// fsynced changes live only in its log tree, and the manifest holds what
// the kernel showed after mounting a copy, which replays the log, and its
// sends of a read-only snapshot of every subvolume the log touched.
//
// Check lists every difference between coldsend's reading of the crash
// image and that kernel view, and between coldsend's send of each touched
// subvolume and the kernel's stream apart from the first command. Until
// coldsend replays the log (issue 15) the differences are what only the
// log holds.
//
// It imports internal/fixturecheck, internal/fixturestreams,
// internal/sendcheck and internal/manifest.
package crashcheck
