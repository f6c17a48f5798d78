package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/item"
)

func catCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:               "cat [--device PATH]... IMAGE SUBVOL/PATH",
		Short:             "Write the exact bytes of a file to standard output",
		Args:              args(2, 2),
		ValidArgsFunction: completeImageThenPath,
	}
	ff := newFSFlags(c, true)
	c.RunE = func(_ *cobra.Command, args []string) error {
		return ff.withPath(args[0], args[1], e.stderr, func(loc fstree.Location) error {
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
				return fmt.Errorf("%s is not a regular file (%s)", args[1], item.ModeString(f.Inode.Mode))
			}
			// The file streams through in buffers of at most 1 MiB.
			if _, err := f.WriteTo(e.stdout); err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			return nil
		})
	}
	return c
}
