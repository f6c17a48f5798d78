//go:build !windows

package destfs

func osUnsupported(error) bool { return false }
