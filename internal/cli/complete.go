package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/item"
)

// Completion: the IMAGE argument completes as a file name; SUBVOL and
// SUBVOL/PATH arguments and -p/-c values complete from the image already
// on the command line (with its --device flags), read as every command
// reads it. Errors complete nothing: a shell must not show them.

func completeImage(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeImageThenDir completes IMAGE, then a directory (a mount point).
func completeImageThenDir(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return nil, cobra.ShellCompDirectiveDefault
	case 1:
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeImageThenSubvols completes IMAGE, then subvolume paths.
func completeImageThenSubvols(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return subvolPaths(c, args[0], prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeImageThenPath completes IMAGE, then one SUBVOL[/PATH]: subvolume
// paths, and below the deepest one the prefix names, the entries of the
// directory it ends in.
func completeImageThenPath(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return nil, cobra.ShellCompDirectiveDefault
	case 1:
		return pathCompletions(c, args[0], prefix), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeSubvolFlag completes -p and -c from the image in args.
func completeSubvolFlag(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return subvolPaths(c, args[0], prefix), cobra.ShellCompDirectiveNoFileComp
}

// openForCompletion opens image with the command's --device,
// --generation and --root flags, discarding warnings.
func openForCompletion(c *cobra.Command, image string) (*fstree.FS, error) {
	devices, _ := c.Flags().GetStringArray("device")
	gen, _ := c.Flags().GetUint64("generation")
	root, _ := c.Flags().GetUint64("root")
	return fstree.OpenFiles(append([]string{image}, devices...), fstree.Options{Generation: gen, RootBytenr: root})
}

// subvolPaths lists the paths of the image's subvolumes that start with
// prefix.
func subvolPaths(c *cobra.Command, image, prefix string) []string {
	fs, err := openForCompletion(c, image)
	if err != nil {
		return nil
	}
	defer fs.Close()
	var out []string
	for sv, err := range fs.Subvolumes() {
		if err != nil {
			return out
		}
		if sv.Path != "" && strings.HasPrefix(sv.Path, prefix) {
			out = append(out, sv.Path)
		}
	}
	return out
}

// pathCompletions lists subvolume paths and, for a prefix inside a
// directory, that directory's entries (directories with a trailing '/').
func pathCompletions(c *cobra.Command, image, prefix string) []string {
	fs, err := openForCompletion(c, image)
	if err != nil {
		return nil
	}
	defer fs.Close()
	dir, base := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, base = prefix[:i+1], prefix[i+1:]
	}
	loc, err := fs.Resolve(dir)
	if err != nil {
		return nil
	}
	var out []string
	for de, err := range loc.Subvol.Entries(loc.Ino) {
		if err != nil {
			break
		}
		name := string(de.Name)
		if !strings.HasPrefix(name, base) || strings.ContainsAny(name, "\n\t") {
			continue
		}
		if de.IsSubvolume() || de.Type == item.FTDir {
			name += "/"
		}
		out = append(out, dir+name)
	}
	return out
}
