package fsview

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Record walks dir as the running kernel shows it, reading every file
// (mount with noatime so that reading changes nothing).
func Record(dir string) ([]*Entry, error) {
	var out []*Entry
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := &Entry{Path: rel, Ino: st.Ino, Type: TypeOfMode(st.Mode), Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
			Nlink: uint32(st.Nlink), Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
		if e.Type == "chr" || e.Type == "blk" {
			e.Rdev = st.Rdev
		}
		switch e.Type {
		case "reg":
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		case "lnk":
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if e.Xattrs, err = xattrs(p); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func xattrs(p string) (map[string][]byte, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		k, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return nil, err
		}
		m[name] = v[:k]
	}
	return m, nil
}
