package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coldsend/coldsend/internal/manifest"
)

// ErrNoLog is a crash scenario whose copy has no log tree: a commit came
// between the last fsync and the copy (the kernel commits on its own for
// some fsyncs), so the run proves nothing either way.
var ErrNoLog = errors.New("the copy has no log tree")

// validateCrash checks what a crash build relies on.
func (s *Spec) validateCrash() error {
	switch {
	case s.Devices != 1 || len(s.Missing) > 0 || len(s.Corrupt) > 0:
		return fmt.Errorf("crash scenario %s: one device, none missing or damaged", s.Name)
	case !slices.ContainsFunc(strings.Split(s.MountOptions, ","), func(o string) bool { return strings.HasPrefix(o, "commit=") }):
		// The default 30 s would let the transaction kthread commit the
		// log away before the copy.
		return fmt.Errorf("crash scenario %s: mount options %q need a long commit= interval", s.Name, s.MountOptions)
	case len(s.Sends()) > 0:
		return fmt.Errorf("crash scenario %s: sends only the replayed subvolumes, not its read-only snapshots", s.Name)
	}
	fsyncs := 0
	for _, st := range s.Steps {
		switch st.(type) {
		case Commit:
			return fmt.Errorf("crash scenario %s: Commit steps record commits of clean images", s.Name)
		case Fsync:
			fsyncs++
		}
	}
	if fsyncs == 0 {
		return fmt.Errorf("crash scenario %s: no fsync, so no log", s.Name)
	}
	return nil
}

// superLog reads the generation and log_root of the superblock of dev (an
// image file or device) with dump-super. Read from the image file behind
// the loop device while mounted, it shows what the kernel last wrote:
// the loop driver writes through the file's page cache.
func (r *runner) superLog(dev string) (gen, logRoot uint64, err error) {
	out, err := r.cmd("btrfs", "inspect-internal", "dump-super", dev)
	if err != nil {
		return 0, 0, err
	}
	sb, err := parseDumpSuper(out)
	if err != nil {
		return 0, 0, err
	}
	if gen, err = sb.uint("generation"); err != nil {
		return 0, 0, err
	}
	logRoot, err = sb.uint("log_root")
	return gen, logRoot, err
}

// crashFsync runs Fsync step i of a crash scenario between two reads of
// the superblock and records what the kernel did; with UntilLogged it
// appends and fsyncs again while the kernel commits.
func (r *runner) crashFsync(i int, f Fsync) error {
	for try := 0; ; try++ {
		if try > 0 {
			if err := f.appendByte(r); err != nil {
				return err
			}
		}
		if err := r.crashFsyncOnce(i, f); err != nil {
			return err
		}
		if !f.UntilLogged || r.fsyncs[len(r.fsyncs)-1].Outcome != manifest.FsyncCommitted || try == 2 {
			return nil
		}
	}
}

// crashFsyncOnce is one fsync of crashFsync.
func (r *runner) crashFsyncOnce(i int, f Fsync) error {
	before, rootBefore, err := r.superLog(r.images[0])
	if err != nil {
		return err
	}
	if err := f.apply(r); err != nil {
		return err
	}
	after, logRoot, err := r.superLog(r.images[0])
	if err != nil {
		return err
	}
	rec := manifest.Fsync{Step: i, What: f.String(), Before: before, After: after, LogRoot: logRoot, Outcome: manifest.FsyncNothing}
	switch {
	case after > before:
		rec.Outcome = manifest.FsyncCommitted
	case logRoot != rootBefore:
		rec.Outcome = manifest.FsyncLogged
	}
	if r.opts.Verbose {
		r.logf("%s: %s (generation %d -> %d, log root %d)", f, rec.Outcome, before, after, logRoot)
	}
	r.fsyncs = append(r.fsyncs, rec)
	return nil
}

// fsyncSummary counts the outcomes, e.g. "4 fsyncs: 3 logged, 1 committed".
func fsyncSummary(fs []manifest.Fsync) string {
	n := map[string]int{}
	for _, f := range fs {
		n[f.Outcome]++
	}
	var parts []string
	for _, o := range []string{manifest.FsyncLogged, manifest.FsyncCommitted, manifest.FsyncNothing} {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	return fmt.Sprintf("%d fsyncs: %s", len(fs), strings.Join(parts, ", "))
}

var logRootItemRE = regexp.MustCompile(`(?m)^\titem \d+ key \(TREE_LOG ROOT_ITEM (\d+)\)`)

// logSubvolumes lists the subvolumes with a log tree: the ROOT_ITEMs of
// the log root tree at logRoot, as dump-tree prints them.
func (r *runner) logSubvolumes(img string, logRoot uint64) ([]uint64, error) {
	out, err := r.cmd("btrfs", "inspect-internal", "dump-tree", "--follow", "-b", strconv.FormatUint(logRoot, 10), img)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, m := range logRootItemRE.FindAllStringSubmatch(out, -1) {
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dump-tree of the log root tree: %q: %w", m[0], err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("dump-tree of the log root tree at %d lists no log tree:\n%s", logRoot, out)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// mountCopy copies img to name in the work directory, attaches the copy
// (read-only when readOnly) and mounts it with opts.
func (r *runner) mountCopy(img, name string, readOnly bool, opts string) error {
	cp := filepath.Join(r.work, name)
	if _, err := r.cmd("cp", "--sparse=always", img, cp); err != nil {
		return err
	}
	r.images = []string{cp}
	if err := r.attach(readOnly); err != nil {
		return err
	}
	r.curOptions = opts
	return r.mount()
}

// unmountCopy unmounts and detaches what mountCopy set up.
func (r *runner) unmountCopy() error {
	if err := r.umount(); err != nil {
		return err
	}
	return r.detach()
}

// buildCrash finishes a crash scenario after its steps: the image is
// copied while mounted (the crash image, never mounted itself); one copy
// of it is mounted ro,rescue=nologreplay for the last commit as the kernel
// shows it (the manifest's subvolumes), another read-write, which replays
// the log, for the kernel's view after replay and its sends of a
// read-only snapshot of every subvolume the log touched.
func (r *runner) buildCrash(start time.Time) (*manifest.Scenario, error) {
	spec := r.spec
	crash := filepath.Join(r.work, "crash.img")
	r.logf("copying the image while mounted (%s)", fsyncSummary(r.fsyncs))
	if _, err := r.cmd("cp", "--sparse=always", r.images[0], crash); err != nil {
		return nil, err
	}
	if err := r.unmountCopy(); err != nil {
		return nil, err
	}
	gen, logRoot, err := r.superLog(crash)
	if err != nil {
		return nil, err
	}
	if logRoot == 0 {
		return nil, fmt.Errorf("%w (log_root 0 at generation %d), so it is no crash image: %s", ErrNoLog, gen, fsyncSummary(r.fsyncs))
	}
	m := &manifest.Scenario{
		Schema: manifest.SchemaVersion, Name: spec.Name, Description: spec.Description,
		Seed: spec.Seed, Kernel: r.kernel, Progs: r.progs, MkfsArgs: spec.MkfsArgs,
		MountOptions: spec.MountOptions,
		Crash:        &manifest.Crash{LogRoot: logRoot, Fsyncs: r.fsyncs},
	}
	if m.Crash.LogSubvolumes, err = r.logSubvolumes(crash, logRoot); err != nil {
		return nil, err
	}

	r.logf("recording the last commit (ro,rescue=nologreplay)")
	if err := r.mountCopy(crash, "nologreplay.img", true, "ro,rescue=nologreplay"); err != nil {
		return nil, err
	}
	if m.KernelMountOptions, err = superOptions(r.mnt); err != nil {
		return nil, err
	}
	if err := r.profiles(m); err != nil {
		return nil, err
	}
	if m.Subvolumes, err = r.collect(); err != nil {
		return nil, err
	}
	if err := r.unmountCopy(); err != nil {
		return nil, err
	}

	r.logf("recording the kernel's log replay")
	opts := "noatime"
	if spec.MountOptions != "" {
		opts = spec.MountOptions + ",noatime"
	}
	mountStart := time.Now()
	if err := r.mountCopy(crash, "replay.img", false, opts); err != nil {
		return nil, err
	}
	m.Crash.ReplayMountStart, m.Crash.ReplayMountEnd = mountStart.UnixNano(), time.Now().UnixNano()
	if _, lr, err := r.superLog(r.images[0]); err != nil {
		return nil, err
	} else if lr != 0 {
		return nil, fmt.Errorf("mounted read-write, the copy still has log_root %d: the kernel did not replay", lr)
	}
	if m.Crash.Replayed, err = r.collect(); err != nil {
		return nil, err
	}
	for _, id := range m.Crash.LogSubvolumes {
		i := slices.IndexFunc(m.Crash.Replayed, func(sv manifest.Subvolume) bool { return sv.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("the log touched subvolume %d, which the replayed filesystem does not list", id)
		}
		src := m.Crash.Replayed[i].Path
		snap := fmt.Sprintf("replayed-%d", id)
		if _, err := os.Lstat(r.abs(snap)); err == nil {
			return nil, fmt.Errorf("cannot snapshot subvolume %d: %s exists", id, snap)
		}
		if _, err := r.cmd("btrfs", "subvolume", "snapshot", "-r", r.abs(src), r.abs(snap)); err != nil {
			return nil, err
		}
		for _, proto := range []int{1, 2} {
			st, err := r.send(Send{Subvol: snap, Proto: proto})
			if err != nil {
				return nil, err
			}
			st.Subvol = src
			m.Crash.Streams = append(m.Crash.Streams, st)
		}
	}
	if err := r.unmountCopy(); err != nil {
		return nil, err
	}

	if err := r.inspect(m, []string{crash}); err != nil {
		return nil, err
	}
	r.logf("compressing the crash image (zstd -%d)", r.opts.ZstdLevel)
	d := &m.Devices[0]
	if d.SHA256, d.Size, err = hashFile(crash); err != nil {
		return nil, err
	}
	d.File = "dev0.img.zst"
	if err := r.zstd(crash, filepath.Join(r.opts.Out, d.File)); err != nil {
		return nil, err
	}
	if err := manifest.Save(r.opts.Out, m); err != nil {
		return nil, err
	}
	r.logf("done in %v", time.Since(start).Round(time.Millisecond))
	return m, nil
}
