package main

import (
	"fmt"
	"io"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/item"
)

func catCommand(stdout, stderr io.Writer) *command {
	c := newCommand("cat", "[--device PATH]... IMAGE SUBVOL/PATH", "Write the exact bytes of a file to standard output.")
	var ff fsFlags
	ff.register(c)
	c.minArgs, c.maxArgs = 2, 2
	c.run = func(args []string) error {
		return ff.withPath(args[0], args[1], stderr, func(loc fstree.Location) error {
			f, err := loc.Subvol.OpenFile(loc.Ino)
			if err != nil {
				return err
			}
			switch f.Inode.Mode & item.ModeTypeMask {
			case item.ModeRegular:
			case item.ModeSymlink:
				t, err := loc.Subvol.ReadLink(loc.Ino)
				if err != nil {
					return err
				}
				return fmt.Errorf("%s is a symbolic link to %s", args[1], escapeName(t))
			default:
				return fmt.Errorf("%s is not a regular file (%s)", args[1], modeString(f.Inode.Mode))
			}
			if _, err := copyFile(stdout, f); err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			return nil
		})
	}
	return c
}

// copyFile streams a file's contents extent by extent through buffers of
// at most 1 MiB.
func copyFile(w io.Writer, f *fstree.File) (int64, error) {
	return f.WriteTo(w)
}
