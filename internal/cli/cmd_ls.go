package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
)

// timeStyles are ls --time-style's choices, as Go layouts.
var timeStyles = map[string]string{
	"default":  "2006-01-02 15:04:05",
	"full-iso": "2006-01-02 15:04:05.000000000 -0700",
	"long-iso": "2006-01-02 15:04",
}

func lsCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "ls [-l] [-R] [--utc] [--time-style STYLE] [--device PATH]... IMAGE SUBVOL[/PATH]",
		Short: "List a directory of a subvolume",
		Long: "List a directory of a subvolume, or name one file. SUBVOL is a path from the\n" +
			"top level (snaps/2, or / for the top level) or id:N. Times are local (TZ),\n" +
			"or UTC with --utc.",
		Args:              args(2, 2),
		ValidArgsFunction: completeImageThenPath,
	}
	ff := newFSFlags(c, false)
	long := c.Flags().BoolP("long", "l", false, "long listing: mode, links, owner, size, mtime")
	recursive := c.Flags().BoolP("recursive", "R", false, "list subdirectories recursively (paths relative to the argument); a directory linked a second time (corruption) is reported and not entered")
	utc := c.Flags().Bool("utc", false, "show times in UTC instead of the local zone")
	style := c.Flags().String("time-style", "default", "time `STYLE` of -l: default (2006-01-02 15:04:05), full-iso (nanoseconds and zone) or long-iso")
	fullTime := c.Flags().Bool("full-time", false, "like -l --time-style=full-iso")
	_ = c.RegisterFlagCompletionFunc("time-style", cobra.FixedCompletions([]string{"default", "full-iso", "long-iso"}, cobra.ShellCompDirectiveNoFileComp))
	c.RunE = func(_ *cobra.Command, args []string) error {
		if *fullTime {
			*long, *style = true, "full-iso"
		}
		layout, ok := timeStyles[*style]
		if !ok {
			return &usageError{fmt.Sprintf("--time-style %q: want default, full-iso or long-iso", *style)}
		}
		zone := e.zone()
		if *utc {
			zone = time.UTC
		}
		stdout, stderr := e.stdout, e.stderr
		return ff.withPath(args[0], args[1], stderr, func(loc fstree.Location) error {
			l := &lister{w: &errWriter{w: stdout}, long: *long, layout: layout, zone: zone}
			ii, err := loc.Subvol.Inode(loc.Ino)
			if err != nil {
				return err
			}
			if ii.Mode&item.ModeTypeMask != item.ModeDir {
				name := args[1][strings.LastIndexByte(args[1], '/')+1:]
				if err := l.entry(loc.Subvol, loc.Ino, &ii, []byte(name)); err != nil {
					return err
				}
				return l.w.err
			}
			if !*recursive {
				if err := l.dir(loc); err != nil {
					return err
				}
				return l.w.err
			}
			// A corrupt tree can link a directory twice, even into
			// itself: report each such entry, list the rest, and fail at
			// the end as ls does after an unreadable directory.
			var bad int
			for e, err := range fstree.Walk(loc) {
				var le *fstree.LinkError
				switch {
				case errors.As(err, &le):
					bad++
					fmt.Fprintf(stderr, "coldsend ls: %v\n", le)
				case err != nil:
					return err
				default:
					if err := l.walkEntry(e); err != nil {
						return err
					}
				}
			}
			if l.w.err != nil {
				return l.w.err
			}
			switch {
			case bad == 1:
				return errors.New("1 directory entry links a directory a second time (corrupt); listed the rest")
			case bad > 1:
				return fmt.Errorf("%d directory entries link directories a second time (corrupt); listed the rest", bad)
			}
			return nil
		})
	}
	return c
}

type lister struct {
	w      *errWriter
	long   bool
	layout string // of -l times
	zone   *time.Location
}

// dir lists the entries of one directory.
func (l *lister) dir(loc fstree.Location) error {
	for de, err := range loc.Subvol.Entries(loc.Ino) {
		if err != nil {
			return err
		}
		e := &de
		es, eino := loc.Subvol, e.Location.ObjectID
		if e.IsSubvolume() {
			if es, err = loc.Subvol.NestedSubvol(loc.Ino, e); err != nil {
				return err
			}
			if es == nil {
				l.w.printf("%s\n", l.placeholder(e.Name))
				continue
			}
			eino = ondisk.SubvolumeRootDirInodeID
		}
		ii, err := es.Inode(eino)
		if err != nil {
			return fmt.Errorf("%s: %w", escapeName(e.Name), err)
		}
		if err := l.entry(es, eino, &ii, e.Name); err != nil {
			return err
		}
	}
	return nil
}

// walkEntry prints one entry of a recursive listing.
func (l *lister) walkEntry(e *fstree.WalkEntry) error {
	if e.Loc.Subvol == nil {
		l.w.printf("%s\n", l.placeholder(e.Path))
		return nil
	}
	return l.entry(e.Loc.Subvol, e.Loc.Ino, e.Inode, e.Path)
}

// placeholder formats the empty directory the kernel shows for a nested
// subvolume that a snapshot did not include.
func (l *lister) placeholder(path []byte) string {
	if !l.long {
		return escapeName(path)
	}
	return fmt.Sprintf("%s %3d %5d %5d %9d %*s %s (empty: subvolume not in this snapshot)", "dr-xr-xr-x", 1, 0, 0, 0, len(l.layout), "-", escapeName(path))
}

func (l *lister) entry(s *fstree.Subvol, ino uint64, ii *item.Inode, name []byte) error {
	if !l.long {
		l.w.printf("%s\n", escapeName(name))
		return nil
	}
	size := fmt.Sprint(ii.Size)
	if t := ii.Mode & item.ModeTypeMask; t == item.ModeChar || t == item.ModeBlock {
		size = fmt.Sprintf("%d, %d", rdevMajor(ii.Rdev), rdevMinor(ii.Rdev))
	}
	mtime := time.Unix(ii.Mtime.Sec, int64(ii.Mtime.Nsec)).In(l.zone).Format(l.layout)
	target := ""
	if ii.Mode&item.ModeTypeMask == item.ModeSymlink {
		t, err := s.ReadLink(ino)
		if err != nil {
			return fmt.Errorf("%s: %w", escapeName(name), err)
		}
		target = " -> " + escapeName(t)
	}
	l.w.printf("%s %3d %5d %5d %9s %s %s%s\n", item.ModeString(ii.Mode), ii.Nlink, ii.UID, ii.GID, size, mtime, escapeName(name), target)
	return nil
}

// btrfs stores the kernel's internal dev_t: major<<20 | minor.
func rdevMajor(rdev uint64) uint64 { return rdev >> 20 }
func rdevMinor(rdev uint64) uint64 { return rdev & 0xfffff }

// escapeName makes a file name safe for one line of terminal output:
// backslash, control characters and invalid UTF-8 are escaped.
func escapeName(name []byte) string {
	var b strings.Builder
	for len(name) > 0 {
		r, size := utf8.DecodeRune(name)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", name[0])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.Write(name[:size])
		}
		name = name[size:]
	}
	return b.String()
}
