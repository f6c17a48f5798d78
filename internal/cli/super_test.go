package cli

import (
	"os"
	"strings"
	"testing"
)

// TestSuperFlag zeroes the primary superblock of a kernel-made image, as
// wipefs or a stray dd would: every command refuses it and names the
// copy --super can trust, and with --super 1 lists what the intact image
// lists.
func TestSuperFlag(t *testing.T) {
	img, _ := unpackFixture(t)
	st, want, errOut := runCLI("ls", "-l", "-R", img, "/")
	if st != 0 {
		t.Fatalf("intact image: status %d: %s", st, errOut)
	}
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 4096), 64<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for _, args := range [][]string{{"show", img}, {"subvolume", "list", img}, {"ls", img, "/"}, {"cat", img, "/x"}, {"send", "-f", os.DevNull, img, "/x"}} {
		st, _, errOut := runCLI(args...)
		if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "bad magic") || !strings.Contains(errOut, "--super 1 trusts it") {
			t.Errorf("%v: status %d, stderr %q; want one line naming --super 1", args, st, errOut)
		}
	}
	st, got, errOut := runCLI("ls", "-l", "-R", "--super", "1", img, "/")
	if st != 0 || got != want {
		t.Fatalf("--super 1: status %d, stderr %q, listing equal to the intact image's: %v", st, errOut, got == want)
	}
	st, _, errOut = runCLI("ls", "--super", "0", img, "/")
	if st != 1 || !strings.Contains(errOut, "superblock copy 0 at byte offset 65536: bad magic") {
		t.Errorf("--super 0: status %d, stderr %q", st, errOut)
	}
	st, _, errOut = runCLI("ls", "--super", "3", img, "/")
	if st != 2 || !strings.Contains(errOut, "copies are 0 (primary), 1 and 2") {
		t.Errorf("--super 3: status %d, stderr %q", st, errOut)
	}
}
