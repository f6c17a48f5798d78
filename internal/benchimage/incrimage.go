package benchimage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// IncrImage is the incremental image of files small files: a subvolume
// "vol" in directories of 1,000, snapshotted read-only as "a", then
// IncrChanges, snapshotted as "b"; the kernel's `btrfs send -p a b` is
// recorded in the stamp.
func IncrImage(files int) *Spec {
	return &Spec{
		Name: fmt.Sprintf("incr-%dk", files/1000),
		Size: 16 << 30,
		Mkfs: []string{"-m", "single"},
		Fill: func(mnt string, st *Stamp) error { return fillIncr(mnt, st, files) },
	}
}

// IncrChanges are the changes between snapshots a and b, whatever the
// subvolume's size.
var IncrChanges = []func(vol string) error{
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0000/f000"), bytes.Repeat([]byte("changed "), 1000), 0o644)
	},
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0001/f500"), []byte("rewritten\n"), 0o644)
	},
	func(vol string) error {
		return os.Rename(filepath.Join(vol, "d0002/f001"), filepath.Join(vol, "d0003/moved"))
	},
	func(vol string) error { return os.Remove(filepath.Join(vol, "d0004/f002")) },
	func(vol string) error {
		return os.WriteFile(filepath.Join(vol, "d0005/new"), []byte("new file\n"), 0o644)
	},
	func(vol string) error { return os.Chmod(filepath.Join(vol, "d0006/f003"), 0o600) },
	func(vol string) error { return os.Mkdir(filepath.Join(vol, "d0007/newdir"), 0o755) },
}

// fillIncr writes files small inline files in directories of 1000 (two
// writers), snapshots "a", makes IncrChanges, snapshots "b" and records
// the kernel's `btrfs send -p a b`.
func fillIncr(mnt string, st *Stamp, files int) error {
	vol := filepath.Join(mnt, "vol")
	if err := Run("btrfs", "subvolume", "create", vol); err != nil {
		return err
	}
	dirs := files / 1000
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := w; d < dirs && errs[w] == nil; d += 2 {
				dir := filepath.Join(vol, fmt.Sprintf("d%04d", d))
				if errs[w] = os.Mkdir(dir, 0o755); errs[w] != nil {
					return
				}
				for f := range 1000 {
					if errs[w] = os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte("thirty-two bytes of file data..\n"), 0o644); errs[w] != nil {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	st.Inodes = 1 + files + dirs
	snap := func(name string) error {
		if err := Run("btrfs", "filesystem", "sync", mnt); err != nil {
			return err
		}
		return Run("btrfs", "subvolume", "snapshot", "-r", vol, filepath.Join(mnt, name))
	}
	if err := snap("a"); err != nil {
		return err
	}
	for _, change := range IncrChanges {
		if err := change(vol); err != nil {
			return err
		}
	}
	if err := snap("b"); err != nil {
		return err
	}
	if err := Run("btrfs", "filesystem", "sync", mnt); err != nil {
		return err
	}
	ks, err := KernelSend("b.incr-a.v1", "-p", filepath.Join(mnt, "a"), filepath.Join(mnt, "b"))
	if err != nil {
		return err
	}
	st.Streams = []File{ks}
	return nil
}
