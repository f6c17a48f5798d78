package oracle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/scenario"
)

// ciGenerationSeeds are the generations scenarios of COLDSEND_ORACLE=ci:
// between them every layout scenario.RandomCommits draws.
var ciGenerationSeeds = []uint64{1, 2, 3, 6}

// generationsCase builds scenarios that commit many times, recording the
// mounted tree after some commits, and reads each as of every recorded
// commit (fixturecheck.CheckCommits): what Generations calls intact must
// equal the record, what it calls broken must fail naming the reused
// block. It reports how many recorded commits survive and how many
// generations the scan finds beyond the superblock's backup roots.
func generationsCase(seeds []uint64) oracleCase {
	return oracleCase{name: "generations", run: func(ctx context.Context, t *testing.T) error {
		var total fixturecheck.CommitReport
		for _, seed := range seeds {
			spec := scenario.RandomCommits(seed)
			out := filepath.Join(t.TempDir(), spec.Name)
			log := &lineLogger{t: t}
			_, err := scenario.Build(ctx, spec, scenario.Options{Out: out, ZstdLevel: 1, Log: log})
			log.flush()
			if err != nil {
				return fmt.Errorf("building %s: %w", spec.Name, err)
			}
			if err := fixturecheck.CheckScenario(out); err != nil {
				return fmt.Errorf("seed %d (%s): %w", seed, spec.Description, err)
			}
			sc, err := manifest.Load(out)
			if err != nil {
				return err
			}
			rep, diffs := fixturecheck.CheckCommits(out, sc)
			if len(diffs) > 0 {
				return fmt.Errorf("seed %d: %v", seed, diffs)
			}
			exported, err := exportCommits(out, sc)
			if err != nil {
				return fmt.Errorf("seed %d: %w", seed, err)
			}
			t.Logf("seed %d (mkfs %v; %s): %v; %d intact commits exported equal to their records", seed, spec.MkfsArgs, spec.Description, rep, exported)
			total.Recorded += rep.Recorded
			total.Intact += rep.Intact
			total.Broken += rep.Broken
			total.Gone += rep.Gone
			total.Named += rep.Named
			total.Scanned += rep.Scanned
			total.ScannedIntact += rep.ScannedIntact
		}
		t.Logf("generations, %d scenarios: %v", len(seeds), total)
		return nil
	}}
}

// exportCommits exports, with export --generation's library calls, every
// subvolume of every recorded commit whose blocks all verify, and
// compares each with the commit's record of the kernel's mount.
func exportCommits(dir string, sc *manifest.Scenario) (int, error) {
	devs, err := fixturecheck.Devices(dir, sc)
	if err != nil {
		return 0, err
	}
	gens, err := fstree.Generations(devs, fstree.Options{}, true)
	if err != nil {
		return 0, err
	}
	intact := map[uint64]bool{}
	for _, g := range gens {
		intact[g.Generation] = intact[g.Generation] || g.Intact()
	}
	tmp, err := os.MkdirTemp("", "coldsend-generations-export-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	extractors := exportcheck.Extractors()
	var n int
	for i := range sc.Commits {
		rc := &sc.Commits[i]
		if !intact[rc.Generation] {
			continue
		}
		fsys, err := fstree.New(devs, fstree.Options{Generation: rc.Generation})
		if err != nil {
			return n, err
		}
		for j := range rc.Subvolumes {
			msv := &rc.Subvolumes[j]
			sv, err := fsys.OpenSubvol(msv.ID)
			if err != nil {
				return n, err
			}
			d := filepath.Join(tmp, fmt.Sprintf("%d-%d", rc.Generation, msv.ID))
			if err := os.Mkdir(d, 0o755); err != nil {
				return n, err
			}
			if _, err := exportcheck.Subvolume(sv, msv, d, extractors); err != nil {
				return n, fmt.Errorf("generation %d, subvolume %q: %w", rc.Generation, msv.Path, err)
			}
		}
		n++
	}
	return n, nil
}
