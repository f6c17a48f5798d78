package fusefs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/fusefs"
	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/mountcheck"
)

const fixtures = "../fixtures/images/"

// mountFixture opens a committed fixture (replayed, for a crash one) and
// calls fn with it mounted; without root or /dev/fuse the test skips,
// saying why (the oracle runs these checks on every fixture as root).
func mountFixture(t *testing.T, name string, opts fusefs.Options, fn func(mnt string, fsys *fstree.FS, sc *manifest.Scenario)) {
	t.Helper()
	if err := mountcheck.Available(); err != nil {
		t.Skip(err)
	}
	dir := fixtures + name
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	open := fixturecheck.Open
	if sc.Crash != nil {
		open = fixturecheck.OpenReplayed
	}
	fsys, err := open(dir, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	err = mountcheck.Mounted(fsys, t.TempDir(), opts, func(mnt string) error {
		fn(mnt, fsys, sc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMountEqualsKernelView compares the mounts of a few fixtures with
// the kernel's views their manifests recorded: subvolumes, hard links,
// xattrs and ACLs, special files, a crash image after log replay.
func TestMountEqualsKernelView(t *testing.T) {
	for _, name := range []string{"basic", "subvols", "crash-files", "renames-oddnames"} {
		t.Run(name, func(t *testing.T) {
			mountFixture(t, name, fusefs.Options{}, func(mnt string, _ *fstree.FS, sc *manifest.Scenario) {
				want := sc.Subvolumes
				if sc.Crash != nil {
					want = sc.Crash.Replayed
				}
				if diffs := mountcheck.Compare(mnt, 0, want); len(diffs) > 0 {
					t.Errorf("%d differences:\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
				}
			})
		})
	}
}

// TestReaddirOffsets lists a directory of 91 entries in getdents calls of
// a few entries each, then seeks to every offset it was given: the
// listing must go on with the entry after it, as on the kernel's mount
// (offsets are DIR_INDEX + 1), and the order is the directory's index
// order, "." and ".." first.
func TestReaddirOffsets(t *testing.T) {
	mountFixture(t, "basic", fusefs.Options{}, func(mnt string, fsys *fstree.FS, _ *manifest.Scenario) {
		dir := filepath.Join(mnt, "vol/storm")
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		var all []dirent
		buf := make([]byte, 280) // room for one entry of the longest name
		for {
			n, err := unix.Getdents(fd, buf)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			all = append(all, parseDirents(t, buf[:n])...)
		}
		loc, err := fsys.Resolve("vol/storm")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{".", ".."}
		for e, err := range loc.Subvol.Entries(loc.Ino) {
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, string(e.Name))
		}
		var got []string
		for _, d := range all {
			got = append(got, d.name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("listing:\n got %q\nwant %q", got, want)
		}
		for i, d := range all {
			if _, err := unix.Seek(fd, d.off, 0); err != nil {
				t.Fatal(err)
			}
			n, err := unix.Getdents(fd, buf)
			if err != nil {
				t.Fatal(err)
			}
			rest := parseDirents(t, buf[:n])
			switch {
			case i == len(all)-1 && len(rest) != 0:
				t.Errorf("after the last entry's offset %d: %v, want nothing", d.off, rest)
			case i < len(all)-1 && (len(rest) == 0 || rest[0].name != all[i+1].name):
				t.Errorf("after %q (offset %d): %v, want %q next", d.name, d.off, rest, all[i+1].name)
			}
		}
	})
}

// dirent is a name and the offset getdents gave with it.
type dirent struct {
	name string
	off  int64
}

// parseDirents decodes linux_dirent64 records.
func parseDirents(t *testing.T, b []byte) []dirent {
	var out []dirent
	for len(b) > 0 {
		if len(b) < 19 {
			t.Fatalf("short dirent: %d bytes", len(b))
		}
		reclen := int(b[16]) | int(b[17])<<8
		off := int64(0)
		for i := 7; i >= 0; i-- {
			off = off<<8 | int64(b[8+i])
		}
		name := b[19:reclen]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, dirent{string(name), off})
		b = b[reclen:]
	}
	return out
}

// TestReadOnly tries every kind of change through the mount: each fails
// with EROFS.
func TestReadOnly(t *testing.T) {
	mountFixture(t, "basic", fusefs.Options{}, func(mnt string, _ *fstree.FS, _ *manifest.Scenario) {
		file := filepath.Join(mnt, "vol/two-blocks")
		for _, op := range []struct {
			what string
			err  error
		}{
			{"create", os.WriteFile(filepath.Join(mnt, "vol/new"), nil, 0o644)},
			{"mkdir", os.Mkdir(filepath.Join(mnt, "vol/newdir"), 0o755)},
			{"unlink", os.Remove(file)},
			{"rename", os.Rename(file, file+".moved")},
			{"chmod", os.Chmod(file, 0o600)},
			{"chown", os.Lchown(file, 1, 1)},
			{"truncate", os.Truncate(file, 0)},
			{"symlink", os.Symlink("x", filepath.Join(mnt, "vol/link"))},
			{"link", os.Link(file, filepath.Join(mnt, "vol/hard"))},
			{"setxattr", unix.Lsetxattr(file, "user.x", []byte("1"), 0)},
			{"removexattr", unix.Lremovexattr(file, "user.x")},
			{"open for writing", openErr(file, os.O_WRONLY)},
			{"utimes", unix.UtimesNano(file, []unix.Timespec{{}, {}})},
		} {
			if !errors.Is(op.err, syscall.EROFS) {
				t.Errorf("%s: %v, want EROFS", op.what, op.err)
			}
		}
	})
}

func openErr(p string, flag int) error {
	f, err := os.OpenFile(p, flag, 0)
	if err == nil {
		f.Close()
	}
	return err
}

// TestSeekDataHole compares every regular file's SEEK_DATA/SEEK_HOLE map
// through the mount with coldsend's data ranges, which the oracle
// compares with the kernel's mount.
func TestSeekDataHole(t *testing.T) {
	for _, name := range []string{"basic", "blake2-holes"} {
		t.Run(name, func(t *testing.T) {
			mountFixture(t, name, fusefs.Options{}, func(mnt string, fsys *fstree.FS, sc *manifest.Scenario) {
				files := 0
				for _, msv := range sc.Subvolumes {
					sv, err := fsys.OpenSubvol(msv.ID)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range msv.Entries {
						if e.Type != manifest.TypeFile {
							continue
						}
						got, err := exportcheck.SeekMap(filepath.Join(mnt, msv.Path, string(e.Path)))
						if err != nil {
							t.Fatal(err)
						}
						want, err := exportcheck.DataRanges(sv, e.Ino)
						if err != nil {
							t.Fatal(err)
						}
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Errorf("%s/%s: data at %v through the mount, %v in the image", msv.Path, e.Path, got, want)
						}
						files++
					}
				}
				if files == 0 {
					t.Fatal("no regular files")
				}
			})
		})
	}
}

// TestGenerationsDir mounts the generations fixture with its older
// commits and compares each one its manifest recorded with the record.
func TestGenerationsDir(t *testing.T) {
	if err := mountcheck.Available(); err != nil {
		t.Skip(err)
	}
	dir := fixtures + "generations"
	sc, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := fixturecheck.Devices(dir, sc)
	if err != nil {
		t.Fatal(err)
	}
	gens, err := fstree.Generations(devs, fstree.Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fstree.New(devs, fstree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	var opts fusefs.Options
	opts.Generations, opts.OpenGeneration = fusefs.OlderGenerations(gens, fsys.Generation(), func(gen, root uint64) (*fstree.FS, error) {
		return fstree.New(devs, fstree.Options{Generation: gen, RootBytenr: root})
	})
	compared := 0
	err = mountcheck.Mounted(fsys, t.TempDir(), opts, func(mnt string) error {
		names, err := os.ReadDir(filepath.Join(mnt, fusefs.GenerationsDir))
		if err != nil {
			return err
		}
		if len(names) != len(opts.Generations) {
			t.Errorf("%s lists %d commits, want %d", fusefs.GenerationsDir, len(names), len(opts.Generations))
		}
		for _, rc := range sc.Commits {
			view := slices.Index(opts.Generations, rc.Generation) + 1
			if view == 0 {
				continue
			}
			at := filepath.Join(mnt, fusefs.GenerationsDir, fmt.Sprint(rc.Generation))
			if diffs := mountcheck.Compare(at, view, rc.Subvolumes); len(diffs) > 0 {
				t.Errorf("generation %d: %d differences:\n%s", rc.Generation, len(diffs), strings.Join(diffs[:min(len(diffs), 10)], "\n"))
			}
			compared++
		}
		if _, err := os.Stat(filepath.Join(mnt, fusefs.GenerationsDir, "1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a generation not listed: %v, want ENOENT", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if compared == 0 {
		t.Fatal("no recorded commit is readable")
	}
	t.Logf("%d recorded commits under %s equal to their records", compared, fusefs.GenerationsDir)
}

// TestSignalsDoNotInterrupt reads and seeks through the mount with raw
// system calls (no EINTR retry, unlike package os) while the process is
// flooded with signals, each of which makes the kernel send FUSE_INTERRUPT
// for a request in flight. As on the kernel's btrfs, lseek and pread of a
// regular file must complete, never fail with EINTR.
func TestSignalsDoNotInterrupt(t *testing.T) {
	mountFixture(t, "compress-zstd", fusefs.Options{}, func(mnt string, _ *fstree.FS, sc *manifest.Scenario) {
		var files []string
		for _, msv := range sc.Subvolumes {
			for _, e := range msv.Entries {
				if e.Type == manifest.TypeFile && e.Size > 0 {
					files = append(files, filepath.Join(mnt, msv.Path, string(e.Path)))
				}
			}
		}
		if len(files) == 0 {
			t.Fatal("no regular files")
		}
		stop := make(chan struct{})
		var signals sync.WaitGroup
		signals.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// SIGURG is the Go runtime's own preemption signal: it has a
				// handler (SA_RESTART) and is otherwise ignored. Every
				// thread gets it, so those blocked in the mount do.
				tasks, _ := os.ReadDir("/proc/self/task")
				for _, task := range tasks {
					if tid, err := strconv.Atoi(task.Name()); err == nil {
						unix.Tgkill(os.Getpid(), tid, unix.SIGURG)
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
		})
		var readers sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		calls := 0
		for r := range 8 {
			readers.Go(func() {
				buf := make([]byte, 256<<10)
				n, errs := 0, []string(nil)
				for i := range 400 {
					p := files[(r*7+i)%len(files)]
					fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
					if err != nil {
						errs = append(errs, fmt.Sprintf("open %s: %v", p, err))
						continue
					}
					off := int64(i*4096) % 65536
					if _, err := unix.Seek(fd, off, unix.SEEK_DATA); err != nil && !errors.Is(err, unix.ENXIO) {
						errs = append(errs, fmt.Sprintf("lseek SEEK_DATA %s at %d: %v", p, off, err))
					}
					if _, err := unix.Seek(fd, off, unix.SEEK_HOLE); err != nil && !errors.Is(err, unix.ENXIO) {
						errs = append(errs, fmt.Sprintf("lseek SEEK_HOLE %s at %d: %v", p, off, err))
					}
					if _, err := unix.Pread(fd, buf, off); err != nil {
						errs = append(errs, fmt.Sprintf("pread %s at %d: %v", p, off, err))
					}
					unix.Close(fd)
					n += 3
				}
				mu.Lock()
				defer mu.Unlock()
				calls += n
				failures = append(failures, errs...)
			})
		}
		readers.Wait()
		close(stop)
		signals.Wait()
		if len(failures) > 0 {
			t.Errorf("%d of %d calls failed, the first:\n%s", len(failures), calls, strings.Join(failures[:min(len(failures), 10)], "\n"))
		}
	})
}
