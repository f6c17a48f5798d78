package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
)

func sendCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "send [-e] [-p PARENT] [-c CLONE]... [-f FILE | --resume FILE | --resume-from N | --size] [--no-data] [--proto N] [--compressed-data] [--device PATH]... IMAGE SUBVOL [SUBVOL...]",
		Short: "Write the send stream of subvolumes, byte for byte as btrfs send",
		Long: "Write the send stream of one or more subvolumes, byte for byte what the\n" +
			"kernel's 'btrfs send' writes for them. SUBVOL is a path as 'subvolume list'\n" +
			"shows it, or id:N. With -p the stream is incremental from PARENT; -c adds\n" +
			"clone sources, and without -p picks the parent among them as btrfs send\n" +
			"does. Subvolumes, parents and clone sources need not be read-only: an\n" +
			"unmounted image cannot change while it is sent.",
		Args:              args(2, -1),
		ValidArgsFunction: completeImageThenSubvols,
	}
	ff := newFSFlags(c, true)
	fl := c.Flags()
	endCmd := fl.BoolP("chain", "e", false, "several subvolumes as one stream: one header, one END (btrfs send -e)")
	file := fl.StringP("file", "f", "", "write the stream to `FILE` instead of standard output")
	noData := fl.Bool("no-data", false, "send update_extent instead of file data (metadata only)")
	proto := fl.Uint("proto", 1, "protocol `VERSION`: 1, 2, or 0 for the highest (2)")
	quiet := fl.BoolP("quiet", "q", false, "do not print 'At subvol' lines")
	parent := fl.StringArrayP("parent", "p", nil, "incremental send from `PARENT`")
	clones := fl.StringArrayP("clone-src", "c", nil, "clone source `SUBVOL`, repeatable; without -p the parent is picked among them")
	compressed := fl.Bool("compressed-data", false, "send compressed extents as they are stored (needs protocol 2, chosen when --proto is not given)")
	resumeFrom := fl.Int64("resume-from", 0, "write bytes `N` to the end of the stream this command would write whole: resume an interrupted send (file data before N is not read)")
	resumeFile := fl.String("resume", "", "`FILE` holds an interrupted send of this very command: check it, cut it after its last intact command and append the rest")
	sizeOnly := fl.Bool("size", false, "print the stream's exact size in bytes and commands (per subvolume too), without reading file data or writing it")
	progress := fl.Bool("progress", false, "show progress on stderr (bytes of the exact total, rate, ETA, path); the default when stderr is a terminal, never with -q")
	_ = c.RegisterFlagCompletionFunc("parent", completeSubvolFlag)
	_ = c.RegisterFlagCompletionFunc("clone-src", completeSubvolFlag)
	_ = c.RegisterFlagCompletionFunc("proto", cobra.FixedCompletions([]string{"0", "1", "2"}, cobra.ShellCompDirectiveNoFileComp))
	c.RunE = func(_ *cobra.Command, args []string) error {
		stderr := e.stderr
		if len(*parent) > 1 {
			return &usageError{"you cannot have more than one parent (-p)"}
		}
		version, err := sendProto(*proto, c.Flags().Changed("proto"), *compressed)
		if err != nil {
			return err
		}
		fs, err := ff.open(args[0], stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		// Resolve every subvolume before writing a byte.
		resolve := func(name, what string) (*fstree.Subvol, error) {
			sv, err := fs.ResolveSubvol(name)
			if err != nil && what != "" {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			return sv, err
		}
		var opts sendgen.Options
		opts.Proto, opts.NoData, opts.CompressedData = version, *noData, *compressed
		for _, name := range *clones {
			sv, err := resolve(name, "clone source")
			if err != nil {
				return err
			}
			opts.Clones = append(opts.Clones, sv)
		}
		if len(*parent) > 0 {
			if opts.Parent, err = resolve((*parent)[0], "parent"); err != nil {
				return err
			}
		}
		names := args[1:]
		var subvols []*fstree.Subvol
		for _, name := range names {
			sv, err := resolve(name, "")
			if err != nil {
				return err
			}
			subvols = append(subvols, sv)
		}
		many := sendgen.ManyOptions{Options: opts, Chain: *endCmd}
		if *sizeOnly {
			return printSizes(e, names, subvols, many)
		}
		switch {
		case *resumeFrom < 0:
			return &usageError{fmt.Sprintf("--resume-from %d: an offset is at least 0", *resumeFrom)}
		case *resumeFile != "" && (*file != "" || c.Flags().Changed("resume-from")):
			return &usageError{"--resume FILE writes to FILE: give it without -f and --resume-from"}
		}
		many.Skip = *resumeFrom
		var out io.Writer
		var closeOut func() error
		where := "standard output"
		if *resumeFile != "" {
			where = *resumeFile
			if out, closeOut, err = openResume(*resumeFile, &many); err != nil {
				return err
			}
		} else {
			if *file != "" {
				where = *file
			}
			if out, closeOut, err = openOutput(*file, e); err != nil {
				return err
			}
		}
		var bar *progressBar
		if !*quiet && (*progress || isTerminalWriter(e.stderr)) {
			bar = newProgressBar(e.stderr, subvols, many)
			out = bar.writer(out)
			many.Observe = bar.observe
		}
		counted := &countingWriter{w: out}
		bw := bufio.NewWriterSize(counted, 1<<20)
		many.Before = func(i int) {
			if !*quiet {
				bar.clear()
				fmt.Fprintf(stderr, "At subvol %s\n", names[i])
			}
		}
		err = sendgen.SendMany(bw, subvols, many)
		if err == nil {
			err = bw.Flush()
		} else {
			bw.Flush()
		}
		bar.finish(err == nil)
		if cerr := closeOut(); err == nil {
			err = cerr
		}
		if err == nil {
			return nil
		}
		var me *sendgen.ManyError
		var oe *sendgen.OutputError
		var rm *resumeMismatch
		switch {
		case errors.As(err, &rm):
			return rm
		case errors.As(err, &oe):
			err = fmt.Errorf("writing the stream to %s: %w", where, oe.Err)
		case errors.As(err, &me):
			err = fmt.Errorf("%s: %w", names[me.Index], me.Err)
		default:
			err = fmt.Errorf("writing the stream to %s: %w", where, err)
		}
		if counted.n == 0 {
			return err
		}
		return fmt.Errorf("%w; output incomplete: %d bytes written, no END", err, counted.n)
	}
	return c
}

// sendProto decides the protocol version as btrfs send does: 0 is the
// highest the kernel reference emits (2), --compressed-data without --proto
// means 2. Version 3 exists only in experimental kernels, so there is no
// kernel stream to prove coldsend's against: refuse it.
func sendProto(proto uint, given, compressed bool) (uint32, error) {
	switch {
	case proto == 0:
		proto = 2
	case proto == 3:
		return 0, &usageError{"--proto 3 is not supported: no kernel that emits protocol 3 is available to check coldsend's streams against"}
	case proto > 3:
		return 0, &usageError{fmt.Sprintf("--proto %d: unknown protocol version (1 and 2 are supported)", proto)}
	}
	if compressed && !given {
		proto = 2
	}
	if compressed && proto < 2 {
		return 0, &usageError{fmt.Sprintf("--compressed-data requires protocol version >= 2 (requested %d)", proto)}
	}
	return uint32(proto), nil
}

// openOutput opens the stream's destination: FILE, or standard output,
// which must not be a terminal.
func openOutput(file string, e *env) (io.Writer, func() error, error) {
	if file != "" {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return f, f.Close, nil
	}
	if f, ok := e.rawStdout.(*os.File); ok {
		if isTerminal(f.Fd()) {
			return nil, nil, errors.New("not writing a send stream to a terminal: use -f FILE or a pipe")
		}
	}
	return e.stdout, func() error { return nil }, nil
}

// countingWriter counts the bytes that reached the output.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
