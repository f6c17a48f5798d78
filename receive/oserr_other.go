//go:build !windows

package receive

func osUnsupported(error) bool { return false }
