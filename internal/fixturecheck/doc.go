// Package fixturecheck compares what coldsend reads from a scenario's
// device images with the manifest the kernel-side generator recorded from
// the mounted filesystem. The committed-fixture tests and the kernel
// oracle both use it, so the two always check the same things.
//
// It imports fstree, ondisk, internal/manifest and internal/imagefile.
package fixturecheck
