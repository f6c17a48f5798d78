//go:build linux || darwin

package cli

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/fusefs"
	"github.com/coldsend/coldsend/ondisk"
)

// runMount opens the image, mounts it and serves it until it is
// unmounted or a signal asks for that.
func runMount(e *env, ff *fsFlags, mf *mountFlags, image, mountpoint string) error {
	// go-fuse would try fusermount next and report that instead.
	if fi, err := os.Stat(mountpoint); err != nil {
		return fmt.Errorf("mount point: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", mountpoint)
	}
	// The mount's live heap is mostly the inodes the kernel keeps looked
	// up (about 500 bytes each, go-fuse's and ours), which grows with the
	// tree walked, and Go's default GOGC of 100 lets the heap grow to
	// twice its live size. Half of it as headroom, at the price of more
	// frequent collections, keeps a find and cat of 200k files under
	// 256 MiB (docs/PERFORMANCE.md). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	ff.cacheBytes = fusefs.CacheBytes // older generations' too
	fsys, err := ff.open(image, e.stderr)
	if err != nil {
		return err
	}
	defer fsys.Close()
	opts := fusefs.Options{
		AllowOther: mf.allowOther,
		Debug:      mf.debug,
		Errorf: func(format string, args ...any) {
			fmt.Fprintf(e.stderr, "coldsend: error: "+format+"\n", args...)
		},
	}
	if mf.generations {
		if opts.Generations, opts.OpenGeneration, err = olderGenerations(ff, e, image, fsys.Generation(), mf.scan); err != nil {
			return err
		}
	}
	srv, err := fusefs.Mount(fsys.FS, nil, mountpoint, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	fmt.Fprintf(e.stderr, "coldsend: %s mounted read-only at %s; unmount it (umount, fusermount -u) or interrupt coldsend to stop\n", image, mountpoint)
	select {
	case <-done:
	case s := <-sig:
		fmt.Fprintf(e.stderr, "coldsend: %v: unmounting %s\n", s, mountpoint)
		if err := srv.Unmount(); err != nil {
			return fmt.Errorf("unmounting %s: %w", mountpoint, err)
		}
		<-done
	}
	return nil
}

// olderGenerations lists the commits older than current that are still
// whole, and how to open one.
func olderGenerations(ff *fsFlags, e *env, image string, current uint64, scan bool) ([]uint64, func(uint64) (*fstree.FS, error), error) {
	p := &warnPrinter{w: e.stderr, verbose: ff.verbose}
	opts, err := ff.options(p.warn)
	if err != nil {
		return nil, nil, err
	}
	paths := append([]string{image}, ff.devices...)
	gens, err := fstree.GenerationsFiles(paths, opts, scan)
	if err != nil {
		return nil, nil, err
	}
	list, open := fusefs.OlderGenerations(gens, current, func(gen, root uint64) (*fstree.FS, error) {
		o := opts
		o.Generation, o.RootBytenr = gen, root
		// .generations says what these are; the rest is worth a line.
		o.Warn = func(w ondisk.Warning) {
			if w.Kind != ondisk.WarnGeneration {
				p.warn(w)
			}
		}
		return fstree.OpenFiles(paths, o)
	})
	return list, open, nil
}
