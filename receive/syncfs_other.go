//go:build !linux

package receive

import "os"

// syncDest has no syncfs here: the destination directory is synced where
// the OS allows it (Windows does not), and files rely on the OS's own
// writeback.
func syncDest(dest *os.Root) error {
	d, err := dest.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync()
	return nil
}
