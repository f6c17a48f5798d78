// Package imagefile loads the zstd-compressed device images that the
// fixtures ship, into memory for tests or onto disk for the demo.
package imagefile
