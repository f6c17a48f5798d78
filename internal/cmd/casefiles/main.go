//go:build linux

// Command casefiles writes the files of sendgen/testdata/kernelcases on a
// mounted btrfs, where the shell alone cannot: extents of a chosen shape,
// clones inside a file, xattrs with empty values. Every 4 KiB block holds
// its number and a generation, repeated, so blocks differ yet compress.
//
//	casefiles pattern FILE SIZE STEP   SIZE bytes in one write, then every
//	                                   STEP-th block from the second
//	                                   rewritten (each a new extent)
//	casefiles rewrite FILE GEN BLOCK...  the blocks rewritten
//	casefiles clone FILE N             block 0 cloned to blocks 1..N
//	casefiles xattr FILE NAME          NAME set with an empty value
//
// Linux only.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

const blockSize = 4096

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "casefiles:", err)
		os.Exit(1)
	}
}

// block is the contents of block i at generation gen.
func block(i, gen uint64) []byte {
	b := make([]byte, blockSize)
	for o := 0; o < blockSize; o += 16 {
		binary.LittleEndian.PutUint64(b[o:], i)
		binary.LittleEndian.PutUint64(b[o+8:], gen)
	}
	return b
}

func numbers(args []string) ([]uint64, error) {
	out := make([]uint64, len(args))
	for i, a := range args {
		n, err := strconv.ParseUint(a, 0, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func run(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: casefiles pattern|rewrite|clone|xattr FILE ARGS")
	}
	cmd, path := args[0], args[1]
	if cmd == "xattr" {
		return unix.Setxattr(path, args[2], nil, 0)
	}
	n, err := numbers(args[2:])
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	switch {
	case cmd == "pattern" && len(n) == 2:
		size, step := n[0], n[1]
		all := make([]byte, 0, size)
		for i := uint64(0); i < size/blockSize; i++ {
			all = append(all, block(i, 0)...)
		}
		if _, err := f.Write(all); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		for i := uint64(1); i < size/blockSize; i += step {
			if _, err := f.WriteAt(block(i, 1), int64(i*blockSize)); err != nil {
				return err
			}
		}
	case cmd == "rewrite" && len(n) >= 2:
		for _, i := range n[1:] {
			if _, err := f.WriteAt(block(i, n[0]), int64(i*blockSize)); err != nil {
				return err
			}
		}
	case cmd == "clone" && len(n) == 1:
		for i := uint64(1); i <= n[0]; i++ {
			r := unix.FileCloneRange{Src_fd: int64(f.Fd()), Src_length: blockSize, Dest_offset: i * blockSize}
			if err := unix.IoctlFileCloneRange(int(f.Fd()), &r); err != nil {
				return fmt.Errorf("clone to block %d: %w", i, err)
			}
		}
	default:
		return fmt.Errorf("%s: bad arguments %v", cmd, args[2:])
	}
	return f.Sync()
}
