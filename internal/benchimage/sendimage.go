package benchimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// The send image: a subvolume "vol" holding sendBigN files of sendBigSize
// random (incompressible) bytes in big/, and sendDirs×sendSubdirs
// directories of sendFiles small files of sendSmallMin to sendSmallMax
// bytes (about half of them inline, below max_inline's 2048), snapshotted
// read-only as "snap", which is what the benchmark sends.
const (
	sendBigN     = 16
	sendBigSize  = 128 << 20
	sendDirs     = 10
	sendSubdirs  = 20
	sendFiles    = 1000
	sendSmallMin = 256
	sendSmallMax = 4096
	// SendSnap is the read-only snapshot of the send image.
	SendSnap      = "snap"
	sendVol       = "vol"
	sendBigDir    = "big"
	sendImageSize = 6 << 30 // ~2.6 GB of data, metadata DUP
)

// SendImage is the send image: what sendgen's and receive's benchmarks
// send and receive.
var SendImage = Spec{
	Name: "send",
	Size: sendImageSize,
	Fill: fillSend,
}

// fillSend writes the subvolume, snapshots it read-only, syncs, and
// records the kernel's full send of the snapshot (its size and SHA-256)
// in the stamp, for the benchmark to check coldsend's stream against.
func fillSend(mnt string, st *Stamp) error {
	vol := filepath.Join(mnt, sendVol)
	if err := Run("btrfs", "subvolume", "create", vol); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(vol, sendBigDir), 0o755); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range sendBigN {
		name := path.Join(sendBigDir, fmt.Sprintf("f%02d.bin", i))
		sum, err := writeRandom(filepath.Join(vol, name), sendBigSize, uint64(i), buf)
		if err != nil {
			return err
		}
		st.Files = append(st.Files, File{Name: name, Size: sendBigSize, SHA256: sum})
	}
	// Two writers at a time, as creating files is syscall-bound.
	var wg sync.WaitGroup
	errs := make([]error, sendDirs)
	sem := make(chan struct{}, 2)
	for a := range sendDirs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[a] = fillSendDir(filepath.Join(vol, fmt.Sprintf("d%02d", a)), a)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st.Inodes = 1 + 1 + sendBigN + sendDirs*(1+sendSubdirs*(1+sendFiles))

	snap := filepath.Join(mnt, SendSnap)
	if err := Run("btrfs", "subvolume", "snapshot", "-r", vol, snap); err != nil {
		return err
	}
	if err := Run("btrfs", "filesystem", "sync", mnt); err != nil {
		return err
	}
	ks, err := KernelSend(SendSnap+".full.v1", snap)
	if err != nil {
		return err
	}
	st.Streams = []File{ks}
	return nil
}

// writeRandom writes size random bytes and returns their SHA-256.
func writeRandom(name string, size int64, seed uint64, buf []byte) (string, error) {
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var seedBytes [32]byte
	seedBytes[0] = byte(seed)
	rng := rand.NewChaCha8(seedBytes)
	h := sha256.New()
	for left := size; left > 0; {
		p := buf[:min(int64(len(buf)), left)]
		rng.Read(p)
		h.Write(p)
		if _, err := f.Write(p); err != nil {
			return "", err
		}
		left -= int64(len(p))
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fillSendDir(dir string, a int) error {
	var seed [32]byte
	seed[0], seed[1] = byte(a), 1
	src := rand.NewChaCha8(seed)
	rng := rand.New(src)
	content := make([]byte, sendSmallMax)
	for b := range sendSubdirs {
		sub := filepath.Join(dir, fmt.Sprintf("s%02d", b))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for c := range sendFiles {
			p := content[:sendSmallMin+rng.IntN(sendSmallMax-sendSmallMin+1)]
			src.Read(p)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file-%04d", c)), p, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// KernelSend runs the kernel's `btrfs send -q ARGS...` and returns its
// stream's size and SHA-256, named name.<kernel release>, for a stamp.
func KernelSend(name string, args ...string) (File, error) {
	kernel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return File{}, err
	}
	hw := hashWriter{h: sha256.New()}
	cmd := exec.Command("btrfs", append([]string{"send", "-q"}, args...)...)
	cmd.Stdout = &hw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return File{}, fmt.Errorf("btrfs send %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return File{
		Name:   name + "." + strings.TrimSpace(string(kernel)),
		Size:   hw.n,
		SHA256: hex.EncodeToString(hw.h.Sum(nil)),
	}, nil
}

// hashWriter counts and hashes what is written to it.
type hashWriter struct {
	n int64
	h hash.Hash
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}
