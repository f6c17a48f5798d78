package oracle

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/sendcheck"
	"github.com/coldsend/coldsend/internal/treecmp"
	"github.com/coldsend/coldsend/receive"
	"github.com/coldsend/coldsend/stream"
)

// receiveTargets are the filesystems coldsend receive writes into, each
// compared with the kernel's btrfs receive into a btrfs.
var receiveTargets = []string{"ext4", "xfs", "tmpfs"}

// beyondXFS reports the entries XFS cannot hold: a symlink target over
// XFS_SYMLINK_MAXLEN, a device number xfs_generic_create refuses (a major over 9 bits, a
// minor over 18).
func beyondXFS(e *treecmp.Entry) bool {
	switch e.Type {
	case manifest.TypeSymlink:
		return len(e.Target) > 1024
	case manifest.TypeChardev, manifest.TypeBlockdev:
		return unix.Major(e.Rdev) >= 1<<9 || unix.Minor(e.Rdev) >= 1<<18
	}
	return false
}

// scratchSize bounds each scratch filesystem (sparse images).
const scratchSize = "3G"

// mountScratch mounts a fresh filesystem of type fs under base (btrfs
// with 64 KiB nodes, so that the largest xattrs fit).
func mountScratch(ctx context.Context, fs, base string) (string, func(), error) {
	dir := filepath.Join(base, fs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	run := func(name string, args ...string) error {
		if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if fs == "tmpfs" {
		if err := run("mount", "-t", "tmpfs", "-o", "size="+scratchSize, "tmpfs", dir); err != nil {
			return "", nil, err
		}
	} else {
		img := dir + ".img"
		if err := run("truncate", "-s", scratchSize, img); err != nil {
			return "", nil, err
		}
		mkfs := map[string][]string{"btrfs": {"mkfs.btrfs", "-q", "-f", "-n", "65536"}, "ext4": {"mkfs.ext4", "-q", "-F"}, "xfs": {"mkfs.xfs", "-q", "-f", "-m", "reflink=1"}}[fs]
		if err := run(mkfs[0], append(mkfs[1:], img)...); err != nil {
			return "", nil, err
		}
		if err := run("mount", "-o", "loop", img, dir); err != nil {
			return "", nil, err
		}
	}
	return dir, func() { exec.Command("umount", dir).Run() }, nil
}

// readStreamFile reads a stream file of a scenario, decompressed.
func readStreamFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := stream.Decompress(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(r)
	return b.Bytes(), err
}

// receiveResult is what checkReceives measured.
type receiveResult struct {
	streams  int // received by the kernel and compared on every target
	compared int // trees compared (streams x targets)
	shared   int // XFS snapshot files found sharing extents with their parent
	growth   float64
}

// checkReceives receives every stream of the scenario in dir, after the
// streams that make its parent and clone sources, with the kernel's btrfs
// receive into a btrfs and with coldsend receive into ext4, XFS and
// tmpfs, and compares the trees: names, types, modes, owners, sizes,
// contents, times, symlink targets, device numbers, xattrs and hard-link
// groups. On XFS, files of an incremental receive that its stream leaves
// alone must share extents with the parent's copy.
//
// With ours, coldsend receive gets the streams coldsend send makes from
// the scenario's image instead of the kernel's (btrfs send | btrfs
// receive against coldsend send | coldsend receive).
func checkReceives(ctx context.Context, dir string, ours bool) (receiveResult, error) {
	var res receiveResult
	sc, err := manifest.Load(dir)
	if err != nil {
		return res, err
	}
	var image *fstree.FS
	if ours {
		if image, _, err = sendcheck.Scenario(dir); err != nil {
			return res, err
		}
	}
	base, err := os.MkdirTemp("", "coldsend-receive-oracle-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(base)
	mounts := map[string]string{}
	for _, fs := range append([]string{"btrfs"}, receiveTargets...) {
		m, cleanup, err := mountScratch(ctx, fs, base)
		if err != nil {
			return res, err
		}
		defer cleanup()
		mounts[fs] = m
	}
	// Times made by a receive rather than set by a stream are "fresh":
	// later than this. One start for every chain, because btrfs receive
	// finds a snapshot's parent by uuid anywhere on the filesystem, so
	// its copy can be one an earlier chain received. The kernel stamps
	// times from a coarse clock that can lag time.Now by a tick.
	start := time.Now().Add(-time.Second).UnixNano()
	for i, st := range sc.Streams {
		if st.NoData {
			continue
		}
		chain, ok := sc.ReceiveChain(st)
		if !ok {
			continue
		}
		kdest := filepath.Join(mounts["btrfs"], fmt.Sprint(i))
		if err := os.Mkdir(kdest, 0o755); err != nil {
			return res, err
		}
		var datas [][]byte
		for _, c := range chain {
			data, err := readStreamFile(filepath.Join(dir, c.File))
			if err != nil {
				return res, err
			}
			theirs := data
			if ours {
				if data, err = sendcheck.Generate(image, c); err != nil {
					return res, fmt.Errorf("%s: %s: %w", sc.Name, c.File, err)
				}
			}
			datas = append(datas, data)
			cmd := exec.CommandContext(ctx, "btrfs", "receive", "-q", kdest)
			cmd.Stdin = bytes.NewReader(theirs)
			if out, err := cmd.CombinedOutput(); err != nil {
				return res, fmt.Errorf("%s: btrfs receive %s: %v\n%s", sc.Name, c.File, err, out)
			}
		}
		name := path.Base(st.Subvol)
		want, err := treecmp.RecordSparse(filepath.Join(kdest, name))
		if err != nil {
			return res, err
		}
		for _, fs := range receiveTargets {
			dest := filepath.Join(mounts[fs], fmt.Sprint(i))
			if err := os.Mkdir(dest, 0o755); err != nil {
				return res, err
			}
			dropped := map[string]bool{}
			limits := 0
			clamped := false
			var used uint64
			for j, data := range datas {
				if j == len(datas)-1 {
					used = usedBytes(dest)
				}
				sum, err := receive.Receive(bytes.NewReader(data), dest, receive.Options{})
				if err != nil {
					return res, fmt.Errorf("%s: coldsend receive %s into %s: %w", sc.Name, chain[j].File, fs, err)
				}
				for _, d := range sum.Details {
					if d.Kind == receive.SkipTimeRange {
						clamped = true
						continue
					}
					if d.Kind == receive.SkipSymlinkLong || d.Kind == receive.SkipDeviceNumber {
						limits++
						continue
					}
					// btrfs.* properties exist only on btrfs.
					btrfsProp := d.Kind == receive.SkipXattrFS && strings.HasPrefix(d.Xattr, "btrfs.")
					if d.Kind != receive.SkipXattrSize && !btrfsProp {
						return res, fmt.Errorf("%s: coldsend receive %s into %s did not apply %s at %s: %v", sc.Name, chain[j].File, fs, d.Kind, d.Path, d.Err)
					}
					dropped[d.Xattr] = true
				}
			}
			got, err := treecmp.RecordSparse(filepath.Join(dest, name))
			if err != nil {
				return res, err
			}
			if clamped {
				forgiveClampedTimes(want, got)
			}
			// XFS also lists an ACL under its own trusted.SGI_ACL_* name.
			opts := treecmp.Options{Fresh: start, FreshBoth: true, IgnoreXattr: func(n string) bool {
				return dropped[n] || fs == "xfs" && strings.HasPrefix(n, "trusted.SGI_ACL_")
			}}
			if limits > 0 {
				// Only what the summary owned up to may differ: symlinks
				// and device numbers past the destination's limits.
				opts.Exclude = beyondXFS
			}
			if diffs := treecmp.Diff(want, got, opts, 8); len(diffs) > 0 {
				return res, fmt.Errorf("%s: %s received into %s differs from btrfs receive:\n%s", sc.Name, st.File, fs, strings.Join(diffs, "\n"))
			}
			res.compared++
			if fs == "xfs" && st.Parent != "" {
				n, err := sharedWithParent(filepath.Join(dest, name), filepath.Join(dest, path.Base(st.Parent)), want, datas[len(datas)-1])
				if err != nil {
					return res, fmt.Errorf("%s: %s on xfs: %w", sc.Name, st.File, err)
				}
				res.shared += n
				if after := usedBytes(dest); after > used {
					res.growth = max(res.growth, float64(after-used)/float64(len(datas[len(datas)-1])+1<<20))
				}
			}
		}
		res.streams++
	}
	return res, nil
}

// usedBytes is the space in use on the filesystem holding dir.
func usedBytes(dir string) uint64 {
	var s unix.Statfs_t
	if unix.Statfs(dir, &s) != nil {
		return 0
	}
	return (s.Blocks - s.Bfree) * uint64(s.Bsize)
}

// sharedWithParent counts the regular files of at least 64 KiB in the
// snapshot whose contents equal the parent's file of the same name and
// that the stream does not name; each must share its extents (FIEMAP),
// as a reflinked copy does.
func sharedWithParent(snap, parent string, tree treecmp.Tree, streamData []byte) (int, error) {
	n := 0
	for p, e := range tree {
		if e.Type != manifest.TypeFile || e.Size < 64<<10 || bytes.Contains(streamData, []byte(path.Base(p))) {
			continue
		}
		if same, err := sameContents(filepath.Join(snap, p), filepath.Join(parent, p)); err != nil || !same {
			continue
		}
		shared, mapped, err := fiemapShared(filepath.Join(snap, p))
		if err != nil {
			return n, err
		}
		if mapped == 0 {
			continue // all hole: nothing to share
		}
		if !shared {
			return n, fmt.Errorf("%s shares no extent with the parent's copy", p)
		}
		n++
	}
	return n, nil
}

// fiemapShared reports whether any extent of the file is shared, and how
// many extents it has.
func fiemapShared(p string) (bool, uint32, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	const extents = 32
	const fsIocFiemap = 0xC020660B
	const extentShared = 0x2000
	buf := make([]byte, 32+56*extents)
	binary.LittleEndian.PutUint64(buf[8:], ^uint64(0)) // fm_length
	binary.LittleEndian.PutUint32(buf[24:], extents)   // fm_extent_count
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return false, 0, fmt.Errorf("FIEMAP %s: %w", p, e)
	}
	mapped := binary.LittleEndian.Uint32(buf[20:])
	for i := range min(mapped, extents) {
		if binary.LittleEndian.Uint32(buf[32+56*i+40:])&extentShared != 0 {
			return true, mapped, nil
		}
	}
	return false, mapped, nil
}

// sameContents reports whether two files hold the same bytes.
func sameContents(a, b string) (bool, error) {
	x, err := treecmp.FileDigest(a)
	if err != nil {
		return false, err
	}
	y, err := treecmp.FileDigest(b)
	if err != nil {
		return false, nil
	}
	return x == y, nil
}

// forgiveClampedTimes takes want's times into got where the destination
// clamped them to the oldest or newest it stores (ext4 and XFS keep
// nothing before 1901-12-13), which coldsend receive reported.
func forgiveClampedTimes(want, got treecmp.Tree) {
	clampedTo := func(w, g int64) bool {
		const oldest = math.MinInt32 * int64(time.Second)
		return w < oldest && g == oldest || w > math.MaxInt32*int64(time.Second) && g < w
	}
	for p, g := range got {
		w := want[p]
		if w == nil {
			continue
		}
		if clampedTo(w.Mtime, g.Mtime) {
			g.Mtime = w.Mtime
		}
		if clampedTo(w.Atime, g.Atime) {
			g.Atime = w.Atime
		}
	}
}
