package fixturecheck

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coldsend/coldsend/fstree"
	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/seq"
	"github.com/coldsend/coldsend/ondisk"
	"github.com/coldsend/coldsend/ondisk/item"
	"github.com/coldsend/coldsend/ondisk/volume"
)

// maxReported bounds how many differences one check lists.
const maxReported = 40

// Open loads the scenario's shipped device images into memory and opens
// the filesystem on them as its manifest's subvolumes record it: a crash
// image without its log replayed (the manifest holds its last commit, as
// the kernel shows it with rescue=nologreplay). Warnings are collected
// into *warnings when non-nil.
func Open(dir string, sc *manifest.Scenario, warnings *[]string) (*fstree.FS, error) {
	return open(dir, sc, warnings, fstree.Options{NoLogReplay: sc.Crash != nil})
}

// OpenReplayed opens a crash image with its log replayed, the view
// CompareReplayed checks. Each inode whose times the kernel's replay set to
// the time of its mount gets the time the kernel gave it (its clock can
// tick during one replay), once that time is checked to lie within the
// replay mount: an inode coldsend stamps and the kernel does not keeps an
// older time and fails the check.
func OpenReplayed(dir string, sc *manifest.Scenario, warnings *[]string) (*fstree.FS, error) {
	fs, err := open(dir, sc, warnings, fstree.Options{})
	if err != nil || sc.Crash == nil || len(fs.LogStamped) == 0 {
		return fs, err
	}
	stamped := fs.LogStamped
	if err := fs.Close(); err != nil {
		return nil, err
	}
	times, err := replayTimes(sc.Crash, stamped)
	if err != nil {
		return nil, err
	}
	if warnings != nil {
		*warnings = nil
	}
	return open(dir, sc, warnings, fstree.Options{LogReplayTimes: times})
}

// clockSlack widens the recorded replay mount: the kernel stamps inodes
// from a clock read at the last tick, up to a jiffy (10 ms at HZ=100)
// behind the host's.
const clockSlack = 20 * time.Millisecond

// replayTimes reads from the kernel's record of the replayed filesystem
// the ctime of every inode in stamped that is still linked, and checks
// each lies within the replay mount. A manifest without the mount's times
// must give them all one time.
func replayTimes(c *manifest.Crash, stamped map[fstree.InodeID]bool) (map[fstree.InodeID]time.Time, error) {
	times := map[fstree.InodeID]time.Time{}
	for _, sv := range c.Replayed {
		for _, e := range sv.Entries {
			if id := (fstree.InodeID{Subvol: sv.ID, Ino: e.Ino}); stamped[id] {
				times[id] = time.Unix(0, e.Ctime)
			}
		}
	}
	ids := slices.SortedFunc(maps.Keys(times), func(a, b fstree.InodeID) int {
		return cmp.Or(cmp.Compare(a.Subvol, b.Subvol), cmp.Compare(a.Ino, b.Ino))
	})
	if len(ids) == 0 {
		return times, nil
	}
	lo, hi := times[ids[0]], times[ids[0]]
	within := "the other inodes' time"
	if c.ReplayMountStart != 0 {
		lo = time.Unix(0, c.ReplayMountStart).Add(-clockSlack)
		hi = time.Unix(0, c.ReplayMountEnd).Add(clockSlack)
		within = fmt.Sprintf("the replay mount (%s to %s, widened by %s)", time.Unix(0, c.ReplayMountStart).UTC().Format(time.RFC3339Nano), time.Unix(0, c.ReplayMountEnd).UTC().Format(time.RFC3339Nano), clockSlack)
	}
	var errs []error
	for _, id := range ids {
		if t := times[id]; t.Before(lo) || t.After(hi) {
			errs = append(errs, fmt.Errorf("subvolume %d inode %d: coldsend's replay gives it the time of the mount, but the kernel's replay left its ctime at %s, outside %s",
				id.Subvol, id.Ino, t.UTC().Format(time.RFC3339Nano), within))
		}
	}
	return times, errors.Join(errs...)
}

// Devices loads the scenario's device images into memory, in manifest
// order.
func Devices(dir string, sc *manifest.Scenario) ([]*volume.Device, error) {
	var devs []*volume.Device
	for _, d := range sc.Devices {
		dev, err := imagefile.Load(filepath.Join(dir, d.File))
		if err != nil {
			return nil, err
		}
		devs = append(devs, dev)
	}
	return devs, nil
}

func open(dir string, sc *manifest.Scenario, warnings *[]string, opts fstree.Options) (*fstree.FS, error) {
	devs, err := Devices(dir, sc)
	if err != nil {
		return nil, err
	}
	warn := func(w ondisk.Warning) {
		if warnings != nil {
			*warnings = append(*warnings, w.Msg)
		}
	}
	opts.Warn = warn
	return fstree.New(devs, opts)
}

// CheckScenario loads the scenario in dir and compares everything the
// manifest records with what coldsend reads. It returns nil when they
// agree, or an error listing the differences.
func CheckScenario(dir string) error {
	sc, err := manifest.Load(dir)
	if err != nil {
		return err
	}
	var warnings []string
	fs, err := Open(dir, sc, &warnings)
	if err != nil {
		return fmt.Errorf("%s: opening: %w", sc.Name, err)
	}
	diffs := Compare(fs, sc)
	diffs = append(diffs, expectedWarnings(sc, warnings)...)
	if sc.Crash != nil {
		diffs = append(diffs, crashLog(fs, sc, warnings)...)
	}
	if len(sc.Commits) > 0 {
		_, cdiffs := CheckCommits(dir, sc)
		diffs = append(diffs, cdiffs...)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s: %d difference(s):\n  %s", sc.Name, len(diffs), strings.Join(diffs, "\n  "))
	}
	return nil
}

// expectedWarnings checks that deliberately missing devices and damaged
// copies were noticed and reported, not silently read around.
func expectedWarnings(sc *manifest.Scenario, warnings []string) []string {
	var diffs []string
	all := strings.Join(warnings, "\n")
	for _, devid := range sc.Missing {
		if !strings.Contains(all, fmt.Sprintf("devid %d", devid)) {
			diffs = append(diffs, fmt.Sprintf("missing devid %d was not reported; warnings: %q", devid, warnings))
		}
	}
	for _, cr := range sc.Corruptions {
		if !strings.Contains(all, fmt.Sprint(cr.Logical)) {
			diffs = append(diffs, fmt.Sprintf("damaged copy at logical %d (%s) was not reported; warnings: %q", cr.Logical, cr.What, warnings))
		}
	}
	return diffs
}

// crashLog checks that coldsend found the crash image's log tree, for
// the subvolumes the kernel's log root tree names, and said so.
func crashLog(fs *fstree.FS, sc *manifest.Scenario, warnings []string) []string {
	var diffs []string
	if got, want := fmt.Sprint(fs.LogTreeOf), fmt.Sprint(sc.Crash.LogSubvolumes); got != want {
		diffs = append(diffs, fmt.Sprintf("log trees: coldsend found them for subvolumes %s, the log root tree names %s", got, want))
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "not cleanly unmounted") }) {
		diffs = append(diffs, fmt.Sprintf("the log tree was not reported; warnings: %q", warnings))
	}
	return diffs
}

// Compare returns every difference between fs and the manifest: the
// superblock facts, the subvolume list and every entry of every subvolume.
func Compare(fs *fstree.FS, sc *manifest.Scenario) []string {
	c := &comparer{fs: fs, limit: maxReported}
	c.super(sc)
	c.subvolumes(sc.Subvolumes)
	return c.diffs
}

// CompareReplayed returns every difference, none left out, between fs
// and what the kernel showed of a crash scenario after replaying its log
// (the manifest's Crash.Replayed): the subvolume list and every entry.
// The root items' fields are not compared, the replay's commit changed
// them. Without replay in coldsend this lists what only the log holds.
func CompareReplayed(fs *fstree.FS, sc *manifest.Scenario) []string {
	if sc.Crash == nil {
		return []string{fmt.Sprintf("%s is no crash scenario", sc.Name)}
	}
	c := &comparer{fs: fs, mounted: true}
	c.subvolumes(sc.Crash.Replayed)
	return c.diffs
}

type comparer struct {
	fs    *fstree.FS
	diffs []string
	// limit bounds the differences listed (0: no bound).
	limit int
	// mounted: the subvolumes were recorded while mounted, without the
	// fields read from root items after unmounting.
	mounted bool
}

func (c *comparer) addf(format string, args ...any) {
	if c.limit > 0 && len(c.diffs) == c.limit {
		c.diffs = append(c.diffs, "... (more differences not listed)")
	}
	if c.limit == 0 || len(c.diffs) < c.limit {
		c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
	}
}

func (c *comparer) super(sc *manifest.Scenario) {
	sb := c.fs.Volume().Super()
	check := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			c.addf("superblock %s: coldsend %v, manifest %v", what, got, want)
		}
	}
	check("fsid", sb.FSID, sc.FSID)
	check("generation", sb.Generation, sc.Generation)
	check("nodesize", sb.NodeSize, sc.NodeSize)
	check("sectorsize", sb.SectorSize, sc.SectorSize)
	check("csum type", sb.CsumType, sc.Csum)
	check("incompat flags", sb.IncompatFlags, sc.IncompatFlags)
	check("compat_ro flags", sb.CompatROFlags, sc.CompatROFlags)
}

func (c *comparer) subvolumes(want []manifest.Subvolume) {
	list, err := seq.Collect(c.fs.Subvolumes())
	if err != nil {
		c.addf("listing subvolumes: %v", err)
		return
	}
	byID := map[uint64]*fstree.Subvolume{}
	for _, sv := range list {
		byID[sv.ID] = sv
	}
	for i := range want {
		want := &want[i]
		got := byID[want.ID]
		if got == nil {
			c.addf("subvolume %d (%s): not listed by coldsend", want.ID, want.Path)
			continue
		}
		delete(byID, want.ID)
		c.subvolume(got, want)
	}
	for id, sv := range byID {
		c.addf("subvolume %d (%s): listed by coldsend, not in the manifest", id, sv.Path)
	}
}

func uuidString(u ondisk.UUID) string {
	if u.IsZero() {
		return ""
	}
	return u.String()
}

func (c *comparer) subvolume(got *fstree.Subvolume, want *manifest.Subvolume) {
	name := fmt.Sprintf("subvolume %d (%s)", want.ID, want.Path)
	check := func(what string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			c.addf("%s %s: coldsend %v, manifest %v", name, what, g, w)
		}
	}
	check("path", got.Path, want.Path)
	check("read-only", got.ReadOnly(), want.ReadOnly)
	if !c.mounted {
		check("uuid", uuidString(got.Item.UUID), want.UUID)
		check("parent uuid", uuidString(got.Item.ParentUUID), want.ParentUUID)
		check("received uuid", uuidString(got.Item.ReceivedUUID), want.ReceivedUUID)
		check("generation", got.Item.Generation, want.Generation)
		check("ctransid", got.Item.Ctransid, want.Ctransid)
		check("otransid", got.Item.Otransid, want.Otransid)
	}

	s, err := c.fs.OpenSubvol(want.ID)
	if err != nil {
		c.addf("%s: %v", name, err)
		return
	}
	wantByPath := map[string]*manifest.Entry{}
	for i := range want.Entries {
		wantByPath[string(want.Entries[i].Path)] = &want.Entries[i]
	}
	seen := map[string]bool{}
	err = walk(s, ondisk.SubvolumeRootDirInodeID, nil, func(path []byte, e *fstree.DirEntry, nested *fstree.Subvol) error {
		p := string(path)
		seen[p] = true
		w := wantByPath[p]
		if w == nil {
			c.addf("%s: %q read by coldsend, not in the manifest", name, p)
			return nil
		}
		c.entry(s, name, path, e, nested, w)
		return nil
	})
	if err != nil {
		c.addf("%s: walking: %v", name, err)
	}
	var missing []string
	for p := range wantByPath {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	for _, p := range missing {
		c.addf("%s: %q in the manifest, not read by coldsend", name, p)
	}
}

// walk visits the root (path "", e nil) and every entry below it without
// crossing into nested subvolumes; nested is set for entries that lead to
// a reachable subvolume.
func walk(s *fstree.Subvol, dir uint64, prefix []byte, fn func(path []byte, e *fstree.DirEntry, nested *fstree.Subvol) error) error {
	if prefix == nil {
		if err := fn([]byte{}, nil, nil); err != nil {
			return err
		}
	}
	for de, err := range s.Entries(dir) {
		if err != nil {
			return err
		}
		e := &de
		path := slices.Concat(prefix, []byte{'/'}, e.Name)
		if len(prefix) == 0 {
			path = slices.Clone(e.Name)
		}
		var nested *fstree.Subvol
		if e.IsSubvolume() {
			if nested, err = s.NestedSubvol(dir, e); err != nil {
				return err
			}
		}
		if err := fn(path, e, nested); err != nil {
			return err
		}
		if e.Type == item.FTDir && !e.IsSubvolume() {
			if err := walk(s, e.Location.ObjectID, path, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *comparer) entry(s *fstree.Subvol, name string, path []byte, e *fstree.DirEntry, nested *fstree.Subvol, w *manifest.Entry) {
	where := fmt.Sprintf("%s %q", name, path)
	check := func(what string, g, want any) {
		if fmt.Sprint(g) != fmt.Sprint(want) {
			c.addf("%s %s: coldsend %v, manifest %v", where, what, g, want)
		}
	}
	if e != nil && e.IsSubvolume() {
		check("type", manifest.TypeSubvol, w.Type)
		ino := uint64(fstree.EmptySubvolDirIno)
		if nested != nil {
			ino = ondisk.SubvolumeRootDirInodeID
		}
		check("ino", ino, w.Ino)
		return
	}
	ino := uint64(ondisk.SubvolumeRootDirInodeID)
	if e != nil {
		ino = e.Location.ObjectID
	}
	ii, err := s.Inode(ino)
	if err != nil {
		c.addf("%s: %v", where, err)
		return
	}
	check("ino", ino, w.Ino)
	check("type", typeOf(ii.Mode), w.Type)
	check("mode", fmt.Sprintf("%o", ii.Mode), fmt.Sprintf("%o", w.Mode))
	check("uid", ii.UID, w.UID)
	check("gid", ii.GID, w.GID)
	check("size", ii.Size, w.Size)
	check("nlink", ii.Nlink, w.Nlink)
	check("rdev", userRdev(ii.Rdev), w.Rdev)
	check("mtime", nanos(ii.Mtime), w.Mtime)
	check("ctime", nanos(ii.Ctime), w.Ctime)
	if w.Otime != 0 {
		check("otime", nanos(ii.Otime), w.Otime)
	}
	if w.Atime != 0 {
		check("atime", nanos(ii.Atime), w.Atime)
	}
	if w.Type == manifest.TypeFile || w.Type == manifest.TypeDir {
		flags, err := s.FSFlags(ino)
		if err != nil {
			c.addf("%s: %v", where, err)
			return
		}
		check("flags", fmt.Sprintf("%#x", flags), fmt.Sprintf("%#x", w.Flags))
	}
	if e != nil {
		c.names(s, where, ino, &ii, e)
	}
	xs, err := s.Xattrs(ino)
	if err != nil {
		c.addf("%s: xattrs: %v", where, err)
	} else {
		check("xattrs", xattrString(xs), manifestXattrString(w.Xattrs))
	}
	switch typeOf(ii.Mode) {
	case manifest.TypeFile:
		sum, err := fileSHA256(s, ino)
		if err != nil {
			c.addf("%s: reading: %v", where, err)
			return
		}
		check("sha256", sum, w.SHA256)
	case manifest.TypeSymlink:
		f, err := s.OpenFile(ino)
		if err != nil {
			c.addf("%s: %v", where, err)
			return
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, io.NewSectionReader(f, 0, f.Size())); err != nil {
			c.addf("%s: reading target: %v", where, err)
			return
		}
		check("symlink target", fmt.Sprintf("%q", b.Bytes()), fmt.Sprintf("%q", w.Target))
	}
}

// names checks the inode's back references (INODE_REF and INODE_EXTREF)
// against its link count and the entry it was reached through.
func (c *comparer) names(s *fstree.Subvol, where string, ino uint64, ii *item.Inode, e *fstree.DirEntry) {
	names, err := s.Names(ino)
	if err != nil {
		c.addf("%s: names: %v", where, err)
		return
	}
	if typeOf(ii.Mode) != manifest.TypeDir && uint32(len(names)) != ii.Nlink {
		c.addf("%s: %d back references for nlink %d", where, len(names), ii.Nlink)
	}
	for _, n := range names {
		if n.Index == e.Index && bytes.Equal(n.Name, e.Name) {
			return
		}
	}
	c.addf("%s: no back reference matches directory index %d", where, e.Index)
}

func fileSHA256(s *fstree.Subvol, ino uint64) (string, error) {
	f, err := s.OpenFile(ino)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, f.Size())); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func nanos(t item.Timespec) int64 { return t.Sec*1e9 + int64(t.Nsec) }

func typeOf(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return manifest.TypeFile
	case 0o040000:
		return manifest.TypeDir
	case 0o120000:
		return manifest.TypeSymlink
	case 0o010000:
		return manifest.TypeFIFO
	case 0o140000:
		return manifest.TypeSocket
	case 0o020000:
		return manifest.TypeChardev
	case 0o060000:
		return manifest.TypeBlockdev
	}
	return fmt.Sprintf("unknown(%o)", mode)
}

// userRdev converts the kernel dev_t btrfs stores (major<<20|minor) into
// the glibc encoding stat returns.
func userRdev(k uint64) uint64 {
	major, minor := k>>20, k&0xfffff
	return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
}

func xattrString(xs []fstree.Xattr) string {
	pairs := make([][2][]byte, len(xs))
	for i, x := range xs {
		pairs[i] = [2][]byte{x.Name, x.Value}
	}
	return pairString(pairs)
}

func manifestXattrString(xs []manifest.Xattr) string {
	pairs := make([][2][]byte, len(xs))
	for i, x := range xs {
		pairs[i] = [2][]byte{x.Name, x.Value}
	}
	return pairString(pairs)
}

// pairString renders name=value pairs in sorted order for comparison.
func pairString(pairs [][2][]byte) string {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = fmt.Sprintf("%q=%q", p[0], p[1])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
