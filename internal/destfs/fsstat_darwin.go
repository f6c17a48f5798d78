package destfs

import (
	"io/fs"
	"syscall"
	"time"
)

// FileID identifies an inode, to keep hard-link groups.
type FileID struct{ dev, ino uint64 }

func IDOf(fi fs.FileInfo) (FileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, false
	}
	return FileID{uint64(st.Dev), st.Ino}, true
}

func LinkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

func OwnerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// TimesHaveAtime reports whether TimesOf gives the access time (or
// the modification time in its place).
const TimesHaveAtime = true

func TimesOf(fi fs.FileInfo) (atime, mtime time.Time) {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Atimespec.Sec, st.Atimespec.Nsec), time.Unix(st.Mtimespec.Sec, st.Mtimespec.Nsec)
}
