// Package streamdiff explains how two send streams differ: the first
// command that is not byte-identical, shown as btrfs receive --dump lines
// and as JSON, for tests that compare coldsend's streams with the kernel's.
package streamdiff
