package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

func generationsCommand(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "generations [--scan] [--json] [--device PATH]... IMAGE",
		Short: "List the commits still readable: the superblock's, its backup roots and, with --scan, older root trees",
		Long: "List the commits (generations) still on the devices, newest first: the\n" +
			"superblock's, its four backup roots and, with --scan, root-tree blocks found\n" +
			"by reading every metadata chunk (as btrfs-find-root does). For each: the\n" +
			"root-tree block and level, where it was found, a time when a root item\n" +
			"changed in that transaction (- when none says; local, TZ), and whether every\n" +
			"tree block its trees reach still verifies, or the first that does not (a\n" +
			"later commit reused its space). Read one with --generation G or --root\n" +
			"BYTENR on ls, cat, subvolume list/show and send. No file data is read.",
		Args:              args(1, 1),
		ValidArgsFunction: completeImage,
	}
	ff := newDeviceFlags(c)
	fl := c.Flags()
	scan := fl.Bool("scan", false, "also scan the metadata chunks for older root-tree blocks")
	asJSON := fl.Bool("json", false, "print a JSON array (absent times and bad blocks are null, times in UTC)")
	c.RunE = func(_ *cobra.Command, args []string) error {
		p := &warnPrinter{w: e.stderr, verbose: ff.verbose}
		opts, err := ff.options(p.warn)
		if err != nil {
			return err
		}
		gens, err := fstree.GenerationsFiles(append([]string{args[0]}, ff.devices...), opts, *scan)
		if err != nil {
			return err
		}
		rows := make([]generationRow, len(gens))
		for i := range gens {
			rows[i] = newGenerationRow(&gens[i])
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		zone := e.zone()
		w := &errWriter{w: e.stdout}
		w.printf("%-10s %-14s %-5s %-28s %-25s %s\n", "generation", "root", "level", "found", "time", "trees")
		for _, r := range rows {
			when := "-"
			if r.Time != nil {
				when = r.Time.In(zone).Format("2006-01-02 15:04:05 -0700")
			}
			state := "intact"
			if b := r.Bad; b != nil {
				state = fmt.Sprintf("bad: logical %d (%s, generation %d): %s", b.Logical, b.TreeName, b.Generation, b.Error)
			}
			w.printf("%-10d %-14d %-5d %-28s %-25s %s\n", r.Generation, r.Root, r.Level, strings.Join(r.Found, ", "), when, state)
		}
		return w.err
	}
	return c
}

// generationRow is one line of generations, and its JSON object.
type generationRow struct {
	Generation uint64     `json:"generation"`
	Root       uint64     `json:"root"`
	Level      uint8      `json:"level"`
	Found      []string   `json:"found"`
	Time       *time.Time `json:"time"`
	TimeOf     *uint64    `json:"time_of"` // the tree whose root item gave the time
	Intact     bool       `json:"intact"`
	Bad        *badRow    `json:"bad"`
}

type badRow struct {
	Logical    uint64 `json:"logical"`
	Tree       uint64 `json:"tree"`
	TreeName   string `json:"tree_name"`
	Generation uint64 `json:"generation"`
	Error      string `json:"error"`
}

func newGenerationRow(g *fstree.Generation) generationRow {
	r := generationRow{Generation: g.Generation, Root: g.Root.Bytenr, Level: g.Root.Level, Found: g.Where(), Intact: g.Intact()}
	if !g.Time.IsZero() {
		t, of := g.Time.UTC(), g.TimeOf
		r.Time, r.TimeOf = &t, &of
	}
	if b := g.Bad; b != nil {
		why := b.Err
		// The block error would repeat the address and tree.
		var be *ondisk.BlockError
		if errors.As(why, &be) && be.Logical == b.Logical && be.Key == nil {
			why = be.Err
		}
		r.Bad = &badRow{Logical: b.Logical, Tree: b.Tree, TreeName: ondisk.TreeName(b.Tree), Generation: b.Generation, Error: oneLine(why)}
	}
	return r
}

// completeGeneration completes --generation with the superblock's commit
// and its backup roots' (a scan would be too slow for a shell).
func completeGeneration(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	d, closer, err := volume.OpenDeviceFile(args[0])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer closer.Close()
	sb, err := volume.ReadSuperblock(d, func(ondisk.Warning) {})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := []string{strconv.FormatUint(sb.Generation, 10)}
	for _, b := range sb.Backups {
		if g := strconv.FormatUint(b.TreeRootGen, 10); b.TreeRoot != 0 && b.TreeRootGen < sb.Generation && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}
