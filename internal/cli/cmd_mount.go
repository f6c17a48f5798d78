package cli

import (
	"github.com/spf13/cobra"
)

// mountFlags are mount's own options, beside the filesystem's.
type mountFlags struct {
	generations bool
	scan        bool
	allowOther  bool
	debug       bool
}

func mountCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "mount [--device PATH]... [--generation G] [--generations [--scan]] IMAGE MOUNTPOINT",
		Short: "Mount an image read-only through FUSE (Linux; macOS with macFUSE), every subvolume at its path",
		Long: "Mount the filesystem of IMAGE read-only at MOUNTPOINT through FUSE and serve it\n" +
			"until it is unmounted (umount, fusermount -u) or coldsend is interrupted\n" +
			"(Ctrl-C, SIGTERM), which unmounts it. The top level shows every subvolume at\n" +
			"its path, as the kernel's mount does; a log tree is replayed in memory first\n" +
			"(--no-log-replay: the last commit). With --generations, a directory\n" +
			".generations at the root holds every older commit that is still whole, each\n" +
			"a full tree named by its generation (--scan: also older root trees a scan\n" +
			"finds). st_ino is the btrfs inode number in the top level; in a subvolume S\n" +
			"it is S<<40 + the inode number (FUSE gives the mount one device).",
		Args:              args(2, 2),
		ValidArgsFunction: completeImageThenDir,
	}
	ff := newFSFlags(c, true)
	mf := &mountFlags{}
	fl := c.Flags()
	fl.BoolVar(&mf.generations, "generations", false, "show older commits under .generations/G")
	fl.BoolVar(&mf.scan, "scan", false, "with --generations, also scan the metadata chunks for older root trees")
	fl.BoolVar(&mf.allowOther, "allow-other", false, "let other users read the mount (FUSE allow_other; needs user_allow_other in /etc/fuse.conf unless root)")
	fl.BoolVarP(&mf.debug, "debug", "d", false, "log every FUSE request and reply on stderr")
	c.RunE = func(_ *cobra.Command, args []string) error {
		if mf.scan && !mf.generations {
			return &usageError{"--scan goes with --generations"}
		}
		return runMount(e, ff, mf, args[0], args[1])
	}
	return c
}
