package oracle

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

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
			t.Logf("seed %d (mkfs %v; %s): %v", seed, spec.MkfsArgs, spec.Description, rep)
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
