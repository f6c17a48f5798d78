package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/export"
	"github.com/coldsend/coldsend/fstree"
)

// partialError ends a command that finished but could not read
// everything: exit status 3.
type partialError struct{ msg string }

func (p *partialError) Error() string { return p.msg }

func exportCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "export [--tar] [--device PATH]... [--one-subvolume] [--keep-going] [--hashes FILE] [--bodyfile FILE] IMAGE SUBVOL[/PATH] DEST",
		Short: "Copy a subvolume or directory out to a directory or a tar archive, with hashes and a timeline",
		Long: `Copy a subvolume, or a directory in one, out of the image: into the
directory DEST (created, or empty), or with --tar into a POSIX PAX tar
archive DEST ('-' for standard output). Contents and metadata are what the
kernel's mount shows; owners are set when running as root. Files with holes
stay sparse (in a tar, as GNU sparse 1.0 entries).

--hashes writes every regular file's sha256 as sha256sum does (check with
'cd DEST && sha256sum -c FILE'); --bodyfile writes a Sleuth Kit bodyfile
(atime, mtime, ctime, and the btrfs creation time as crtime) for mactime.

Exit status: 0 exported whole; 1 stopped by an error (DEST holds
.coldsend-export-incomplete); 2 usage; 3 partial: with --keep-going some
files, directories or extents could not be read, each is listed on stderr
and in .coldsend-export-partial, and unreadable bytes are zero-filled.`,
		Args:              args(3, 3),
		ValidArgsFunction: completeImageThenPath,
	}
	ff := newFSFlags(c, true)
	fl := c.Flags()
	asTar := fl.Bool("tar", false, "write a POSIX PAX tar archive to DEST (a file, or - for standard output)")
	one := fl.Bool("one-subvolume", false, "export nested subvolumes as empty directories instead of entering them")
	keepGoing := fl.Bool("keep-going", false, "salvage: export what can be read, list what cannot (zero-filled), exit 3")
	hashes := fl.String("hashes", "", "write every regular file's sha256 to `FILE` (sha256sum -c format, paths relative to DEST)")
	bodyfile := fl.String("bodyfile", "", "write a Sleuth Kit bodyfile (mactime input) to `FILE`")
	progress := fl.Bool("progress", false, "show progress on stderr (the default when stderr is a terminal)")
	quiet := fl.BoolP("quiet", "q", false, "print no progress and no summary")
	c.RunE = func(_ *cobra.Command, args []string) error {
		image, src, dest := args[0], args[1], args[2]
		return ff.withPath(image, src, e.stderr, func(loc fstree.Location) error {
			opts := export.Options{
				OneSubvolume:   *one,
				KeepGoing:      *keepGoing,
				Owners:         os.Geteuid() == 0,
				BodyfilePrefix: "/" + path.Clean("/" + src)[1:],
			}
			if opts.BodyfilePrefix == "/" {
				opts.BodyfilePrefix = ""
			}
			var closers []func() error
			defer func() {
				for _, c := range closers {
					c()
				}
			}()
			for _, out := range []struct {
				name string
				w    *io.Writer
			}{{*hashes, &opts.Hashes}, {*bodyfile, &opts.Bodyfile}} {
				if out.name == "" {
					continue
				}
				f, err := os.OpenFile(out.name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					return err
				}
				closers = append(closers, f.Close)
				*out.w = f
			}
			var bar *progressBar
			if !*quiet && (*progress || isTerminalWriter(e.stderr)) {
				sizeOpts := opts
				bar = startProgress(e.stderr, func() (int64, bool) {
					n, err := export.Size(loc, sizeOpts)
					return n, err == nil
				})
				opts.Progress = func(n int64) { bar.bar.Add64(n) }
			}
			sum, err := runExport(e, loc, dest, *asTar, opts)
			bar.finish(err == nil)
			for _, c := range closers {
				if cerr := c(); err == nil && cerr != nil {
					err = cerr
				}
			}
			closers = nil
			if err != nil {
				return err
			}
			return exportReport(e, sum, *quiet, dest, *asTar)
		})
	}
	return c
}

func runExport(e *env, loc fstree.Location, dest string, asTar bool, opts export.Options) (*export.Summary, error) {
	if !asTar {
		return export.ToDir(dest, loc, opts)
	}
	var w io.Writer
	if dest == "-" {
		if f, ok := e.rawStdout.(*os.File); ok && isTerminal(f.Fd()) {
			return nil, errors.New("not writing a tar archive to a terminal: give a file or a pipe")
		}
		w = e.stdout
	} else {
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		w = f
	}
	sum, err := export.ToTar(w, loc, opts)
	if c, ok := w.(*os.File); ok && dest != "-" {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	return sum, err
}

// exportReport prints what the export could not read or the destination
// could not take, and a summary line.
func exportReport(e *env, sum *export.Summary, quiet bool, dest string, asTar bool) error {
	for _, le := range sum.Errors {
		fmt.Fprintf(e.stderr, "coldsend export: unreadable: %v\n", le)
	}
	if !quiet {
		for _, l := range sum.SkipLines() {
			fmt.Fprintf(e.stderr, "coldsend export: note: %s\n", l)
		}
		fmt.Fprintf(e.stderr, "coldsend export: %d files (%d bytes), %d directories, %d symlinks, %d special files, %d hard links\n",
			sum.Files, sum.Bytes, sum.Dirs, sum.Symlinks, sum.Specials, sum.HardLinks)
	}
	if sum.Partial() {
		where := "in " + path.Join(dest, export.PartialMarker)
		if asTar {
			where = "in the archive's " + export.PartialMarker
		}
		return &partialError{fmt.Sprintf("partial export: %d unreadable parts, listed above and %s; unreadable bytes are zero-filled", len(sum.Errors), where)}
	}
	return nil
}
