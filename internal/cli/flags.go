package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// fsFlags are the options of every command that opens a filesystem.
type fsFlags struct {
	cmd        *cobra.Command
	devices    []string
	noCsum     bool
	super      int
	verbose    bool
	generation uint64
	noReplay   bool
	rootBytenr uint64
	cacheBytes int // the block cache; zero: fstree's default
}

// newFSFlags registers the filesystem options on c; readsData adds
// --no-data-csum, which only matters where file data is read.
func newFSFlags(c *cobra.Command, readsData bool) *fsFlags {
	f := newDeviceFlags(c)
	fl := c.Flags()
	if readsData {
		fl.BoolVar(&f.noCsum, "no-data-csum", false, "do not verify data checksums")
	}
	fl.Uint64Var(&f.generation, "generation", 0, "read the filesystem as of older commit `G` (see coldsend generations); a tree block reused since fails the read, naming it")
	fl.Uint64Var(&f.rootBytenr, "root", 0, "read the commit whose root-tree block is at logical address `BYTENR` (as generations --scan lists them)")
	fl.BoolVar(&f.noReplay, "no-log-replay", false, "read the last commit of a filesystem that was not cleanly unmounted, without what its log tree holds (by default the log is replayed in memory, as the kernel's mount does; nothing is written)")
	_ = c.RegisterFlagCompletionFunc("generation", completeGeneration)
	_ = c.RegisterFlagCompletionFunc("root", cobra.NoFileCompletions)
	return f
}

// newDeviceFlags registers the options that say which devices and
// superblock copies to read.
func newDeviceFlags(c *cobra.Command) *fsFlags {
	f := &fsFlags{cmd: c}
	fl := c.Flags()
	fl.StringArrayVar(&f.devices, "device", nil, "another device `PATH` of a multi-device filesystem (repeatable)")
	fl.IntVar(&f.super, "super", 0, "trust superblock copy `N` on every device (0 primary, 1 at 64 MiB, 2 at 256 GiB), as btrfs check --super; default: the primary, or a newer valid mirror")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "report every block read from another copy or rebuilt from parity (otherwise the first 10 and a count)")
	_ = c.RegisterFlagCompletionFunc("device", cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault))
	_ = c.RegisterFlagCompletionFunc("super", cobra.FixedCompletions([]string{"0", "1", "2"}, cobra.ShellCompDirectiveNoFileComp))
	return f
}

// options turns the flags into fstree's options.
func (f *fsFlags) options(warn func(ondisk.Warning)) (fstree.Options, error) {
	super, err := f.superChoice()
	if err != nil {
		return fstree.Options{}, err
	}
	if f.cmd.Flags().Changed("generation") && f.cmd.Flags().Changed("root") {
		return fstree.Options{}, &usageError{"--generation and --root exclude each other"}
	}
	return fstree.Options{Warn: warn, CacheBytes: f.cacheBytes, Super: super, NoDataChecksums: f.noCsum, Generation: f.generation, RootBytenr: f.rootBytenr, NoLogReplay: f.noReplay}, nil
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
