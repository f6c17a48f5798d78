package oracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/cli"

	"github.com/coldsend/coldsend/internal/crashcheck"
	"github.com/coldsend/coldsend/internal/degraded"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/scenario"
	"github.com/coldsend/coldsend/internal/sendcheck"
)

// degradedCases counts the degraded-array cases checked in this run.
var degradedCases atomic.Int64

// ciSeeds are the random seeds of COLDSEND_ORACLE=ci, chosen to cover
// every layout (single and DUP metadata, DUP data, mixed block groups,
// RAID1/10/5/6/1C3, a missing device, damaged metadata copies), all node
// sizes and checksums, compression, compress-force, nodatacow and
// nodatasum, and between them every incremental feature: three to five
// generations, swaps through temporary names, moves into former children,
// type changes, rename chains, rmdir after moves, inode number reuse after
// a remount (10, 12, 14, 15, 47, 290), nested-subvolume snapshots (2, 12, 25),
// sends skipping generations, -c only and -p plus -c (all). 290 packs all
// of them on a plain layout. 536105329 has a file whose stored flags say
// nocompress while its btrfs.compression property, which the kernel
// applies when it reads the inode, says compress. `go run ./fixtures/gen
// random --seed N --print` shows each.
var ciSeeds = []uint64{1, 2, 3, 5, 10, 12, 14, 15, 16, 18, 25, 47, 290, 536105329}

// caseTimeout bounds one build and check, well inside go test's own
// timeout, whose panic would skip the unmount and loop detach.
const caseTimeout = 5 * time.Minute

type oracleCase struct {
	name string
	seed uint64 // for the rerun hint; 0 for named scenarios
	spec *scenario.Spec
	// run, when set, replaces the scenario build and checks.
	run func(ctx context.Context, t *testing.T) error
}

// orphanCase rebuilds the orphan test data of sendgen (an image of a
// running system with unlinked open files, and the kernel's sends after
// orphan cleanup) with this kernel, and compares coldsend's sends.
func orphanCase() oracleCase {
	return oracleCase{name: "orphans", run: func(ctx context.Context, t *testing.T) error {
		dir := t.TempDir()
		cmd := exec.CommandContext(ctx, "bash", "../sendgen/testdata/orphans/make.sh", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("make.sh: %v\n%s", err, out)
		}
		n, err := sendcheck.Orphans(dir)
		if err == nil {
			t.Logf("%d kernel sends after orphan cleanup equal to coldsend's sends of the image of the running system", n)
		}
		return err
	}}
}

// kernelCasesCase rebuilds sendgen's kernelcases (delayed directory moves,
// refreshed ref paths, leaves of other owners, the clone reference cap,
// empty ACLs) with this kernel and compares coldsend's sends.
func kernelCasesCase() oracleCase {
	return oracleCase{name: "kernelcases", run: func(ctx context.Context, t *testing.T) error {
		dir := t.TempDir()
		cmd := exec.CommandContext(ctx, "bash", "../sendgen/testdata/kernelcases/make.sh", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("make.sh: %v\n%s", err, out)
		}
		checked, err := sendcheck.KernelSends(dir, "kernelcases.img.zst")
		if err == nil {
			t.Logf("%d kernel sends equal to coldsend's: %v", len(checked), checked)
		}
		return err
	}}
}

// mountedCase mounts a fresh image through a loop device and runs
// coldsend show on the image file: read-write, it must warn that the
// image is mounted; read-only, it must not.
func mountedCase() oracleCase {
	return oracleCase{name: "mounted-warning", run: func(ctx context.Context, t *testing.T) error {
		dir := t.TempDir()
		img, mnt := filepath.Join(dir, "img"), filepath.Join(dir, "m")
		sh := func(name string, args ...string) error {
			if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
			}
			return nil
		}
		if err := os.Mkdir(mnt, 0o755); err != nil {
			return err
		}
		if err := sh("truncate", "-s", "128M", img); err != nil {
			return err
		}
		if err := sh("mkfs.btrfs", "-q", img); err != nil {
			return err
		}
		for _, mode := range []string{"rw", "ro"} {
			if err := sh("mount", "-o", "loop,"+mode, img, mnt); err != nil {
				return err
			}
			var out, errOut strings.Builder
			st := cli.Run([]string{"show", img}, nil, &out, &errOut)
			umountErr := sh("umount", mnt)
			warned := strings.Contains(errOut.String(), "is mounted read-write at "+mnt)
			if st != 0 || warned != (mode == "rw") {
				return fmt.Errorf("mounted %s: status %d, stderr %q", mode, st, errOut.String())
			}
			if umountErr != nil {
				return umountErr
			}
		}
		t.Logf("a read-write loop mount of the image is reported, a read-only one is not")
		return nil
	}}
}

// receiveFixturesCase receives every stream of every committed fixture
// with btrfs receive and with coldsend receive into ext4, XFS and tmpfs,
// and compares the trees.
func receiveFixturesCase() oracleCase {
	return oracleCase{name: "receive-fixtures", run: func(ctx context.Context, t *testing.T) error {
		dirs, err := filepath.Glob("../fixtures/images/*")
		if err != nil {
			return err
		}
		var total receiveResult
		for _, dir := range dirs {
			r, err := checkReceives(ctx, dir, false)
			if err != nil {
				return err
			}
			total.streams += r.streams
			total.compared += r.compared
			total.shared += r.shared
			total.growth = max(total.growth, r.growth)
		}
		t.Logf("receive: %d kernel streams, %d trees (ext4, xfs, tmpfs) equal to btrfs receive's; on xfs %d unchanged files of incremental receives share extents with the parent, space grew at most %.2fx (stream size + 1 MiB)",
			total.streams, total.compared, total.shared, total.growth)
		return nil
	}}
}

func TestOracle(t *testing.T) {
	mode := os.Getenv("COLDSEND_ORACLE")
	if mode == "" {
		t.Skip("COLDSEND_ORACLE is not set: run make oracle or make oracle-ci (needs root, loop devices and btrfs)")
	}
	if err := scenario.Preflight(); err != nil {
		if os.Getenv("COLDSEND_REQUIRE_ORACLE") == "1" {
			t.Fatalf("kernel oracle cannot run: %v", err)
		}
		t.Skipf("kernel oracle cannot run: %v", err)
	}
	cases, err := selectCases(mode)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	passed := 0
	var failed []oracleCase
	for _, c := range cases {
		ran := false // a case -run filters out is neither passed nor failed
		ok := t.Run(c.name, func(t *testing.T) {
			ran = true
			if err := ctx.Err(); err != nil {
				t.Skip("interrupted")
			}
			start := time.Now()
			run := runCase
			if c.run != nil {
				run = func(ctx context.Context, t *testing.T, c oracleCase) error { return c.run(ctx, t) }
			}
			if err := run(ctx, t, c); err != nil {
				t.Errorf("%v\n%s", err, rerunHint(c))
				return
			}
			t.Logf("passed in %v", time.Since(start).Round(time.Millisecond))
		})
		switch {
		case !ran:
		case ok:
			passed++
		default:
			failed = append(failed, c)
		}
	}
	for _, c := range failed {
		fmt.Printf("FAILED %s: %s\n", c.name, rerunHint(c))
	}
	if n := degradedCases.Load(); n > 0 {
		fmt.Printf("degraded-array cases passed: %d (every file hash and send equal to the kernel's clean read and send)\n", n)
	}
	fmt.Printf("%d passed, %d failed\n", passed, len(failed))
}

func rerunHint(c oracleCase) string {
	if c.seed != 0 {
		crash := ""
		if c.spec.Crash {
			crash = "--crash "
		}
		return fmt.Sprintf("rerun: make oracle SEED=%d (spec: go run ./fixtures/gen random %s--seed %d --print)", c.seed, crash, c.seed)
	}
	return fmt.Sprintf("rerun: COLDSEND_ORACLE=ci go test -count=1 -v -run 'TestOracle/%s$' ./oracle/", c.name)
}

func selectCases(mode string) ([]oracleCase, error) {
	random := func(seeds []uint64) []oracleCase {
		var out []oracleCase
		for _, s := range seeds {
			out = append(out, oracleCase{name: fmt.Sprintf("seed-%d", s), seed: s, spec: scenario.Random(s)})
		}
		for _, s := range seeds {
			out = append(out, oracleCase{name: fmt.Sprintf("crash-seed-%d", s), seed: s, spec: scenario.RandomCrash(s)})
		}
		return out
	}
	if list := os.Getenv("COLDSEND_ORACLE_SEED"); list != "" {
		var seeds []uint64
		for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
			s, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("COLDSEND_ORACLE_SEED: %q is not a seed: %w", f, err)
			}
			seeds = append(seeds, s)
		}
		return random(seeds), nil
	}
	switch mode {
	case "fresh":
		n := 5
		if v := os.Getenv("COLDSEND_ORACLE_SEEDS"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return nil, fmt.Errorf("COLDSEND_ORACLE_SEEDS=%q: want a positive count", v)
			}
		}
		// Small numbers are easier to retype than full nanosecond clocks.
		base := uint64(time.Now().UnixNano()) % 1_000_000_000
		seeds := make([]uint64, n)
		for i := range seeds {
			seeds[i] = base + uint64(i)
		}
		fmt.Printf("oracle seeds: %v\n", seeds)
		return append(random(seeds), orphanCase(), kernelCasesCase(), mountedCase(), subvolumeShowCase(), receiveFixturesCase(), mountFixturesCase(), generationsCase(seeds[:min(len(seeds), 3)])), nil
	case "ci":
		cases := random(ciSeeds)
		for _, s := range scenario.Named() {
			cases = append(cases, oracleCase{name: "named-" + s.Name, spec: s})
		}
		return append(cases, orphanCase(), kernelCasesCase(), mountedCase(), subvolumeShowCase(), receiveFixturesCase(), mountFixturesCase(), generationsCase(ciGenerationSeeds)), nil
	}
	return nil, fmt.Errorf("COLDSEND_ORACLE=%q: want fresh or ci", mode)
}

// ciResumeSample is how many command boundaries, and offsets inside
// commands, oracle-ci resumes each stream at, picked at random: every
// boundary (what make oracle checks) costs a send per command, 30 s a
// scenario.
const ciResumeSample = 40

// runCase builds the scenario with the kernel, compares coldsend's view of
// the images with the manifest and its reading of the kernel's streams with
// btrfs-progs.
func runCase(ctx context.Context, t *testing.T, c oracleCase) error {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), c.spec.Name)
	keep := os.Getenv("COLDSEND_ORACLE_KEEP")
	if keep != "" {
		out = filepath.Join(keep, c.spec.Name)
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	log := &lineLogger{t: t}
	defer log.flush()
	// Level 3: these images are thrown away, speed matters more than size.
	_, err := scenario.Build(ctx, c.spec, scenario.Options{Out: out, ZstdLevel: 3, Log: log})
	// A crash copy the kernel committed before it was taken proves
	// nothing; the same program run again is taken again, a few times.
	for try := 1; errors.Is(err, scenario.ErrNoLog) && try < 4; try++ {
		t.Logf("%v; running the scenario again (%d)", err, try)
		if err = os.RemoveAll(out); err == nil {
			_, err = scenario.Build(ctx, c.spec, scenario.Options{Out: out, ZstdLevel: 3, Log: log})
		}
	}
	if err != nil {
		return fmt.Errorf("building %s: %w", c.spec.Name, err)
	}
	err = fixturecheck.CheckScenario(out)
	if err == nil && c.spec.Crash {
		err = checkCrash(t, out)
	}
	if err == nil {
		var n int
		if n, err = checkStreams(ctx, out); err == nil {
			t.Logf("%d kernel streams: coldsend dump identical to btrfs receive --dump (TZ=UTC, TZ=%s, concatenated), validate clean", n, otherTZ)
		}
	}
	if err == nil {
		var n int
		if n, err = checkSends(out); err == nil {
			t.Logf("%d kernel streams reproduced byte for byte by coldsend send", n)
		}
	}
	if err == nil {
		var n, resumes int
		began := time.Now()
		sample, what := 0, "every command boundary and 200 offsets inside commands per stream"
		if os.Getenv("COLDSEND_ORACLE") == "ci" {
			sample, what = ciResumeSample, fmt.Sprintf("%d command boundaries and %d offsets inside commands per stream", ciResumeSample, ciResumeSample)
		}
		if n, resumes, err = sendcheck.Resumes(out, rand.New(rand.NewPCG(c.seed, 7)), sample); err == nil {
			t.Logf("resume: %d streams sized exactly; %d sends resumed at %s equal to the rest of the whole (%v)", n, resumes, what, time.Since(began).Round(time.Millisecond))
		}
	}
	if err == nil {
		var r receiveResult
		if r, err = checkReceives(ctx, out, true); err == nil {
			t.Logf("receive: coldsend send | coldsend receive equal to btrfs send | btrfs receive for %d streams, %d trees (ext4, xfs, tmpfs); %d xfs files share extents with their parent", r.streams, r.compared, r.shared)
		}
	}
	if err == nil {
		var r exportResult
		if r, err = checkExports(ctx, out); err == nil {
			t.Logf("export: %d subvolumes (%d entries, %d files) exported to directories and tar archives equal to the kernel's mount; %d extractions by GNU tar and bsdtar; %d files' holes equal to the mount's SEEK_DATA map", r.subvols, r.res.Entries, r.res.Files, r.extractions, r.holeFiles)
		}
	}
	if err == nil {
		var r mountResult
		if r, err = checkMount(ctx, out); err == nil {
			t.Logf("mount: %v", r)
		}
	}
	if err == nil {
		var n int
		var r degraded.Result
		if n, r, err = degraded.CheckAll(out); err == nil && n > 0 {
			t.Logf("degraded: %d cases (each device, RAID6/RAID1C3 each pair; omitted, zeroed, random): %d file hashes equal to the kernel's clean read, %d sends equal to the kernel's clean send", n, r.Files, r.Streams)
			degradedCases.Add(int64(n))
		}
	}
	if err != nil {
		if keep != "" {
			t.Logf("scenario kept in %s", out)
		}
		return err
	}
	if keep != "" {
		return os.RemoveAll(out)
	}
	return nil
}

// checkCrash compares coldsend with the kernel's view of a crash image
// after log replay (internal/crashcheck): the view and every stream must
// be the kernel's.
func checkCrash(t *testing.T, dir string) error {
	r, err := crashcheck.Check(dir)
	if err != nil {
		return err
	}
	t.Logf("log replay: %v", r)
	if r.Differences() > 0 {
		diffs := r.View
		for f, d := range r.Streams {
			if d != "" {
				diffs = append(diffs, f+": "+d)
			}
		}
		return fmt.Errorf("%s: %d differences from the kernel after log replay:\n  %s", r.Name, r.Differences(), strings.Join(diffs, "\n  "))
	}
	return nil
}

// lineLogger forwards the generator's progress lines to t.Log.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // incomplete: keep for the next write
			return len(p), nil
		}
		l.t.Log(strings.TrimSuffix(line, "\n"))
	}
}

func (l *lineLogger) flush() {
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
	}
}
