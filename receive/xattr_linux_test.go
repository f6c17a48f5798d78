package receive_test

import (
	"strings"

	"golang.org/x/sys/unix"
)

func listXattrNames(p string) ([]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00"), nil
}

func setXattr(p, name string, v []byte) error { return unix.Setxattr(p, name, v, 0) }
