package readme

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/imagefile"
)

// block is one fenced code block of README.md.
type block struct {
	lang, text string
}

// sectionBlocks returns the fenced blocks of the README section titled
// title ("## title").
func sectionBlocks(t *testing.T, title string) []block {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := strings.Split(string(readme), "\n## ")
	var section string
	for _, s := range sections {
		if strings.HasPrefix(s, title+"\n") {
			section = s
		}
	}
	if section == "" {
		t.Fatalf("README.md has no section %q", title)
	}
	var blocks []block
	for _, m := range regexp.MustCompile("(?s)```(\\w+)\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, block{m[1], m[2]})
	}
	return blocks
}

// goTool is the go command on PATH, which go test puts there.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	return p
}

// packageDir makes a directory for a README program inside the module, in
// testdata so that ./... patterns never see it, removed when t ends.
func packageDir(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "prog-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func run(t *testing.T, cmd *exec.Cmd) (stdout, stderr []byte) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args, " "), err, out.Bytes(), errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

// TestLibrarySection builds the README's library program, runs it on the
// tiny fixture and checks that it prints what the README shows and writes
// the stream the kernel sent.
func TestLibrarySection(t *testing.T) {
	blocks := sectionBlocks(t, "Use as a library")
	if len(blocks) != 2 || blocks[0].lang != "go" || blocks[1].lang != "text" {
		t.Fatalf("the library section should hold a go program and its text output, has %d blocks", len(blocks))
	}
	dir := packageDir(t)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(blocks[0].text), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(t.TempDir(), "readme-program")
	run(t, exec.Command(goTool(t), "build", "-o", prog, dir))

	images, err := imagefile.Unpack("../../fixtures/images/tiny", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := run(t, exec.Command(prog, images...))
	if string(stderr) != blocks[1].text {
		t.Errorf("the program printed\n%s\nthe README shows\n%s", stderr, blocks[1].text)
	}
	kernel, err := filepath.Glob("../../fixtures/images/tiny/vol.2.incr-vol.1.v1.*.stream")
	if err != nil || len(kernel) != 1 {
		t.Fatalf("the kernel's stream: %v %v", kernel, err)
	}
	want, err := os.ReadFile(kernel[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout, want) {
		t.Errorf("the program wrote %d bytes of stream, not the %d bytes of %s", len(stdout), len(want), kernel[0])
	}
}
