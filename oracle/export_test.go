package oracle

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/exportcheck"
	"github.com/coldsend/coldsend/internal/fixturecheck"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
)

// exportResult counts what checkExports compared.
type exportResult struct {
	subvols     int
	res         exportcheck.Result
	holeFiles   int
	extractions int
}

// checkExports exports every subvolume of the scenario in dir into a
// directory on tmpfs and as a tar archive (extracted there by GNU tar
// and bsdtar) and compares each with the kernel's mount as the manifest
// recorded it; then mounts the image read-only and compares every
// regular file's data and holes (SEEK_DATA, SEEK_HOLE on the kernel's
// mount) with coldsend's.
func checkExports(ctx context.Context, dir string) (exportResult, error) {
	var r exportResult
	sc, err := manifest.Load(dir)
	if err != nil {
		return r, err
	}
	fsys, err := fixturecheck.Open(dir, sc, nil)
	if err != nil {
		return r, err
	}
	base, err := os.MkdirTemp("", "coldsend-export-oracle-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(base)
	scratch, umount, err := mountScratch(ctx, "tmpfs", base)
	if err != nil {
		return r, err
	}
	defer umount()
	extractors := exportcheck.Extractors()
	if len(extractors) < 2 {
		return r, fmt.Errorf("GNU tar and bsdtar are both needed (found %d): install tar and libarchive-tools", len(extractors))
	}
	for i := range sc.Subvolumes {
		msv := &sc.Subvolumes[i]
		sv, err := fsys.OpenSubvol(msv.ID)
		if err != nil {
			return r, err
		}
		tmp := filepath.Join(scratch, fmt.Sprint(msv.ID))
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return r, err
		}
		res, err := exportcheck.Subvolume(sv, msv, tmp, extractors)
		if err != nil {
			return r, fmt.Errorf("export of subvolume %q: %w", msv.Path, err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return r, err
		}
		r.subvols++
		r.res.Entries += res.Entries
		r.res.Files += res.Files
		r.extractions += res.Extractions
	}
	if len(sc.Devices) != 1 || len(sc.Corruptions) > 0 {
		return r, nil // the hole map needs the one intact device mounted
	}
	n, err := holesAgainstMount(ctx, dir, base, sc, fsys)
	r.holeFiles = n
	return r, err
}

// holesAgainstMount mounts the scenario's image read-only and compares
// the kernel's SEEK_DATA/SEEK_HOLE map of every regular file with
// coldsend's data ranges.
func holesAgainstMount(ctx context.Context, dir, base string, sc *manifest.Scenario, fsys *fstree.FS) (int, error) {
	imgs, err := imagefile.Unpack(dir, filepath.Join(base, "img"))
	if err != nil {
		return 0, err
	}
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return 0, err
	}
	opts := "ro,loop,noatime"
	if sc.Crash != nil {
		// A read-only mount refuses to replay a log: read the last
		// commit, which is what sc.Subvolumes records.
		opts += ",rescue=nologreplay"
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", opts, imgs[0], mnt).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("mount: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	var n int
	var diffs []string
	for _, msv := range sc.Subvolumes {
		sv, err := fsys.OpenSubvol(msv.ID)
		if err != nil {
			return n, err
		}
		for _, e := range msv.Entries {
			if e.Type != manifest.TypeFile {
				continue
			}
			want, err := exportcheck.SeekMap(filepath.Join(mnt, msv.Path, string(e.Path)))
			if err != nil {
				return n, err
			}
			got, err := exportcheck.DataRanges(sv, e.Ino)
			if err != nil {
				return n, err
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				diffs = append(diffs, fmt.Sprintf("%s/%s: coldsend has data at %v, the kernel's mount at %v", msv.Path, e.Path, got, want))
			}
			n++
		}
	}
	if len(diffs) > 0 {
		return n, fmt.Errorf("holes differ:\n%s", strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	return n, nil
}
