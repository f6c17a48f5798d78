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
	// Reading runs ahead on another core while the stream is applied
	// or printed.
	ra := stream.ReadAhead(src)
	rc, _, err := stream.Decompress(ra)
	if err != nil {
		ra.Close()
		closeFile()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rc, func() { rc.Close(); ra.Close(); closeFile() }, nil
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
	resumePoint := c.Flags().Bool("resume-point", false, "print the offset just past the last intact command: what send --resume-from takes")
	salvage := c.Flags().String("salvage", "", "write the last complete stream found in the input to `OUT` (after an interrupted send)")
	c.RunE = func(_ *cobra.Command, args []string) error {
		stdin, stdout := e.stdin, e.stdout
		src, done, err := openStream(args, *file, stdin)
		if err != nil {
			return err
		}
		defer done()
		name := *file
		if name == "" && len(args) > 0 {
			name = args[0]
		}
		switch {
		case *resumePoint:
			p := stream.ResumePoint(src)
			_, err := fmt.Fprintln(stdout, p.Offset)
			return err
		case *salvage != "":
			return salvageStream(name, *salvage, stdout)
		}
		sum, err := validate.Stream(src)
		if err != nil {
			if in := interruption(name); in != nil {
				err = fmt.Errorf("%w; the input has the signature of an interrupted kernel send: it is cut at offset %d and a new stream starts at offset %d (--salvage OUT keeps the last complete stream)", err, in.Cut, in.Restart)
			}
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

// plainFile opens name as a plain (uncompressed) stream file for
// random access, or returns nil.
func plainFile(name string) (*os.File, int64) {
	if name == "" || name == "-" {
		return nil, 0
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0
	}
	head := make([]byte, len(stream.Magic))
	fi, err := f.Stat()
	if _, rerr := f.ReadAt(head, 0); err != nil || rerr != nil || string(head) != stream.Magic {
		f.Close()
		return nil, 0
	}
	return f, fi.Size()
}

// interruption looks for the kernel's interrupted-send signature in the
// stream file name (nil for standard input or a compressed file).
func interruption(name string) *stream.Interruption {
	f, size := plainFile(name)
	if f == nil {
		return nil
	}
	defer f.Close()
	return stream.FindInterruption(f, size, stream.ResumePoint(io.NewSectionReader(f, 0, size)))
}

// salvageStream writes the last complete stream of the file name to out.
func salvageStream(name, out string, stdout io.Writer) error {
	f, size := plainFile(name)
	if f == nil {
		return &usageError{"--salvage needs an uncompressed stream FILE"}
	}
	defer f.Close()
	off, n, ok := stream.LastCompleteStream(f, size)
	if !ok {
		return fmt.Errorf("%s holds no complete stream (a header through its END)", name)
	}
	o, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, io.NewSectionReader(f, off, n)); err != nil {
		o.Close()
		return err
	}
	if err := o.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "salvaged the stream at offset %d (%d bytes) into %s\n", off, n, out)
	return err
}
