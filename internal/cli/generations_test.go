package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/internal/imagefile"
	"github.com/coldsend/coldsend/internal/manifest"
)

const generationsFixture = "../../fixtures/images/generations"

// genRow is generations --json's object.
type genRow struct {
	Generation uint64   `json:"generation"`
	Root       uint64   `json:"root"`
	Level      uint8    `json:"level"`
	Found      []string `json:"found"`
	Time       *string  `json:"time"`
	Intact     bool     `json:"intact"`
	Bad        *struct {
		Logical    uint64 `json:"logical"`
		Tree       uint64 `json:"tree"`
		TreeName   string `json:"tree_name"`
		Generation uint64 `json:"generation"`
		Error      string `json:"error"`
	} `json:"bad"`
}

func generationsImage(t *testing.T) (string, *manifest.Scenario) {
	t.Helper()
	sc, err := manifest.Load(generationsFixture)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := imagefile.Unpack(generationsFixture, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return paths[0], sc
}

func listGenerations(t *testing.T, args ...string) []genRow {
	t.Helper()
	st, out, errOut := runCLI(append([]string{"generations", "--json"}, args...)...)
	if st != 0 || errOut != "" {
		t.Fatalf("generations %v: status %d, %q", args, st, errOut)
	}
	var rows []genRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestGenerationsCommand reads the fixture as of each commit it recorded
// through the commands a user types: ls -R lists the recorded names,
// cat gives the recorded contents, subvolume list the recorded
// subvolumes; a commit whose blocks were reused fails in one line naming
// the block and the generation.
func TestGenerationsCommand(t *testing.T) {
	img, sc := generationsImage(t)
	named := listGenerations(t, img)
	scanned := listGenerations(t, "--scan", img)
	if len(named) == 0 || named[0].Generation != sc.Generation || !slices.Contains(named[0].Found, "superblock") {
		t.Fatalf("the first generation is not the superblock's %d: %+v", sc.Generation, named)
	}
	if len(scanned) <= len(named) {
		t.Errorf("--scan lists %d generations, without it %d", len(scanned), len(named))
	}
	st, table, _ := runCLI("generations", "--scan", img)
	if st != 0 || strings.Count(table, "\n") != len(scanned)+1 || !strings.Contains(table, "superblock, backup") {
		t.Errorf("table of %d lines for %d generations:\n%s", strings.Count(table, "\n"), len(scanned), table)
	}
	byGen := map[uint64]genRow{}
	for _, r := range slices.Backward(scanned) { // the first row of a generation wins
		byGen[r.Generation] = r
	}
	var intact, broken, gone int
	commits := append(slices.Clone(sc.Commits), manifest.Commit{Generation: sc.Generation, Subvolumes: sc.Subvolumes})
	for _, c := range commits {
		g := strconv.FormatUint(c.Generation, 10)
		r, listed := byGen[c.Generation]
		switch {
		case !listed:
			gone++
			st, _, errOut := runCLI("ls", "--generation", g, img, "/")
			if st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no such generation") {
				t.Errorf("generation %s is not listed, but ls gave status %d, %q", g, st, errOut)
			}
		case !r.Intact:
			broken++
			tree := fmt.Sprintf("generation %s: tree block at logical %d (%s) was overwritten since", g, r.Bad.Logical, r.Bad.TreeName)
			var failed bool
			for _, sv := range c.Subvolumes {
				st, _, errOut := runCLI("ls", "-R", "--generation", g, img, "id:"+strconv.FormatUint(sv.ID, 10))
				warning, errLine, _ := strings.Cut(errOut, "\n")
				if st == 1 {
					failed = true
					if !strings.HasPrefix(warning, "coldsend: warning: reading generation "+g) || !strings.Contains(errLine, tree) || strings.Count(errLine, "\n") != 1 {
						t.Errorf("generation %s, subvolume %q: stderr %q, want the warning and then %q", g, sv.Path, errOut, tree)
					}
				}
			}
			if !failed && r.Bad.Tree >= 256 {
				t.Errorf("generation %s: block %d of %s is bad, but every subvolume listed", g, r.Bad.Logical, r.Bad.TreeName)
			}
		default:
			intact++
			checkCommitCLI(t, img, g, c, c.Generation != sc.Generation)
		}
	}
	t.Logf("%d recorded commits and the final state: %d intact, %d broken, %d gone; %d generations named by the superblock, %d with --scan",
		len(sc.Commits), intact, broken, gone, len(named), len(scanned))
	if intact < 2 || broken+gone == 0 {
		t.Errorf("the fixture no longer has old intact and lost commits")
	}
}

// checkCommitCLI compares subvolume list, ls -R and cat as of generation
// g with the commit's record.
func checkCommitCLI(t *testing.T, img, g string, c manifest.Commit, older bool) {
	t.Helper()
	st, out, errOut := runCLI("subvolume", "list", "--json", "--generation", g, img)
	if st != 0 || older != strings.Contains(errOut, "reading generation "+g) {
		t.Fatalf("generation %s: subvolume list: status %d, %q", g, st, errOut)
	}
	var rows []struct {
		ID   uint64 `json:"id"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%d %s", r.ID, r.Path))
	}
	for _, sv := range c.Subvolumes {
		if sv.ID != 5 {
			want = append(want, fmt.Sprintf("%d %s", sv.ID, sv.Path))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("generation %s: subvolumes %q, recorded %q", g, got, want)
	}
	for _, sv := range c.Subvolumes {
		// ls -R would cross into nested subvolumes, which the record of
		// the top level lists without descending.
		recursive := "-R"
		if sv.ID == 5 {
			recursive = "--recursive=false"
		}
		st, out, errOut := runCLI("ls", recursive, "--generation", g, img, "id:"+strconv.FormatUint(sv.ID, 10))
		if st != 0 {
			t.Errorf("generation %s: ls -R %s: status %d, %q", g, sv.Path, st, errOut)
			continue
		}
		var listed, recorded []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" {
				listed = append(listed, line)
			}
		}
		for _, e := range sv.Entries[1:] {
			recorded = append(recorded, e.Display)
		}
		slices.Sort(listed)
		slices.Sort(recorded)
		if !slices.Equal(listed, recorded) {
			t.Errorf("generation %s, subvolume %q: ls -R lists %q, recorded %q", g, sv.Path, listed, recorded)
		}
		for _, e := range sv.Entries {
			if e.Type != manifest.TypeFile {
				continue
			}
			path := "id:" + strconv.FormatUint(sv.ID, 10) + "/" + string(e.Path)
			st, out, errOut := runCLI("cat", "--generation", g, img, path)
			sum := sha256.Sum256([]byte(out))
			if st != 0 || hex.EncodeToString(sum[:]) != e.SHA256 {
				t.Errorf("generation %s: cat %s: status %d, %q, sha256 %x, recorded %s", g, path, st, errOut, sum, e.SHA256)
			}
		}
	}
}

// TestRootGarbage gives --root addresses that are no root-tree block:
// random, unaligned, unmapped, data, other trees' blocks. Each is one
// line and status 1, or (a root-tree block) a listing; never a crash.
func TestRootGarbage(t *testing.T) {
	img, _ := generationsImage(t)
	rows := listGenerations(t, "--scan", img)
	r := rand.New(rand.NewPCG(14, 14))
	addrs := []uint64{1, 4095, 1 << 63, ^uint64(0)}
	for _, row := range rows[:min(len(rows), 6)] {
		if row.Bad != nil {
			addrs = append(addrs, row.Bad.Logical)
		}
		addrs = append(addrs, row.Root+1, row.Root+4096, row.Root-4096, row.Root+uint64(r.IntN(64))*4096)
	}
	for range 20 {
		addrs = append(addrs, uint64(r.IntN(48<<20))&^4095, r.Uint64())
	}
	for _, a := range addrs {
		st, _, errOut := runCLI("ls", "--root", strconv.FormatUint(a, 10), img, "/")
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		switch {
		case strings.Contains(errOut, "internal error") || strings.Contains(errOut, "goroutine"):
			t.Errorf("--root %d: crash: %q", a, errOut)
		case st == 1 && (len(lines) > 2 || !strings.Contains(lines[len(lines)-1], "logical")):
			t.Errorf("--root %d: want one line naming the address, got %q", a, errOut)
		case st == 0 && bytes.Count([]byte(errOut), []byte("coldsend: warning:")) != len(lines):
			t.Errorf("--root %d: status 0 with %q", a, errOut)
		case st != 0 && st != 1:
			t.Errorf("--root %d: status %d", a, st)
		}
	}
}

func TestGenerationFlags(t *testing.T) {
	img, sc := generationsImage(t)
	g := strconv.FormatUint(sc.Generation, 10)
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"ls", "--generation", g, "--root", "4096", img, "/"}, 2, "--generation and --root exclude each other"},
		{[]string{"ls", "--generation", "x", img, "/"}, 2, "invalid argument"},
		{[]string{"cat", "--generation", strconv.FormatUint(sc.Generation+1, 10), img, "/vol/s0"}, 1, "newer than the superblock's"},
		{[]string{"generations", "--generation", g, img}, 2, "unknown flag: --generation"},
		{[]string{"generations", img, img}, 2, "wrong number of arguments"},
	} {
		st, _, errOut := runCLI(tc.args...)
		if st != tc.status || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: status %d, %q; want %d and %q", tc.args, st, errOut, tc.status, tc.want)
		}
	}
	older := strconv.FormatUint(sc.Commits[len(sc.Commits)-1].Generation, 10)
	if st, out, _ := runCLI("show", "--generation", older, img); st != 0 || !strings.Contains(out, "Generation: "+g+"\n") || !strings.Contains(out, "Reading generation: "+older+" ") {
		t.Errorf("show --generation %s: status %d:\n%s", older, st, out)
	}
	// --generation completes with the superblock's and the backups'.
	st, out, _ := runCLI("__complete", "ls", img, "/", "--generation", "")
	if st != 0 || !strings.HasPrefix(out, g+"\n") || strings.Count(out, "\n") < 3 {
		t.Errorf("completion of --generation: status %d, %q", st, out)
	}
	// Paths complete as of the generation on the line: none from a
	// commit that is gone.
	_, now, _ := runCLI("__complete", "ls", img, "vol/d/f")
	_, gone, _ := runCLI("__complete", "ls", "--generation", strconv.FormatUint(sc.Commits[0].Generation, 10), img, "vol/d/f")
	if !strings.Contains(now, "vol/d/f0") || strings.Contains(gone, "vol/d/f0") {
		t.Errorf("completion: %q now, %q as of a lost commit", now, gone)
	}
}
