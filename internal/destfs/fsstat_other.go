//go:build !linux && !darwin

package destfs

import (
	"io/fs"
	"time"
)

// FileID identifies an inode; here the OS does not say, so hard-link
// groups of a snapshot's parent are copied as separate files.
type FileID struct{}

// TimesHaveAtime reports whether TimesOf gives the access time (or
// the modification time in its place).
const TimesHaveAtime = false

func IDOf(fs.FileInfo) (FileID, bool)                 { return FileID{}, false }
func LinkCount(fs.FileInfo) uint64                    { return 1 }
func OwnerOf(fs.FileInfo) (uid, gid int, ok bool)     { return 0, 0, false }
func TimesOf(fi fs.FileInfo) (atime, mtime time.Time) { return fi.ModTime(), fi.ModTime() }
