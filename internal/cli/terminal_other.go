//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly && !windows

package cli

// isTerminal cannot tell on this platform; streams are written anyway.
func isTerminal(uintptr) bool { return false }
