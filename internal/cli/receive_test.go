package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReceiveCLI: receive from -f and from standard input, the notes at
// the end, --dump, and the errors.
func TestReceiveCLI(t *testing.T) {
	const tiny = "../../fixtures/images/tiny/"
	full := tiny + "vol.1.full.v1.6.18.44-fc-v1272.stream"
	incr := tiny + "vol.2.incr-vol.1.v2.6.18.44-fc-v1272.stream"
	dest := t.TempDir()
	st, out, errOut := runCLI("receive", "-f", full, dest)
	if st != 0 || out != "" || !strings.HasPrefix(errOut, "At subvol vol.1\n") {
		t.Fatalf("full: status %d, stdout %q, stderr %q", st, out, errOut)
	}
	b, err := os.ReadFile(incr)
	if err != nil {
		t.Fatal(err)
	}
	st, _, errOut = runCLIStdin(b, "receive", "-q", dest)
	if st != 0 || strings.Contains(errOut, "At snapshot") || !strings.Contains(errOut, "coldsend receive: note: ") {
		t.Fatalf("incremental from stdin: status %d, stderr %q", st, errOut)
	}
	if _, err := os.Stat(filepath.Join(dest, "vol.2", "new")); err != nil {
		t.Errorf("vol.2/new: %v", err)
	}
	st, dumped, _ := runCLI("receive", "--dump", "-f", incr)
	want, _ := os.ReadFile(tiny + "vol.2.incr-vol.1.v2.6.18.44-fc-v1272.dump.txt")
	if st != 0 || dumped != string(want) {
		t.Errorf("--dump: status %d, equal to btrfs receive --dump: %v", st, dumped == string(want))
	}
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"receive", "-f", full, dest}, 1, "vol.1 already exists"},
		{[]string{"receive", "-f", full, filepath.Join(dest, "nosuch")}, 1, "no such file or directory"},
		{[]string{"receive", "-f", full}, 2, "wrong number of arguments"},
		{[]string{"receive", "--dump", "-f", full, dest}, 2, "wrong number of arguments"},
	} {
		st, _, errOut := runCLI(tc.args...)
		if st != tc.status || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q", tc.args, st, errOut)
		}
	}
}
