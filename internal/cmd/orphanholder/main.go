// Command orphanholder makes orphan inodes on a mounted btrfs for
// sendgen/testdata/orphans/make.sh: files unlinked while it holds them
// open (one sharing its extents with a live file), an O_TMPFILE it never
// links, then live files with later inode numbers. It creates the file
// READY when done and keeps everything open until it is killed.
//
//	orphanholder MOUNTPOINT READY
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: orphanholder MOUNTPOINT READY")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "orphanholder:", err)
		os.Exit(1)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func run(m, ready string) error {
	var held []*os.File
	hold := func(path string, data []byte) error {
		f, err := os.OpenFile(filepath.Join(m, path), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		held = append(held, f)
		if _, err := f.Write(data); err != nil {
			return err
		}
		return os.Remove(f.Name())
	}
	if err := hold("sv/dir/gone-small", []byte("small\n")); err != nil {
		return err
	}
	if err := hold("sv/gone-big", random(70000)); err != nil {
		return err
	}
	// An orphan sharing its extents with a live file.
	src, err := os.Open(filepath.Join(m, "sv/shared"))
	if err != nil {
		return err
	}
	if err := hold("sv/reflinked", nil); err != nil {
		return err
	}
	if err := unix.IoctlFileClone(int(held[len(held)-1].Fd()), int(src.Fd())); err != nil {
		return fmt.Errorf("FICLONE: %w", err)
	}
	src.Close()
	fd, err := unix.Open(filepath.Join(m, "sv/dir"), unix.O_TMPFILE|unix.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("O_TMPFILE: %w", err)
	}
	tmp := os.NewFile(uintptr(fd), "tmpfile")
	held = append(held, tmp)
	if _, err := tmp.Write([]byte("never linked\n")); err != nil {
		return err
	}
	if err := hold("gone-top", []byte("in the top level\n")); err != nil {
		return err
	}
	// Live inodes after the orphans: the last inode of sv is one send
	// finishes.
	for i := 1; i <= 5; i++ {
		if err := os.WriteFile(filepath.Join(m, fmt.Sprintf("sv/dir/keep%d", i)), random(i*2000), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, f := range held {
		f.Close()
	}
	return nil
}
