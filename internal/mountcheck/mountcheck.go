//go:build linux

// Package mountcheck compares coldsend's FUSE mount of a scenario with the
// kernel's view of it that the scenario's manifest records (or, for a
// crash scenario, the kernel's view after its log replay): in every
// subvolume, every entry's inode number (through fusefs.Ino), type, mode,
// owner, size, link count, device number, times in ns (atime where the
// kernel recorded it), FS_IOC_GETFLAGS flags, xattrs, symlink target and
// content sha256, walked through the mount with the system calls any
// other program would use. The tests and the oracle share it.
package mountcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/fusefs"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/viewrec"
)

// Available says why FUSE mounts cannot be made here, or nil when they
// can: root (for a direct mount) and /dev/fuse.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("FUSE mounts need root here (a direct mount; no fusermount)")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("FUSE mounts need /dev/fuse: %w", err)
	}
	f.Close()
	return nil
}

// Mounted mounts fsys (its top level) at a new directory under tmp, calls
// fn with the mount point, and unmounts.
func Mounted(fsys *fstree.FS, tmp string, opts fusefs.Options, fn func(mnt string) error) (err error) {
	mnt, err := os.MkdirTemp(tmp, "fuse-")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	var errs []string
	if opts.Errorf == nil {
		opts.Errorf = func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	}
	srv, err := fusefs.Mount(fsys, nil, mnt, opts)
	if err != nil {
		return err
	}
	defer func() {
		uerr := srv.Unmount()
		if uerr != nil {
			uerr = fmt.Errorf("unmounting %s: %w", mnt, uerr)
			// Detached, the mount ends when its last file closes, and
			// the server's loops with it, so Wait returns.
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		srv.Wait()
		err = errors.Join(err, uerr, srv.Close())
		if len(errs) > 0 {
			err = errors.Join(err, fmt.Errorf("the mount reported: %s", strings.Join(errs, "; ")))
		}
	}()
	return fn(mnt)
}

// Compare walks the tree at mnt (view 0 of a mount, or view k under
// .generations) and returns its differences from the subvolumes want
// (the manifest's, the kernel's after replay, or a recorded commit's).
func Compare(mnt string, view int, want []manifest.Subvolume) []string {
	var diffs []string
	for i := range want {
		sv := &want[i]
		got, err := viewrec.Record(filepath.Join(mnt, sv.Path), fuseRules(view, sv.ID))
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("subvolume %d (%s): %v", sv.ID, sv.Path, err))
			continue
		}
		diffs = append(diffs, compareEntries(fmt.Sprintf("subvolume %d (%s)", sv.ID, sv.Path), got, sv.Entries)...)
	}
	return diffs
}

func compareEntries(name string, got, want []manifest.Entry) []string {
	var diffs []string
	byPath := map[string]*manifest.Entry{}
	for i := range got {
		byPath[string(got[i].Path)] = &got[i]
	}
	for i := range want {
		w := &want[i]
		g := byPath[string(w.Path)]
		if g == nil {
			diffs = append(diffs, fmt.Sprintf("%s: %q is in the kernel's view, not in the mount", name, w.Path))
			continue
		}
		delete(byPath, string(w.Path))
		check := func(what string, gv, wv any) {
			if gs, ws := fmt.Sprint(gv), fmt.Sprint(wv); gs != ws {
				diffs = append(diffs, fmt.Sprintf("%s %q %s: mount %s, kernel %s", name, w.Path, what, gs, ws))
			}
		}
		check("type", g.Type, w.Type)
		check("ino", g.Ino, w.Ino)
		if w.Type == manifest.TypeSubvol {
			continue
		}
		check("mode", fmt.Sprintf("%o", g.Mode), fmt.Sprintf("%o", w.Mode))
		check("owner", [2]uint32{g.UID, g.GID}, [2]uint32{w.UID, w.GID})
		check("size", g.Size, w.Size)
		check("nlink", g.Nlink, w.Nlink)
		check("rdev", g.Rdev, w.Rdev)
		check("flags", fmt.Sprintf("%#x", g.Flags), fmt.Sprintf("%#x", w.Flags))
		check("mtime", g.Mtime, w.Mtime)
		check("ctime", g.Ctime, w.Ctime)
		check("otime", g.Otime, w.Otime)
		if w.Atime != 0 { // recorded only where reading cannot change it
			check("atime", g.Atime, w.Atime)
		}
		check("sha256", g.SHA256, w.SHA256)
		check("target", fmt.Sprintf("%q", g.Target), fmt.Sprintf("%q", w.Target))
		check("xattrs", xattrString(g.Xattrs), xattrString(w.Xattrs))
	}
	for p := range byPath {
		diffs = append(diffs, fmt.Sprintf("%s: %q is in the mount, not in the kernel's view", name, p))
	}
	slices.Sort(diffs)
	return diffs
}

func xattrString(xs []manifest.Xattr) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "%q=%q ", x.Name, x.Value)
	}
	return b.String()
}

// fuseRules record coldsend's mount of subvolume id in view: a directory below
// the root with inode 256 (another subvolume's root) or 2 (a
// placeholder), or whose st_ino is not id's, is a nested subvolume; the
// inode number recorded is the btrfs one, the low bits, once the
// subvolume bits are checked (fusefs.Ino).
func fuseRules(view int, id uint64) viewrec.Rules {
	return viewrec.Rules{
		Nested: func(st, _ *unix.Statx_t) bool {
			low := st.Ino & inoMask
			return low == subvolRoot || low == placeholder || st.Ino != fusefs.Ino(view, id, low)
		},
		Ino: func(abs string, st *unix.Statx_t) (uint64, error) {
			low := st.Ino & inoMask
			if low == subvolRoot || low == placeholder {
				return low, nil // a nested subvolume's root or its placeholder
			}
			if st.Ino != fusefs.Ino(view, id, low) {
				return 0, fmt.Errorf("%s: st_ino %#x is not of subvolume %d", abs, st.Ino, id)
			}
			return low, nil
		},
		Atime: true,
		// The mount's own directory of older commits, at its root.
		Skip: func(rel []byte) bool { return view == 0 && id == topLevel && string(rel) == fusefs.GenerationsDir },
	}
}

const (
	inoMask     = 1<<40 - 1
	subvolRoot  = 256
	placeholder = 2
	topLevel    = 5
)
