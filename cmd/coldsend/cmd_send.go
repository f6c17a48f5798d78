package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/sendgen"
)

func sendCommand(stdout, stderr io.Writer) *command {
	c := newCommand("send", "[-e] [-p PARENT] [-c CLONE]... [-f FILE] [--no-data] [--proto N] [--compressed-data] [--device PATH]... IMAGE SUBVOL [SUBVOL...]",
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
	proto := c.flags.Uint("proto", 1, "protocol `VERSION`: 1, 2, or 0 for the highest (2)")
	quiet := c.flags.Bool("q", false, "do not print 'At subvol' lines")
	var parent, clones stringList
	c.flags.Var(&parent, "p", "incremental send from `PARENT`")
	c.flags.Var(&clones, "c", "clone source `SUBVOL`, repeatable; without -p the parent is picked among them")
	compressed := c.flags.Bool("compressed-data", false, "send compressed extents as they are stored (needs protocol 2, chosen when --proto is not given)")
	c.minArgs = 2
	c.run = func(args []string) error {
		if len(parent) > 1 {
			return errors.New("you cannot have more than one parent (-p)")
		}
		version, err := sendProto(*proto, protoGiven(c), *compressed)
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

// sendProto decides the protocol version as btrfs send does: 0 is the
// highest the kernel reference emits (2), --compressed-data without --proto
// means 2. Version 3 exists only in experimental kernels, so there is no
// kernel stream to prove coldsend's against: refuse it.
func sendProto(proto uint, given, compressed bool) (uint32, error) {
	switch {
	case proto == 0:
		proto = 2
	case proto == 3:
		return 0, errors.New("--proto 3 is not supported: no kernel that emits protocol 3 is available to check coldsend's streams against")
	case proto > 3:
		return 0, fmt.Errorf("--proto %d: unknown protocol version (1 and 2 are supported)", proto)
	}
	if compressed && !given {
		proto = 2
	}
	if compressed && proto < 2 {
		return 0, fmt.Errorf("--compressed-data requires protocol version >= 2 (requested %d)", proto)
	}
	return uint32(proto), nil
}

// protoGiven reports whether --proto was on the command line.
func protoGiven(c *command) bool {
	given := false
	c.flags.Visit(func(f *flag.Flag) { given = given || f.Name == "proto" })
	return given
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
