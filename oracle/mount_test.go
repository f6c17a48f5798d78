package oracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/fusefs"
	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/mountcheck"
)

// mountResult counts what checkMount compared.
type mountResult struct {
	subvols, entries int
	generations      int   // older commits compared under .generations
	files            int   // files read at random offsets against the kernel's mount
	reads            int64 // those preads
	holeFiles        int   // files whose SEEK_DATA/SEEK_HOLE map was compared
}

func (r *mountResult) add(o mountResult) {
	r.subvols += o.subvols
	r.entries += o.entries
	r.generations += o.generations
	r.files += o.files
	r.reads += o.reads
	r.holeFiles += o.holeFiles
}

func (r mountResult) String() string {
	return fmt.Sprintf("%d subvolumes (%d entries) through coldsend's FUSE mount equal to the kernel's view, %d older commits under .generations equal to their records; %d files read by 8 parallel random preads (%d reads) and %d files' SEEK_DATA/SEEK_HOLE maps equal to the kernel's read-only mount",
		r.subvols, r.entries, r.generations, r.files, r.reads, r.holeFiles)
}

// checkMount mounts the scenario in dir with coldsend's FUSE mount and
// compares it with the kernel: the tree (every subvolume, every entry, as
// the manifest recorded the kernel's mount, or after replay for a crash
// scenario), the recorded older commits under .generations, and, with
// the kernel's read-only loop mount of the same image beside it, random
// parallel reads and the hole map of every regular file. Writes fail
// with EROFS.
func checkMount(ctx context.Context, dir string) (mountResult, error) {
	var r mountResult
	if err := mountcheck.Available(); err != nil {
		return r, err
	}
	sc, err := manifest.Load(dir)
	if err != nil {
		return r, err
	}
	open, want := fixturecheck.Open, sc.Subvolumes
	if sc.Crash != nil {
		open, want = fixturecheck.OpenReplayed, sc.Crash.Replayed
	}
	fsys, err := open(dir, sc, nil)
	if err != nil {
		return r, err
	}
	defer fsys.Close()
	base, err := os.MkdirTemp("", "coldsend-mount-oracle-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(base)
	opts, gens, err := generationOptions(dir, sc, fsys)
	if err != nil {
		return r, err
	}
	err = mountcheck.Mounted(fsys, base, opts, func(mnt string) error {
		if diffs := mountcheck.Compare(mnt, 0, want); len(diffs) > 0 {
			return fmt.Errorf("the FUSE mount differs from the kernel's view:\n%s", strings.Join(diffs[:min(len(diffs), 20)], "\n"))
		}
		for _, sv := range want {
			r.subvols++
			r.entries += len(sv.Entries)
		}
		for view, rc := range gens {
			if rc == nil {
				continue
			}
			at := filepath.Join(mnt, fusefs.GenerationsDir, fmt.Sprint(rc.Generation))
			if diffs := mountcheck.Compare(at, view, rc.Subvolumes); len(diffs) > 0 {
				return fmt.Errorf("generation %d through .generations differs from its record:\n%s", rc.Generation, strings.Join(diffs[:min(len(diffs), 20)], "\n"))
			}
			r.generations++
		}
		if err := os.WriteFile(filepath.Join(mnt, "coldsend-write-test"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("creating a file in the mount: %v, want EROFS", err)
		}
		if sc.Crash != nil || len(sc.Missing) > 0 || len(sc.Corruptions) > 0 {
			return nil // the kernel's ro mount needs every device intact, and cannot replay
		}
		return againstKernelMount(ctx, dir, base, mnt, sc, &r)
	})
	return r, err
}

// generationOptions lists the older commits as coldsend mount
// --generations --scan does, and maps each view to the scenario's record of that
// commit (nil where none was recorded).
func generationOptions(dir string, sc *manifest.Scenario, fsys *fstree.FS) (fusefs.Options, map[int]*manifest.Commit, error) {
	var opts fusefs.Options
	if len(sc.Commits) == 0 {
		return opts, nil, nil
	}
	devs, err := fixturecheck.Devices(dir, sc)
	if err != nil {
		return opts, nil, err
	}
	list, err := fstree.Generations(devs, fstree.Options{}, true)
	if err != nil {
		return opts, nil, err
	}
	opts.Generations, opts.OpenGeneration = fusefs.OlderGenerations(list, fsys.Generation(), func(gen, root uint64) (*fstree.FS, error) {
		return fstree.New(devs, fstree.Options{Generation: gen, RootBytenr: root})
	})
	views := map[int]*manifest.Commit{}
	for i := range sc.Commits {
		if v := slices.Index(opts.Generations, sc.Commits[i].Generation); v >= 0 {
			views[v+1] = &sc.Commits[i]
		}
	}
	return opts, views, nil
}

// againstKernelMount mounts the scenario's devices read-only with the
// kernel and compares every regular file of the FUSE mount with it: 8
// readers at once doing random preads, and the SEEK_DATA/SEEK_HOLE map.
func againstKernelMount(ctx context.Context, dir, base, fuseMnt string, sc *manifest.Scenario, r *mountResult) error {
	imgs, err := imagefile.Unpack(dir, filepath.Join(base, "img"))
	if err != nil {
		return err
	}
	kmnt := filepath.Join(base, "kernel")
	if err := os.Mkdir(kmnt, 0o755); err != nil {
		return err
	}
	// Every device on a read-only loop device, named to the mount.
	var loops []string
	defer func() {
		for _, l := range loops {
			exec.Command("losetup", "-d", l).Run()
		}
	}()
	opts := "ro,noatime"
	for _, img := range imgs {
		out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", "--read-only", img).Output()
		if err != nil {
			return fmt.Errorf("losetup %s: %w", img, err)
		}
		l := strings.TrimSpace(string(out))
		loops = append(loops, l)
		opts += ",device=" + l
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", opts, loops[0], kmnt).CombinedOutput(); err != nil {
		return fmt.Errorf("mount -o %s: %v: %s", opts, err, out)
	}
	defer exec.Command("umount", kmnt).Run()
	var files []string
	for _, sv := range sc.Subvolumes {
		for _, e := range sv.Entries {
			if e.Type == manifest.TypeFile {
				files = append(files, filepath.Join(sv.Path, string(e.Path)))
			}
		}
	}
	var diffs []string
	for _, f := range files {
		want, err := exportcheck.SeekMap(filepath.Join(kmnt, f))
		if err != nil {
			return err
		}
		got, err := exportcheck.SeekMap(filepath.Join(fuseMnt, f))
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: data at %v through FUSE, %v through the kernel", f, got, want))
		}
		r.holeFiles++
	}
	if len(diffs) > 0 {
		return fmt.Errorf("holes differ:\n%s", strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	n, err := randomReads(fuseMnt, kmnt, files, 8, 64)
	r.files += len(files)
	r.reads += n
	return err
}

// randomReads has readers goroutines each read every file at perFile
// random offsets and lengths (up to 256 KiB, some past the end), through
// both mounts, comparing the bytes and the counts.
func randomReads(fuseMnt, kmnt string, files []string, readers, perFile int) (int64, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var total int64
	for w := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			n, err := readFilesAtRandom(rng, fuseMnt, kmnt, files, perFile)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return total, firstErr
}

func readFilesAtRandom(rng *rand.Rand, fuseMnt, kmnt string, files []string, perFile int) (int64, error) {
	var n int64
	a, b := make([]byte, 256<<10), make([]byte, 256<<10)
	for _, i := range rng.Perm(len(files)) {
		f := files[i]
		ff, err := os.Open(filepath.Join(fuseMnt, f))
		if err != nil {
			return n, err
		}
		kf, err := os.Open(filepath.Join(kmnt, f))
		if err != nil {
			ff.Close()
			return n, err
		}
		fi, err := kf.Stat()
		if err == nil {
			for range perFile {
				off := rng.Int64N(fi.Size() + 4096)
				l := 1 + rng.IntN(len(a))
				ga, errA := ff.ReadAt(a[:l], off)
				gb, errB := kf.ReadAt(b[:l], off)
				n++
				if ga != gb || !bytes.Equal(a[:ga], b[:gb]) || (errA == io.EOF) != (errB == io.EOF) {
					err = fmt.Errorf("%s: pread of %d bytes at %d: FUSE %d bytes (%v), kernel %d bytes (%v), bytes equal: %v", f, l, off, ga, errA, gb, errB, bytes.Equal(a[:min(ga, gb)], b[:min(ga, gb)]))
					break
				}
			}
		}
		ff.Close()
		kf.Close()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// mountFixturesCase mounts every committed fixture through FUSE and
// compares it with the kernel (checkMount).
func mountFixturesCase() oracleCase {
	return oracleCase{name: "mount-fixtures", run: func(ctx context.Context, t *testing.T) error {
		dirs, err := filepath.Glob("../fixtures/images/*")
		if err != nil {
			return err
		}
		var total mountResult
		for _, dir := range dirs {
			r, err := checkMount(ctx, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(dir), err)
			}
			total.add(r)
		}
		t.Logf("mount: %d fixtures: %v", len(dirs), total)
		return nil
	}}
}
