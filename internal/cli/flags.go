package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/ondisk/volume"
)

// fsFlags are the options of every command that opens a filesystem.
type fsFlags struct {
	cmd     *cobra.Command
	devices []string
	noCsum  bool
	super   int
	verbose bool
}

// newFSFlags registers the filesystem options on c; readsData adds
// --no-data-csum, which only matters where file data is read.
func newFSFlags(c *cobra.Command, readsData bool) *fsFlags {
	f := &fsFlags{cmd: c}
	fl := c.Flags()
	fl.StringArrayVar(&f.devices, "device", nil, "another device `PATH` of a multi-device filesystem (repeatable)")
	if readsData {
		fl.BoolVar(&f.noCsum, "no-data-csum", false, "do not verify data checksums")
	}
	fl.IntVar(&f.super, "super", 0, "trust superblock copy `N` on every device (0 primary, 1 at 64 MiB, 2 at 256 GiB), as btrfs check --super; default: the primary, or a newer valid mirror")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "report every block read from another copy or rebuilt from parity (otherwise the first 10 and a count)")
	_ = c.RegisterFlagCompletionFunc("device", cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault))
	_ = c.RegisterFlagCompletionFunc("super", cobra.FixedCompletions([]string{"0", "1", "2"}, cobra.ShellCompDirectiveNoFileComp))
	return f
}

// superChoice turns --super into volume's choice.
func (f *fsFlags) superChoice() (volume.SuperChoice, error) {
	switch {
	case !f.cmd.Flags().Changed("super"):
		return volume.SuperAuto, nil
	case f.super < 0 || f.super > 2:
		return 0, &usageError{fmt.Sprintf("--super %d: superblock copies are 0 (primary), 1 and 2", f.super)}
	}
	return volume.SuperCopy(f.super), nil
}
