package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Version is coldsend's version, as --version prints it.
const Version = "0.1.0-dev"

// env is what the commands read and write. stdout remembers its first
// write error, so no command can finish "successfully" into a full disk.
type env struct {
	stdin  io.Reader
	stdout *outWriter
	// rawStdout is stdout as given, to tell a terminal.
	rawStdout io.Writer
	stderr    io.Writer
	// local is the zone times are shown in; nil means TZ (time.Local).
	local *time.Location
}

// zone is the zone for local times: TZ as Go understands it. glibc also
// accepts POSIX rule strings (TZ=JST-9), which Go treats as UTC, so say
// when that happens rather than print other times than btrfs-progs or ls
// would.
func (e *env) zone() *time.Location {
	if e.local != nil {
		return e.local
	}
	e.local = time.Local
	if tz := os.Getenv("TZ"); tz != "" {
		if _, err := time.LoadLocation(strings.TrimPrefix(tz, ":")); err != nil {
			fmt.Fprintf(e.stderr, "coldsend: warning: TZ=%q is not a zone of the tz database; times are shown in UTC\n", tz)
		}
	}
	return e.local
}

// outWriter passes writes through and keeps the first error.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// Main runs coldsend with the process's arguments and streams and exits.
func Main() {
	os.Exit(Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Run executes one command line and returns the exit status: 0 on
// success, 1 on failure (one line on stderr), 2 for a usage error, 3
// for an export that finished without everything (--keep-going).
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(&env{stdin: stdin, stdout: &outWriter{w: stdout}, rawStdout: stdout, stderr: stderr}, args)
}

// run is Run in env e.
func run(e *env, args []string) (status int) {
	defer func() {
		// Bad input must never surface as a stack trace.
		if r := recover(); r != nil {
			fmt.Fprintf(e.stderr, "coldsend: internal error: %v (please report this with the command line)\n", r)
			status = 1
		}
	}()
	stderr := e.stderr
	root, started := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	name := "coldsend"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	if err == nil && e.stdout.err != nil {
		// Help, a listing, a version: whatever it was did not arrive.
		fmt.Fprintf(stderr, "%s: writing to standard output: %s\n", name, oneLine(e.stdout.err))
		return 1
	}
	if err == nil {
		return 0
	}
	if !*started || isUsage(err) {
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, usageMessage(root, args, err), name)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
	var partial *partialError
	if errors.As(err, &partial) {
		return 3
	}
	return 1
}

// usageMessage words a usage error; an unknown command gets the
// nearest command names instead of cobra's multi-line suggestion.
func usageMessage(root *cobra.Command, args []string, err error) string {
	msg := oneLine(err)
	if !strings.HasPrefix(msg, "unknown command") {
		return msg
	}
	var words []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			words = append(words, a)
		}
	}
	if len(words) == 0 {
		return msg
	}
	msg = fmt.Sprintf("unknown command %q", words[0])
	if s := root.SuggestionsFor(words[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return msg
}

// oneLine keeps an error message on a single line.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// newRoot builds the command tree. *started turns true once a command's
// arguments have been parsed and checked: an error before that is a usage
// error.
func newRoot(e *env) (*cobra.Command, *bool) {
	started := new(bool)
	root := &cobra.Command{
		Use:   "coldsend",
		Short: "btrfs send without a kernel",
		Long: "coldsend reads unmounted btrfs images and devices without a kernel, a mount\n" +
			"or root: it shows the filesystem, lists subvolumes and files, prints file\n" +
			"contents and writes 'btrfs send' streams byte for byte as the kernel does;\n" +
			"it reads send streams too (dump, validate).\n\n" +
			"SUBVOL arguments are paths from the top level (snaps/2, / for the top\n" +
			"level) or id:N. Exit status: 0 success, 1 failure, 2 usage error.",
		Version:            Version,
		SilenceErrors:      true,
		SilenceUsage:       true,
		DisableSuggestions: true,
		PersistentPreRun:   func(*cobra.Command, []string) { *started = true },
	}
	root.Flags().Bool("version", false, "print coldsend's version")
	root.SetVersionTemplate("coldsend {{.Version}}\n")
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.CompletionOptions.HiddenDefaultCmd = false

	subvolume := &cobra.Command{
		Use:   "subvolume",
		Short: "List and show subvolumes and snapshots",
		Args:  cobra.NoArgs,
	}
	subvolume.AddCommand(subvolumeListCommand(e), subvolumeShowCommand(e))
	root.AddCommand(
		showCommand(e),
		subvolume,
		lsCommand(e),
		catCommand(e),
		exportCommand(e),
		generationsCommand(e),
		mountCommand(e),
		sendCommand(e),
		receiveCommand(e),
		dumpCommand(e),
		validateCommand(e),
	)
	var plain func(*cobra.Command)
	plain = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true // the Use lines show the options
		for _, sub := range c.Commands() {
			plain(sub)
		}
	}
	plain(root)
	return root, started
}

// usageError marks an error in how a command was called (exit status 2)
// when it is found after flag parsing.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

// args checks the number of positional arguments (max -1: no limit).
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min || max >= 0 && len(a) > max {
			return fmt.Errorf("wrong number of arguments (%d); usage: %s", len(a), cmd.UseLine())
		}
		return nil
	}
}

// isUsage reports whether err is a usageError.
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}
