package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/stream"
	"github.com/coldsend/coldsend/stream/dump"
	"github.com/coldsend/coldsend/stream/validate"
)

// openStream opens a stream argument ("-" or none for standard input) and
// undoes zstd, lz4 or gzip compression.
func openStream(args []string, file string, stdin io.Reader) (io.Reader, func(), error) {
	name := "-"
	switch {
	case file != "" && len(args) > 0:
		return nil, nil, &usageError{"give the stream either with -f or as an argument, not both"}
	case file != "":
		name = file
	case len(args) > 0:
		name = args[0]
	}
	var src io.Reader = stdin
	closeFile := func() {}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		src, closeFile = f, func() { f.Close() }
	} else if f, ok := stdin.(*os.File); ok {
		if isTerminal(f.Fd()) {
			return nil, nil, fmt.Errorf("standard input is a terminal: give a stream FILE or pipe one in")
		}
	}
	rc, _, err := stream.Decompress(src)
	if err != nil {
		closeFile()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rc, func() { rc.Close(); closeFile() }, nil
}

func dumpCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "dump [--json] [--first] [-f FILE | FILE | -]",
		Short: "Print the commands of a send stream as btrfs receive --dump does",
		Long: "Print the commands of a send stream in the format of 'btrfs receive --dump'\n" +
			"(btrfs-progs 6.2), or as JSON Lines. Every stream of a concatenated input\n" +
			"is printed (btrfs receive --dump stops after the first; --first does too).\n" +
			"zstd, lz4 and gzip input is decompressed; times are shown in TZ.",
		Args:              args(0, 1),
		ValidArgsFunction: cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault),
	}
	jsonOut := c.Flags().Bool("json", false, "one JSON object per command (JSON Lines)")
	first := c.Flags().Bool("first", false, "stop after the first stream's END, as btrfs receive --dump does")
	file := c.Flags().StringP("file", "f", "", "read the stream from `FILE` (as btrfs receive -f)")
	c.RunE = func(_ *cobra.Command, args []string) error {
		stdin, stdout := e.stdin, e.stdout
		src, done, err := openStream(args, *file, stdin)
		if err != nil {
			return err
		}
		defer done()
		bw := bufio.NewWriterSize(stdout, 256<<10)
		var p dump.Printer = dump.NewText(bw, e.zone())
		if *jsonOut {
			p = dump.NewJSON(bw)
		}
		_, err = dump.Copy(p, stream.NewReader(src), *first)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		return err
	}
	return c
}

func validateCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "validate [-f FILE | FILE | -]",
		Short: "Check a send stream for what a receiver would trip on",
		Long: "Check a send stream for what a receiver would trip on. Besides CRCs and\n" +
			"structure: paths used before they exist, orphan names left behind, clones\n" +
			"from data not yet written, a missing END. Prints a one-line summary, or the\n" +
			"first problem with its stream offset and command index (exit status 1).",
		Args:              args(0, 1),
		ValidArgsFunction: cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault),
	}
	file := c.Flags().StringP("file", "f", "", "read the stream from `FILE`")
	c.RunE = func(_ *cobra.Command, args []string) error {
		stdin, stdout := e.stdin, e.stdout
		src, done, err := openStream(args, *file, stdin)
		if err != nil {
			return err
		}
		defer done()
		sum, err := validate.Stream(src)
		if err != nil {
			return err
		}
		subvols := "none"
		if len(sum.Subvolumes) > 0 {
			subvols = strings.Join(sum.Subvolumes, ", ")
		}
		_, err = fmt.Fprintf(stdout, "ok: %d stream(s), %d commands, %d bytes (%d of file data), subvolumes: %s\n",
			sum.Streams, sum.Commands, sum.Bytes, sum.DataBytes, subvols)
		return err
	}
	return c
}
