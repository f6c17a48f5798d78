package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coldsend/coldsend/internal/treecmp"
)

// buildColdsend builds the coldsend command for tests that need a
// process to kill.
func buildColdsend(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build coldsend")
	}
	bin := filepath.Join(t.TempDir(), "coldsend")
	if out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/coldsend/coldsend/cmd/coldsend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKillAndResumeReceive kills coldsend receive (SIGKILL) at 100 random
// moments across a full and an incremental receive, then finishes each
// the documented way, `coldsend receive --resume-point DEST`, then
// `coldsend send --resume-from N ... | coldsend receive --resume DEST`,
// and compares the tree with an uninterrupted receive's.
func TestKillAndResumeReceive(t *testing.T) {
	bin := buildColdsend(t)
	img, _ := unpackFixture(t)
	dir := t.TempDir()
	sendArgs := [][]string{{"vol.1"}, {"-p", "vol.1", "vol.2"}}
	var streams []string
	for i, a := range sendArgs {
		p := filepath.Join(dir, []string{"full", "incr"}[i])
		args := append(append([]string{"send", "-q", "-f", p}, a[:len(a)-1]...), img, a[len(a)-1])
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		streams = append(streams, p)
	}
	receive := func(dest, stream string) (time.Duration, error) {
		begin := time.Now()
		out, err := exec.Command(bin, "receive", "-q", "-f", stream, dest).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		return time.Since(begin), err
	}
	start := time.Now().Add(-time.Second).UnixNano()
	ref := t.TempDir()
	var took [2]time.Duration
	for i, s := range streams {
		d, err := receive(ref, s)
		if err != nil {
			t.Fatal(err)
		}
		took[i] = d
	}
	want, err := treecmp.Record(filepath.Join(ref, "vol.2"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	killed, completed := 0, 0
	for trial := range 100 {
		which := trial % 2
		dest := t.TempDir()
		if which == 1 {
			if _, err := receive(dest, streams[0]); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(bin, "receive", "-q", "-f", streams[which], dest)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(took[which]) * 9 / 10)))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		} else if err != nil {
			t.Fatalf("trial %d: receive failed without being killed: %v", trial, err)
		}
		if cmd.ProcessState.Success() {
			// It finished before the kill: nothing to resume.
		} else if out, err := exec.Command(bin, "receive", "--resume-point", dest).Output(); err != nil {
			// Nothing to resume: killed before the subvolume's entry was
			// recorded (receive anew), or after its END was (done).
			name := []string{"vol.1", "vol.2"}[which]
			if _, serr := os.Lstat(filepath.Join(dest, name)); serr == nil {
				completed++
			} else if _, rerr := receive(dest, streams[which]); rerr != nil {
				var said []byte
				if ee, ok := err.(*exec.ExitError); ok {
					said = ee.Stderr
				}
				t.Fatalf("trial %d: receiving anew after receive --resume-point said %s: %v", trial, said, rerr)
			}
		} else {
			n := strings.TrimSpace(string(out))
			a := sendArgs[which]
			send := strings.Join(append(append([]string{bin, "send", "-q", "--resume-from", n}, a[:len(a)-1]...), img, a[len(a)-1]), " ")
			pipe := exec.Command("sh", "-c", send+" | "+bin+" receive -q --resume "+dest)
			var stderr bytes.Buffer
			pipe.Stderr = &stderr
			if err := pipe.Run(); err != nil {
				t.Fatalf("trial %d: resuming from %s: %v: %s", trial, n, err, stderr.String())
			}
		}
		if which == 0 {
			if _, err := receive(dest, streams[1]); err != nil {
				t.Fatalf("trial %d: the incremental after the resumed full: %v", trial, err)
			}
		}
		got, err := treecmp.Record(filepath.Join(dest, "vol.2"))
		if err != nil {
			t.Fatal(err)
		}
		if d := treecmp.Diff(want, got, treecmp.Options{Fresh: start, FreshBoth: true}, 5); len(d) > 0 {
			t.Fatalf("trial %d (stream %d): the resumed tree differs:\n%s", trial, which, strings.Join(d, "\n"))
		}
	}
	// Timing varies with load; a third is plenty to be meaningful.
	if killed < 30 {
		t.Errorf("only %d of 100 receives were killed before they finished", killed)
	}
	t.Logf("%d receives killed (SIGKILL) and resumed to the uninterrupted tree (%d of them after their END was recorded); full receive %v, incremental %v", killed, completed, took[0], took[1])
}
