package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
)

func sendCommand(stdout, stderr io.Writer) *command {
	c := newCommand("send", "[-e] [-p PARENT] [-c CLONE]... [-f FILE] [--no-data] [--proto N] [--device PATH]... IMAGE SUBVOL [SUBVOL...]",
		"Write the send stream of one or more subvolumes, byte for byte what the\n"+
			"kernel's 'btrfs send' writes for them. SUBVOL is a path as 'subvolume list'\n"+
			"shows it, or id:N. With -p the stream is incremental from PARENT; -c adds\n"+
			"clone sources, and without -p picks the parent among them as btrfs send\n"+
			"does. Subvolumes, parents and clone sources need not be read-only: an\n"+
			"unmounted image cannot change while it is sent.")
	var ff fsFlags
	ff.register(c)
	endCmd := c.flags.Bool("e", false, "several subvolumes as one stream: one header, one END (btrfs send -e)")
	file := c.flags.String("f", "", "write the stream to `FILE` instead of standard output")
	noData := c.flags.Bool("no-data", false, "send update_extent instead of file data (metadata only)")
	proto := c.flags.Uint("proto", 1, "protocol `VERSION` (1)")
	quiet := c.flags.Bool("q", false, "do not print 'At subvol' lines")
	var parent, clones stringList
	c.flags.Var(&parent, "p", "incremental send from `PARENT`")
	c.flags.Var(&clones, "c", "clone source `SUBVOL`, repeatable; without -p the parent is picked among them")
	compressed := c.flags.Bool("compressed-data", false, "send compressed extents as they are stored (not yet supported)")
	c.minArgs = 2
	c.run = func(args []string) error {
		switch {
		case len(parent) > 1:
			return errors.New("you cannot have more than one parent (-p)")
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
		resolve := func(name, what string) (*fstree.Subvol, error) {
			sv, err := fs.ResolveSubvol(name)
			if err != nil && what != "" {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			return sv, err
		}
		var opts sendgen.Options
		opts.Proto, opts.NoData = uint32(*proto), *noData
		for _, name := range clones {
			sv, err := resolve(name, "clone source")
			if err != nil {
				return err
			}
			opts.Clones = append(opts.Clones, sv)
		}
		if len(parent) > 0 {
			if opts.Parent, err = resolve(parent[0], "parent"); err != nil {
				return err
			}
		}
		names := args[1:]
		var subvols []*sendSubvol
		for _, name := range names {
			sv, err := resolve(name, "")
			if err != nil {
				return err
			}
			subvols = append(subvols, &sendSubvol{name: name, sv: sv})
		}
		// btrfs send -c without -p picks each subvolume's parent among
		// the clone sources, and makes every subvolume sent a clone
		// source of the next ones.
		pickParent := opts.Parent == nil && len(opts.Clones) > 0
		if pickParent {
			srcs := slices.Clip(opts.Clones)
			for _, s := range subvols {
				if s.parent, err = sendgen.FindParent(s.sv, srcs); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				srcs = append(srcs, s.sv)
			}
		}
		out, closeOut, err := openOutput(*file, stdout)
		if err != nil {
			return err
		}
		counted := &countingWriter{w: out}
		bw := bufio.NewWriterSize(counted, 1<<20)
		for i, s := range subvols {
			o := opts
			if pickParent {
				o.Parent = s.parent
				o.Clones = append(slices.Clip(opts.Clones), subvolsSV(subvols[:i])...)
			}
			if *endCmd {
				o.OmitHeader = i > 0
				o.OmitEnd = i < len(subvols)-1
			}
			if !*quiet {
				fmt.Fprintf(stderr, "At subvol %s\n", s.name)
			}
			if err := sendgen.Send(bw, s.sv, o); err != nil {
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

// sendSubvol is a subvolume named on the command line, and the parent
// picked for it when only clone sources are given.
type sendSubvol struct {
	name   string
	sv     *fstree.Subvol
	parent *fstree.Subvol
}

func subvolsSV(l []*sendSubvol) []*fstree.Subvol {
	out := make([]*fstree.Subvol, len(l))
	for i, s := range l {
		out[i] = s.sv
	}
	return out
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
		if isTerminal(f.Fd()) {
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
