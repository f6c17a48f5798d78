package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
)

func receiveCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "receive [-f STREAM] [-e] [--in-place] [--strict] [--resume] DEST | --resume-point DEST | --dump [-f STREAM]",
		Short: "Apply send streams to a plain directory, as btrfs receive does",
		Long: "Apply send streams (from -f STREAM or standard input; zstd, lz4 or gzip\n" +
			"compressed; several concatenated) under the directory DEST, on any\n" +
			"filesystem: each subvolume becomes DEST/NAME, a snapshot starts as a copy\n" +
			"of its parent (reflinked where the filesystem can) found among what DEST\n" +
			"received by uuid and ctransid. Paths the stream names cannot leave DEST.\n" +
			"What DEST cannot take (chown or mknod without privileges, some xattrs, a\n" +
			"creation time) is summed up at the end; --strict makes it an error. DEST\n" +
			"records what it received in " + receive.RecordName + "; a subvolume\n" +
			"counts as received only once its END arrived. An interrupted receive\n" +
			"resumes: --resume-point DEST prints N, and\n" +
			"  coldsend send --resume-from N ... | coldsend receive --resume DEST\n" +
			"finishes it.",
		Args: func(cmd *cobra.Command, a []string) error {
			if d, _ := cmd.Flags().GetBool("dump"); d {
				return args(0, 0)(cmd, a)
			}
			return args(1, 1)(cmd, a)
		},
		ValidArgsFunction: cobra.FixedCompletions(nil, cobra.ShellCompDirectiveFilterDirs),
	}
	fl := c.Flags()
	file := fl.StringP("file", "f", "", "read the stream from `FILE` instead of standard input")
	chain := fl.BoolP("chain", "e", false, "stop at the first END (btrfs receive -e)")
	inPlace := fl.Bool("in-place", false, "make a snapshot by renaming its parent's directory instead of copying it")
	strict := fl.Bool("strict", false, "fail on anything DEST cannot take, instead of summing it up")
	quiet := fl.BoolP("quiet", "q", false, "do not print 'At subvol' lines")
	dumpOnly := fl.Bool("dump", false, "print the stream's commands instead (coldsend dump)")
	resume := fl.Bool("resume", false, "continue the interrupted receive into DEST with a stream from send --resume-from")
	resumePoint := fl.Bool("resume-point", false, "print the offset an interrupted receive into DEST resumes from (for send --resume-from)")
	c.RunE = func(_ *cobra.Command, args []string) error {
		if *resumePoint {
			off, ok, err := receive.ResumePoint(args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s has no interrupted receive to resume", args[0])
			}
			_, err = fmt.Fprintln(e.stdout, off)
			return err
		}
		src, done, err := openResumedStream(*file, e.stdin, *resume)
		if err != nil {
			return err
		}
		defer done()
		if *dumpOnly {
			bw := bufio.NewWriterSize(e.stdout, 256<<10)
			_, err = dump.Copy(dump.NewText(bw, e.zone()), stream.NewReader(src), *chain)
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			return err
		}
		opts := receive.Options{Chain: *chain, InPlace: *inPlace, Strict: *strict, Resume: *resume}
		if !*quiet {
			opts.Log = e.stderr
		}
		sum, err := receive.Receive(src, args[0], opts)
		if sum != nil {
			for _, l := range sum.Lines() {
				fmt.Fprintf(e.stderr, "coldsend receive: note: %s\n", l)
			}
		}
		return err
	}
	return c
}

// openResumedStream opens receive's input; a resumed one starts part way
// through a stream, with no header to recognise a compression by, so it
// is read as it comes.
func openResumedStream(file string, stdin io.Reader, resumed bool) (io.Reader, func(), error) {
	if !resumed {
		return openStream(nil, file, stdin)
	}
	if file == "" || file == "-" {
		ra := stream.ReadAhead(stdin)
		return ra, func() { ra.Close() }, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	ra := stream.ReadAhead(f)
	return ra, func() { ra.Close(); f.Close() }, nil
}
