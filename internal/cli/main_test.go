package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
)

const fixtureDir = "../../fixtures/images/basic"

// unpackFixture writes the basic scenario's image to a temporary file, as
// a user would hold it, and returns its path and manifest.
func unpackFixture(t *testing.T) (string, *manifest.Scenario) {
	t.Helper()
	sc, err := manifest.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := imagefile.Unpack(fixtureDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return paths[0], sc
}

func runCLI(args ...string) (status int, stdout, stderr string) {
	var o, e bytes.Buffer
	status = Run(args, strings.NewReader(""), &o, &e)
	return status, o.String(), e.String()
}

func TestCommandsAgainstManifest(t *testing.T) {
	img, sc := unpackFixture(t)

	t.Run("show", func(t *testing.T) {
		st, out, errOut := runCLI("show", img)
		if st != 0 || !strings.Contains(out, "uuid: "+sc.FSID) || !strings.Contains(out, "Checksum: "+sc.Csum) {
			t.Fatalf("status %d, stderr %q, stdout:\n%s", st, errOut, out)
		}
	})

	t.Run("subvolume list --json", func(t *testing.T) {
		st, out, errOut := runCLI("subvolume", "list", "--json", img)
		if st != 0 {
			t.Fatalf("status %d: %s", st, errOut)
		}
		var rows []struct {
			ID       uint64 `json:"id"`
			Path     string `json:"path"`
			UUID     string `json:"uuid"`
			ReadOnly bool   `json:"readonly"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		got := map[uint64]string{}
		for _, r := range rows {
			got[r.ID] = r.Path + " " + r.UUID + " " + map[bool]string{true: "ro", false: "rw"}[r.ReadOnly]
		}
		for _, sv := range sc.Subvolumes {
			if sv.ID == 5 {
				continue
			}
			want := sv.Path + " " + sv.UUID + " " + map[bool]string{true: "ro", false: "rw"}[sv.ReadOnly]
			if got[sv.ID] != want {
				t.Errorf("subvolume %d: got %q, want %q", sv.ID, got[sv.ID], want)
			}
		}
		if len(rows) != len(sc.Subvolumes)-1 {
			t.Errorf("listed %d subvolumes, manifest has %d besides the top level", len(rows), len(sc.Subvolumes)-1)
		}
	})

	for _, sv := range sc.Subvolumes {
		if !sv.ReadOnly {
			continue
		}
		t.Run("ls -R and cat "+sv.Path, func(t *testing.T) {
			st, out, errOut := runCLI("ls", "-R", img, sv.Path)
			if st != 0 {
				t.Fatalf("status %d: %s", st, errOut)
			}
			listed := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				listed[l] = true
			}
			for _, e := range sv.Entries {
				if len(e.Path) == 0 {
					continue
				}
				if !listed[escapeName(e.Path)] {
					t.Errorf("ls -R does not list %q", e.Path)
				}
				if e.Type != manifest.TypeFile {
					continue
				}
				st, data, errOut := runCLI("cat", img, sv.Path+"/"+string(e.Path))
				sum := sha256.Sum256([]byte(data))
				if st != 0 || hex.EncodeToString(sum[:]) != e.SHA256 {
					t.Errorf("cat %q: status %d, stderr %q, sha256 %x want %s", e.Path, st, errOut, sum, e.SHA256)
				}
			}
			if len(listed) != len(sv.Entries)-1 {
				t.Errorf("ls -R listed %d paths, manifest has %d", len(listed), len(sv.Entries)-1)
			}
		})
	}
}

// TestBadInput checks that every failure is one line on stderr with exit
// status 1 (2 for usage errors), never a stack trace.
func TestBadInput(t *testing.T) {
	img, _ := unpackFixture(t)
	dir := t.TempDir()
	whole, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.img", whole[:1<<20])
	notBtrfs := write("random.img", bytes.Repeat([]byte("not a filesystem "), 1<<16))
	tiny := write("tiny.img", []byte("x"))

	for _, tc := range []struct {
		args   []string
		status int
		want   string // substring of the error line
	}{
		{[]string{"show", filepath.Join(dir, "absent.img")}, 1, "no such file"},
		{[]string{"show", notBtrfs}, 1, "65536"},
		{[]string{"show", tiny}, 1, "tiny.img"},
		{[]string{"ls", truncated, "/"}, 1, "logical"},
		{[]string{"ls", img, "no/such/path"}, 1, "no such file or directory"},
		{[]string{"cat", img, "/"}, 1, "not a regular file"},
		{[]string{"ls", img, "id:99999"}, 1, "does not exist"},
		{[]string{"ls", img, "id:x"}, 1, "id:NUMBER"},
		{[]string{"show"}, 2, "wrong number of arguments"},
		{[]string{"show", "--bogus", img}, 2, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			st, _, errOut := runCLI(tc.args...)
			if st != tc.status {
				t.Errorf("status %d, want %d (stderr %q)", st, tc.status, errOut)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q: want one line containing %q", errOut, tc.want)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "internal error") {
				t.Errorf("stderr looks like a crash: %q", errOut)
			}
		})
	}
}

// TestHelp: every way of asking for help prints the command's usage on
// stdout, exit status 0.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "coldsend [command]"},
		{nil, "coldsend [command]"},
		{[]string{"help", "send"}, "coldsend send [-e] [-p PARENT]"},
		{[]string{"send", "--help"}, "coldsend send [-e] [-p PARENT]"},
		{[]string{"subvolume", "--help"}, "coldsend subvolume [command]"},
		{[]string{"subvolume", "list", "-h"}, "coldsend subvolume list"},
		{[]string{"show", "--help"}, "coldsend show [--device PATH]... IMAGE\n"},
		{[]string{"ls", "--help"}, "coldsend ls"},
		{[]string{"cat", "--help"}, "coldsend cat"},
		{[]string{"completion", "--help"}, "coldsend completion [command]"},
	} {
		st, out, errOut := runCLI(tc.args...)
		if st != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, tc.want) || errOut != "" {
			t.Errorf("%v: status %d, stderr %q, output %q", tc.args, st, errOut, out)
		}
	}
	st, out, _ := runCLI("--version")
	if st != 0 || out != "coldsend "+Version+"\n" {
		t.Errorf("--version: status %d, %q", st, out)
	}
	if _, out, _ := runCLI("--help"); !strings.Contains(out, "--version") {
		t.Errorf("--version is not in the help")
	}
}

func TestGroupedShortFlags(t *testing.T) {
	img, _ := unpackFixture(t)
	st1, out1, _ := runCLI("ls", "-l", "-R", img, "/")
	st2, out2, _ := runCLI("ls", img, "/", "-lR")
	if st1 != 0 || st2 != 0 || out1 != out2 || out1 == "" {
		t.Fatalf("-l -R and trailing -lR differ: %d %d", st1, st2)
	}
}
