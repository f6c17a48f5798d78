package destfs

import (
	"errors"
	"syscall"
)

// osUnsupported: Windows refuses owners outright, and symlinks without
// the privilege to make them.
func osUnsupported(err error) bool {
	const errorPrivilegeNotHeld = syscall.Errno(1314)
	return errors.Is(err, syscall.EWINDOWS) || errors.Is(err, errorPrivilegeNotHeld)
}
