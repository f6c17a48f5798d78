package receive

import (
	"fmt"
	"sort"
)

// Skip is a kind of thing the destination could not take, or that is
// deliberately not applied.
type Skip int

const (
	SkipChown        Skip = iota // a chown to another owner without privileges
	SkipDevice                   // destfs.Mknod of a device node without privileges: an empty file instead
	SkipDeviceNumber             // a device number the destination filesystem cannot store: an empty file instead
	SkipSpecial                  // a fifo or socket the OS cannot make: an empty file instead
	SkipSymlink                  // a symlink the OS cannot make: a file holding the target instead
	SkipSymlinkLong              // a symlink target too long for the destination filesystem: a file instead
	SkipXattrPriv                // an xattr in a namespace that needs privileges
	SkipXattrFS                  // an xattr the destination filesystem or OS does not store
	SkipXattrSize                // an xattr value too large for the destination filesystem
	SkipXattrAbsent              // an xattr to remove that an earlier receive could not store
	SkipOtime                    // a creation time, which no OS call sets
	SkipFileattr                 // FILEATTR, which btrfs receive does not apply either
	SkipUpdateExtent             // UPDATE_EXTENT of a --no-data stream: no data to write
	SkipReflink                  // a clone or snapshot copy that had to copy bytes
	SkipTimeRange                // a time outside what the destination filesystem stores: clamped
	numSkips
)

var skipText = [numSkips]string{
	SkipChown:        "ownership changes not applied (chown to another user needs privileges)",
	SkipDevice:       "device nodes made as empty regular files (destfs.Mknod needs privileges)",
	SkipDeviceNumber: "device nodes made as empty regular files (device numbers too large for the destination filesystem; XFS stores 9-bit majors and 18-bit minors)",
	SkipSpecial:      "fifos or sockets made as empty regular files (not supported here)",
	SkipSymlink:      "symlinks made as regular files holding the target (not supported here)",
	SkipSymlinkLong:  "symlinks made as regular files holding the target (too long for the destination filesystem; XFS stores 1024 bytes)",
	SkipXattrPriv:    "xattrs not set (trusted.* and security.* need privileges)",
	SkipXattrFS:      "xattrs not set (the destination does not store them)",
	SkipXattrSize:    "xattrs not set (too large for the destination filesystem)",
	SkipXattrAbsent:  "xattrs to remove were not there (the receive of the parent could not store them)",
	SkipOtime:        "creation times (otime) not set (no system call sets them)",
	SkipFileattr:     "file attributes (FILEATTR) not applied, as btrfs receive does not apply them",
	SkipUpdateExtent: "extents without data (a --no-data stream): ranges left as they were",
	SkipReflink:      "clones and snapshot copies done by copying bytes (no reflinks here)",
	SkipTimeRange:    "times clamped to what the destination filesystem stores (ext4: 1901-12-13 to 2446-05-10)",
}

func (s Skip) String() string {
	if s >= 0 && s < numSkips {
		return skipText[s]
	}
	return fmt.Sprintf("skip %d", int(s))
}

// informational kinds do not count as a loss: --strict does not refuse
// them and the summary prints them as notes.
func (s Skip) informational() bool {
	return s == SkipFileattr || s == SkipUpdateExtent || s == SkipReflink || s == SkipOtime || s == SkipXattrAbsent
}

// Summary says what a receive did.
type Summary struct {
	Subvolumes []string // names created under the destination, in order
	Commands   int
	DataBytes  int64 // bytes written by WRITE, ENCODED_WRITE and clone copies
	Skipped    map[Skip]int
	// Details lists the first maxDetails losses (not the informational
	// kinds): what was not applied, where.
	Details []Skipped
}

// Skipped is one loss: a kind, the subvolume and path, and for xattrs the
// name.
type Skipped struct {
	Kind   Skip
	Subvol string
	Path   string
	Xattr  string
	Err    error
}

// maxDetails bounds Summary.Details.
const maxDetails = 1000

// Lines returns one line per kind skipped, in kind order.
func (s *Summary) Lines() []string {
	var kinds []Skip
	for k := range s.Skipped {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	var out []string
	for _, k := range kinds {
		out = append(out, fmt.Sprintf("%d %s", s.Skipped[k], k))
	}
	return out
}
