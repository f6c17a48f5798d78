package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRootdirRecipe runs the README's rootless fixture recipe: the shell
// block as an unprivileged user (mkfs.btrfs --rootdir and the coldsend
// CLI), then the Go test file against what it built.
func TestRootdirRecipe(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		if os.Getenv("COLDSEND_REQUIRE_ORACLE") != "" {
			t.Fatal("mkfs.btrfs is not installed (btrfs-progs), and COLDSEND_REQUIRE_ORACLE is set")
		}
		t.Skip("mkfs.btrfs is not installed (btrfs-progs): the README's rootless recipe cannot run")
	}
	blocks := sectionBlocks(t, "Fixtures for your test suite, without root")
	if len(blocks) != 2 || blocks[0].lang != "sh" || blocks[1].lang != "go" {
		t.Fatalf("the recipe section should hold a sh block and a go test file, has %d blocks", len(blocks))
	}

	// The recipe's own directory, writable by the unprivileged user.
	work, err := os.MkdirTemp("", "coldsend-recipe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, exec.Command(goTool(t), "build", "-o", filepath.Join(bin, "coldsend"), "github.com/coldsend/coldsend/cmd/coldsend"))
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}

	script := "set -e\n" + blocks[0].text
	shell := exec.Command("bash", "-c", script)
	if os.Geteuid() == 0 {
		// setpriv drops to nobody, so the recipe proves it needs no root.
		shell = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", script)
	}
	shell.Dir = work
	shell.Env = append(os.Environ(), "PATH="+bin+":"+filepath.Dir(mkfs)+":"+os.Getenv("PATH"))
	stdout, _ := run(t, shell)
	for _, want := range []string{"etc/hostname", "link -> etc/hostname", "blob", "fixture-host"} {
		if !strings.Contains(string(stdout), want) {
			t.Errorf("the recipe printed\n%s\nwithout %q", stdout, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(work, "fixture.img")); err != nil || os.Geteuid() == 0 && !ownedBy(fi, 65534) {
		t.Errorf("fixture.img: %v, not made by the unprivileged user", err)
	}

	// The Go test file, in a package of its own with the recipe's output
	// as its testdata.
	dir := packageDir(t)
	if err := os.WriteFile(filepath.Join(dir, "fixture_test.go"), []byte(blocks[1].text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(work, filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, exec.Command(goTool(t), "test", "-count=1", "-v", dir))
	if !strings.Contains(string(out), "--- PASS: TestFixtureImage") {
		t.Errorf("the README's test file did not pass:\n%s", out)
	}
	t.Logf("the recipe ran as uid %d; the README's test file passed", uid(work+"/fixture.img"))
}

// ownedBy reports whether fi belongs to user id.
func ownedBy(fi os.FileInfo, id uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == id
}

// uid is the owner of path, or -1.
func uid(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Uid)
	}
	return -1
}
