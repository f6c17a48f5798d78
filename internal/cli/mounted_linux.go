package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountedReadWrite lists the paths that back a btrfs the kernel has
// mounted read-write right now: a block device of it, or a file a loop
// device of it reads. Reading such a device races the kernel's writes.
func mountedReadWrite(paths []string) []mount {
	return findMounted(paths, "/proc/self/mountinfo", "/sys")
}

// devNum is a device number as sysfs writes it, "major:minor".
type devNum string

func toDevNum(rdev uint64) devNum {
	return devNum(fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)))
}

// findMounted is mountedReadWrite reading mountinfo and the sysfs tree at
// sys, so that tests can give their own.
func findMounted(paths []string, mountinfo, sys string) []mount {
	// Every device of every mounted btrfs, by fsid (one mountinfo line
	// names only one of them).
	fsidOf := map[devNum]string{}
	fsids, _ := filepath.Glob(filepath.Join(sys, "fs/btrfs/*/devices/*"))
	for _, d := range fsids {
		if n, ok := sysDevNum(sys, filepath.Base(d)); ok {
			fsidOf[n] = filepath.Base(filepath.Dir(filepath.Dir(d)))
		}
	}
	// Read-write btrfs mounts: the device or fsid they stand for.
	writable := map[string]string{} // devNum or fsid -> mount point
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 6 || len(b) < 3 || b[0] != "btrfs" || !strings.HasPrefix(b[2], "rw") {
			continue
		}
		n, ok := sourceDevNum(sys, b[1])
		if !ok {
			continue
		}
		point := unescapeMountinfo(a[4])
		for _, k := range []string{string(n), fsidOf[n]} {
			if _, seen := writable[k]; k != "" && !seen {
				writable[k] = point
			}
		}
	}
	var out []mount
	for _, p := range paths {
		for _, n := range backingDevNums(p, sys) {
			point, ok := writable[string(n)]
			if !ok {
				point, ok = writable[fsidOf[n]]
			}
			if ok {
				out = append(out, mount{p, point})
				break
			}
		}
	}
	return out
}

// sysDevNum reads the device number of block device name from sysfs.
func sysDevNum(sys, name string) (devNum, bool) {
	b, err := os.ReadFile(filepath.Join(sys, "class/block", name, "dev"))
	if err != nil {
		return "", false
	}
	return devNum(strings.TrimSpace(string(b))), true
}

// sourceDevNum is the device number of a mount source (/dev/loop0,
// /dev/mapper/x): the node's, or sysfs's for its name.
func sourceDevNum(sys, source string) (devNum, bool) {
	var st unix.Stat_t
	if unix.Stat(source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return toDevNum(st.Rdev), true
	}
	return sysDevNum(sys, filepath.Base(source))
}

// backingDevNums lists the block devices that read path: path itself if
// it is one, else every loop device whose backing file it is.
func backingDevNums(path, sys string) []devNum {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return []devNum{toDevNum(st.Rdev)}
	}
	loops, _ := filepath.Glob(filepath.Join(sys, "block/*/loop/backing_file"))
	var out []devNum
	for _, l := range loops {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		var bst unix.Stat_t
		if unix.Stat(strings.TrimSpace(string(b)), &bst) != nil || bst.Dev != st.Dev || bst.Ino != st.Ino {
			continue
		}
		if n, ok := sysDevNum(sys, filepath.Base(filepath.Dir(filepath.Dir(l)))); ok {
			out = append(out, n)
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}
