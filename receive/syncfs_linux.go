package receive

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncDest flushes the destination's filesystem (syncfs), so that the
// commands a progress record vouches for are on disk before it is.
func syncDest(dest *os.Root) error {
	d, err := dest.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
