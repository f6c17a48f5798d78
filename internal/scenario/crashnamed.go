package scenario

import (
	"golang.org/x/sys/unix"
)

// crashMount keeps the transaction kthread from committing before the
// copy: a crash scenario's work after its last Sync must reach the disk
// only through fsync and the log.
const crashMount = "commit=3600"

const punchHole = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE

// crashFiles fsyncs file data changes of every kind: new files (inline
// and regular), appends, overwrites (fdatasync), truncation, punched
// holes, preallocation inside and past EOF; then changes nobody fsyncs.
func crashFiles() *Spec {
	p := newProg(40)
	v := "vol"
	p.add(Subvolume{Path: v})
	p.file(v+"/append.log", Text, 6000)
	p.file(v+"/over", Noise, 40<<10)
	p.file(v+"/trunc", Text, 30000)
	p.file(v+"/holes", Noise, 96<<10)
	p.file(v+"/keep", Text, 500)
	p.file(v+"/late", Text, 700)
	p.add(Sync{}, Note{Text: "crash phase: nothing below is committed"})
	p.file(v+"/new", Text, 9000)
	p.add(Fsync{Path: v + "/new"})
	p.file(v+"/small", Text, 300)
	p.add(Fsync{Path: v + "/small"})
	p.write(v+"/append.log", 6000, Text, 3000)
	p.add(Fsync{Path: v + "/append.log"})
	p.write(v+"/over", 4096, Noise, 8192)
	p.add(Fsync{Path: v + "/over", Data: true})
	p.add(Truncate{Path: v + "/trunc", Size: 10000}, Fsync{Path: v + "/trunc"})
	p.add(Fallocate{Path: v + "/holes", Mode: punchHole, Off: 8 << 10, Len: 20 << 10},
		Fallocate{Path: v + "/holes", Mode: punchHole, Off: 60 << 10, Len: 36 << 10},
		Fsync{Path: v + "/holes"})
	p.add(Fallocate{Path: v + "/prealloc", Len: 64 << 10},
		Fallocate{Path: v + "/prealloc", Mode: unix.FALLOC_FL_KEEP_SIZE, Off: 64 << 10, Len: 64 << 10})
	p.write(v+"/prealloc", 16<<10, Text, 5000)
	p.add(Fsync{Path: v + "/prealloc"})
	p.add(Note{Text: "not fsynced: must not survive replay"})
	p.write(v+"/keep", 500, Text, 2000)
	p.write(v+"/over", 0, Text, 4096)
	p.file(v+"/unsynced", Text, 3000)
	p.add(Truncate{Path: v + "/late", Size: 0})
	return &Spec{
		Name: "crash-files", Seed: 40, Devices: 1, DeviceSize: sizeSingle, Steps: p.steps, Crash: true,
		MkfsArgs: []string{"-m", "single", "-d", "single"}, MountOptions: crashMount,
		Description: "crash image: fsynced new files (inline, regular), an append, an overwrite (fdatasync), a truncation, punched holes, preallocation inside and past EOF; then unsynced writes, a new file and a truncation",
	}
}

// crashNames fsyncs namespace changes: renames within and across
// directories (fsync of the file, of the new parent), hard links added
// and removed, an unlink followed by an fsync of its directory, xattrs
// set, changed and removed, an O_TMPFILE linked in, a symlink, a file in
// a new directory and a file whose parent directory was renamed. A
// rename out of a directory followed by an fsync of that directory comes
// first because it commits.
func crashNames() *Spec {
	p := newProg(41)
	v := "vol"
	p.add(Subvolume{Path: v})
	for _, d := range []string{"a", "b", "c", "c/d", "moved"} {
		p.dir(v + "/" + d)
	}
	for _, f := range []string{"a/f1", "a/f2", "a/f3", "b/g", "b/g2", "b/gone", "c/old", "c/d/h", "moved/inner", "x"} {
		p.file(v+"/"+f, Text, 2000)
	}
	p.add(Link{Old: v + "/c/d/h", New: v + "/c/d/h.link"},
		SetXattr{Path: v + "/x", Name: "user.old", Value: []byte("to be removed")},
		SetXattr{Path: v + "/x", Name: "user.changed", Value: []byte("first")},
		Sync{}, Note{Text: "crash phase: nothing below is committed"},
		// First: fsync of a directory a file was renamed out of, neither
		// logged before, commits (btrfs_record_unlink_dir sets the
		// directory's last_unlink_trans, and btrfs_log_inode refuses to
		// log it in full), taking everything before along.
		Rename{Old: v + "/b/g2", New: v + "/a/g2"}, Fsync{Path: v + "/b"},
		Unlink{Path: v + "/b/gone"}, Fsync{Path: v + "/b"},
		Unlink{Path: v + "/c/old"}, Write{Path: v + "/c/new", Data: p.data(Text, 800)}, Fsync{Path: v + "/c/new"},
		Rename{Old: v + "/a/f1", New: v + "/a/f1.renamed"}, Fsync{Path: v + "/a/f1.renamed"},
		Rename{Old: v + "/a/f2", New: v + "/b/f2"}, Fsync{Path: v + "/b/f2"},
		Rename{Old: v + "/b/g", New: v + "/a/g"}, Fsync{Path: v + "/a"},
		Link{Old: v + "/a/f3", New: v + "/b/f3.link"}, Link{Old: v + "/a/f3", New: v + "/c/f3.link2"}, Fsync{Path: v + "/a/f3"},
		Unlink{Path: v + "/c/d/h.link"}, Fsync{Path: v + "/c/d/h"},
		SetXattr{Path: v + "/x", Name: "user.new", Value: []byte("added")},
		SetXattr{Path: v + "/x", Name: "user.changed", Value: []byte("second value")},
		RemoveXattr{Path: v + "/x", Name: "user.old"}, Fsync{Path: v + "/x"},
		Tmpfile{Dir: v + "/a", Path: v + "/a/tmp", Data: p.data(Text, 3000)}, Fsync{Path: v + "/a/tmp"},
		Symlink{Target: "a/f3", Path: v + "/sym"}, Fsync{Path: v},
		Mkdir{Path: v + "/newdir", Mode: 0o750})
	p.file(v+"/newdir/nf", Text, 1500)
	p.add(Fsync{Path: v + "/newdir/nf"},
		Rename{Old: v + "/moved", New: v + "/moved2"})
	p.write(v+"/moved2/inner", 2000, Text, 1000)
	p.add(Fsync{Path: v + "/moved2/inner"},
		Note{Text: "not fsynced: must not survive replay"},
		Rename{Old: v + "/a/f3", New: v + "/a/f3.late"},
		SetXattr{Path: v + "/x", Name: "user.late", Value: []byte("unsynced")},
		Mkdir{Path: v + "/late", Mode: 0o755},
		Unlink{Path: v + "/c/d/h"})
	return &Spec{
		Name: "crash-names", Seed: 41, Devices: 1, DeviceSize: sizeDup, Steps: p.steps, Crash: true,
		MkfsArgs: []string{"-n", "4096"}, MountOptions: crashMount,
		Description: "crash image, 4K nodes: a rename out of a directory then fsync of it (a full commit); fsynced renames within and across directories (fsync of the file and of the new parent), hard links added and removed, unlink then fsync of the directory or of a new file beside it, xattrs set, changed and removed, O_TMPFILE linked in, a symlink, a file in a new directory, a file whose parent was renamed; then unsynced renames, xattrs, mkdir, unlink",
	}
}

// crashReuse fsyncs files that reuse what the last commit had: an inode
// number freed before a remount (btrfs hands out numbers above the
// highest one on disk, so the newest inode's number comes back with a
// new generation), a name unlinked and created again, and a file
// replaced by renaming a new one over it (an editor's or a database's
// safe save).
func crashReuse() *Spec {
	p := newProg(42)
	v := "vol"
	p.add(Subvolume{Path: v})
	for _, f := range []string{"f1", "f2", "victim"} {
		p.file(v+"/"+f, Text, 5000)
	}
	p.add(Sync{}, Unlink{Path: v + "/victim"}, Cycle{}, Sync{},
		Note{Text: "crash phase: nothing below is committed"})
	p.file(v+"/reborn", Text, 4000)
	p.add(Fsync{Path: v + "/reborn"}, Unlink{Path: v + "/f1"})
	p.file(v+"/f1", Noise, 6000)
	p.add(Fsync{Path: v + "/f1"})
	p.file(v+"/f2.tmp", Text, 7000)
	p.add(Fsync{Path: v + "/f2.tmp"}, Rename{Old: v + "/f2.tmp", New: v + "/f2"}, Fsync{Path: v + "/f2"},
		Note{Text: "not fsynced: must not survive replay"})
	p.file(v+"/f3", Text, 100)
	p.add(Rename{Old: v + "/reborn", New: v + "/reborn.late"})
	return &Spec{
		Name: "crash-reuse", Seed: 42, Devices: 1, DeviceSize: sizeSingle, Steps: p.steps, Crash: true,
		MkfsArgs: []string{"-m", "single", "-d", "single"}, MountOptions: crashMount,
		Description: "crash image: a new file fsynced under the inode number of a file deleted before a remount, a name unlinked and created again, a file replaced by an fsynced rename over it; then an unsynced new file and rename",
	}
}

// crashSubvols fsyncs in several subvolumes at once, with zstd
// compression: a nested subvolume, a writable snapshot (files whose
// extents the snapshot shares with its source) and the top level.
func crashSubvols() *Spec {
	p := newProg(43)
	p.add(Subvolume{Path: "vol"})
	p.file("vol/a", Text, 20000)
	p.file("vol/shared", Text, 50000)
	p.add(Subvolume{Path: "vol/nested"})
	p.file("vol/nested/n1", Text, 3000)
	p.add(Snapshot{Src: "vol", Dst: "snap"}, Sync{}, Note{Text: "crash phase: nothing below is committed"})
	p.file("vol/nested/new", Text, 12000)
	p.add(Fsync{Path: "vol/nested/new"})
	p.write("snap/shared", 50000, Text, 10000)
	p.write("snap/shared", 8192, Text, 4096)
	p.add(Fsync{Path: "snap/shared"}, Rename{Old: "snap/a", New: "snap/a.renamed"}, Fsync{Path: "snap"})
	p.file("top.txt", Text, 800)
	p.add(Fsync{Path: "top.txt"})
	p.write("vol/a", 20000, Text, 5000)
	p.add(Fsync{Path: "vol/a"}, Note{Text: "not fsynced: must not survive replay"})
	p.file("vol/nested/late", Text, 2000)
	p.write("snap/shared", 0, Text, 100)
	return &Spec{
		Name: "crash-subvols", Seed: 43, Devices: 1, DeviceSize: sizeSingle, Steps: p.steps, Crash: true,
		MkfsArgs: []string{"-m", "single", "-d", "single"}, MountOptions: "compress=zstd," + crashMount,
		Description: "crash image, zstd: fsynced files in a nested subvolume, in a writable snapshot (an append and an overwrite of shared extents, a rename then fsync of the directory), in the top level and in the source subvolume; then unsynced writes",
	}
}
