package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputToFullDisk: every command whose output cannot be written
// (standard output on /dev/full) fails, exit status 1, naming the cause.
func TestOutputToFullDisk(t *testing.T) {
	img := concatImage(t)
	stream := filepath.Join(concatDir, "e.stream")
	for _, args := range [][]string{
		{"show", img},
		{"subvolume", "list", img},
		{"subvolume", "list", "--json", img},
		{"subvolume", "show", img, "s1"},
		{"ls", "-l", img, "s1"},
		{"cat", img, "s1/" + firstFile(t, img)},
		{"ls", "-R", img, "s1"},
		{"send", "-q", img, "s1"},
		{"dump", stream},
		{"dump", "--json", stream},
		{"validate", stream},
		{"--help"},
		{"completion", "bash"},
	} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skipf("no /dev/full: %v", err)
		}
		var errOut strings.Builder
		st := Run(args, strings.NewReader(""), full, &errOut)
		full.Close()
		if st != 1 || !strings.Contains(errOut.String(), "no space left on device") || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v > /dev/full: status %d, stderr %q", args, st, errOut.String())
		}
	}
}

// firstFile names a regular file in subvolume s1.
func firstFile(t *testing.T, img string) string {
	t.Helper()
	st, out, _ := runCLI("ls", "-l", "-R", img, "s1")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "-") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	t.Fatalf("no regular file in s1 (status %d):\n%s", st, out)
	return ""
}
