//go:build linux

package fusefs_test

// Benchmarks of coldsend's FUSE mount against the kernel's read-only loop
// mount of the same kernel-made image (internal/benchimage), in the same
// run. Both sides read the image file from the page cache (Cached reads it
// whole once) and both start cold every iteration: a freshly opened
// fstree.FS behind a fresh FUSE mount, a fresh loop mount, so neither
// answers from its own page, inode or dentry cache. Mounting and
// unmounting are not timed. The kernel's figure carries coldsend/kernel:
// the FUSE mount's time per op over the kernel's.
//
// They need root (a direct FUSE mount, mount -o loop) and /dev/fuse, and
// skip without them.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/fusefs"
	"github.com/coldsend/coldsend/internal/benchimage"
	"github.com/coldsend/coldsend/internal/mountcheck"
)

func needFUSE(b *testing.B) {
	if err := mountcheck.Available(); err != nil {
		b.Skip(err)
	}
}

// withFUSE opens img afresh, as coldsend mount does, mounts it, and
// calls fn with the mount point.
func withFUSE(b *testing.B, img string, fn func(mnt string) error) error {
	fsys, err := fstree.OpenFiles([]string{img}, fstree.Options{CacheBytes: fusefs.CacheBytes})
	if err != nil {
		return err
	}
	defer fsys.Close()
	return mountcheck.Mounted(fsys, b.TempDir(), fusefs.Options{}, fn)
}

// eachMount runs fn once per iteration on a fresh mount of img (the
// FUSE mount or the kernel's), timing fn alone.
func eachMount(b *testing.B, img string, kernel bool, fn func(mnt string) error) {
	for b.Loop() {
		b.StopTimer()
		timed := func(mnt string) error {
			b.StartTimer()
			defer b.StopTimer()
			return fn(mnt)
		}
		var err error
		if kernel {
			err = benchimage.WithMount(img, "ro", timed)
		} else {
			err = withFUSE(b, img, timed)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// readFile reads name to its end with buf-sized read(2)s, as cat does,
// and returns how many bytes it read.
func readFile(name string, buf []byte) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Hide ReadFrom/WriteTo so nothing splices or sends the file.
	return io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{f}, buf)
}

// BenchmarkMountRead reads every file of the 2 GiB data images (one of
// 1 GiB, sixteen of 64 MiB; plain, zstd, lzo, zlib) with 1 MiB reads,
// through coldsend's FUSE mount and through the kernel's mount.
func BenchmarkMountRead(b *testing.B) {
	needFUSE(b)
	for _, alg := range benchimage.DataAlgs {
		b.Run(alg, func(b *testing.B) {
			img, st := benchimage.Cached(b, benchimage.DataImages[alg])
			buf := make([]byte, 1<<20)
			readAll := func(mnt string) error {
				for _, f := range st.Files {
					n, err := readFile(filepath.Join(mnt, f.Name), buf)
					if err != nil {
						return err
					}
					if n != f.Size {
						return fmt.Errorf("%s: read %d bytes, want %d", f.Name, n, f.Size)
					}
				}
				return nil
			}
			b.Run("coldsend", func(b *testing.B) {
				b.SetBytes(benchimage.DataTotal)
				eachMount(b, img, false, readAll)
				benchimage.RecordColdsend(b)
			})
			b.Run("kernel", func(b *testing.B) {
				b.SetBytes(benchimage.DataTotal)
				eachMount(b, img, true, readAll)
				benchimage.ReportKernelRatio(b)
			})
		})
	}
}

// walkStat walks the tree at root as find does and lstats every entry,
// as find -ls or du would, and returns how many entries it saw (root
// included).
func walkStat(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			_, err = os.Lstat(p)
		}
		n++
		return err
	})
	return n, err
}

// BenchmarkMountWalk walks the 200,211 inodes of the walk image and
// lstats each, through coldsend's FUSE mount and through the kernel's.
func BenchmarkMountWalk(b *testing.B) {
	needFUSE(b)
	img, st := benchimage.Cached(b, &benchimage.WalkImage)
	walk := func(mnt string) error {
		n, err := walkStat(mnt)
		if err == nil && n != st.Inodes {
			err = fmt.Errorf("walked %d entries, the image has %d inodes", n, st.Inodes)
		}
		return err
	}
	for _, side := range []string{"coldsend", "kernel"} {
		b.Run(side, func(b *testing.B) {
			eachMount(b, img, side == "kernel", walk)
			b.ReportMetric(float64(st.Inodes)*float64(b.N)/b.Elapsed().Seconds(), "inodes/s")
			if side == "kernel" {
				benchimage.ReportKernelRatio(b)
			} else {
				benchimage.RecordColdsend(b)
			}
		})
	}
}

// rssLimit is the peak resident set `coldsend mount` must stay under.
const rssLimit = 256 << 20

// BenchmarkMountMemory runs `coldsend mount` of the send image as a
// process of its own, walks and lstats the 200k entries of its snapshot
// through the mount, then reads every file (2.6 GB) with 1 MiB reads, and
// reports the process's peak resident set (VmHWM) as peak-rss-MiB. It
// fails when that reaches rssLimit: memory must not grow with the data
// read, and the 200k inodes the kernel keeps looked up must fit.
func BenchmarkMountMemory(b *testing.B) {
	needFUSE(b)
	img, st := benchimage.Cached(b, &benchimage.SendImage)
	bin := filepath.Join(b.TempDir(), "coldsend")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/coldsend/coldsend/cmd/coldsend").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	buf := make([]byte, 1<<20)
	var peak int64
	for b.Loop() {
		hwm, err := mountProcess(b, bin, img, func(mnt string) error {
			snap := filepath.Join(mnt, benchimage.SendSnap)
			n, err := walkStat(snap)
			if err != nil {
				return err
			}
			if n != st.Inodes {
				return fmt.Errorf("walked %d entries, the snapshot has %d inodes", n, st.Inodes)
			}
			return filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				got, err := readFile(p, buf)
				if err == nil && got != fi.Size() {
					err = fmt.Errorf("%s: read %d bytes, its size is %d", p, got, fi.Size())
				}
				return err
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, hwm)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	if peak >= rssLimit {
		b.Fatalf("coldsend mount peaked at %.1f MiB resident, the limit is %d MiB", float64(peak)/(1<<20), rssLimit>>20)
	}
}

// mountProcess runs `bin mount img MNT` on a fresh directory, calls fn
// with the mount point once the mount is up, reads the process's VmHWM,
// and stops it with SIGINT, which unmounts. Whatever fails, the mount
// is gone when it returns.
func mountProcess(b *testing.B, bin, img string, fn func(mnt string) error) (hwm int64, err error) {
	mnt := b.TempDir()
	cmd := exec.Command(bin, "mount", img, mnt)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// coldsend says on stderr when the mount is ready; the rest of what
	// it says is kept for the error.
	ready := make(chan struct{})
	var said strings.Builder
	saidDone := make(chan struct{})
	go func() {
		defer close(saidDone)
		sc := bufio.NewScanner(stderr)
		up := false
		for sc.Scan() {
			said.WriteString(sc.Text() + "\n")
			if !up && strings.Contains(sc.Text(), "mounted read-only") {
				close(ready)
				up = true
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-saidDone
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		// A process killed before it unmounted leaves the mount behind.
		unix.Unmount(mnt, unix.MNT_DETACH)
	}()
	select {
	case <-ready:
	case werr := <-exited:
		stopped = true
		return 0, fmt.Errorf("coldsend mount exited before mounting: %v: %s", werr, said.String())
	case <-time.After(time.Minute):
		return 0, errors.New("coldsend mount: not mounted after a minute")
	}
	if err := fn(mnt); err != nil {
		return 0, err
	}
	if hwm, err = vmHWM(cmd.Process.Pid); err != nil {
		return 0, err
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, err
	}
	stopped = true
	select {
	case werr := <-exited:
		if werr != nil {
			return 0, fmt.Errorf("coldsend mount, interrupted: %v: %s", werr, said.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		return 0, errors.New("coldsend mount did not exit within a minute of SIGINT")
	}
	return hwm, nil
}

// vmHWM returns a process's peak resident set in bytes, from
// /proc/PID/status.
func vmHWM(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
