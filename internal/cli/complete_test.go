package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion: subvolume paths and paths inside them complete from
// the image on the command line; the scripts for every shell generate.
func TestCompletion(t *testing.T) {
	img := concatImage(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", img, ""}, "s1\ns2\n:4\n"},
		{[]string{"send", img, "-p", "s"}, "s1\ns2\n:4\n"},
		{[]string{"send", "-c", ""}, ":4\n"}, // the image is not known yet
		{[]string{"subvolume", "show", img, "s2"}, "s2\n:4\n"},
		{[]string{"ls", img, "s1/"}, "s1/a/\n"},
		{[]string{"ls", img, "s"}, "s1/\ns2/\n:6\n"},
		{[]string{"ls", "--time-style", ""}, "default\nfull-iso\nlong-iso\n:4\n"},
		{[]string{"cat", "/nonexistent.img", "x"}, ":6\n"},
		{[]string{"mount", img, ""}, ":16\n"}, // directories only
		{[]string{"mount", img, "/mnt", ""}, ":4\n"},
	} {
		st, out, _ := runCLI(append([]string{"__complete"}, tc.args...)...)
		if st != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("complete %q: status %d, %q, want %q in it", tc.args, st, out, tc.want)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		st, out, errOut := runCLI("completion", shell)
		if st != 0 || len(out) < 500 || !strings.Contains(out, "coldsend") {
			t.Errorf("completion %s: status %d, %d bytes, %q", shell, st, len(out), errOut)
		}
	}
}

// TestManPages: make man's generator writes a page for every command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := ManPages(dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"coldsend.1", "coldsend-send.1", "coldsend-subvolume-list.1", "coldsend-subvolume-show.1", "coldsend-ls.1", "coldsend-mount.1", "coldsend-completion-bash.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), ".SH NAME") {
			t.Errorf("%s: %v, %d bytes", page, err, len(b))
		}
	}
}
