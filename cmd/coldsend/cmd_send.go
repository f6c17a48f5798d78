package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
)

func sendCommand(stdout, stderr io.Writer) *command {
	c := newCommand("send", "[-e] [-f FILE] [--no-data] [--proto N] [--device PATH]... IMAGE SUBVOL [SUBVOL...]",
		"Write the send stream of one or more subvolumes, byte for byte what the\n"+
			"kernel's 'btrfs send' writes for them. SUBVOL is a path as 'subvolume list'\n"+
			"shows it, or id:N. Subvolumes need not be read-only: an unmounted image\n"+
			"cannot change while it is sent.")
	var ff fsFlags
	ff.register(c)
	endCmd := c.flags.Bool("e", false, "several subvolumes as one stream: one header, one END (btrfs send -e)")
	file := c.flags.String("f", "", "write the stream to `FILE` instead of standard output")
	noData := c.flags.Bool("no-data", false, "send update_extent instead of file data (metadata only)")
	proto := c.flags.Uint("proto", 1, "protocol `VERSION` (1)")
	quiet := c.flags.Bool("q", false, "do not print 'At subvol' lines")
	var parent, clones stringList
	c.flags.Var(&parent, "p", "incremental send from `PARENT` (not yet supported)")
	c.flags.Var(&clones, "c", "clone source `SUBVOL` (not yet supported)")
	compressed := c.flags.Bool("compressed-data", false, "send compressed extents as they are stored (not yet supported)")
	c.minArgs = 2
	c.run = func(args []string) error {
		switch {
		case len(parent) > 0:
			return errors.New("-p (incremental send) is not yet supported")
		case len(clones) > 0:
			return errors.New("-c (clone sources) is not yet supported")
		case *compressed:
			return errors.New("--compressed-data is not yet supported")
		case *proto != 1:
			return fmt.Errorf("--proto %d is not yet supported (only 1)", *proto)
		}
		fs, err := ff.open(args[0], stderr)
		if err != nil {
			return err
		}
		defer fs.Close()
		// Resolve every subvolume before writing a byte.
		names := args[1:]
		var subvols []*sendSubvol
		for _, name := range names {
			sv, err := fs.ResolveSubvol(name)
			if err != nil {
				return err
			}
			subvols = append(subvols, &sendSubvol{name, sv})
		}
		out, closeOut, err := openOutput(*file, stdout)
		if err != nil {
			return err
		}
		counted := &countingWriter{w: out}
		bw := bufio.NewWriterSize(counted, 1<<20)
		for i, s := range subvols {
			opts := sendgen.Options{Proto: uint32(*proto), NoData: *noData}
			if *endCmd {
				opts.OmitHeader = i > 0
				opts.OmitEnd = i < len(subvols)-1
			}
			if !*quiet {
				fmt.Fprintf(stderr, "At subvol %s\n", s.name)
			}
			if err := sendgen.Send(bw, s.sv, opts); err != nil {
				bw.Flush()
				closeOut()
				if counted.n == 0 {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				return fmt.Errorf("%s: %w; output incomplete: %d bytes written, no END", s.name, err, counted.n)
			}
		}
		if err := bw.Flush(); err != nil {
			closeOut()
			return err
		}
		return closeOut()
	}
	return c
}

// sendSubvol is a subvolume named on the command line.
type sendSubvol struct {
	name string
	sv   *fstree.Subvol
}

// openOutput opens the stream's destination: FILE, or standard output,
// which must not be a terminal.
func openOutput(file string, stdout io.Writer) (io.Writer, func() error, error) {
	if file != "" {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return f, f.Close, nil
	}
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return nil, nil, errors.New("not writing a send stream to a terminal: use -f FILE or a pipe")
		}
	}
	return stdout, func() error { return nil }, nil
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
