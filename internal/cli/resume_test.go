package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/coldsend/coldsend/stream"
)

// commandBounds lists where each command of b starts, then b's end.
func commandBounds(t *testing.T, b []byte) []int64 {
	t.Helper()
	r := stream.NewReader(bytes.NewReader(b))
	var out []int64
	for {
		c, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, c.Offset)
	}
	return append(out, int64(len(b)))
}

// kernelFramings are the kernel's streams of s1 and s2 with and without
// -e, and the send arguments that make them.
var kernelFramings = []struct {
	stream string
	flags  []string
}{
	{"noe.stream", nil},
	{"e.stream", []string{"-e"}},
}

// TestSendSize: send --size prints each subvolume's and the total exact
// bytes and commands of the kernel's stream.
func TestSendSize(t *testing.T) {
	img := concatImage(t)
	for _, k := range kernelFramings {
		whole := readTestdata(t, k.stream)
		cmds := len(commandBounds(t, whole)) - 1
		args := append(append([]string{"send", "--size"}, k.flags...), img, "s1", "s2")
		st, out, errOut := runCLI(args...)
		if st != 0 {
			t.Fatalf("%v: status %d: %s", args, st, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		want := fmt.Sprintf("total: %d bytes, %d commands", len(whole), cmds)
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "s1: ") || !strings.HasPrefix(lines[1], "s2: ") || lines[2] != want {
			t.Errorf("%v printed %q, want per-subvolume lines then %q", args, out, want)
		}
		var sum, sumCmds int
		for _, l := range lines[:2] {
			var b, c int
			if _, err := fmt.Sscanf(l[4:], "%d bytes, %d commands", &b, &c); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			sum, sumCmds = sum+b, sumCmds+c
		}
		if sum != len(whole) || sumCmds != cmds {
			t.Errorf("%v: the subvolumes add up to %d bytes, %d commands; the stream has %d, %d", args, sum, sumCmds, len(whole), cmds)
		}
	}
}

// TestSendResumeFrom: send --resume-from N writes exactly bytes N.. of
// the kernel's stream, at every command boundary, inside the header and
// inside commands.
func TestSendResumeFrom(t *testing.T) {
	img := concatImage(t)
	out := filepath.Join(t.TempDir(), "rest")
	for _, k := range kernelFramings {
		whole := readTestdata(t, k.stream)
		bounds := commandBounds(t, whole)
		offsets := []int64{5, int64(len(whole)) + 100}
		for i, b := range bounds {
			offsets = append(offsets, b)
			if i+1 < len(bounds) && bounds[i+1]-b > 1 {
				offsets = append(offsets, b+(bounds[i+1]-b)/2)
			}
		}
		for _, n := range offsets {
			args := append(append([]string{"send", "-q", "--resume-from", strconv.FormatInt(n, 10), "-f", out}, k.flags...), img, "s1", "s2")
			if st, _, errOut := runCLI(args...); st != 0 {
				t.Fatalf("%v: status %d: %s", args, st, errOut)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := whole[min(n, int64(len(whole))):]; !bytes.Equal(got, want) {
				t.Fatalf("%v: %d bytes, want the %d after offset %d", args, len(got), len(want), n)
			}
		}
	}
	if st, _, errOut := runCLI("send", "--resume-from", "-1", img, "s1"); st != 2 || !strings.Contains(errOut, "at least 0") {
		t.Errorf("--resume-from -1: status %d: %s", st, errOut)
	}
}

// TestSendResumeFile: send --resume FILE completes a cut stream to the
// kernel's whole one; a FILE from another send is refused with one line
// and left as it was.
func TestSendResumeFile(t *testing.T) {
	img := concatImage(t)
	file := filepath.Join(t.TempDir(), "partial")
	for _, k := range kernelFramings {
		whole := readTestdata(t, k.stream)
		bounds := commandBounds(t, whole)
		for i, b := range bounds[:len(bounds)-1] {
			// Cut at the boundary, inside the command, and one byte short
			// of its end (a CRC-failing last command is dropped too).
			for _, cut := range []int64{b, b + (bounds[i+1]-b)/2, bounds[i+1] - 1} {
				if err := os.WriteFile(file, whole[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				args := append(append([]string{"send", "-q", "--resume", file}, k.flags...), img, "s1", "s2")
				if st, _, errOut := runCLI(args...); st != 0 {
					t.Fatalf("cut at %d: %v: status %d: %s", cut, args, st, errOut)
				}
				got, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, whole) {
					t.Fatalf("%s cut at %d and resumed: %d bytes, differs from the kernel's %d", k.stream, cut, len(got), len(whole))
				}
			}
		}
	}
	whole := readTestdata(t, "noe.stream")
	bounds := commandBounds(t, whole)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// The s1 stream's start, resumed as a send of s2.
		{"another subvolume", []string{img, "s2"}, "is not the start of this send: the subvol command at offset 17 differs"},
		{"another protocol", []string{"--proto", "2", img, "s1", "s2"}, "is not the start of this send"},
		{"-e against without", []string{"-e", img, "s1", "s2"}, "is not the start of this send"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Up to s2's SUBVOL: only -e differs from here on.
			cut := bounds[len(bounds)-2]
			if tc.name != "-e against without" {
				cut = bounds[3]
			}
			prefix := whole[:cut]
			if err := os.WriteFile(file, prefix, 0o644); err != nil {
				t.Fatal(err)
			}
			st, out, errOut := runCLI(append([]string{"send", "-q", "--resume", file}, tc.args...)...)
			if st != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("status %d stdout %q stderr %q, want one line with %q", st, out, errOut, tc.want)
			}
			if got, _ := os.ReadFile(file); !bytes.Equal(got, prefix) {
				t.Errorf("the refused FILE changed: %d bytes, was %d", len(got), len(prefix))
			}
		})
	}
	if err := os.WriteFile(file, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _, errOut := runCLI("send", "--resume", file, img, "s1", "s2"); st != 1 || !strings.Contains(errOut, "nothing to resume") {
		t.Errorf("a complete FILE: status %d: %s", st, errOut)
	}
	if st, _, errOut := runCLI("send", "--resume", file, "-f", file, img, "s1"); st != 2 {
		t.Errorf("--resume with -f: status %d: %s", st, errOut)
	}
}

// TestValidateResume: validate --resume-point prints where the last intact
// command ends; a stream cut short and sent again (what an interrupted
// kernel send leaves in a file written with >>) is named, and --salvage
// keeps the complete stream.
func TestValidateResume(t *testing.T) {
	whole := readTestdata(t, "e.stream")
	bounds := commandBounds(t, whole)
	for i, b := range bounds[1:] {
		for _, cut := range []int64{b, b + 1} {
			if cut > int64(len(whole)) {
				continue
			}
			st, out, errOut := runCLIStdin(whole[:cut], "validate", "--resume-point")
			if st != 0 || out != fmt.Sprintf("%d\n", b) {
				t.Fatalf("command %d, cut at %d: status %d stdout %q stderr %q, want %d", i+1, cut, st, out, errOut, b)
			}
		}
	}
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken")
	intact := bounds[len(bounds)/2]
	cut := intact + 3 // the next command's first bytes
	if err := os.WriteFile(broken, append(bytes.Clone(whole[:cut]), whole...), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _, errOut := runCLI("validate", broken)
	if want := fmt.Sprintf("interrupted kernel send: it is cut at offset %d and a new stream starts at offset %d", intact, cut); st != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		t.Errorf("validate: status %d stderr %q, want one line with %q", st, errOut, want)
	}
	out := filepath.Join(dir, "salvaged")
	if st, _, errOut := runCLI("validate", "--salvage", out, broken); st != 0 {
		t.Fatalf("--salvage: status %d: %s", st, errOut)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, whole) {
		t.Errorf("salvaged %d bytes, want the %d-byte stream", len(got), len(whole))
	}
	if st, _, _ := runCLI("validate", "--salvage", out, broken); st != 1 {
		t.Errorf("--salvage over an existing OUT: status %d, want 1", st)
	}
}

// TestSendProgress: --progress draws a bar to the exact total on stderr
// and leaves the stream as it is; -q draws none.
func TestSendProgress(t *testing.T) {
	img := concatImage(t)
	whole := readTestdata(t, "noe.stream")
	out := filepath.Join(t.TempDir(), "s")
	st, _, errOut := runCLI("send", "--progress", "-f", out, img, "s1", "s2")
	if st != 0 {
		t.Fatalf("status %d: %s", st, errOut)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, whole) {
		t.Error("the stream with --progress differs from the kernel's")
	}
	total := fmt.Sprintf("/%.1f KiB", float64(len(whole))/1024)
	if !strings.Contains(errOut, "100%") || !strings.Contains(errOut, total) || !strings.Contains(errOut, "At subvol s2") {
		t.Errorf("stderr %q: want the bar at 100%% of %s and the At subvol lines", errOut, total)
	}
	if st, _, errOut := runCLI("send", "-q", "--progress", "-f", out, img, "s1", "s2"); st != 0 || errOut != "" {
		t.Errorf("-q --progress: status %d, stderr %q, want nothing", st, errOut)
	}
}
