package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/manifest"
	"github.com/coldsend/coldsend/internal/mountcheck"
)

// TestMountCommand runs coldsend mount on the basic fixture, reads a file
// through it, and stops it with SIGINT and with SIGTERM: each time the
// process unmounts and exits 0. A mount point that is not there is one
// line on stderr and status 1.
func TestMountCommand(t *testing.T) {
	if err := mountcheck.Available(); err != nil {
		t.Skip(err)
	}
	bin := buildColdsend(t)
	img, sc := unpackFixture(t)
	var want *manifest.Entry
	for i := range sc.Subvolumes[1].Entries {
		if e := &sc.Subvolumes[1].Entries[i]; e.Type == manifest.TypeFile && e.Size > 0 {
			want = e
			break
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		mnt := t.TempDir()
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "mount", img, mnt)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitMounted(t, mnt, cmd)
		b, err := os.ReadFile(filepath.Join(mnt, sc.Subvolumes[1].Path, string(want.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want.SHA256 {
			t.Errorf("%s read through the mount has sha256 %x, want %s", want.Path, sum, want.SHA256)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v; stderr:\n%s", sig, err, stderr.String())
		}
		if mounted(t, mnt) {
			exec.Command("umount", mnt).Run()
			t.Fatalf("after %v the mount point is still mounted", sig)
		}
		if !strings.Contains(stderr.String(), "unmounting") {
			t.Errorf("stderr after %v: %q", sig, stderr.String())
		}
	}
	st, _, errOut := runCLI("mount", img, filepath.Join(t.TempDir(), "missing"))
	if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("mount on a missing directory: status %d, stderr %q; want 1 and one line naming it", st, errOut)
	}
}

// waitMounted waits until mnt is a mount point (its device differs from
// its parent's), or fails if cmd exits first.
func waitMounted(t *testing.T, mnt string, cmd *exec.Cmd) {
	t.Helper()
	for range 200 {
		if mounted(t, mnt) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("%s was not mounted within 5 s", mnt)
}

func mounted(t *testing.T, mnt string) bool {
	var a, b syscall.Stat_t
	if err := syscall.Stat(mnt, &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Dir(mnt), &b); err != nil {
		t.Fatal(err)
	}
	return a.Dev != b.Dev
}
