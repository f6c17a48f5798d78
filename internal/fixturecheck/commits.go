package fixturecheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// CommitReport says what became of a scenario's recorded commits, and
// what Generations found beside them.
type CommitReport struct {
	Recorded int // commits the scenario recorded while mounted
	Intact   int // listed with every tree block verifying, and read equal to the record
	Broken   int // listed, but a block was reused since: reading fails naming it
	Gone     int // not listed: no root-tree block of the commit is left
	// Named is how many generations the superblock and its backup roots
	// name, Scanned how many more the scan found, ScannedIntact how many
	// of those verify.
	Named, Scanned, ScannedIntact int
}

func (r CommitReport) String() string {
	return fmt.Sprintf("%d recorded commits: %d intact and equal to the record, %d broken, %d gone; the superblock names %d generations, the scan found %d more (%d intact)",
		r.Recorded, r.Intact, r.Broken, r.Gone, r.Named, r.Scanned, r.ScannedIntact)
}

// CheckCommits reads the scenario as of every commit it recorded: a
// commit Generations lists as intact must read equal to its record, one
// listed with a reused block must fail naming that block and the
// generation (as must every other broken generation the scan finds), and
// one not listed must be refused as ErrNoGeneration.
func CheckCommits(dir string, sc *manifest.Scenario) (CommitReport, []string) {
	rep := CommitReport{Recorded: len(sc.Commits)}
	devs, err := Devices(dir, sc)
	if err != nil {
		return rep, []string{err.Error()}
	}
	gens, err := fstree.Generations(devs, fstree.Options{}, true)
	if err != nil {
		return rep, []string{fmt.Sprintf("listing generations: %v", err)}
	}
	c := &comparer{mounted: true, limit: maxReported}
	byGen := map[uint64]*fstree.Generation{}
	for i := range gens {
		g := &gens[i]
		if byGen[g.Generation] == nil {
			byGen[g.Generation] = g // intact candidates come first
		}
		switch {
		case g.Superblock || len(g.Backups) > 0:
			rep.Named++
		case g.Intact():
			rep.Scanned++
			rep.ScannedIntact++
		default:
			rep.Scanned++
		}
		if !g.Intact() {
			checkBroken(c, devs, g)
		}
	}
	for i := range sc.Commits {
		rc := &sc.Commits[i]
		g := byGen[rc.Generation]
		switch {
		case g == nil:
			rep.Gone++
			_, err := fstree.New(devs, fstree.Options{Generation: rc.Generation})
			if !errors.Is(err, fstree.ErrNoGeneration) {
				c.addf("generation %d is not listed, but opening it gave %v, not ErrNoGeneration", rc.Generation, err)
			}
		case !g.Intact():
			rep.Broken++
		default:
			before := len(c.diffs)
			fs, err := fstree.New(devs, fstree.Options{Generation: rc.Generation})
			if err != nil {
				c.addf("generation %d: listed as intact, but opening it failed: %v", rc.Generation, err)
				continue
			}
			if fs.Generation() != rc.Generation {
				c.addf("generation %d: opened generation %d", rc.Generation, fs.Generation())
			}
			c.fs = fs
			c.subvolumes(rc.Subvolumes)
			if len(c.diffs) == before {
				rep.Intact++
			} else {
				c.diffs = append(c.diffs[:before], prefixAll(fmt.Sprintf("generation %d: ", rc.Generation), c.diffs[before:])...)
			}
		}
	}
	return rep, c.diffs
}

func prefixAll(p string, ss []string) []string {
	for i := range ss {
		ss[i] = p + ss[i]
	}
	return ss
}

// checkBroken reads the tree Generations found broken in g, as of g, and
// expects the read to fail at g.Bad, naming the block and the generation.
func checkBroken(c *comparer, devs []*volume.Device, g *fstree.Generation) {
	bad := g.Bad
	var warnings []ondisk.Warning
	fs, err := fstree.New(devs, fstree.Options{Generation: g.Generation, RootBytenr: g.Root.Bytenr, Warn: func(w ondisk.Warning) { warnings = append(warnings, w) }})
	if err == nil {
		switch bad.Tree {
		case ondisk.ChunkTreeObjectID:
			// The chunk tree is read when the volume is opened: a broken
			// one is replaced by the current one, with a warning.
			for _, w := range warnings {
				if w.Kind == ondisk.WarnGeneration && w.Logical == bad.Logical {
					return
				}
			}
			c.addf("generation %d: chunk tree block %d is broken, but no warning named it: %v", g.Generation, bad.Logical, warnings)
			return
		case ondisk.RootTreeObjectID:
			err = readAll(fs.RootTree().Items(ondisk.Key{}, ondisk.MaxKey))
		default:
			t, terr := fs.Tree(bad.Tree)
			if err = terr; err == nil {
				err = readAll(t.Items(ondisk.Key{}, ondisk.MaxKey))
			}
		}
	}
	var ow *fstree.OverwrittenError
	switch {
	case !errors.As(err, &ow):
		c.addf("generation %d: block %d of %s does not verify, but reading the tree gave %v", g.Generation, bad.Logical, ondisk.TreeName(bad.Tree), err)
	case ow.Generation != g.Generation || ow.Logical != bad.Logical || ow.Tree != bad.Tree:
		c.addf("generation %d: expected the read to fail at block %d of %s, got %v", g.Generation, bad.Logical, ondisk.TreeName(bad.Tree), err)
	case !strings.Contains(err.Error(), fmt.Sprintf("generation %d: tree block at logical %d (%s) was overwritten since", g.Generation, bad.Logical, ondisk.TreeName(bad.Tree))):
		c.addf("generation %d: the error does not name the block and the generation: %v", g.Generation, err)
	}
}

func readAll[T any](seq func(yield func(T, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}
