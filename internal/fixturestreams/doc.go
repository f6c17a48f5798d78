// Package fixturestreams finds the kernel-made send streams committed
// under fixtures/images, for tests of the stream codec, dump and send.
package fixturestreams
