package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// fsFlags are the options of every command that opens a filesystem.
type fsFlags struct {
	devices stringList
	noCsum  bool
	super   int
}

func (f *fsFlags) register(c *command) {
	c.flags.Var(&f.devices, "device", "another device `PATH` of a multi-device filesystem (repeatable)")
	c.flags.BoolVar(&f.noCsum, "no-data-csum", false, "do not verify data checksums")
	c.flags.IntVar(&f.super, "super", -1, "trust superblock copy `N` on every device (0 primary, 1 at 64 MiB, 2 at 256 GiB), as btrfs check --super; default: the primary, or a newer valid mirror")
}

// superChoice turns --super into ondisk's choice.
func (f *fsFlags) superChoice() (volume.SuperChoice, error) {
	switch {
	case f.super == -1:
		return volume.SuperAuto, nil
	case f.super < 0 || f.super > 2:
		return 0, fmt.Errorf("--super %d: superblock copies are 0 (primary), 1 and 2", f.super)
	}
	return volume.SuperCopy(f.super), nil
}

// openedFS is a filesystem and the files behind it.
type openedFS struct {
	*fstree.FS
	closers []io.Closer
	stderr  io.Writer
}

// Close closes the devices, after summing up the reads that had to be
// repaired from other copies or parity, if any.
func (o *openedFS) Close() error {
	if o.FS != nil {
		if sum := o.Volume().RepairSummary(); sum != "" {
			fmt.Fprintf(o.stderr, "coldsend: warning: %s\n", sum)
		}
	}
	var errs []error
	for _, c := range o.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// openFS opens image plus any --device paths, read-only, and the
// filesystem on them; warnings go to stderr.
func (f *fsFlags) open(image string, stderr io.Writer) (*openedFS, error) {
	super, err := f.superChoice()
	if err != nil {
		return nil, err
	}
	o := &openedFS{stderr: stderr}
	var devs []*volume.Device
	for _, p := range append([]string{image}, f.devices...) {
		d, c, err := volume.OpenDeviceFile(p)
		if err != nil {
			o.Close()
			return nil, err
		}
		o.closers = append(o.closers, c)
		devs = append(devs, d)
	}
	warn := func(msg string) { fmt.Fprintf(stderr, "coldsend: warning: %s\n", msg) }
	vol, err := volume.Open(devs, volume.Options{Warn: warn, Super: super})
	if err != nil {
		o.Close()
		return nil, err
	}
	fs, err := fstree.Open(vol, fstree.Options{Warn: warn, NoDataChecksums: f.noCsum})
	if err != nil {
		o.Close()
		return nil, err
	}
	o.FS = fs
	return o, nil
}

// withPath opens image, resolves path (SUBVOL[/PATH]) on it and calls fn
// with what it names, closing the devices afterwards.
func (f *fsFlags) withPath(image, path string, stderr io.Writer, fn func(loc fstree.Location) error) error {
	fs, err := f.open(image, stderr)
	if err != nil {
		return err
	}
	defer fs.Close()
	loc, err := fs.Resolve(path)
	if err != nil {
		return err
	}
	return fn(loc)
}
